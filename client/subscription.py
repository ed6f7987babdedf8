"""Live query subscriptions: async iterators over a query's results.

All subscriptions to the same (path, args) share one query id and one
:class:`QueryChannel` holding the latest result. Each subscription keeps its
own cursor into it, so a slow consumer is not buffered without bound: it skips
straight to the newest result (results are snapshots, so older ones are stale).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from client.errors import ClientClosed

if TYPE_CHECKING:
    from protocol.client_state import FunctionResult

__all__ = ["QueryChannel", "Subscription"]


class QueryChannel:
    """The latest result of one query id, and a way to wait for the next."""

    def __init__(self, outcome: FunctionResult | None) -> None:
        self.outcome = outcome
        self.version = 0 if outcome is None else 1
        self.closed = False
        self.subscribers = 0
        self._changed = asyncio.Event()

    def publish(self, outcome: FunctionResult) -> None:
        self.outcome = outcome
        self.version += 1
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def wake(self) -> None:
        self._wake()

    async def wait(self) -> None:
        await self._changed.wait()

    def _wake(self) -> None:
        # A fresh Event per change: every waiter of the old one wakes exactly once.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


class Subscription:
    """A live query: ``async for value in sub`` yields each new result.

    The first result comes first. A failed query raises its
    :class:`~client.errors.FunctionError` (or ``AppError``) from the iteration
    step that reaches it; iterating again waits for the next result. Iteration
    ends after :meth:`unsubscribe` or when the client closes.
    """

    def __init__(
        self,
        *,
        path: str,
        args: dict[str, Any],
        channel: QueryChannel,
        unwrap: Callable[[FunctionResult, str], Any],
        release: Callable[[], None],
    ) -> None:
        self.path = path
        self.args = args
        self._channel = channel
        self._unwrap = unwrap
        self._release = release
        self._seen = 0
        self._unsubscribed = False

    @property
    def latest(self) -> Any:
        """The newest result (None before the first); raises if it was a failure."""
        outcome = self._channel.outcome
        return None if outcome is None else self._unwrap(outcome, self.path)

    @property
    def has_result(self) -> bool:
        """Whether any result has arrived yet."""
        return self._channel.outcome is not None

    @property
    def active(self) -> bool:
        return not self._unsubscribed and not self._channel.closed

    def unsubscribe(self) -> None:
        """Stop the subscription; the server drops the query once nobody uses it."""
        if self._unsubscribed:
            return
        self._unsubscribed = True
        self._release()
        self._channel.wake()

    async def next(self) -> Any:
        """The next new result.

        Raises:
            ClientClosed: the subscription ended before another result came.
            FunctionError: the new result is a failure.
        """
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            raise ClientClosed(f"subscription to {self.path} ended") from None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        channel = self._channel
        while True:
            if self._unsubscribed or channel.closed:
                raise StopAsyncIteration
            if channel.version > self._seen and channel.outcome is not None:
                self._seen = channel.version
                return self._unwrap(channel.outcome, self.path)
            await channel.wait()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.unsubscribe()

    def __repr__(self) -> str:
        state = "active" if self.active else "ended"
        return f"<Subscription {self.path} {state}>"
