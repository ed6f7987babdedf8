"""The asyncio client: one socket, one query set, reconnects on its own.

A background task owns the socket. It connects, replays the client state
(Connect, Authenticate, every query, every unresolved mutation), then reads
frames until the socket dies, the server goes silent for
``inactivity_timeout`` seconds, or the server breaks the protocol; then it
waits a jittered backoff delay and starts again. All protocol bookkeeping lives
in the pure :class:`protocol.client_state.ClientState`; this module only moves
frames, runs timers and answers waiting callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypedDict

from client.auth import ClientAuth
from client.backoff import backoff_delays
from client.errors import (
    AppError,
    ArgumentEncodeError,
    ClientClosed,
    ConnectionLost,
    FunctionError,
    ServerProtocolError,
    TransportError,
)
from client.subscription import QueryChannel, Subscription
from client.tokens import DEFAULT_LEEWAY, TokenSource
from client.transport import Transport, sync_url
from protocol import AuthState
from protocol.client_messages import ClientMessage
from protocol.client_state import (
    ACTION_CONNECTION_LOST,
    AuthConfirmed,
    AuthRejected,
    ClientEvent,
    ClientState,
    FunctionResult,
    QueryResultChanged,
    RequestKind,
    RequestResolved,
)
from protocol.errors import ProtocolError, ValueDecodeError, ValueEncodeError
from protocol.messages import parse_server_message
from protocol.server_messages import Missing, Transition
from protocol.values import JSONValue, decode, encode_args

__all__ = ["Client", "ClientOptions"]

logger = logging.getLogger("livesync.client")

DEFAULT_INACTIVITY_TIMEOUT = 30.0  # the server sends a JSON Ping after 15 s of silence
DEFAULT_OPEN_TIMEOUT = 10.0


class ClientOptions(TypedDict, total=False):
    """The keyword-only options of :class:`Client` (``SyncClient`` passes them on)."""

    inactivity_timeout: float
    open_timeout: float
    refresh_leeway: float
    backoff: Callable[[], Iterator[float]]


class Client:
    """Async client for a livesync (or Convex-protocol) server.

    ``async with Client(url, auth=fetch_token) as c:`` then ``await c.query(...)``,
    ``await c.mutation(...)``, ``await c.action(...)`` and ``c.subscribe(...)``.

    Args:
        url: the server's URL, ``http(s)://host:port`` (or ``ws(s)://``).
        auth: a token string, or ``fetch_token(force_refresh: bool) -> str | None``
            (async, or plain and then run in a thread), or None.
        inactivity_timeout: seconds without any frame before the server is
            considered dead and the client reconnects.
        open_timeout: seconds allowed for each WebSocket handshake.
        refresh_leeway: fetch a new token this long before the current one
            expires (at most a quarter of its lifetime).
        backoff: makes a fresh iterator of reconnect delays.
    """

    def __init__(
        self,
        url: str,
        auth: TokenSource = None,
        *,
        inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT,
        open_timeout: float = DEFAULT_OPEN_TIMEOUT,
        refresh_leeway: float = DEFAULT_LEEWAY,
        backoff: Callable[[], Iterator[float]] = backoff_delays,
    ) -> None:
        self.url = url
        self._ws_url = sync_url(url)
        self._inactivity_timeout = inactivity_timeout
        self._open_timeout = open_timeout
        self._backoff = backoff
        # One session id for the client's whole life: the server deduplicates
        # re-sent mutations by (sessionId, requestId) across reconnects.
        self.session_id = str(uuid.uuid4())
        self._state = ClientState(self.session_id)
        self._channels: dict[int, QueryChannel] = {}
        self._pending: dict[int, asyncio.Future[FunctionResult]] = {}
        self._outbox: asyncio.Queue[ClientMessage] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._auth = ClientAuth(auth, apply_token=self._apply_token, refresh_leeway=refresh_leeway)
        self._connected = asyncio.Event()
        self._last_close_reason: str | None = "InitialConnect"
        self.connection_count = 0

    # -- lifecycle --------------------------------------------------------

    async def __aenter__(self) -> Client:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Start the background connection (idempotent); calls made before it connects wait."""
        if self._closed:
            raise ClientClosed("client is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="livesync-client")

    async def close(self) -> None:
        """Close the socket, end every subscription and fail every waiting call."""
        if self._closed:
            return
        self._closed = True
        await self._auth.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ClientClosed("client closed before the call finished"))
        self._pending.clear()
        for channel in self._channels.values():
            channel.close()
        self._auth.wake()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Wait until a socket is open (tests and health checks use this)."""
        await self._connected.wait()

    # -- auth -------------------------------------------------------------

    @property
    def auth_state(self) -> AuthState:
        """``loading``, ``authenticated`` or ``unauthenticated``."""
        return self._auth.state

    async def auth_state_changed(self) -> AuthState:
        """Wait for the next change of :attr:`auth_state` and return the new state.

        Raises:
            ClientClosed: the client closed while waiting.
        """
        self._check_open()
        state = await self._auth.next_change()
        self._check_open()
        return state

    async def wait_for_auth_state(self, *states: AuthState | str) -> AuthState:
        """Return as soon as :attr:`auth_state` is one of ``states``."""
        while self._auth.state not in states:
            await self.auth_state_changed()
        return self._auth.state

    async def set_auth(self, auth: TokenSource) -> None:
        """Replace the token source; the new token is sent on the live socket."""
        self._check_open()
        await self._auth.replace(auth)

    # -- calls ------------------------------------------------------------

    def subscribe(self, path: str, args: dict[str, Any] | None = None) -> Subscription:
        """Subscribe to a query; iterate the result to receive each new value.

        Raises:
            ArgumentEncodeError: ``args`` cannot be encoded.
            ClientClosed: the client is closed.
        """
        self._check_open()
        args = {} if args is None else args
        try:
            query_id, messages = self._state.add_query(path, self._encode(args))
        except ProtocolError as exc:
            raise ArgumentEncodeError(str(exc)) from None
        channel = self._channels.get(query_id)
        if channel is None:
            channel = QueryChannel(self._state.latest(query_id))
            self._channels[query_id] = channel
        channel.subscribers += 1
        self._send(messages)
        return Subscription(
            path=path,
            args=args,
            channel=channel,
            unwrap=self._unwrap,
            release=lambda: self._release(query_id, channel),
        )

    async def query(self, path: str, args: dict[str, Any] | None = None) -> Any:
        """Run a query once: subscribe, take the first result, unsubscribe."""
        subscription = self.subscribe(path, args)
        try:
            return await subscription.next()
        finally:
            subscription.unsubscribe()

    async def mutation(self, path: str, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation; returns once every subscription reflects it.

        Raises:
            AppError: the mutation raised AppError (``.data`` holds its payload).
            FunctionError: it failed for another reason.
            ClientClosed: the client closed first.
        """
        return await self._request("mutation", path, args)

    async def action(self, path: str, args: dict[str, Any] | None = None) -> Any:
        """Run an action.

        Raises:
            ConnectionLost: the socket dropped while the action ran (not retried).
            AppError, FunctionError, ClientClosed: as for :meth:`mutation`.
        """
        return await self._request("action", path, args)

    async def _request(self, kind: RequestKind, path: str, args: dict[str, Any] | None) -> Any:
        self._check_open()
        encoded = self._encode({} if args is None else args)
        try:
            request_id, messages = self._state.add_request(kind, path, encoded)
        except ProtocolError as exc:
            raise ArgumentEncodeError(str(exc)) from None
        future: asyncio.Future[FunctionResult] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._send(messages)
        try:
            outcome = await future
        finally:
            self._pending.pop(request_id, None)
        return self._unwrap(outcome, path, connection_lost=kind == "action")

    # -- background connection -------------------------------------------

    async def _run(self) -> None:
        if self._auth.has_source:
            self._apply_token(await self._auth.initial_token())
        delays = self._backoff()
        while True:
            await self._auth.settle_rejected()
            synced = await self._connect_once()
            if synced:
                delays = self._backoff()
            delay = next(delays)
            logger.info("reconnecting in %.2fs (%s)", delay, self._last_close_reason)
            await asyncio.sleep(delay)

    async def _connect_once(self) -> bool:
        """Run one socket from open to close; True if it got as far as a Transition."""
        try:
            transport = await Transport.open(self._ws_url, open_timeout=self._open_timeout)
        except TransportError as exc:
            logger.warning("connect failed: %s", exc)
            return False
        outbox: asyncio.Queue[ClientMessage] = asyncio.Queue()
        for message in self._state.connect(self._last_close_reason, time.time() * 1000):
            outbox.put_nowait(message)
        self._outbox = outbox
        self.connection_count += 1
        self._connected.set()
        writer = asyncio.create_task(self._write(transport, outbox), name="livesync-writer")
        synced = False
        try:
            reason, synced = await self._read(transport)
            self._last_close_reason = reason
        finally:
            self._outbox = None
            self._connected.clear()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if self._last_close_reason == "InactiveServer":
                transport.abort()
            else:
                await transport.close()
            self._dispatch(self._state.disconnect())
        return synced

    async def _write(self, transport: Transport, outbox: asyncio.Queue[ClientMessage]) -> None:
        while True:
            message = await outbox.get()
            try:
                await transport.send(message.serialize())
            except TransportError:
                return  # the reader sees the close too and ends this socket

    async def _read(self, transport: Transport) -> tuple[str, bool]:
        synced = False
        while True:
            try:
                async with asyncio.timeout(self._inactivity_timeout):
                    text = await transport.recv()
            except TimeoutError:
                logger.warning("no frame for %.1fs; reconnecting", self._inactivity_timeout)
                return "InactiveServer", synced
            except TransportError as exc:
                logger.info("socket closed: %s", exc)
                return transport.close_reason() or "closed", synced
            try:
                message = parse_server_message(text)
                events = self._state.receive(message)
            except ProtocolError as exc:
                logger.warning("protocol failure, reconnecting: %s", exc)
                return "ProtocolFailure", synced
            synced = synced or isinstance(message, Transition)
            self._dispatch(events)
            if any(isinstance(event, AuthRejected) for event in events):
                return "AuthError", synced

    def _send(self, messages: list[ClientMessage]) -> None:
        outbox = self._outbox
        if outbox is None:
            return  # not connected: the next connect replays everything needed
        for message in messages:
            outbox.put_nowait(message)

    def _apply_token(self, token: str | None) -> None:
        self._send(self._state.set_token(token))

    # -- events -----------------------------------------------------------

    def _dispatch(self, events: list[ClientEvent]) -> None:
        for event in events:
            if isinstance(event, QueryResultChanged):
                channel = self._channels.get(event.query_id)
                if channel is not None:
                    channel.publish(event.outcome)
            elif isinstance(event, RequestResolved):
                future = self._pending.get(event.request_id)
                if future is not None and not future.done():
                    future.set_result(event.outcome)
            elif isinstance(event, AuthConfirmed):
                self._auth.confirmed(self._state.token)
            else:
                self._auth.rejected(event.error)

    # -- values -----------------------------------------------------------

    def _release(self, query_id: int, channel: QueryChannel) -> None:
        channel.subscribers -= 1
        if channel.subscribers <= 0 and self._channels.get(query_id) is channel:
            del self._channels[query_id]
        if not self._closed:
            self._send(self._state.remove_query(query_id))

    def _unwrap(self, outcome: FunctionResult, path: str, *, connection_lost: bool = False) -> Any:
        try:
            if outcome.success:
                return decode(outcome.value)
            message = outcome.error_message or "unknown error"
            if isinstance(outcome.error_data, Missing):
                return self._raise_failure(message, path, connection_lost)
            raise AppError(message, decode(outcome.error_data), path=path)
        except ValueDecodeError as exc:
            raise ServerProtocolError(f"{path}: server sent an undecodable value: {exc}") from None

    @staticmethod
    def _raise_failure(message: str, path: str, connection_lost: bool) -> Any:
        if connection_lost and message == ACTION_CONNECTION_LOST:
            raise ConnectionLost(f"{path}: {message}")
        raise FunctionError(message, path=path)

    @staticmethod
    def _encode(args: dict[str, Any]) -> list[JSONValue]:
        if not isinstance(args, dict):
            raise ArgumentEncodeError(f"args must be a dict, got {type(args).__name__}")
        try:
            return encode_args(args)
        except ValueEncodeError as exc:
            raise ArgumentEncodeError(str(exc)) from None

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosed("client is closed")
        if self._task is None:
            raise ClientClosed("client is not open; use `async with Client(...)` or `await open()`")
