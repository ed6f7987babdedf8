"""What a new user sees of `livesync` itself: --version, --help, and the hint
when `livesync token` finds no dev issuer. Each runs the command as a
subprocess and reads what it printed and its exit code."""

from __future__ import annotations

import argparse
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from client.cli import run_parser, watch_parser
from server import cli
from server.codegen import _parser as codegen_parser
from tests.helpers.cli import LIVESYNC_SCRIPT, livesync
from tests.helpers.ports import free_port
from tests.helpers.server import REPO_ROOT, StartServer

FUNCTIONS = Path(__file__).parent / "sync" / "functions"


@pytest.mark.parametrize("script", [False, True], ids=["python -m server", "livesync"])
def test_version_prints_the_installed_version(script: bool) -> None:
    assert LIVESYNC_SCRIPT.exists(), "install the checkout first: pip install -e ."
    done = livesync("--version", script=script)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"livesync {version('livesync')}\n",
        "",
    )


def _command_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's own parser, found by walking `livesync`'s."""
    top = cli._parser(cli._command_entry_points())
    (sub,) = (a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    parsers = dict(sub.choices)
    # These parse their own arguments; `livesync` only lists them.
    delegated = {"codegen": codegen_parser(), "run": run_parser(), "watch": watch_parser()}
    assert set(delegated) <= set(parsers), "run/watch entry points are not installed"
    parsers.update(delegated)
    return {"": top, **parsers}


def test_every_option_of_every_command_has_a_description() -> None:
    parsers = _command_parsers()
    assert set(parsers) >= {"", "serve", "dev", "dev-issuer", "token", "rotate-keys"}
    missing = [
        f"livesync {name} {action.option_strings or action.dest}".replace("  ", " ")
        for name, parser in parsers.items()
        for action in parser._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_the_readme_command_list_names_every_option() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    # The command list is the code block that ends with `livesync --version`.
    (listing,) = re.findall(r"```text\n((?:livesync [^`]*\n)?livesync --version)\n```", readme)
    for name, parser in _command_parsers().items():
        if not name:
            continue
        line = re.search(rf"^livesync {re.escape(name)} .*$", listing, re.MULTILINE)
        assert line, f"README's command list has no `livesync {name}`"
        options = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
        absent = sorted(options - {"--help"} - set(re.findall(r"--[\w-]+", line.group(0))))
        assert absent == [], f"`livesync {name}` in the README lacks {absent}"


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("serve", ("--config", "--host", "--port", "--functions", "--database")),
        ("token", ("--sub", "--email", "--name", "--ttl", "--issuer")),
    ],
)
def test_help_prints_a_description_beside_each_option(command: str, options: tuple[str]) -> None:
    done = livesync(command, "--help")
    assert done.returncode == 0
    rows = [row.split() for row in done.stdout.splitlines()]
    for option in options:
        (row,) = [row for row in rows if row and row[0] == option]
        assert len(row) > 2, f"`livesync {command} --help` describes {option} with nothing"


def test_token_with_nothing_listening_suggests_livesync_dev() -> None:
    issuer = f"http://127.0.0.1:{free_port()}/dev-issuer"
    done = livesync("token", "--sub", "alice", "--issuer", issuer)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"livesync: error: no dev issuer answers at {issuer} ")
    assert "start one with `livesync dev`" in done.stderr


def test_token_from_a_server_without_a_dev_issuer_says_so(start_server: StartServer) -> None:
    issuer = f"{start_server(FUNCTIONS).url}/dev-issuer"  # `livesync serve`: no issuer
    done = livesync("token", "--sub", "alice", "--issuer", issuer)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"no dev issuer at {issuer} (HTTP 404)" in done.stderr
    assert "not `livesync dev`" in done.stderr
