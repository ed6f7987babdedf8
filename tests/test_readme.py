"""Every code block of README.md, run as written.

- ```python blocks that begin `# functions/NAME.py` are the modules of one
  app: written to a fresh folder and served by `livesync dev` on port 3210,
  the address every other block names. Against it run, in README order,
  the other ```python blocks (client scripts), the ```js block (with the
  official npm client), and the ```sh blocks; each ```toml block must load
  as part of a config.toml.
- The quick start runs in a copy of the checkout, its venv and install
  included, and the `livesync init` steps in a fresh folder.
- ```text blocks are transcripts and listings: shown, not run.

A block of any other kind fails `test_every_block_is_one_the_tests_run`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.config import load_config
from tests.helpers.ci import skip_or_fail
from tests.helpers.cli_process import CliProcess, cli_environment
from tests.helpers.server import REPO_ROOT
from tests.helpers.timeouts import INSTALL, REPLY, STARTUP

README = REPO_ROOT / "README.md"
PORT = 3210  # the README's address: http://127.0.0.1:3210
COMPAT_MODULES = REPO_ROOT / "tests" / "compat" / "node_modules"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
_MODULE = re.compile(r"\A# (functions/[\w/]+\.py)\n")
_LISTENING = re.compile(r"livesync: listening on (http://\S+)")


@dataclass(frozen=True)
class Block:
    kind: str
    text: str
    line: int

    @property
    def module(self) -> str | None:
        found = _MODULE.match(self.text) if self.kind == "python" else None
        return found.group(1) if found else None

    @property
    def starts_server(self) -> bool:
        return "livesync dev" in self.text

    @property
    def in_own_project(self) -> bool:
        """The `livesync init` walk-through: it runs in the project it makes."""
        return self.kind == "sh" and ("livesync init" in self.text or "tasks:" in self.text)

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.kind})"


def blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [
        Block(m.group(1), m.group(2), text[: m.start()].count("\n") + 1)
        for m in _FENCE.finditer(text)
    ]


def test_every_block_is_one_the_tests_run() -> None:
    for block in blocks():
        assert block.kind in ("python", "js", "sh", "toml", "text"), f"{block}: unknown kind"
    modules = [block.module for block in blocks() if block.module]
    assert len(modules) == len(set(modules)), f"two blocks write one module: {modules}"


def environment() -> dict[str, str]:
    """A user's shell: `livesync` and `python` of this interpreter on PATH."""
    env = cli_environment()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("CI", None)  # the blocks run as a user's commands do
    return env


@pytest.fixture
def port_3210() -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as livesync binds
        try:
            probe.bind(("127.0.0.1", PORT))
        except OSError:
            pytest.fail(
                f"port {PORT} is taken: the README's blocks name it; stop what serves there"
            )


def run(command: list[str], cwd: Path, block: Block) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STARTUP,
    )
    assert done.returncode == 0, f"{block} failed:\n{block.text}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture
def readme_app(tmp_path: Path, port_3210: None) -> Iterator[Path]:
    """The README's modules, served by `livesync dev` on port 3210."""
    app = tmp_path / "app"
    for block in blocks():
        if block.module:
            (app / block.module).parent.mkdir(parents=True, exist_ok=True)
            (app / block.module).write_text(block.text)
    (app / "config.toml").write_text(
        f'[server]\nport = {PORT}\n\n[functions]\ndir = "functions"\n\n'
        '[database]\nurl = "sqlite:///data/app.db"\n'
    )
    server = CliProcess(["livesync dev"], app, shell=True, env=environment())
    try:
        server.wait_listening()
        yield app
    finally:
        server.stop()


def test_the_readme_app_serves_its_blocks_and_every_client_block_runs(
    readme_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for tool in ("node", "curl"):
        if shutil.which(tool) is None:
            skip_or_fail(f"the README's blocks need {tool}")
    if not COMPAT_MODULES.is_dir():
        skip_or_fail("the README's JS block needs npm ci in tests/compat")
    ran = 0
    for block in blocks():
        if block.module or block.kind == "text" or block.in_own_project or block.starts_server:
            continue
        if block.kind == "python":
            run([sys.executable, "-c", block.text], readme_app, block)
        elif block.kind == "js":
            script = tmp_path / "js" / "block.mjs"
            script.parent.mkdir(exist_ok=True)
            (script.parent / "node_modules").symlink_to(COMPAT_MODULES)
            script.write_text(block.text)
            run(["node", str(script)], readme_app, block)
        elif block.kind == "sh":
            run(["bash", "-euo", "pipefail", "-c", block.text], readme_app, block)
        elif block.kind == "toml":
            config = tmp_path / f"config-{block.line}.toml"
            config.write_text('[functions]\ndir = "app/functions"\n\n' + block.text)
            monkeypatch.setenv("CLERK_FRONTEND_API_URL", "https://example.clerk.accounts.dev")
            load_config(config)
        ran += 1
    assert ran >= 8
    # What those blocks did, seen from outside: each client's message is there.
    listed = httpx.post(
        f"http://127.0.0.1:{PORT}/api/query",
        json={"path": "messages:list", "args": {"channel": "general"}},
        timeout=REPLY,
    ).json()["value"]
    bodies = {message["body"] for message in listed}
    assert {"hi from JS", "hi from Python", "hi from ours", "from curl", "hi"} <= bodies
    assert (readme_app / "backup.zip").is_file()


def test_the_search_example_answers_as_the_readme_says(readme_app: Path) -> None:
    def call(kind: str, path: str, args: dict[str, str]) -> object:
        reply = httpx.post(
            f"http://127.0.0.1:{PORT}/api/{kind}",
            json={"path": path, "args": args},
            timeout=REPLY,
        ).json()
        assert reply["status"] == "success", reply
        return reply["value"]

    for body in ("Deploy tonight?", "the deployment went fine", "lunch"):
        call("mutation", "messages:send", {"channel": "general", "body": body})
    for text, expected in (
        ("deploy", ["Deploy tonight?", "the deployment went fine"]),
        ("the dep", ["the deployment went fine", "Deploy tonight?"]),
    ):
        found = call("query", "search:search", {"channel": "general", "text": text})
        assert isinstance(found, list)
        assert [message["body"] for message in found] == expected


def _server_block(block: Block) -> tuple[str, str]:
    """A block that starts a server: (the commands before it, the server line)."""
    lines = [line for line in block.text.splitlines() if line.strip()]
    (server,) = [line for line in lines if "livesync dev" in line]
    return "\n".join(lines[: lines.index(server)]), server


def test_livesync_init_and_dev_as_the_readme_walks_them(tmp_path: Path, port_3210: None) -> None:
    own = [block for block in blocks() if block.in_own_project]
    start, calls = own
    assert start.starts_server and not calls.starts_server
    before, server_line = _server_block(start)
    run(["bash", "-euo", "pipefail", "-c", before], tmp_path, start)
    server = CliProcess([server_line], tmp_path, shell=True, env=environment())
    try:
        server.wait_listening()
        project = tmp_path / "myapp"
        out = run(["bash", "-euo", "pipefail", "-c", calls.text], project, calls)
        assert '"text": "try livesync"' in out
    finally:
        server.stop()


def test_the_quick_start_installs_and_serves_from_a_fresh_copy(
    tmp_path: Path, port_3210: None
) -> None:
    """The first quick-start line in a copy of the checkout (its tracked
    files): a venv, an install from the registries, and the example served.
    The second line is `.ci/run`, which is how this test runs at all."""
    (quick,) = [block for block in blocks() if "pip install -e ." in block.text]
    first = quick.text.splitlines()[0]
    clone = tmp_path / "livesync"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        source = REPO_ROOT / name
        if source.is_file() and "node_modules" not in name:
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "CI")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    server = CliProcess([first], clone, shell=True, env=env)
    try:
        listening = server.expect_stdout(_LISTENING.pattern, INSTALL)
        assert listening.endswith(f"listening on http://127.0.0.1:{PORT}")
        listed = httpx.post(
            f"http://127.0.0.1:{PORT}/api/query",
            json={"path": "messages:list", "args": {"channel": "general"}},
            timeout=REPLY,
        ).json()
        assert listed["status"] == "success", listed
    finally:
        server.stop()
    assert (clone / ".venv" / "bin" / "livesync").is_file()
