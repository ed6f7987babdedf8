"""What a sync connection needs of its socket, and of time.

`SyncConnection` talks to the network only through a `Transport` and reads
the time only through a `Clock`, so its state machine can be driven in tests
by a fake of each (as httpx tests use `MockTransport`) with no socket and no
waiting for real tokens to expire.
"""

from __future__ import annotations

import time as _time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "Transport", "TransportClosed"]


class TransportClosed(Exception):
    """The client went away while a frame was being sent: not an error."""


class Transport(Protocol):
    def ready(self) -> bool:
        """Whether `send_now` may be called: the socket takes a frame at once."""
        ...

    def send_now(self, text: str) -> None: ...

    async def send_text(self, text: str) -> None:
        """Send one frame; raises `TransportClosed` if the socket is gone."""
        ...

    async def close(self, code: int, reason: str) -> None: ...

    def pause_reading(self, paused: bool) -> None:
        """Stop (or resume) taking frames from the socket, where possible."""
        ...

    def abort(self) -> None:
        """Drop the socket at once, unsent data and all, where possible."""
        ...


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch: what a token's exp is in."""
        ...

    def time_ns(self) -> int: ...

    def monotonic(self) -> float:
        """For intervals (pings): never jumps with the wall clock."""
        ...


class _SystemClock:
    __slots__ = ()
    time = staticmethod(_time.time)
    time_ns = staticmethod(_time.time_ns)
    monotonic = staticmethod(_time.monotonic)


SYSTEM_CLOCK: Clock = _SystemClock()
