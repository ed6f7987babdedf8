"""One sync WebSocket: the server half of the Convex sync protocol.

Theory of operation. Frames are parsed into a bounded inbox (`inbox.py`) and
handled strictly in arrival order by one loop, so an Authenticate being
judged (`loading`) holds back every later message, as the protocol requires.
Mutations and actions are handed to `Calls` (`calls.py`), which answers
them in arrival order. Anything that may change what the client sees (a
query-set change, an identity change, an invalidation, an answer) marks the
connection dirty; when the inbox is empty the loop builds one Transition at
the newest published snapshot (`_send_transition`), re-running only the
subscriptions (`subscriptions.py`) whose shared execution is not valid at
that snapshot, and sends the answers first, so a MutationResponse always
precedes the Transition that covers it. `protocol.session.ServerSession`
keeps the version chain and the auth state; `ConnectionAuth` (`auth.py`)
the identity in force.

Two things happen without waking the loop when it is idle, because a commit
or a token refresh touches thousands of connections at once: an
invalidation whose new results are already computed is pushed at once
(`_push_now`), and an Authenticate whose token is valid with cached keys is
settled at once (`_authenticate_now`). Each takes the same steps as the
loop, from the same code; whatever they cannot finish without waiting they
leave to the loop.

Backpressure: a Transition is built only when the loop gets to send it, so
a client that reads slowly gets the newest results rather than a queue of
stale ones; a send that waits past `send_timeout` closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
import time

from protocol.errors import ProtocolError, RemoteProtocolError
from protocol.messages import (
    Action,
    Authenticate,
    Connect,
    ModifyQuerySet,
    Mutation,
    Ping,
    QuerySetAdd,
)
from protocol.session import AuthEvent, ServerSession
from server.admin.keys import AdminKey
from server.config import Limits, ServerConfig
from server.errors import AuthError, IssuerUnavailable, StoreUnavailable, TokenExpired
from server.limits import session_id_refusal
from server.metrics import Metrics
from server.sync.auth import ConnectionAuth, TokenJudge
from server.sync.calls import Calls
from server.sync.engine import Engine
from server.sync.executions import Stamp
from server.sync.inbox import Inbox, Received, receive
from server.sync.subscriptions import Subscriptions
from server.sync.transport import SYSTEM_CLOCK, Clock, Transport, TransportClosed

__all__ = ["SyncConnection"]

log = logging.getLogger("livesync.sync")

# Frames queued behind a slow Authenticate or query run before the client is
# cut off: a well-behaved client never gets near this.
_MAX_INBOX = 4096


class _Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class SyncConnection:
    """Runs one connection until it closes; see the module docstring."""

    # Thousands of these stay alive at once: slots keep each one small.
    __slots__ = (
        "_clock",
        "_closed",
        "_dirty",
        "_draining",
        "_failed",
        "_inbox",
        "_last_send",
        "_loop",
        "_stale",
        "_waiter",
        "_woken",
        "auth",
        "calls",
        "config",
        "engine",
        "id",
        "limits",
        "metrics",
        "session",
        "subscriptions",
        "transport",
    )

    def __init__(
        self,
        engine: Engine,
        judge: TokenJudge | None,
        config: ServerConfig,
        transport: Transport,
        conn_id: int,
        metrics: Metrics,
        limits: Limits | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        admin_key: AdminKey | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits = limits if limits is not None else Limits()
        self.config = config
        self.transport = transport
        self.id = conn_id
        self.metrics = metrics
        self._clock = clock
        self.session = ServerSession()
        self._inbox = Inbox(
            transport, _MAX_INBOX, config.max_inbox_bytes, pause_at=config.max_message_bytes
        )
        # A future made only while waiting: an Event is ~0.8 KB per connection.
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self._dirty = False
        self._closed = False
        self._draining = False
        self._failed: _Close | None = None  # set from a callback; the loop closes
        self._stale: Stamp | None = None  # the oldest commit not pushed yet, if known
        self._last_send = clock.monotonic()
        # Kept: in 3.11 every get_running_loop() costs a getpid() system call.
        self._loop = asyncio.get_running_loop()
        self.auth = ConnectionAuth(
            self.session, judge, clock, metrics, conn_id, self._wake_up, admin_key
        )
        self.calls = Calls(engine, limits, conn_id, self._mark_dirty)
        self.subscriptions = Subscriptions(engine, limits, conn_id, self._on_invalidated)

    # -- feeding ---------------------------------------------------------

    def feed(self, frame: str | bytes) -> None:
        """Take one received frame (called by the transport's reader)."""
        received = receive(frame)
        if self._idle() and self._authenticate_now(received.message):
            return
        self._inbox.put(received, len(frame))
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
                if self._failed is not None:
                    raise self._failed
                while self._inbox.items and not (self._closed or self._draining):
                    for received in self._inbox.take():
                        if self._closed or self.auth.expired():
                            break
                        await self._handle(received)
                if self._inbox.overflowed:
                    raise _Close(1008, "TooManyMessages: client sent faster than it was served")
                if self.auth.expired():
                    await self._refused(TokenExpired("Convex token identity expired"), False)
                if self._dirty and not self._closed:
                    await self._send_transition()
                if self._draining and self._drained():
                    raise _Close(1012, "ServerShutdown")
        except _Close as close:
            await self._close(close.code, close.reason)
        except StoreUnavailable as exc:
            # A mutation could not reach the database: closing unanswered
            # makes the client reconnect (maybe to another node) and re-send
            # it, and the retry applies once.
            log.info("connection %s: %s; closing so the client retries", self.id, exc)
            await self._close(1013, "DatabaseUnavailable: retry later")
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
        return self._waiter is not None and not self._woken and not self._inbox.items

    def _wake_up(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait_for_work(self) -> None:
        # A timer handle per wait is far cheaper than wait_for's task, which
        # matters when a commit wakes thousands of connections at once.
        if not self._woken:
            idle = self._clock.monotonic() - self._last_send
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
        return self.calls.idle() and not self._dirty

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
        self.calls.cancel()
        self.subscriptions.clear()
        self.auth.close()

    async def _send(self, text: str) -> None:
        self._last_send = self._clock.monotonic()
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

    async def _handle(self, received: Received) -> None:
        msg = received.message
        try:
            if isinstance(msg, Exception):
                self.session.close()
                raise msg
            self.session.accept(msg)
            if isinstance(msg, ModifyQuerySet):
                self._modify_query_set(msg)
            elif isinstance(msg, Mutation):
                if self.calls.mutations_pending >= self.config.max_pending_mutations:
                    raise _Close(1013, "TooManyConcurrentMutations")
                session_id = self.session.session_id
                auth = self.auth
                self.calls.mutation(msg, received.size, session_id, auth.identity, auth.admin)
            elif isinstance(msg, Action):
                self.calls.action(msg, received.size, self.auth.identity, self.auth.admin)
            elif isinstance(msg, Authenticate):
                await self._authenticate(msg)
            elif isinstance(msg, Connect):
                refusal = session_id_refusal(msg.session_id, self.limits.session_id_bytes)
                if refusal is not None:
                    # Before any mutation could store it with its result.
                    raise RemoteProtocolError(refusal)
        except ProtocolError as exc:
            self.metrics.protocol_errors.inc()
            log.info("protocol error on connection %s: %s", self.id, exc)
            raise _Close(1002, f"ProtocolError: {exc}") from None

    def _modify_query_set(self, msg: ModifyQuerySet) -> None:
        # Counted before anything is applied or run: each Add and Remove
        # moves the count by one (a Remove of an unknown id is refused below).
        adds = sum(1 for edit in msg.modifications if isinstance(edit, QuerySetAdd))
        count = len(self.subscriptions) + 2 * adds - len(msg.modifications)
        limit = self.limits.queries_per_connection
        if count > limit:
            log.info("connection %s: %d queries refused (limit %d)", self.id, count, limit)
            raise _Close(
                1008, f"TooManyQueries: {count} queries on one connection; the limit is {limit}"
            )
        self.subscriptions.apply(self.session.apply_modify_query_set(msg))
        self._mark_dirty()

    # -- authentication --------------------------------------------------

    async def _authenticate(self, msg: Authenticate) -> None:
        self.auth.begin(msg)
        try:
            result = await self.auth.verdict(msg)
        except IssuerUnavailable as exc:
            log.warning("connection %s: %s", self.id, exc.message)
            raise _Close(1013, "IssuerUnavailable: retry later") from None
        except AuthError as exc:
            await self._refused(exc, True)
            return
        self.auth.adopt(result)
        self._mark_dirty()  # every query re-runs under the new identity

    def _authenticate_now(self, msg: object) -> bool:
        """Settle an Authenticate from the reader's callback, when the loop is
        idle and the token is valid with its keys cached: then no task is
        woken, and the Transition goes out at once if every query's result
        under the new identity is already computed. Anything else (another
        message, a refusal, a key fetch) is left to the loop."""
        if not isinstance(msg, Authenticate) or not self.auth.may_settle_now(msg):
            return False
        result = self.auth.verdict_now(msg)
        if result is None:
            return False
        self.session.accept(msg)
        self.auth.begin(msg)
        self.auth.adopt(result)
        if not self._push_now():
            self._mark_dirty()
        return True

    async def _refused(self, exc: AuthError, attempted: bool) -> None:
        """Tell the client why its token is refused (or expired), and close."""
        log.info("connection %s token refused: %s", self.id, exc.message)
        await self._send(
            self.session.auth_error(exc.message, auth_update_attempted=attempted).serialize()
        )
        self.auth.refuse(AuthEvent.REFUSE if attempted else AuthEvent.EXPIRE)
        raise _Close(1000, "AuthError")

    # -- transitions -----------------------------------------------------

    def _on_invalidated(self) -> None:
        if self._stale is None:
            self._stale = self.engine.telling
        try:
            pushed = self._push_now()
        except Exception:
            # Called from the committer's fan-out: this connection fails
            # alone (its chain may be half-advanced), from its own loop.
            log.exception("connection %s: pushing a Transition failed", self.id)
            self._failed = _Close(1011, "InternalServerError")
            self._wake_up()
            return
        if not pushed:
            self._mark_dirty()

    def _push_now(self) -> bool:
        """Send the Transition for an invalidation inline, without waking the
        loop, when that is all there is to do: the loop is idle, no answer is
        owed, the socket takes a frame now, and every stale query has a
        result the engine already computed (it re-runs a popular query once
        before waking its subscribers). Otherwise the loop does it."""
        if not self._idle() or self.calls.owed() or not self.transport.ready():
            return False
        if self.auth.expired():
            return False
        ts = max(self.engine.published_ts, self.session.last_sent.ts)
        if self.subscriptions.catch_up(ts, self.auth.key):
            return False  # a query must run: the loop runs it
        text = self._transition(ts)
        self._last_send = self._clock.monotonic()
        self.transport.send_now(text)
        self.metrics.inline_transitions.inc()
        return True

    async def _send_transition(self) -> None:
        self._dirty = False
        if self.auth.expired():
            return  # the loop sends AuthError and closes; the client re-sends
        answers = self.calls.answers()
        ts = max(self.engine.published_ts, self.session.last_sent.ts)
        auth = self.auth
        # Results another connection already computed at `ts` are adopted in
        # place; only real runs pay for tasks.
        runs = self.subscriptions.catch_up(ts, auth.key)
        if runs:
            await self.subscriptions.run(runs, ts, auth.identity, auth.key)
        if self._closed:
            return
        for answer in answers:
            await self._send(answer.serialize())
        await self._send(self._transition(ts))

    def _transition(self, ts: int) -> str:
        """The next Transition's text, for both the loop and the push path."""
        mods = self.subscriptions.modifications()
        text = self.session.transition_text(ts, mods, server_ts=self._clock.time_ns())
        self.metrics.transitions.inc()
        stale = self._stale
        if stale is not None and stale[0] <= ts:
            self._stale = None
            self.metrics.push_latency.observe(time.perf_counter() - stale[1])
        return text
