"""An ASGI app under uvicorn in this event loop, on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from tests.helpers.timeouts import REPLY

__all__ = ["serve_asgi"]


class _SignallingServer(uvicorn.Server):
    """uvicorn.Server that sets an event once it accepts connections (or gave up)."""

    def __init__(self, config: uvicorn.Config, ready: asyncio.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self._ready.set()


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, **options: Any) -> AsyncIterator[str]:
    """Serve `app` (uvicorn `options` on top of quiet defaults); yields its http URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, **{"log_level": "warning", "log_config": None, **options})
    ready = asyncio.Event()
    server = _SignallingServer(config, ready)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(ready.wait(), REPLY)
        assert server.started, "the in-process server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, REPLY)
        sock.close()
