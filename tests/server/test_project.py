"""`livesync init` as a new user meets it: a fresh folder, the command,
what it prints, then `livesync dev` in that folder serving the new app to a
subscribed client."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from client import Client
from server.project import PROJECT_FILES
from tests.helpers.cli_process import CliProcess, run_cli
from tests.helpers.timeouts import CLIENT


def test_init_writes_the_project_and_prints_the_next_command(tmp_path: Path) -> None:
    done = run_cli(["init", "myapp"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    project = tmp_path / "myapp"
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*")) == [
        ".gitignore",
        "config.toml",
        "functions",
        "functions/schema.py",
        "functions/tasks.py",
    ]
    assert done.stdout.splitlines()[-1] == "livesync: next, run: cd myapp && livesync dev"
    assert "data/" in (project / ".gitignore").read_text().splitlines()


def test_init_without_a_folder_uses_the_current_one(tmp_path: Path) -> None:
    done = run_cli(["init"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "config.toml").is_file()
    assert done.stdout.splitlines()[-1] == "livesync: next, run: livesync dev"


def test_init_overwrites_nothing_and_writes_nothing_when_a_file_exists(tmp_path: Path) -> None:
    (tmp_path / "functions").mkdir()
    mine = tmp_path / "functions" / "tasks.py"
    mine.write_text("# my own\n")
    done = run_cli(["init"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "livesync: error: functions/tasks.py already exists; livesync init overwrites nothing"
    ]
    assert mine.read_text() == "# my own\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["functions", "tasks.py"]


async def test_dev_in_a_new_project_serves_its_query_and_mutation_live(tmp_path: Path) -> None:
    assert run_cli(["init", "app"], tmp_path).returncode == 0
    project = tmp_path / "app"
    # The port the template sets may be taken: the flag picks a free one.
    dev = CliProcess(["dev", "--port", "0"], project)
    try:
        url = await asyncio.to_thread(dev.wait_listening)
        # Where to look, opening signed in on this machine.
        pattern = f"^livesync: dashboard at {re.escape(url)}/_dashboard/$"
        await asyncio.to_thread(dev.expect_stdout, pattern)
        async with Client(url) as client:
            tasks = client.subscribe("tasks:list")
            async with asyncio.timeout(CLIENT):
                assert await tasks.next() == []
                await client.mutation("tasks:add", {"text": "try livesync"})
                [task] = await tasks.next()
        assert (task["text"], task["done"]) == ("try livesync", False)
        assert (project / "data" / "livesync.db").is_file()
    finally:
        assert dev.stop() == 0, str(dev)


def test_the_template_lists_every_file_it_writes() -> None:
    assert set(PROJECT_FILES) == {
        "config.toml",
        "functions/schema.py",
        "functions/tasks.py",
        ".gitignore",
    }
