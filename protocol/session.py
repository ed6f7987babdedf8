"""The server side of one sync connection, as a pure state machine.

Theory of operation
-------------------
The I/O layer feeds every text frame to :meth:`ServerSession.receive`, which
parses it and checks it against ``TRANSITIONS``, a table of
``(phase, message type) -> next phase``. A miss, or any malformed frame, is a
peer error: the session moves to ``CLOSED`` and raises
:class:`RemoteProtocolError`, and the I/O layer closes the socket.

A socket starts in ``AWAITING_CONNECT``: ``Connect`` must come first, though a
telemetry ``Event`` may arrive before it. ``Connect`` moves it to ``OPEN``,
where query-set edits, mutations, actions, authentication and events flow.

The session owns the version chain the clients check (convex-protocol.md §5):

* ``query_set_version`` is the last applied ``ModifyQuerySet.newVersion``;
  :meth:`apply_modify_query_set` requires ``baseVersion`` to equal it.
* ``identity_version`` counts judged ``Authenticate`` messages;
  :meth:`begin_authenticate` requires ``baseVersion`` to equal it, and the
  verdict (``ACCEPT`` or ``CLEAR``) bumps it.
* :meth:`transition_text` is the only way to make a Transition: it starts at
  ``last_sent``, ends at the current versions and the given ``ts``, and
  refuses to go back in time. A broken chain crashes Node clients, so it
  lives here and nowhere else.

Auth has its own small state (``AuthState``), separate from the phase,
because judging a token takes time while the connection stays open. Its
moves are data too: ``AUTH_TRANSITIONS`` maps ``(state, AuthEvent)`` to an
``AuthMove`` (the next state, whether the identity version moves on, whether
the connection ends), and :meth:`ServerSession.move_auth` is the only code
that changes it. Nothing here does I/O, reads a clock or validates a token.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from protocol.client_messages import (
    Action,
    Authenticate,
    ClientMessage,
    Connect,
    Event,
    ModifyQuerySet,
    Mutation,
    QuerySetAdd,
    parse_client_message,
)
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.paths import canonicalize_udf_path
from protocol.server_messages import (
    AuthError,
    StateModification,
    transition_text,
    version_text,
)
from protocol.values import JSONValue
from protocol.versions import StateVersion

__all__ = [
    "AUTH_TRANSITIONS",
    "TRANSITIONS",
    "AuthChange",
    "AuthEvent",
    "AuthMove",
    "AuthState",
    "Phase",
    "QuerySetChange",
    "QuerySpec",
    "ServerSession",
]


class Phase(enum.StrEnum):
    """Where the connection is in its life."""

    AWAITING_CONNECT = "awaiting_connect"
    OPEN = "open"
    CLOSED = "closed"


class AuthState(enum.StrEnum):
    """The connection's auth state; the values appear in logs and metrics."""

    UNAUTHENTICATED = "unauthenticated"
    LOADING = "loading"
    AUTHENTICATED = "authenticated"


class AuthEvent(enum.Enum):
    """What can happen to a connection's auth."""

    BEGIN = "begin"  # an Authenticate was accepted: its token is being judged
    ACCEPT = "accept"  # the token is valid: its identity is now in force
    CLEAR = "clear"  # tokenType "None": the client signed out
    REFUSE = "refuse"  # the token was refused: AuthError, then the socket closes
    EXPIRE = "expire"  # the token's exp passed: AuthError, then the socket closes


class AuthMove(NamedTuple):
    to: AuthState
    new_identity: bool = False  # identity_version moves on (the verdict is in)
    closes: bool = False  # the connection ends after its AuthError


AUTH_TRANSITIONS: dict[tuple[AuthState, AuthEvent], AuthMove] = {
    (AuthState.UNAUTHENTICATED, AuthEvent.BEGIN): AuthMove(AuthState.LOADING),
    (AuthState.AUTHENTICATED, AuthEvent.BEGIN): AuthMove(AuthState.LOADING),
    (AuthState.LOADING, AuthEvent.ACCEPT): AuthMove(AuthState.AUTHENTICATED, new_identity=True),
    (AuthState.LOADING, AuthEvent.CLEAR): AuthMove(AuthState.UNAUTHENTICATED, new_identity=True),
    (AuthState.LOADING, AuthEvent.REFUSE): AuthMove(AuthState.UNAUTHENTICATED, closes=True),
    (AuthState.AUTHENTICATED, AuthEvent.EXPIRE): AuthMove(AuthState.UNAUTHENTICATED, closes=True),
}
"""Every legal auth move; anything else is a bug in the server (LocalProtocolError)."""


class AuthChange(NamedTuple):
    """One auth move as it happened. ``settled`` is where the connection
    stood before its current judgement began: a refresh that ends where it
    began (authenticated -> loading -> authenticated) is routine."""

    old: AuthState
    new: AuthState
    settled: AuthState

    @property
    def routine(self) -> bool:
        if self.new is AuthState.LOADING:
            return self.old is AuthState.AUTHENTICATED
        return self.old is AuthState.LOADING and self.new is self.settled


TRANSITIONS: dict[tuple[Phase, type[ClientMessage]], Phase] = {
    (Phase.AWAITING_CONNECT, Connect): Phase.OPEN,
    # JS may report a NetworkRecoveryReconnect before its Connect goes out.
    (Phase.AWAITING_CONNECT, Event): Phase.AWAITING_CONNECT,
    (Phase.OPEN, ModifyQuerySet): Phase.OPEN,
    (Phase.OPEN, Mutation): Phase.OPEN,
    (Phase.OPEN, Action): Phase.OPEN,
    (Phase.OPEN, Authenticate): Phase.OPEN,
    (Phase.OPEN, Event): Phase.OPEN,
}
"""Every legal ``(phase, message type) -> next phase``; anything else is refused."""


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """One subscribed query: ``udf_path`` is canonical, ``args_raw`` still encoded."""

    query_id: int
    udf_path: str
    args_raw: list[JSONValue]
    journal: str | None = None


@dataclass(frozen=True, slots=True)
class QuerySetChange:
    """The net effect of one ModifyQuerySet; apply ``removed`` before ``added``."""

    added: tuple[QuerySpec, ...]
    removed: tuple[int, ...]


class ServerSession:
    """The protocol state of one server-side connection."""

    def __init__(self) -> None:
        self.phase = Phase.AWAITING_CONNECT
        self.auth_state = AuthState.UNAUTHENTICATED
        self._settled = AuthState.UNAUTHENTICATED  # the state before a LOADING
        self.session_id: str | None = None
        self.query_set_version = 0
        self.identity_version = 0
        self.last_sent = StateVersion.initial()
        self._last_sent_text: str | None = None  # version_text(last_sent), once made
        self.queries: dict[int, QuerySpec] = {}

    def receive(self, text: str | bytes) -> ClientMessage:
        """Parse one frame and advance the phase.

        Raises:
            RemoteProtocolError: the frame is malformed or not allowed now;
                the session is then CLOSED.
        """
        try:
            message = parse_client_message(text)
        except RemoteProtocolError:
            self.phase = Phase.CLOSED
            raise
        self.accept(message)
        return message

    def accept(self, message: ClientMessage) -> None:
        """Advance the phase for an already parsed message.

        Raises:
            RemoteProtocolError: the message is not allowed now; the session
                is then CLOSED.
        """
        try:
            self.phase = self._next_phase(type(message))
        except RemoteProtocolError:
            self.phase = Phase.CLOSED
            raise
        if isinstance(message, Connect):
            self.session_id = message.session_id

    def authenticate_allowed(self, msg: Authenticate) -> bool:
        """Whether `accept(msg)` and then `begin_authenticate(msg)` would both
        succeed, checked without changing anything."""
        return (
            (self.phase, Authenticate) in TRANSITIONS
            and (self.auth_state, AuthEvent.BEGIN) in AUTH_TRANSITIONS
            and msg.base_version == self.identity_version
        )

    def _next_phase(self, kind: type[ClientMessage]) -> Phase:
        next_phase = TRANSITIONS.get((self.phase, kind))
        if next_phase is None:
            raise RemoteProtocolError(
                f"{kind.__name__} is not allowed while the connection is {self.phase.value}"
            )
        return next_phase

    def apply_modify_query_set(self, msg: ModifyQuerySet) -> QuerySetChange:
        """Apply a query-set edit, all or nothing.

        Raises:
            RemoteProtocolError: wrong versions, an Add of a live queryId, a
                Remove of an unknown one, or an empty udfPath.
        """
        try:
            self._check_query_set_versions(msg)
            queries, change = _apply_edits(self.queries, msg)
        except RemoteProtocolError:
            self.phase = Phase.CLOSED
            raise
        self.queries = queries
        self.query_set_version = msg.new_version
        return change

    def _check_query_set_versions(self, msg: ModifyQuerySet) -> None:
        # Wording matches the real server's BaseVersionMismatch.
        if msg.base_version != self.query_set_version:
            raise RemoteProtocolError(
                f"Base version {msg.base_version} passed up doesn't match "
                f"the current version {self.query_set_version}"
            )
        if msg.new_version <= msg.base_version:
            raise RemoteProtocolError(
                f"ModifyQuerySet.newVersion {msg.new_version} must exceed "
                f"baseVersion {msg.base_version}"
            )

    def begin_authenticate(self, msg: Authenticate) -> AuthChange:
        """Start judging a token (tokenType None too): auth goes LOADING.

        Raises:
            RemoteProtocolError: ``baseVersion`` is not the identity version.
            LocalProtocolError: a previous Authenticate is still loading.
        """
        if msg.base_version != self.identity_version:
            self.phase = Phase.CLOSED
            raise RemoteProtocolError(
                f"Authenticate.baseVersion {msg.base_version} doesn't match "
                f"the current identity version {self.identity_version}"
            )
        return self.move_auth(AuthEvent.BEGIN)

    def move_auth(self, event: AuthEvent) -> AuthChange:
        """Apply one auth event by ``AUTH_TRANSITIONS``.

        Raises:
            LocalProtocolError: ``event`` cannot happen in the current state.
        """
        old = self.auth_state
        move = AUTH_TRANSITIONS.get((old, event))
        if move is None:
            raise LocalProtocolError(f"auth event {event.value} while {old.value}")
        settled = self._settled
        self.auth_state = move.to
        if move.new_identity:
            self.identity_version += 1
        if move.closes:
            self.phase = Phase.CLOSED
        if move.to is AuthState.LOADING:
            self._settled = settled = old
        else:
            self._settled = move.to
        return AuthChange(old, move.to, settled)

    def auth_error(self, error: str, *, auth_update_attempted: bool) -> AuthError:
        """An AuthError carrying the identity version the client last saw (§8.2)."""
        return AuthError(error, self.last_sent.identity, auth_update_attempted)

    def transition_text(
        self,
        ts: int,
        modifications: Sequence[StateModification],
        *,
        server_ts: int | None = None,
    ) -> str:
        """The next Transition of the chain as wire text, recorded as sent.
        The start version's text is kept from the previous Transition, and no
        message object is made: a commit does this once per subscriber.

        Raises:
            LocalProtocolError: ``ts`` is older than the last Transition's.
        """
        start = self._last_sent_text or version_text(self.last_sent)
        end = self._advance(ts)
        end_text = self._last_sent_text = version_text(end)
        return transition_text(start, end_text, modifications, server_ts=server_ts)

    def _advance(self, ts: int) -> StateVersion:
        """Record the next Transition's end version as sent."""
        if ts < self.last_sent.ts:
            raise LocalProtocolError(
                f"Transition ts {ts} would go back from the last sent ts {self.last_sent.ts}"
            )
        end = StateVersion(self.query_set_version, self.identity_version, ts)
        self.last_sent = end
        self._last_sent_text = None
        return end

    def close(self) -> None:
        """Mark the connection closed; later frames are refused."""
        self.phase = Phase.CLOSED


def _apply_edits(
    current: dict[int, QuerySpec], msg: ModifyQuerySet
) -> tuple[dict[int, QuerySpec], QuerySetChange]:
    """Apply the edits in order to a copy; return it and the net change."""
    queries = dict(current)
    added: dict[int, QuerySpec] = {}
    removed: list[int] = []
    for index, edit in enumerate(msg.modifications):
        where = f"ModifyQuerySet.modifications[{index}]"
        if isinstance(edit, QuerySetAdd):
            if edit.query_id in queries:
                raise RemoteProtocolError(f"{where}: queryId {edit.query_id} is already subscribed")
            spec = _spec(edit)
            queries[spec.query_id] = added[spec.query_id] = spec
            continue
        if edit.query_id not in queries:
            raise RemoteProtocolError(f"{where}: queryId {edit.query_id} is not subscribed")
        del queries[edit.query_id]
        # A query added and removed in the same message never existed for the client.
        if added.pop(edit.query_id, None) is None:
            removed.append(edit.query_id)
    return queries, QuerySetChange(tuple(added.values()), tuple(removed))


def _spec(edit: QuerySetAdd) -> QuerySpec:
    return QuerySpec(
        query_id=edit.query_id,
        udf_path=canonicalize_udf_path(edit.udf_path),
        args_raw=edit.args,
        journal=edit.journal,
    )
