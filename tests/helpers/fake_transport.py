"""Fakes of what a `SyncConnection` needs from outside: its socket and the time.

With these a connection's state machine runs without a socket, and a token
expires when the test moves the clock, not after real seconds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from server.auth.authenticator import AuthResult
from server.auth.identity import UserIdentity
from server.errors import TokenInvalid

__all__ = ["FakeClock", "FakeJudge", "FakeTransport", "identity"]


class FakeTransport:
    """Records what the connection sends; `writable=False` makes it stop reading."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.aborted = False
        self.paused = False
        self.writable = True
        self._read = 0
        self._changed = asyncio.Event()

    # -- the Transport protocol --------------------------------------------

    def ready(self) -> bool:
        return self.writable

    def send_now(self, text: str) -> None:
        self.sent.append(text)
        self._changed.set()

    async def send_text(self, text: str) -> None:
        while not self.writable:
            self._changed.clear()
            await self._changed.wait()
        self.send_now(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self._changed.set()

    def pause_reading(self, paused: bool) -> None:
        self.paused = paused

    def abort(self) -> None:
        self.aborted = True
        self._changed.set()

    # -- for tests -----------------------------------------------------------

    def unread(self) -> list[dict[str, Any]]:
        """Messages sent since the last read, parsed; marks them read."""
        messages = [json.loads(text) for text in self.sent[self._read :]]
        self._read = len(self.sent)
        return messages

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next message sent (waiting for it), ignoring Pings."""
        async with asyncio.timeout(timeout):
            while True:
                while self._read < len(self.sent):
                    message: dict[str, Any] = json.loads(self.sent[self._read])
                    self._read += 1
                    if message["type"] != "Ping":
                        return message
                self._changed.clear()
                await self._changed.wait()

    async def wait_closed(self, timeout: float = 5.0) -> tuple[int, str]:
        async with asyncio.timeout(timeout):
            while self.closed is None:
                self._changed.clear()
                await self._changed.wait()
        return self.closed

    def unblock(self) -> None:
        self.writable = True
        self._changed.set()


class FakeClock:
    """Wall time that moves only when told; monotonic time follows it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return int(self.now * 1e9)

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def identity(subject: str) -> UserIdentity:
    return UserIdentity(f"https://issuer.test|{subject}", subject, "https://issuer.test")


class FakeJudge:
    """Tokens are "<subject>:<exp>". Keys are "cached" (so `authenticate_now`
    answers) unless `fetching` is set, in which case `authenticate` waits for
    `fetched`. A subject starting with "bad" is refused."""

    def __init__(self) -> None:
        self.fetching = False
        self.fetched = asyncio.Event()
        self.asked = asyncio.Event()  # set when `authenticate` is called
        self.calls: list[str] = []

    def _judge(self, token: str) -> AuthResult:
        subject, _, exp = token.partition(":")
        if subject.startswith("bad"):
            raise TokenInvalid(f"Could not verify token for {subject}")
        return AuthResult(identity(subject), float(exp))

    def authenticate_now(self, token: str) -> AuthResult | None:
        self.calls.append("now")
        if self.fetching:
            return None
        try:
            return self._judge(token)
        except TokenInvalid:
            return None

    async def authenticate(self, token: str) -> AuthResult:
        self.calls.append("fetch")
        self.asked.set()
        if self.fetching:
            await self.fetched.wait()
        return self._judge(token)
