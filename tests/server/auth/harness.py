"""Test harness for the auth tests: a running dev issuer, a settable clock, a
request-counting httpx client. The fixtures in conftest.py build on these."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from server.dev_issuer import DevIssuer, KeyStore
from tests.helpers.timeouts import REPLY

__all__ = [
    "Clock",
    "CountingHttp",
    "IssuerServer",
    "RunningIssuer",
    "StartIssuer",
]


class IssuerServer(uvicorn.Server):
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
    _server: IssuerServer
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
        await asyncio.wait_for(self._task, REPLY)


StartIssuer = Callable[..., Awaitable[RunningIssuer]]


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
