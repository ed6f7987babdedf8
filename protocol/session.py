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
* ``identity_version`` counts accepted ``Authenticate`` messages;
  :meth:`begin_authenticate` requires ``baseVersion`` to equal it, and
  :meth:`finish_authenticate` bumps it once the token has been judged.
* :meth:`build_transition` (a ``Transition``) and :meth:`transition_text`
  (its wire text) are the only ways to make one: each starts at
  ``last_sent``, ends at the current versions and the given ``ts``, and
  refuses to go back in time. A broken chain crashes Node clients, so it
  lives here and nowhere else.

Auth has its own small state (``AuthState``), separate from the phase,
because validating a token takes time while the connection stays open.
Nothing here does I/O, reads a clock or validates a token.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

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
    Transition,
    transition_text,
    version_text,
)
from protocol.values import JSONValue
from protocol.versions import StateVersion

__all__ = [
    "TRANSITIONS",
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
            and self.auth_state is not AuthState.LOADING
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

    def begin_authenticate(self, msg: Authenticate) -> None:
        """Start judging a token (tokenType None too): auth goes LOADING.

        Raises:
            RemoteProtocolError: ``baseVersion`` is not the identity version.
            LocalProtocolError: a previous Authenticate is still loading.
        """
        if self.auth_state is AuthState.LOADING:
            raise LocalProtocolError("begin_authenticate while a previous one is still loading")
        if msg.base_version != self.identity_version:
            self.phase = Phase.CLOSED
            raise RemoteProtocolError(
                f"Authenticate.baseVersion {msg.base_version} doesn't match "
                f"the current identity version {self.identity_version}"
            )
        self.auth_state = AuthState.LOADING

    def finish_authenticate(self, authenticated: bool) -> None:
        """The token was accepted (or cleared): bump the identity version.

        Raises:
            LocalProtocolError: no Authenticate is loading.
        """
        if self.auth_state is not AuthState.LOADING:
            raise LocalProtocolError("finish_authenticate without begin_authenticate")
        self.identity_version += 1
        self.auth_state = AuthState.AUTHENTICATED if authenticated else AuthState.UNAUTHENTICATED

    def fail_authenticate(self) -> None:
        """The token was refused or expired: the server sends AuthError and closes."""
        self.auth_state = AuthState.UNAUTHENTICATED
        self.phase = Phase.CLOSED

    def build_auth_error(self, error: str, *, auth_update_attempted: bool) -> AuthError:
        """An AuthError carrying the identity version the client last saw (§8.2)."""
        return AuthError(error, self.last_sent.identity, auth_update_attempted)

    def build_transition(
        self,
        ts: int,
        modifications: Sequence[StateModification],
        *,
        server_ts: int | None = None,
        client_clock_skew: int | None = None,
    ) -> Transition:
        """Build the next Transition of the chain and record it as sent.

        Raises:
            LocalProtocolError: ``ts`` is older than the last Transition's.
        """
        start = self.last_sent
        end = self._advance(ts)
        return Transition(
            start_version=start,
            end_version=end,
            modifications=tuple(modifications),
            client_clock_skew=client_clock_skew,
            server_ts=server_ts,
        )

    def transition_text(
        self,
        ts: int,
        modifications: Sequence[StateModification],
        *,
        server_ts: int | None = None,
    ) -> str:
        """`build_transition(...).serialize()` without the message object, and
        with the start version's text kept from the previous Transition: a
        commit does this once per subscriber.

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
