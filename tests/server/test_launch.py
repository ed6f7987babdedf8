"""Start-up failures as a user meets them: `livesync serve` / `dev` in a
folder of their own, each failure one line on stderr naming the file (and
line) or the setting to change, exit code 2, and nothing listening."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.launch import key_line, locate
from tests.helpers.cli_process import CliProcess, run_cli

TASKS = "from server import query\n\n@query()\nasync def count(ctx):\n    return 1\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A working project: config.toml and a functions folder."""
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "tasks.py").write_text(TASKS)
    (tmp_path / "config.toml").write_text(
        '[server]\nport = 0\n\n[functions]\ndir = "functions"\n\n'
        '[database]\nurl = "sqlite:///data/app.db"\n'
    )
    return tmp_path


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    """The failure's one stderr line, after checking exit code and stdout."""
    assert done.returncode == 2, done
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("livesync: error: "), done.stderr
    assert "listening" not in done.stdout
    return lines[0]


@pytest.mark.parametrize("command", ["serve", "dev"])
def test_a_missing_functions_folder_names_the_config_line_and_the_flag(
    project: Path, command: str
) -> None:
    (project / "config.toml").write_text(
        (project / "config.toml").read_text().replace('"functions"', '"fns"')
    )
    line = one_error(run_cli([command], project))
    assert f"functions folder {project / 'fns'} does not exist" in line
    assert "(set [functions] dir in config.toml:5 or pass --functions)" in line


def test_a_functions_flag_to_a_missing_folder_says_to_change_the_flag(project: Path) -> None:
    line = one_error(run_cli(["serve", "--functions", "nowhere"], project))
    assert line.endswith(
        f"functions folder {project / 'nowhere'} does not exist (change --functions)"
    )


def test_no_config_and_no_functions_folder_suggests_livesync_init(tmp_path: Path) -> None:
    line = one_error(run_cli(["dev"], tmp_path))
    assert f"no config.toml and no functions folder in {tmp_path}" in line
    assert "`livesync init`" in line


def test_a_syntax_error_names_file_line_and_message_not_a_repr(project: Path) -> None:
    broken = project / "functions" / "broken.py"
    broken.write_text("from server import query\n\n\ndef oops(:\n    pass\n")
    line = one_error(run_cli(["serve"], project))
    assert line == f"livesync: error: {broken}:4: SyntaxError: invalid syntax"


def test_an_import_error_names_the_line_that_raised_it(project: Path) -> None:
    broken = project / "functions" / "broken.py"
    broken.write_text("import os\nimport no_such_module_here\n")
    line = one_error(run_cli(["dev"], project))
    assert line == (
        f"livesync: error: {broken}:2: ModuleNotFoundError: No module named 'no_such_module_here'"
    )


def test_an_error_in_a_sibling_module_names_the_sibling(project: Path) -> None:
    functions = project / "functions"
    (functions / "helpers.py").write_text("LIMIT = 1 / 0\n")
    (functions / "tasks.py").write_text("from .helpers import LIMIT\n" + TASKS)
    line = one_error(run_cli(["serve"], project))
    assert (
        line
        == f"livesync: error: {functions / 'helpers.py'}:1: ZeroDivisionError: division by zero"
    )


def test_a_bad_schema_py_names_its_line(project: Path) -> None:
    schema = project / "functions" / "schema.py"
    schema.write_text(
        "from server import define_schema, define_table, v\n\n"
        'schema = define_schema({"tasks": {"text": v.string()}})\n'
    )
    line = one_error(run_cli(["serve"], project))
    assert line.startswith(f"livesync: error: {schema}:3: ConfigError: Table 'tasks' must be")


def test_a_schema_py_without_a_schema_names_the_file(project: Path) -> None:
    schema = project / "functions" / "schema.py"
    schema.write_text("tables = {}\n")
    line = one_error(run_cli(["serve"], project))
    assert f"{schema} must define `schema = define_schema" in line


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_port_in_use_names_the_config_line(project: Path, taken_port: int) -> None:
    config = project / "config.toml"
    config.write_text(config.read_text().replace("port = 0", f"port = {taken_port}"))
    line = one_error(run_cli(["dev"], project))
    assert line == (
        f"livesync: error: cannot listen on 127.0.0.1:{taken_port}: Address already in use "
        "(set [server] port in config.toml:2 or pass --port)"
    )


def test_a_port_flag_in_use_says_to_change_the_flag(project: Path, taken_port: int) -> None:
    line = one_error(run_cli(["serve", "--port", str(taken_port)], project))
    assert line.endswith("Address already in use (change --port)")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://db/app", "is not supported"),
        # Port 1: nothing listens there.
        ("postgresql://livesync:secret@127.0.0.1:1/app", "PostgreSQL is unavailable"),
    ],
)
def test_an_unusable_database_url_names_the_config_line(project: Path, url: str, says: str) -> None:
    config = project / "config.toml"
    config.write_text(config.read_text().replace("sqlite:///data/app.db", url))
    line = one_error(run_cli(["serve"], project))
    assert says in line
    assert "secret" not in line
    assert line.endswith("(set [database] url in config.toml:8 or pass --database)")


def test_a_database_another_server_holds_names_the_setting(project: Path) -> None:
    first = CliProcess(["serve"], project)
    try:
        first.wait_listening()
        line = one_error(run_cli(["serve"], project))
    finally:
        first.stop()
    assert f"SQLite database {project / 'data' / 'app.db'} is in use by another" in line
    assert line.endswith("(set [database] url in config.toml:8 or pass --database)")


def test_key_line_finds_a_key_in_its_own_table_only() -> None:
    text = '[server]\nport = 1\n\n[functions]\n# dir = "x"\n dir = "y"\n\n[database]\ndir = 3\n'
    assert key_line(text, "functions", "dir") == 6
    assert key_line(text, "server", "port") == 2
    assert key_line(text, "server", "host") is None


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('[server]\nhost = "x"\nport = "high"\n', "config.toml:3: server.port: expected int"),
        ("[serverr]\nport = 1\n", "config.toml: serverr: unknown section"),
        ("[server\n", "config.toml: Expected ']'"),
    ],
)
def test_a_config_error_names_the_file_and_the_line_of_the_key(
    project: Path, config: str, expected: str
) -> None:
    (project / "config.toml").write_text(config)
    line = one_error(run_cli(["dev"], project))
    assert line.startswith(f"livesync: error: {expected}")


def test_locate_leaves_a_message_that_names_the_file_as_it_is(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[database]\nurl = 3\n")
    assert locate(config, "database.url: expected str") == f"{config}:2: database.url: expected str"
    assert locate(config, f"{config}: bad TOML") == f"{config}: bad TOML"


def test_a_bucket_out_of_reach_names_the_storage_setting(project: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with (project / "config.toml").open("a") as config:
        config.write(
            f'\n[storage]\nbackend = "s3"\n\n[storage.s3]\nbucket = "files"\n'
            f'endpoint_url = "{nowhere}"\naccess_key_id = "k"\nsecret_access_key = "s"\n'
            "timeout = 2\n"
        )
    line = one_error(run_cli(["serve"], project))
    assert f"storage.s3: cannot use the S3 bucket 'files' at {nowhere}: " in line
    assert "file storage is out of reach" in line and '"s"' not in line
