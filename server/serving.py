"""Serving a `LivesyncApp` under uvicorn on a socket bound beforehand: the
side listeners (`/metrics` alone, the HTTP actions alone), the reloader of
`livesync dev`, and a shutdown that drains the app before uvicorn closes
its sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Awaitable, Callable, Generator

import uvicorn

from server.app import LivesyncApp
from server.asgi import ASGIApp
from server.config import Config
from server.errors import LivesyncError
from server.functions.registry import FunctionRegistry
from server.reload import FunctionReloader
from server.websocket import LivesyncWebSocketProtocol

__all__ = ["bind", "listening_url", "serve"]

# What uvicorn still waits for after the app drained (closing frames to
# flush, tasks to finish cancelling) before it cancels them outright.
_AFTER_DRAIN_S = 2


class _Server(uvicorn.Server):
    """uvicorn.Server that tells us when it is accepting connections, and
    drains the app before uvicorn closes every socket on shutdown."""

    def __init__(
        self,
        config: uvicorn.Config,
        app: LivesyncApp,
        on_ready: Callable[[], None],
        on_stop: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(config)
        self._app = app
        self._on_ready = on_ready
        self._on_stop = on_stop

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn would close every WebSocket at once with mutations unanswered:
        # stop accepting, let the app answer what is in flight, then hand over.
        for server in self.servers:
            server.close()
        await self._app.drain(self._app.config.server.shutdown_grace)
        await super().shutdown(sockets=sockets)
        # Before serve() returns: uvicorn then raises the signal that stopped
        # it again (KeyboardInterrupt for Ctrl-C), which would cut this short.
        await self._on_stop()


def bind(host: str, port: int, hint: str = "") -> socket.socket:
    """A socket listening-ready on host:port; `hint` says how to pick another."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"cannot listen on {host}:{port}: {exc.strerror}"
        raise LivesyncError(f"{where} {hint}".rstrip()) from None
    sock.set_inheritable(True)
    return sock


def listening_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def _public_url(sock: socket.socket) -> str:
    """The URL a client on this machine reaches the socket at (a wildcard
    address is not one); `[storage] public_url` names the real one."""
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


async def serve(
    config: Config,
    sock: socket.socket,
    mounts: dict[str, ASGIApp] | None = None,
    *,
    registry: FunctionRegistry | None = None,
    dev: bool = False,
) -> None:
    """Serve `config` on an already bound socket until interrupted. The app
    starts before the socket listens, so whatever fails start-up is raised
    here (`LivesyncError`). `registry`: the functions, loaded already;
    `dev` (`livesync dev`): reload them whenever their folder changes, and
    open the dashboard signed in for a visitor on this machine."""
    app = LivesyncApp(
        config, mounts=mounts, public_url=_public_url(sock), registry=registry, dev=dev
    )
    await app.startup()
    reloader = None
    if dev:
        reloader = FunctionReloader(
            app, config.functions.dir, reloaded=_say, failed=lambda line: _say(line, error=True)
        )
        reloader.start()
    sides: list[tuple[_SideServer, asyncio.Task[None]]] = []
    stopped = False

    async def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        for side, task in sides:
            side.should_exit = True
            await task
        if reloader is not None:
            await reloader.close()
        await app.shutdown()

    uv_config = uvicorn.Config(
        app,
        ws=LivesyncWebSocketProtocol,
        ws_max_size=config.server.max_message_bytes,
        ws_per_message_deflate=True,
        lifespan="off",  # started above, stopped by stop()
        timeout_graceful_shutdown=_AFTER_DRAIN_S,
        log_level="warning",
        log_config=None,
    )
    url = listening_url(sock)

    def ready() -> None:
        print(f"livesync: listening on {url}", flush=True)
        if config.server.dashboard:
            # In dev the page opens signed in for this machine; else it asks for the key.
            how = "" if dev else " (sign in with the admin key)"
            print(f"livesync: dashboard at {url}/_dashboard/{how}", flush=True)

    server = _Server(uv_config, app, ready, stop)
    try:
        if config.server.metrics_address is not None:
            address = config.server.metrics_address
            sides.append(_side_server(app.routes.metrics_app, address, "metrics", "/metrics"))
        if config.server.site_port is not None:
            site = (config.server.host, config.server.site_port)
            sides.append(_side_server(app.routes.site_app, site, "HTTP actions", ""))
        await server.serve(sockets=[sock])
    finally:
        await stop()  # when uvicorn never got to its shutdown
    if not server.started:
        raise LivesyncError("server failed to start (see the log above)")


def _say(line: str, *, error: bool = False) -> None:
    if error:
        print(f"livesync: error: {line}", file=sys.stderr, flush=True)
    else:
        print(f"livesync: {line}", flush=True)


class _SideServer(uvicorn.Server):
    """A listener beside the main one (`[server] metrics = "HOST:PORT"`,
    `[server] site_port`): stopped by the main server, so it leaves the
    signal handlers to it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _side_server(
    asgi: ASGIApp, address: tuple[str, int], what: str, path: str
) -> tuple[_SideServer, asyncio.Task[None]]:
    sock = bind(*address)
    uv_config = uvicorn.Config(
        asgi, interface="asgi3", lifespan="off", log_level="warning", log_config=None
    )
    server = _SideServer(uv_config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    print(f"livesync: {what} on {listening_url(sock)}{path}", flush=True)
    return server, task
