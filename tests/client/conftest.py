"""Fixtures for the client tests: a real server, a TCP proxy that can fail on cue,
and a dev issuer minting real tokens.

The proxy sits between a client and a real server. It can hold back the
server's frames on the current connections (to keep a mutation "in flight"
across a restart) or drop them (a server that went silent), while new
connections pass through normally. Tests wait on what the proxy saw, never on
time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn

from client.backoff import backoff_delays
from server.dev_issuer import DevIssuer, bind_socket, issuer_url_for
from tests.helpers.timeouts import CLIENT

FUNCTIONS = Path(__file__).parent / "functions"


def fast_backoff() -> Iterator[float]:
    """Reconnect quickly in tests; the jitter stays on."""
    return backoff_delays(initial=0.05, maximum=0.5)


@dataclass
class _Link:
    client_writer: asyncio.StreamWriter
    server_writer: asyncio.StreamWriter
    mode: str = "pass"  # "pass", "hold" (buffer server bytes) or "drop" (discard them)
    downstream: bytearray = field(default_factory=bytearray)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port>, byte for byte."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections = 0
        self._links: list[_Link] = []
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for link in self._links:
            link.client_writer.close()
            link.server_writer.close()
        if self._server is not None:
            self._server.close()

    def hold(self) -> None:
        """Buffer (do not forward) server bytes on the current connections."""
        for link in self._links:
            link.mode = "hold"

    def silence(self) -> None:
        """Discard server bytes on the current connections: the server looks dead."""
        for link in self._links:
            link.mode = "drop"

    async def wait_for_downstream(self, needle: bytes) -> None:
        """Wait until a held connection received ``needle`` from the server."""
        while not any(needle in link.downstream for link in self._links if link.mode == "hold"):
            await self._wait_change()

    async def wait_for_connections(self, count: int) -> None:
        while self.connections < count:
            await self._wait_change()

    async def _wait_change(self) -> None:
        await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()  # server down: the client sees a failed handshake and retries
            return
        link = _Link(writer, up_writer)
        self._links.append(link)
        self.connections += 1
        self._notify()
        upstream = asyncio.create_task(self._pump(reader, up_writer, None))
        await self._pump(up_reader, writer, link)
        upstream.cancel()
        writer.close()
        up_writer.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link | None
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if link is not None and link.mode != "pass":
                    if link.mode == "hold":
                        link.downstream.extend(data)
                        self._notify()
                    continue
                writer.write(data)
                await writer.drain()


@pytest.fixture
def server(start_server):
    return start_server(FUNCTIONS)


@pytest.fixture
async def proxy(server) -> AsyncIterator[TcpProxy]:
    running = TcpProxy(server.port)
    await running.start()
    yield running
    await running.stop()


class _Uvicorn(uvicorn.Server):
    """uvicorn with an event set once it accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        await super().startup(sockets=sockets)
        self.ready.set()


@pytest.fixture
async def issuer_url(tmp_path: Path) -> AsyncIterator[str]:
    """A dev issuer served by uvicorn in this test's event loop."""
    sock = bind_socket("127.0.0.1", 0)
    url = issuer_url_for("127.0.0.1", sock.getsockname()[1])
    app = DevIssuer(tmp_path / "issuer-keys", url)
    server = _Uvicorn(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(CLIENT):
        await server.ready.wait()
    yield url
    server.should_exit = True
    async with asyncio.timeout(CLIENT):
        await task


def provider_config(issuer: str) -> str:
    """config.toml lines trusting ``issuer`` as a custom JWT provider."""
    return (
        "[[auth.providers]]\n"
        'type = "custom_jwt"\n'
        f'issuer = "{issuer}"\n'
        f'jwks = "{issuer}/.well-known/jwks.json"\n'
        'algorithm = "RS256"\n'
    )
