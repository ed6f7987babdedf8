"""Fixtures for the auth tests: real dev issuers over HTTP, a settable clock.

`start_issuer` runs a `DevIssuer` under uvicorn on 127.0.0.1 port 0 inside the
test's event loop. The socket is bound before serving, and the fixture waits
for uvicorn's startup to finish (an event, not a sleep) before handing it out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from server.auth.dev_issuer import DevIssuer, bind_socket, issuer_url_for
from server.auth.keys import KeyStore

__all__ = ["Clock", "CountingHttp", "RunningIssuer"]

STARTUP_TIMEOUT = 10.0


class _Server(uvicorn.Server):
    """uvicorn with an event set once it is accepting connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        await super().startup(sockets=sockets)
        self.ready.set()


@dataclass
class RunningIssuer:
    url: str
    app: DevIssuer
    keys_dir: Path
    _server: _Server
    _task: asyncio.Task[None]

    @property
    def keys(self) -> KeyStore:
        return self.app.keys

    def sign(self, claims: dict[str, object], **headers: object) -> str:
        return self.app.keys.sign(claims, headers=headers)

    def claims(self, **overrides: object) -> dict[str, object]:
        """Valid claims for this issuer, as the dev issuer would mint them."""
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": self.url,
            "sub": "user_1",
            "aud": "convex",
            "iat": now,
            "exp": now + 86400,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    async def stop(self) -> None:
        self._server.should_exit = True
        await asyncio.wait_for(self._task, STARTUP_TIMEOUT)


StartIssuer = Callable[..., Awaitable[RunningIssuer]]


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
        server = _Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait({task, ready}, timeout=STARTUP_TIMEOUT, return_when="FIRST_COMPLETED")
        ready.cancel()
        assert server.ready.is_set(), "dev issuer did not start"
        issuer = RunningIssuer(url, app, keys_dir, server, task)
        running.append(issuer)
        return issuer

    yield start
    for issuer in running:
        if not issuer._task.done():
            await issuer.stop()


@dataclass
class Clock:
    """A settable clock for the authenticator; starts at the real time."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class CountingHttp:
    """An httpx client that records the path of every request it sends."""

    paths: list[str] = field(default_factory=list)
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        async def record(request: httpx.Request) -> None:
            self.paths.append(request.url.path)

        self.client = httpx.AsyncClient(event_hooks={"request": [record]})

    def take(self) -> list[str]:
        """The paths requested since the last call."""
        paths, self.paths = self.paths, []
        return paths


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def http() -> AsyncIterator[CountingHttp]:
    counting = CountingHttp()
    yield counting
    await counting.client.aclose()
