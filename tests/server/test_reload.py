"""`livesync dev` reloads the app on save, as a user meets it: a project
from `livesync init`, the server a subprocess, a client subscribed the whole
time, and files edited under it. Each step waits on what the user would see:
the printed reload line, the subscription's next value."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from client import Client, Subscription
from tests.helpers.cli_process import CliProcess, run_cli
from tests.helpers.stores import SqliteBackend, StoreBackend
from tests.helpers.timeouts import CLIENT, READ

TEXTS = """\
from server import mutation, query, v


@query()
async def list(ctx):
    rows = await ctx.db.query("tasks").order("asc").collect()
    return [row["text"] for row in rows]


@mutation(args={"text": v.string()})
async def add(ctx, text):
    return await ctx.db.insert("tasks", {"text": text, "done": False})
"""

BY_DONE = """\
from server import mutation, query, v


@query()
async def list(ctx):
    rows = await ctx.db.query("tasks").with_index("by_done", lambda q: q.eq("done", False)).collect()
    return ["open: " + row["text"] for row in rows]


@mutation(args={"text": v.string()})
async def add(ctx, text):
    return await ctx.db.insert("tasks", {"text": text, "done": False})
"""

SCHEMA_BY_DONE = """\
from server import define_schema, define_table, v

schema = define_schema(
    {"tasks": define_table({"text": v.string(), "done": v.boolean()}).index("by_done", ["done"])}
)
"""


@dataclass
class Dev:
    dev: CliProcess
    url: str
    functions: Path

    async def reloaded(self) -> str:
        return await asyncio.to_thread(self.dev.expect_stdout, r"^livesync: reloaded ", READ)

    async def failed(self) -> str:
        return await asyncio.to_thread(self.dev.expect_stderr, r"^livesync: error: ", READ)


@pytest.fixture
async def project(tmp_path: Path, store_backend: StoreBackend) -> AsyncIterator[Dev]:
    """A new project served by `livesync dev` on each store backend."""
    assert run_cli(["init", "app"], tmp_path).returncode == 0
    folder = tmp_path / "app"
    database = (
        f"sqlite:///{store_backend.path}"
        if isinstance(store_backend, SqliteBackend)
        else store_backend.url
    )
    dev = CliProcess(["dev", "--port", "0", "--database", database], folder)
    try:
        url = await asyncio.to_thread(dev.wait_listening)
        yield Dev(dev, url, folder / "functions")
    finally:
        assert dev.stop() == 0, str(dev)


async def next_value(sub: Subscription) -> Any:
    async with asyncio.timeout(CLIENT):
        return await sub.next()


async def test_edits_reach_a_subscribed_client_without_reconnecting(project: Dev) -> None:
    tasks = project.functions / "tasks.py"
    async with Client(project.url) as client:
        sub = client.subscribe("tasks:list")
        assert await next_value(sub) == []
        await client.mutation("tasks:add", {"text": "a"})
        assert [row["text"] for row in await next_value(sub)] == ["a"]

        # Changed code: the subscription gets the new result.
        tasks.write_text(TEXTS)
        assert await project.reloaded() == "livesync: reloaded 2 functions"
        assert await next_value(sub) == ["a"]

        # A new module: its function is callable at once.
        (project.functions / "notes.py").write_text(
            "from server import query\n\n@query()\nasync def hello(ctx):\n    return 'hi'\n"
        )
        assert await project.reloaded() == "livesync: reloaded 3 functions"
        assert await client.query("notes:hello") == "hi"

        # A broken file: one line naming it, and the old code answers on.
        tasks.write_text(TEXTS.replace("async def list(ctx):", "async def list(ctx:"))
        line = await project.failed()
        assert line.startswith(f"livesync: error: {tasks}:5: SyntaxError: ")
        assert line.endswith("(the previous code still serves)")
        assert await client.query("tasks:list") == ["a"]
        assert await client.query("notes:hello") == "hi"

        # A new index in schema.py (built from the rows already there),
        # then a query that uses it.
        tasks.write_text(TEXTS)
        assert await project.reloaded() == "livesync: reloaded 3 functions"
        (project.functions / "schema.py").write_text(SCHEMA_BY_DONE)
        assert await project.reloaded() == "livesync: reloaded 3 functions"
        tasks.write_text(BY_DONE)
        assert await project.reloaded() == "livesync: reloaded 3 functions"
        assert await next_value(sub) == ["open: a"]
        await client.mutation("tasks:add", {"text": "b"})
        assert await next_value(sub) == ["open: a", "open: b"]

        assert client.connection_count == 1
    assert [line for line in project.dev.stderr if "error" in line] == [line]


async def test_crons_and_http_routes_follow_a_reload(project: Dev) -> None:
    async with Client(project.url) as client:
        sub = client.subscribe("tasks:list")
        assert await next_value(sub) == []
        # An interval job runs as soon as it is added.
        (project.functions / "crons.py").write_text(
            "from server import cron_jobs\n\ncrons = cron_jobs()\n"
            "crons.interval('remind', {'hours': 1}, 'tasks:add', {'text': 'from cron'})\n"
        )
        assert await project.reloaded() == "livesync: reloaded 2 functions"
        assert [row["text"] for row in await next_value(sub)] == ["from cron"]

    (project.functions / "http.py").write_text(
        "from server import http_action, http_router\n\nhttp = http_router()\n\n\n"
        "@http_action\nasync def ping(ctx, request):\n    return 'pong'\n\n\n"
        "http.route(path='/ping', method='GET', handler=ping)\n"
    )
    await project.reloaded()
    async with httpx.AsyncClient(base_url=project.url, timeout=CLIENT) as http:
        assert (await http.get("/ping")).text == "pong"
        (project.functions / "http.py").unlink()
        await project.reloaded()
        assert (await http.get("/ping")).status_code == 404
