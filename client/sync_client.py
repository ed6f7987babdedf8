"""A blocking facade over :class:`~client.async_client.Client` for scripts and notebooks.

The async client runs on its own event loop in a daemon thread; each blocking
method submits a coroutine to that loop and waits for its result. This keeps a
single implementation of the protocol (no duplicated sync code path) and lets
notebooks, which already run a loop of their own, use the client too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar, Unpack

from client.async_client import Client, ClientOptions
from client.errors import ClientClosed, RequestTimeout
from client.subscription import Subscription
from client.tokens import TokenSource
from protocol import AuthState

__all__ = ["SyncClient", "SyncSubscription"]

_T = TypeVar("_T")


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="livesync-sync-client", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None) -> _T:
        if self.loop.is_closed():
            coro.close()
            raise ClientClosed("client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RequestTimeout(f"no result within {timeout} s") from None

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class SyncSubscription:
    """A blocking view of a :class:`~client.subscription.Subscription`.

    ``for value in sub`` blocks for each new result; ``sub.next(timeout=...)``
    waits for one with a limit.
    """

    def __init__(self, subscription: Subscription, runner: _LoopThread) -> None:
        self._subscription = subscription
        self._runner = runner

    @property
    def path(self) -> str:
        return self._subscription.path

    @property
    def latest(self) -> Any:
        """The newest result (None before the first); raises if it was a failure."""
        return self._runner.run(_latest(self._subscription), None)

    def next(self, timeout: float | None = None) -> Any:
        """Block until the next new result.

        Raises:
            RequestTimeout: none arrived within ``timeout`` seconds.
            ClientClosed: the subscription or client ended.
            FunctionError: the new result is a failure.
        """
        return self._runner.run(self._subscription.next(), timeout)

    def unsubscribe(self) -> None:
        if not self._runner.loop.is_closed():
            self._runner.run(_unsubscribe(self._subscription), None)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        more, value = self._runner.run(_step(self._subscription), None)
        if not more:
            raise StopIteration
        return value

    def __enter__(self) -> SyncSubscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()


class SyncClient:
    """Blocking client: the same calls as :class:`Client`, without ``await``.

    ``with SyncClient(url, auth=token) as c: c.mutation("notes:add", {...})``.
    ``auth`` may be a token string or a plain or async
    ``fetch_token(force_refresh) -> str | None`` callable. Other keyword
    arguments go to :class:`Client`. ``timeout`` bounds every blocking call
    unless a call passes its own.
    """

    def __init__(
        self,
        url: str,
        auth: TokenSource = None,
        *,
        timeout: float | None = None,
        **client_options: Unpack[ClientOptions],
    ) -> None:
        self._timeout = timeout
        self._runner = _LoopThread()
        try:
            self._client = self._runner.run(_open_client(url, auth, client_options), timeout)
        except BaseException:
            self._runner.stop()
            raise
        self._closed = False

    @property
    def auth_state(self) -> AuthState:
        return self._client.auth_state

    @property
    def session_id(self) -> str:
        return self._client.session_id

    def query(
        self, path: str, args: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        return self._run(self._client.query(path, args), timeout)

    def mutation(
        self, path: str, args: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        return self._run(self._client.mutation(path, args), timeout)

    def action(
        self, path: str, args: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        return self._run(self._client.action(path, args), timeout)

    def subscribe(self, path: str, args: dict[str, Any] | None = None) -> SyncSubscription:
        subscription = self._run(_subscribe(self._client, path, args), None)
        return SyncSubscription(subscription, self._runner)

    def wait_for_auth_state(
        self, *states: AuthState | str, timeout: float | None = None
    ) -> AuthState:
        """Block until :attr:`auth_state` is one of ``states``."""
        return self._run(self._client.wait_for_auth_state(*states), timeout)

    def auth_state_changed(self, *, timeout: float | None = None) -> AuthState:
        """Block until :attr:`auth_state` changes; return the new state."""
        return self._run(self._client.auth_state_changed(), timeout)

    def set_auth(self, auth: TokenSource) -> None:
        self._run(self._client.set_auth(auth), None)

    def close(self) -> None:
        """Close the client and stop its thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.run(self._client.close(), None)
        finally:
            self._runner.stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, _T], timeout: float | None) -> _T:
        if self._closed:
            coro.close()
            raise ClientClosed("client is closed")
        return self._runner.run(coro, self._timeout if timeout is None else timeout)


async def _open_client(url: str, auth: TokenSource, options: ClientOptions) -> Client:
    # Built inside the loop thread so its asyncio objects belong to that loop.
    client = Client(url, auth, **options)
    await client.open()
    return client


async def _subscribe(client: Client, path: str, args: dict[str, Any] | None) -> Subscription:
    return client.subscribe(path, args)


async def _unsubscribe(subscription: Subscription) -> None:
    subscription.unsubscribe()


async def _latest(subscription: Subscription) -> Any:
    return subscription.latest


async def _step(subscription: Subscription) -> tuple[bool, Any]:
    # StopAsyncIteration cannot cross a concurrent future cleanly; report it as data.
    try:
        return True, await subscription.__anext__()
    except StopAsyncIteration:
        return False, None
