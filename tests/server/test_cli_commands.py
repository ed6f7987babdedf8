"""`livesync` subcommands that other packages add through entry points."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from server import cli

ROOT = Path(__file__).resolve().parents[2]
CALLS: list[list[str]] = []


def recording_main(argv: list[str]) -> int:
    CALLS.append(argv)
    return 3


def _added(monkeypatch: pytest.MonkeyPatch, *entry_points: EntryPoint) -> None:
    monkeypatch.setattr(cli, "_command_entry_points", lambda: {ep.name: ep for ep in entry_points})


def test_pyproject_adds_run_and_watch_from_the_client() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    commands = project["entry-points"][cli.COMMANDS_GROUP]
    assert commands == {"run": "client.cli:run_main", "watch": "client.cli:watch_main"}
    for name, value in commands.items():
        assert callable(EntryPoint(name, value, cli.COMMANDS_GROUP).load())


def test_an_added_command_gets_the_rest_of_argv_and_its_exit_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    CALLS.clear()
    _added(monkeypatch, EntryPoint("run", f"{__name__}:recording_main", cli.COMMANDS_GROUP))
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "notes:list", "--url", "http://x"])
    assert (exited.value.code, CALLS) == (3, [["notes:list", "--url", "http://x"]])


def test_run_without_the_client_installed_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _added(monkeypatch)
    with pytest.raises(SystemExit) as exited:
        cli.main(["watch", "notes:list"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and "livesync client, which is not installed" in err


def test_an_added_command_that_cannot_be_imported_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _added(monkeypatch, EntryPoint("run", "no_such_client.cli:run_main", cli.COMMANDS_GROUP))
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "notes:list"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and "no_such_client.cli:run_main" in err
