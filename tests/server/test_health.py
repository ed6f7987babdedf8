"""`/health` reports a dead essential task (issue 13, item 1): the app runs
in-process on a real socket, and a test stops one of its tasks deliberately."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.app import LivesyncApp
from server.config import Config, DatabaseConfig, FunctionsConfig
from tests.helpers.asgi_server import serve_asgi
from tests.helpers.timeouts import REPLY

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "sync" / "functions"


@contextlib.asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[LivesyncApp, httpx.AsyncClient]]:
    config = Config(
        functions=FunctionsConfig(FUNCTIONS),
        database=DatabaseConfig(f"sqlite:///{tmp_path / 'health.db'}"),
    )
    app = LivesyncApp(config)
    async with (
        serve_asgi(app, lifespan="on") as url,
        httpx.AsyncClient(base_url=url, timeout=REPLY) as http,
    ):
        yield app, http


async def send(http: httpx.AsyncClient, body: str) -> str:
    reply = await http.post(
        "/api/mutation", json={"path": "messages:send", "args": {"channel": "h", "body": body}}
    )
    return str(reply.json()["status"])


async def stop(task: asyncio.Task[None] | None) -> None:
    assert task is not None and not task.done()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_health_is_ok_while_every_essential_task_runs(tmp_path: Path) -> None:
    async with serving(tmp_path) as (app, http):
        assert await send(http, "x") == "success"
        reply = await http.get("/health")
        assert (reply.status_code, reply.json()) == (200, {"status": "ok"})
        assert app.dead_tasks() == {}


async def test_a_dead_committer_makes_health_503_naming_it_until_a_write_restarts_it(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path) as (app, http):
        assert await send(http, "x") == "success"
        assert app.engine is not None
        await stop(app.engine.committer.task)
        reply = await http.get("/health")
        assert reply.status_code == 503
        assert reply.json() == {"status": "unhealthy", "dead_tasks": {"committer": "cancelled"}}
        # The next mutation starts the loop again, and health follows.
        assert await send(http, "y") == "success"
        assert (await http.get("/health")).status_code == 200


@pytest.mark.parametrize("name", ["history_vacuum", "result_pruning"])
async def test_a_dead_upkeep_task_makes_health_503_naming_it(tmp_path: Path, name: str) -> None:
    async with serving(tmp_path) as (app, http):
        assert app._upkeep is not None
        await stop(app._upkeep.tasks[name])
        reply = await http.get("/health")
        assert reply.status_code == 503
        assert reply.json() == {"status": "unhealthy", "dead_tasks": {name: "cancelled"}}
        assert await send(http, "still writes") == "success"
