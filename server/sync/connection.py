"""One sync WebSocket: the server half of the Convex sync protocol.

Theory of operation. Frames are fed into a bounded inbox and handled strictly
in arrival order by one loop, so an Authenticate being validated (`loading`)
holds back every later message, as the protocol requires. Mutations go to
the engine's committer on arrival (it runs them in arrival order, batching
across connections) and are answered in arrival order; actions run
concurrently. Anything that may change what the client sees (a query-set
change, an identity change, an invalidation, a finished mutation) marks the
connection dirty; when the inbox is empty the loop builds one Transition at
the newest published snapshot, re-running only the queries whose shared
execution is not valid at that snapshot, and sends the pending mutation and
action responses first, so a MutationResponse always precedes the Transition
that covers it. `protocol.session.ServerSession` keeps the version chain.

Backpressure: a Transition is built only when the loop gets to send it, so
a client that reads slowly gets the newest results rather than a queue of
stale ones; a send that waits past `send_timeout` closes the connection.
While the loop is stuck, the inbox is bounded in bytes: reading pauses once
a full message waits, and past `max_inbox_bytes` the connection is closed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from protocol.client_messages import parse_client_message
from protocol.errors import ProtocolError, RemoteProtocolError, ValueDecodeError
from protocol.messages import (
    MISSING,
    Action,
    ActionResponse,
    Authenticate,
    AuthError as AuthErrorMessage,
    Connect,
    ModifyQuerySet,
    Mutation,
    MutationResponse,
    Ping,
    QueryFailed,
    QueryRemoved,
    QuerySetAdd,
    QueryUpdated,
    StateModification,
)
from protocol.paths import canonicalize_udf_path
from protocol.session import AuthState, QuerySpec, ServerSession
from protocol.values import canonical_json, decode_args
from server.config import Limits, ServerConfig
from server.errors import AuthError, IssuerUnavailable, TokenExpired
from server.functions.runner import SERVER_ERROR
from server.limits import (
    args_refusal,
    frame_size_bound,
    path_refusal,
    session_id_refusal,
    size_refusal,
    text_size,
)
from server.metrics import Metrics
from server.sync.committer import Committed
from server.sync.engine import (
    ANY_IDENTITY,
    SERVER_ERROR_RESULT,
    CallResult,
    Engine,
    Execution,
    QueryKey,
    committed_result,
    identity_key,
)

if TYPE_CHECKING:
    from server.auth.authenticator import Authenticator

__all__ = ["SyncConnection", "Transport", "TransportClosed"]

log = logging.getLogger("livesync.sync")

# Frames queued behind a slow Authenticate or query run before the client is
# cut off: a well-behaved client never gets near this.
_MAX_INBOX = 4096
# Queued in place of the inbox to end the connection: an inbox cut off, a
# push from the committer's fan-out that failed. Compared by identity, so no
# frame a client sends, whatever its bytes, can pass for one.
_OVERFLOW = b"\x00overflow"
_PUSH_FAILED = b"\x00push-failed"
_QUERY_CONCURRENCY = 20
_NO_KEY = QueryKey("", "", ANY_IDENTITY)  # a query whose args could not be decoded never runs


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


class _Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(eq=False, slots=True)
class _Query:
    spec: QuerySpec
    args: dict[str, Any] | None
    error: str | None  # set when the args could not be decoded
    listener: Callable[[], None]
    # Its key as run without reading auth (see Engine.cached_for), with the
    # journal its next run replays: the Add's, then the latest result's.
    shared_key: QueryKey
    execution: Execution | None = None
    sent_digest: bytes | None = None


@dataclass(slots=True)
class _Auth:
    identity: Any = None
    key: str = ""
    expires_at: float | None = None
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class SyncConnection:
    """Runs one connection until it closes; see the module docstring."""

    # Thousands of these stay alive at once: slots keep each one small.
    __slots__ = (
        "_auth",
        "_authenticator",
        "_closed",
        "_dirty",
        "_draining",
        "_expired",
        "_inbox",
        "_inbox_bytes",
        "_last_send",
        "_loop",
        "_mutations",
        "_queries",
        "_reading_paused",
        "_removed",
        "_responses",
        "_settled",
        "_tasks",
        "_waiter",
        "_woken",
        "config",
        "engine",
        "id",
        "limits",
        "metrics",
        "session",
        "transport",
    )

    def __init__(
        self,
        engine: Engine,
        authenticator: Authenticator | None,
        config: ServerConfig,
        transport: Transport,
        conn_id: int,
        metrics: Metrics,
        limits: Limits | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits if limits is not None else Limits()
        self._authenticator = authenticator
        self.config = config
        self.transport = transport
        self.id = conn_id
        self.metrics = metrics
        self.session = ServerSession()
        # Plain lists and a future made only while waiting: an idle
        # connection should cost little (a deque or an Event is ~0.8 KB).
        self._inbox: list[str | bytes] = []
        self._inbox_bytes = 0  # characters (or bytes) of the frames in _inbox
        self._reading_paused = False
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self._queries: dict[int, _Query] = {}
        self._removed: list[StateModification] = []
        self._responses: list[MutationResponse | ActionResponse] = []
        # Mutations go to the committer on arrival (under the identity then in
        # force); their answers are sent in arrival order.
        self._mutations: list[tuple[Mutation, asyncio.Future[Committed] | CallResult]] = []
        self._tasks: set[asyncio.Task[None]] | None = None
        self._auth = _Auth()
        self._settled = AuthState.UNAUTHENTICATED  # the state before a `loading`
        self._dirty = False
        self._expired = False
        self._closed = False
        self._draining = False
        self._last_send = time.monotonic()
        # Kept: in 3.11 every get_running_loop() costs a getpid() system call.
        self._loop = asyncio.get_running_loop()
        self.metrics.connections.add(self.session.auth_state.value, 1)

    # -- feeding ---------------------------------------------------------

    def feed(self, frame: str | bytes) -> None:
        """Queue one received frame (called by the transport's reader)."""
        if self._idle() and self._authenticate_inline(frame):
            return
        self._inbox_bytes += len(frame)
        if len(self._inbox) >= _MAX_INBOX or self._inbox_bytes > self.config.max_inbox_bytes:
            self._inbox = [_OVERFLOW]
        else:
            self._inbox.append(frame)
            # A full message's worth waiting: read no more until the loop
            # takes them (it may be stuck sending to a client that does not
            # read). Frames already read from the socket still arrive; the
            # byte cap above bounds those.
            if self._inbox_bytes > self.config.max_message_bytes and not self._reading_paused:
                self._reading_paused = True
                self.transport.pause_reading(True)
        self._wake_up()

    def _mark_dirty(self) -> None:
        self._dirty = True
        self._wake_up()

    # -- main loop -------------------------------------------------------

    async def run(self) -> None:
        """Serve until the client leaves or the connection is closed."""
        try:
            while not self._closed:
                await self._wait_for_work()
                while self._inbox and not (self._closed or self._expired or self._draining):
                    frames, self._inbox = self._inbox, []
                    self._inbox_bytes = 0
                    if self._reading_paused:
                        self._reading_paused = False
                        self.transport.pause_reading(False)
                    for frame in frames:
                        if self._closed or self._expired:
                            break
                        await self._handle(frame)
                if self._expired:
                    await self._auth_failed(TokenExpired("Convex token identity expired"), False)
                if self._dirty and not self._closed:
                    await self._send_transition()
                if self._draining and self._drained():
                    raise _Close(1012, "ServerShutdown")
        except _Close as close:
            await self._close(close.code, close.reason)
        except TransportClosed:
            # A client leaving mid-send is routine: nothing left to tell it.
            log.debug("connection %s: client left while a frame was being sent", self.id)
            self._closed = True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("connection %s failed", self.id)
            await self._close(1011, "InternalServerError")
        finally:
            self._teardown()

    def _idle(self) -> bool:
        # Parked in _wait_for_work with nothing queued: the loop owes nothing.
        return self._waiter is not None and not self._woken and not self._inbox

    def _wake_up(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait_for_work(self) -> None:
        # A timer handle per wait is far cheaper than wait_for's task, which
        # matters when a commit wakes thousands of connections at once.
        if not self._woken:
            idle = time.monotonic() - self._last_send
            if idle >= self.config.ping_interval:
                await self._send(Ping().serialize())
                idle = 0.0
            loop = self._loop
            self._waiter = loop.create_future()
            timer = loop.call_later(self.config.ping_interval - idle, self._wake_up)
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None
        self._woken = False

    def drain(self) -> None:
        """The server is shutting down: take no new frames (the client
        re-sends what was not answered when it reconnects), answer the
        mutations and actions in flight, then close with 1012."""
        self._draining = True
        self._wake_up()

    def _drained(self) -> bool:
        return (
            not self._mutations
            and not self._responses
            and not self._dirty
            and all(task.done() for task in self._tasks or ())
        )

    def disconnected(self) -> None:
        """The client went away: stop at the next step."""
        self._closed = True
        self._wake_up()

    async def _close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self.session.close()
        try:
            # The close frame queues behind any unsent output; a client that
            # does not read would keep the socket open forever.
            async with asyncio.timeout(self.config.send_timeout):
                await self.transport.close(code, reason[:120])
        except TimeoutError:
            self.transport.abort()
        except Exception:  # the socket may already be gone
            log.debug("connection %s: close failed", self.id, exc_info=True)

    def _teardown(self) -> None:
        self._closed = True
        for task in self._tasks or ():
            task.cancel()
        for q in self._queries.values():
            if q.execution is not None:
                self.engine.release(q.execution, q.listener)
        self._queries.clear()
        if self._auth.timer is not None:
            self._auth.timer.cancel()
        self.metrics.connections.add(self.session.auth_state.value, -1)

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, text: str) -> None:
        self._last_send = time.monotonic()
        if self.transport.ready():
            self.transport.send_now(text)
            return
        try:
            async with asyncio.timeout(self.config.send_timeout):
                await self.transport.send_text(text)
        except TimeoutError:
            log.info(
                "connection %s: client read nothing for %s s", self.id, self.config.send_timeout
            )
            raise _Close(1008, "SlowClient: the client did not read its messages in time") from None

    # -- incoming messages -----------------------------------------------

    async def _handle(self, frame: str | bytes) -> None:
        if frame is _OVERFLOW:
            raise _Close(1008, "TooManyMessages: client sent faster than it was served")
        if frame is _PUSH_FAILED:
            raise _Close(1011, "InternalServerError")
        try:
            if isinstance(frame, bytes):
                # Both clients only send text; a binary frame is a client bug to name plainly.
                raise RemoteProtocolError("binary frames are not supported; send JSON text frames")
            msg = self.session.receive(frame)
            if isinstance(msg, ModifyQuerySet):
                self._modify_query_set(msg)
            elif isinstance(msg, Connect):
                refusal = session_id_refusal(msg.session_id, self.limits.session_id_bytes)
                if refusal is not None:
                    # Before any mutation could store it with its result.
                    raise RemoteProtocolError(refusal)
            elif isinstance(msg, Authenticate):
                await self._on_authenticate(msg)
            elif isinstance(msg, Mutation):
                self._check_expiry()
                if len(self._mutations) >= self.config.max_pending_mutations:
                    raise _Close(1013, "TooManyConcurrentMutations")
                pending = self._submit_mutation(msg, self._call_refusal(msg, frame))
                self._mutations.append((msg, pending))
                if isinstance(pending, CallResult):
                    self._mark_dirty()
                else:
                    pending.add_done_callback(self._mutation_done)
            elif isinstance(msg, Action):
                self._check_expiry()
                refusal = self._call_refusal(msg, frame)
                self._spawn(self._run_action(msg, self._auth.identity, refusal))
        except _Expired:
            return  # the loop sends AuthError and closes; the client re-sends
        except ProtocolError as exc:
            self.metrics.protocol_errors.inc()
            log.info("protocol error on connection %s: %s", self.id, exc)
            raise _Close(1002, f"ProtocolError: {exc}") from None

    def _call_refusal(self, msg: Mutation | Action, frame: str | bytes) -> str | None:
        limits = self.limits
        return path_refusal(msg.udf_path, limits.udf_path_bytes) or args_refusal(
            msg.args, frame_size_bound(frame), limits.args_bytes
        )

    def _modify_query_set(self, msg: ModifyQuerySet) -> None:
        # Counted before anything is applied or run: each Add and Remove
        # moves the count by one (a Remove of an unknown id is refused below).
        adds = sum(1 for edit in msg.modifications if isinstance(edit, QuerySetAdd))
        count = len(self._queries) + 2 * adds - len(msg.modifications)
        limit = self.limits.queries_per_connection
        if count > limit:
            log.info("connection %s: %d queries refused (limit %d)", self.id, count, limit)
            raise _Close(
                1008, f"TooManyQueries: {count} queries on one connection; the limit is {limit}"
            )
        change = self.session.apply_modify_query_set(msg)
        for query_id in change.removed:
            q = self._queries.pop(query_id, None)
            if q is not None and q.execution is not None:
                self.engine.release(q.execution, q.listener)
            self._removed.append(QueryRemoved(query_id))
        for spec in change.added:
            self._queries[spec.query_id] = self._new_query(spec)
        self._mark_dirty()

    def _new_query(self, spec: QuerySpec) -> _Query:
        listener = functools.partial(SyncConnection._on_invalidated, self)
        try:
            args = decode_args(spec.args_raw)
        except ValueDecodeError as exc:
            return _Query(spec, None, f"Invalid arguments: {exc}", listener, _NO_KEY)
        # The canonical text is made for the cache key anyway: its size is free.
        args_text = canonical_json(spec.args_raw)
        refusal = path_refusal(spec.udf_path, self.limits.udf_path_bytes) or size_refusal(
            "Arguments are", text_size(args_text), self.limits.args_bytes
        )
        if refusal is not None:
            return _Query(spec, None, refusal, listener, _NO_KEY)
        shared = QueryKey(spec.udf_path, args_text, ANY_IDENTITY, spec.journal)
        return _Query(spec, args, None, listener, shared)

    # -- auth ------------------------------------------------------------

    def _auth_state_moved(self, old: AuthState) -> None:
        """Count and log the session's move from `old` to its current state."""
        now = self.session.auth_state
        if now is old:
            return
        gauge = self.metrics.connections
        gauge.add(old.value, -1)
        gauge.add(now.value, 1)
        self.metrics.auth_transitions.inc(now.value)
        # Every change is counted and logged; a token refresh that ends where
        # it began (authenticated -> loading -> authenticated) logs at DEBUG,
        # so a busy server's log is not two lines per refresh.
        if now is AuthState.LOADING:
            quiet = old is AuthState.AUTHENTICATED
            self._settled = old
        else:
            quiet = old is AuthState.LOADING and self._settled is now
            self._settled = now
        level = logging.DEBUG if quiet else logging.INFO
        if log.isEnabledFor(level):
            log.log(level, "connection %s auth %s -> %s", self.id, old, now)

    def _begin_authenticate(self, msg: Authenticate) -> None:
        old = self.session.auth_state
        self.session.begin_authenticate(msg)
        self._auth_state_moved(old)

    async def _on_authenticate(self, msg: Authenticate) -> None:
        self._begin_authenticate(msg)
        if msg.token_type == "None":
            self._adopt_identity(None, None)
            self._mark_dirty()
            return
        try:
            if msg.token_type != "User" or msg.value is None:
                raise AuthError("Admin keys are not supported by livesync")
            if self._authenticator is None:
                raise AuthError("No auth provider found matching the given token")
            result = await self._authenticator.authenticate(msg.value)
        except IssuerUnavailable as exc:
            log.warning("connection %s: %s", self.id, exc.message)
            raise _Close(1013, "IssuerUnavailable: retry later") from None
        except AuthError as exc:
            await self._auth_failed(exc, True)
            return
        self._adopt_identity(result.identity, result.expires_at)
        self._mark_dirty()  # every query re-runs under the new identity

    def _authenticate_inline(self, frame: str | bytes) -> bool:
        """Accept an Authenticate on the spot, from the reader's callback, when
        the loop is idle, the token is valid and its keys are cached: then no
        task is woken, and the Transition goes out at once if no query needs a
        run under the new identity. Anything else (another message, a refusal,
        a key fetch) is left to the loop, which decides it and reports."""
        if self._authenticator is None or not isinstance(frame, str):
            return False
        if '"Authenticate"' not in frame:
            return False
        try:
            msg = parse_client_message(frame)
        except ProtocolError:
            return False
        if (
            not isinstance(msg, Authenticate)
            or msg.token_type != "User"
            or msg.value is None
            or not self.session.authenticate_allowed(msg)
        ):
            return False
        result = self._authenticator.authenticate_now(msg.value)
        if result is None:
            return False
        self.session.accept(msg)
        self._begin_authenticate(msg)
        self._adopt_identity(result.identity, result.expires_at)
        if not self._push_now():
            self._mark_dirty()
        return True

    def _adopt_identity(self, identity: Any, expires_at: float | None) -> None:
        auth = self._auth
        # A refresh usually names the same user: keep the key, not re-serialize.
        same = identity is not None and (identity is auth.identity or identity == auth.identity)
        key = auth.key if same else identity_key(identity)
        auth.identity, auth.key, auth.expires_at = identity, key, expires_at
        self._expired = False
        self._arm_expiry()
        self.session.finish_authenticate(identity is not None)
        self._auth_state_moved(AuthState.LOADING)

    def _arm_expiry(self) -> None:
        """One timer, due at or before the token's exp. A refresh to a later
        exp keeps it: when it fires early it re-arms, so a connection that
        refreshes every minute leaves no cancelled timers in the loop's heap."""
        auth = self._auth
        if auth.expires_at is None:
            if auth.timer is not None:
                auth.timer.cancel()
                auth.timer = None
            return
        when = self._loop.time() + max(0.0, auth.expires_at - time.time())
        if auth.timer is not None:
            if auth.timer.when() <= when:
                return
            auth.timer.cancel()
        auth.timer = self._loop.call_at(when, self._on_expiry)

    def _on_expiry(self) -> None:
        self._auth.timer = None
        if not self._token_expired():
            self._arm_expiry()
            return
        self._expired = True
        self._wake_up()

    def _token_expired(self) -> bool:
        expires_at = self._auth.expires_at
        return expires_at is not None and time.time() >= expires_at

    def _check_expiry(self) -> None:
        if self._token_expired():
            self._expired = True
            self._wake_up()
            raise _Expired

    async def _auth_failed(self, exc: AuthError, attempted: bool) -> None:
        log.info("connection %s token refused: %s", self.id, exc.message)
        await self._send(
            AuthErrorMessage(exc.message, self.session.last_sent.identity, attempted).serialize()
        )
        old = self.session.auth_state
        self.session.fail_authenticate()
        self._auth_state_moved(old)
        raise _Close(1000, "AuthError")

    # -- mutations and actions -------------------------------------------

    def _mutation_done(self, _: object) -> None:
        self._mark_dirty()

    def _collect_responses(self) -> None:
        # Answers leave in arrival order. The committer resolves a batch's
        # futures right after publishing it, so every commit of this
        # connection that a snapshot can see is answered here first.
        while self._mutations:
            msg, pending = self._mutations[0]
            if isinstance(pending, CallResult):
                result = pending
            elif pending.done():
                result = self._answer(pending)
            else:
                return
            del self._mutations[0]
            self._responses.append(
                MutationResponse(
                    msg.request_id,
                    result.ok,
                    result.value_json if result.ok else (result.error_message or ""),
                    result.ts,
                    result.log_lines,
                    result.error_data_json if result.error_data_json is not None else MISSING,
                )
            )

    def _submit_mutation(
        self, msg: Mutation, refusal: str | None
    ) -> asyncio.Future[Committed] | CallResult:
        if refusal is not None:
            return CallResult(False, None, refusal, None, ())
        try:
            path = canonicalize_udf_path(msg.udf_path)
            args = decode_args(msg.args)
        except ProtocolError as exc:
            return CallResult(False, None, f"Invalid request: {exc}", None, ())
        session_id = self.session.session_id
        dedup = (session_id, msg.request_id) if session_id else None
        return self.engine.submit(path, args, self._auth.identity, dedup)

    def _answer(self, pending: asyncio.Future[Committed]) -> CallResult:
        try:
            return committed_result(pending.result())
        except Exception:
            log.exception("connection %s: mutation failed", self.id)
            return SERVER_ERROR_RESULT

    async def _run_action(self, msg: Action, identity: Any, refusal: str | None) -> None:
        async def act(path: str, args: dict[str, Any], ident: Any, _rid: int) -> CallResult:
            return await self.engine.run_action(path, args, ident)

        if refusal is not None:
            result = CallResult(False, None, refusal, None, ())
        else:
            result = await self._call(msg, identity, act)
        self._responses.append(
            ActionResponse(
                msg.request_id,
                result.ok,
                result.value_json if result.ok else (result.error_message or ""),
                result.log_lines,
                result.error_data_json if result.error_data_json is not None else MISSING,
            )
        )
        self._mark_dirty()

    async def _call(
        self,
        msg: Mutation | Action,
        identity: Any,
        run: Callable[[str, dict[str, Any], Any, int], Awaitable[CallResult]],
    ) -> CallResult:
        try:
            path = canonicalize_udf_path(msg.udf_path)
            args = decode_args(msg.args)
        except ProtocolError as exc:
            return CallResult(False, None, f"Invalid request: {exc}", None, ())
        try:
            return await run(path, args, identity, msg.request_id)
        except Exception:
            log.exception("connection %s: %s %s failed", self.id, type(msg).__name__, path)
            return SERVER_ERROR_RESULT

    # -- transitions -----------------------------------------------------

    def _on_invalidated(self) -> None:
        try:
            pushed = self._push_now()
        except Exception:
            # Called from the committer's fan-out: this connection fails
            # alone (its chain may be half-advanced), from its own loop.
            log.exception("connection %s: pushing a Transition failed", self.id)
            self._inbox = [_PUSH_FAILED]
            self._wake_up()
            return
        if not pushed:
            self._mark_dirty()

    def _push_now(self) -> bool:
        """Send the Transition for an invalidation inline, without waking the
        loop, when that is all there is to do: the loop is idle, no mutation
        answer is owed, the socket takes a frame now, and every stale query
        has a result the engine already computed (it re-runs a popular query
        once before waking its subscribers). Otherwise the loop does it."""
        if not self._idle() or self._mutations or not self.transport.ready():
            return False
        if self._token_expired():
            return False
        ts = max(self.engine.published_ts, self.session.last_sent.ts)
        fresh: list[tuple[_Query, Execution]] = []
        for q in self._queries.values():
            if self._needs_run(q, ts):
                ex = self._cached(q, ts)
                if ex is None:
                    return False
                fresh.append((q, ex))
        mods: list[StateModification] = []
        for q, ex in fresh:
            self.engine.retain(ex, q.listener)
            self._adopt(q, ex)
            mod = self._modification(q)
            if mod is not None:
                mods.append(mod)
        text = self.session.transition_text(ts, mods, server_ts=time.time_ns())
        self._last_send = time.monotonic()
        self.transport.send_now(text)
        self.metrics.transitions.inc()
        self.metrics.inline_transitions.inc()
        return True

    async def _send_transition(self) -> None:
        self._dirty = False
        try:
            self._check_expiry()
        except _Expired:
            return
        self._collect_responses()
        responses, self._responses = self._responses, []
        mods, self._removed = self._removed, []
        ts = max(self.engine.published_ts, self.session.last_sent.ts)
        stale = [q for q in self._queries.values() if self._needs_run(q, ts)]
        # Results another connection already computed at `ts` are adopted in
        # place; only real runs pay for tasks.
        runs = [q for q in stale if q.args is not None and not self._adopt_cached(q, ts)]
        if len(runs) == 1:
            await self._refresh(runs[0], ts, None)
        elif runs:
            limit = asyncio.Semaphore(_QUERY_CONCURRENCY)
            await asyncio.gather(*(self._refresh(q, ts, limit) for q in runs))
        for q in stale:
            if q.spec.query_id in self._queries:
                mod = self._modification(q)
                if mod is not None:
                    mods.append(mod)
        if self._closed:
            return
        for response in responses:
            await self._send(response.serialize())
        await self._send(self.session.transition_text(ts, mods, server_ts=time.time_ns()))
        self.metrics.transitions.inc()

    def _needs_run(self, q: _Query, ts: int) -> bool:
        if q.error is not None:
            return q.sent_digest is None
        ex = q.execution
        if ex is None or not ex.valid_at(ts):
            return True
        return not ex.serves(self._auth.key)

    def _key(self, q: _Query) -> QueryKey:
        shared = q.shared_key
        return QueryKey(shared.path, shared.args, self._auth.key, shared.journal)

    def _cached(self, q: _Query, ts: int) -> Execution | None:
        """A result another subscriber's run left for `q` at `ts`, if any."""
        if q.args is None:
            return None
        return self.engine.cached_for(q.shared_key, self._auth.key, ts)

    def _adopt_cached(self, q: _Query, ts: int) -> bool:
        ex = self._cached(q, ts)
        if ex is None:
            return False
        self.engine.retain(ex, q.listener)
        self._adopt(q, ex)
        return True

    def _adopt(self, q: _Query, ex: Execution) -> None:
        if q.execution is not None:
            self.engine.release(q.execution, q.listener)
        q.execution = ex
        # A paginated page pins its end on its first run: later runs replay it.
        journal = ex.outcome.journal
        if journal != q.shared_key.journal:
            q.shared_key = q.shared_key._replace(journal=journal)

    async def _refresh(self, q: _Query, ts: int, limit: asyncio.Semaphore | None) -> None:
        assert q.args is not None
        key = self._key(q)
        try:
            if limit is None:
                ex = await self.engine.execute(key, q.args, self._auth.identity, ts, q.listener)
            else:
                async with limit:
                    ex = await self.engine.execute(key, q.args, self._auth.identity, ts, q.listener)
        except Exception:
            log.exception("connection %s: query %s failed", self.id, key.path)
            q.error = SERVER_ERROR
            q.sent_digest = None
            return
        self._adopt(q, ex)

    def _modification(self, q: _Query) -> StateModification | None:
        spec = q.spec
        if q.error is not None:
            if q.sent_digest is not None:
                return None
            q.sent_digest = b"error"
            return QueryFailed(spec.query_id, q.error, (), spec.journal)
        ex = q.execution
        assert ex is not None
        if ex.digest == q.sent_digest:
            return None
        q.sent_digest = ex.digest
        outcome = ex.outcome
        if outcome.ok:
            assert ex.value_json is not None
            return QueryUpdated(spec.query_id, ex.value_json, outcome.log_lines, outcome.journal)
        return QueryFailed(
            spec.query_id,
            outcome.error_message or SERVER_ERROR,
            outcome.log_lines,
            outcome.journal,
            ex.error_data_json if ex.error_data_json is not None else MISSING,
        )


class _Expired(Exception):
    """Raised inside the loop when the token's exp has passed."""
