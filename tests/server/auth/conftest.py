"""Fixtures for the auth tests: real dev issuers over HTTP, a settable clock.

`start_issuer` runs a `DevIssuer` under uvicorn on 127.0.0.1 port 0 inside the
test's event loop. The socket is bound before serving, and the fixture waits
for uvicorn's startup to finish (an event, not a sleep) before handing it out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from server.dev_issuer import DevIssuer, KeyStore, bind_socket, issuer_url_for
from tests.helpers.timeouts import REPLY
from tests.server.auth.harness import (
    Clock,
    CountingHttp,
    IssuerServer,
    RunningIssuer,
    StartIssuer,
)

__all__ = ["clock", "http", "start_issuer"]


@pytest.fixture
async def start_issuer(tmp_path: Path) -> AsyncIterator[StartIssuer]:
    running: list[RunningIssuer] = []

    async def start(*, kid: str | None = None, jwks_max_age: int = 300) -> RunningIssuer:
        keys_dir = tmp_path / f"issuer-{len(running)}"
        if kid is not None:
            KeyStore(keys_dir).rotate(kid)
        sock = bind_socket("127.0.0.1", 0)
        url = issuer_url_for("127.0.0.1", sock.getsockname()[1])
        app = DevIssuer(keys_dir, url, jwks_max_age=jwks_max_age)
        server = IssuerServer(uvicorn.Config(app, lifespan="on", log_level="warning"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait({task, ready}, timeout=REPLY, return_when="FIRST_COMPLETED")
        ready.cancel()
        assert server.ready.is_set(), "dev issuer did not start"
        issuer = RunningIssuer(url, app, keys_dir, server, task)
        running.append(issuer)
        return issuer

    yield start
    for issuer in running:
        if not issuer._task.done():
            await issuer.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def http() -> AsyncIterator[CountingHttp]:
    counting = CountingHttp()
    yield counting
    await counting.client.aclose()
