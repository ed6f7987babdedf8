"""The client side of the sync protocol as a pure state machine (no I/O).

Theory of operation
-------------------
A client owns three pieces of state that outlive any one socket:

* the **local query set**: every subscribed (path, args), deduplicated, each
  with a client-chosen query id that is never reused (§3.2);
* the **requests**: mutations and actions, numbered from one counter that is
  never reset (§3.3), each ``NOT_SENT`` -> ``REQUESTED`` -> ``COMPLETED`` ->
  resolved;
* the **token**, plus the session id, which stays the same for the life of the
  client so the server can deduplicate re-sent mutations (§7).

And three that belong to the current socket and restart on each one:

* the query-set version (0 after ``Connect``; ``ModifyQuerySet`` 0->1 re-adds
  every query at once, as the JS client does);
* the identity version (``Authenticate`` with baseVersion 0 first);
* the **remote version**: every Transition must start exactly where the last
  one ended, beginning at (0, 0, 0). A mismatch raises RemoteProtocolError and
  leaves the state untouched; the I/O layer answers by reconnecting (§4.1).

Every method returns what to send (``list[ClientMessage]``, empty when no
socket is up; the next ``connect`` re-sends what matters) or what happened
(``list[ClientEvent]``). A mutation resolves only at the first Transition whose
``endVersion.ts`` reaches the mutation's commit ts, so by the time its caller
sees the result every subscription already shows the write (§7).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from protocol.client_messages import (
    Action,
    Authenticate,
    ClientMessage,
    Connect,
    ModifyQuerySet,
    Mutation,
    QuerySetAdd,
    QuerySetModification,
    QuerySetRemove,
)
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.paths import canonicalize_udf_path
from protocol.server_messages import (
    MISSING,
    ActionResponse,
    AuthError,
    FatalError,
    Missing,
    MutationResponse,
    Ping,
    QueryFailed,
    QueryRemoved,
    QueryUpdated,
    ServerMessage,
    Transition,
    TransitionChunk,
)
from protocol.values import JSONValue, RawJSON, canonical_json
from protocol.versions import StateVersion

__all__ = [
    "AuthConfirmed",
    "AuthRejected",
    "ClientEvent",
    "ClientState",
    "FunctionResult",
    "QueryResultChanged",
    "RequestKind",
    "RequestResolved",
    "RequestStatus",
]

RequestKind: TypeAlias = Literal["mutation", "action"]

ACTION_CONNECTION_LOST = "Connection lost while action was in flight"


@dataclass(frozen=True, slots=True)
class FunctionResult:
    """The result of a query or request as the server reported it, still
    Convex-encoded (the official JS client's `FunctionResult`).

    On success ``value`` holds the result and ``error_message`` is None; on
    failure ``error_message`` holds the server's message and ``error_data`` the
    AppError payload when the function raised one (MISSING otherwise).
    """

    value: JSONValue
    error_message: str | None = None
    error_data: JSONValue | Missing = MISSING
    log_lines: tuple[str, ...] = ()

    @property
    def success(self) -> bool:
        return self.error_message is None

    def same_result(self, other: FunctionResult | None) -> bool:
        """Whether ``other`` is the same result, ignoring log lines."""
        return (
            other is not None
            and self.error_message == other.error_message
            and _comparable(self.value) == _comparable(other.value)
            and _comparable(self.error_data) == _comparable(other.error_data)
        )


@dataclass(frozen=True, slots=True)
class QueryResultChanged:
    """A subscribed query has a new result."""

    query_id: int
    outcome: FunctionResult


@dataclass(frozen=True, slots=True)
class RequestResolved:
    """A mutation or action is finished; its caller may be answered."""

    request_id: int
    kind: RequestKind
    udf_path: str
    outcome: FunctionResult


@dataclass(frozen=True, slots=True)
class AuthConfirmed:
    """The server accepted our latest token (identity version reached ours)."""

    identity_version: int


@dataclass(frozen=True, slots=True)
class AuthRejected:
    """The server refused a token; it closes the socket right after."""

    error: str
    base_version: int
    auth_update_attempted: bool


ClientEvent: TypeAlias = QueryResultChanged | RequestResolved | AuthConfirmed | AuthRejected


class RequestStatus(enum.Enum):
    NOT_SENT = "not_sent"
    REQUESTED = "requested"
    COMPLETED = "completed"  # answered; waiting for the Transition that reflects it


@dataclass(slots=True)
class _SubscribedQuery:
    query_id: int
    udf_path: str
    args: list[JSONValue]
    subscribers: int = 1
    journal: str | None = None
    outcome: FunctionResult | None = None


@dataclass(slots=True)
class _Request:
    message: Mutation | Action
    kind: RequestKind
    status: RequestStatus = RequestStatus.NOT_SENT
    outcome: FunctionResult | None = None
    ts: int | None = None


@dataclass(slots=True)
class _Socket:
    """Per-socket counters; replaced on every connect."""

    query_set_version: int = 0
    identity_version: int = 0
    remote: StateVersion = field(default_factory=StateVersion.initial)


class ClientState:
    """Pure client-side protocol state; see the module docstring."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.connection_count = 0
        self.max_observed_timestamp: int | None = None
        self._token: str | None = None
        self._sent_auth = False  # whether any Authenticate went out on this socket
        self._queries: dict[int, _SubscribedQuery] = {}
        self._query_keys: dict[tuple[str, str], int] = {}
        self._next_query_id = 0
        self._requests: dict[int, _Request] = {}
        self._next_request_id = 0
        self._socket: _Socket | None = None

    # -- inspection -------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._socket is not None

    @property
    def remote_version(self) -> StateVersion | None:
        return None if self._socket is None else self._socket.remote

    @property
    def token(self) -> str | None:
        return self._token

    def query_ids(self) -> list[int]:
        return sorted(self._queries)

    def latest(self, query_id: int) -> FunctionResult | None:
        query = self._queries.get(query_id)
        return None if query is None else query.outcome

    def request_status(self, request_id: int) -> RequestStatus | None:
        request = self._requests.get(request_id)
        return None if request is None else request.status

    def pending_request_ids(self) -> list[int]:
        return sorted(self._requests)

    # -- local operations -------------------------------------------------

    def add_query(self, udf_path: str, args: list[JSONValue]) -> tuple[int, list[ClientMessage]]:
        """Subscribe to a query; identical (path, args) share one query id.

        Raises:
            LocalProtocolError: the path is empty or malformed.
        """
        path = _canonical(udf_path)
        key = (path, canonical_json(list(args)))
        existing = self._query_keys.get(key)
        if existing is not None:
            self._queries[existing].subscribers += 1
            return existing, []
        query_id = self._next_query_id
        self._next_query_id += 1
        self._queries[query_id] = _SubscribedQuery(query_id, path, list(args))
        self._query_keys[key] = query_id
        return query_id, self._modify((QuerySetAdd(query_id, path, list(args)),))

    def remove_query(self, query_id: int) -> list[ClientMessage]:
        """Drop one subscriber of ``query_id``; the last one removes the query."""
        query = self._queries.get(query_id)
        if query is None:
            return []
        query.subscribers -= 1
        if query.subscribers > 0:
            return []
        del self._queries[query_id]
        del self._query_keys[(query.udf_path, canonical_json(query.args))]
        return self._modify((QuerySetRemove(query_id),))

    def add_request(
        self, kind: RequestKind, udf_path: str, args: list[JSONValue]
    ) -> tuple[int, list[ClientMessage]]:
        """Queue a mutation or action; it is sent now if a socket is up."""
        request_id = self._next_request_id
        self._next_request_id += 1
        path = udf_path.strip()
        if not path:
            raise LocalProtocolError("function path must not be empty")
        message: Mutation | Action
        message = (
            Mutation(request_id, path, list(args))
            if kind == "mutation"
            else Action(request_id, path, list(args))
        )
        request = _Request(message, kind)
        self._requests[request_id] = request
        if self._socket is None:
            return request_id, []
        request.status = RequestStatus.REQUESTED
        return request_id, [message]

    def set_token(self, token: str | None) -> list[ClientMessage]:
        """Replace the token; on a live socket this re-authenticates in place."""
        self._token = token
        if self._socket is None:
            return []
        if token is None and not self._sent_auth:
            return []
        return [self._authenticate()]

    # -- socket lifecycle -------------------------------------------------

    def connect(
        self, last_close_reason: str | None, client_ts: float | None
    ) -> list[ClientMessage]:
        """A new socket is open: everything to send on it, in order.

        ``Connect``, then ``Authenticate`` (baseVersion 0) when there is a token,
        then one ``ModifyQuerySet`` 0->1 re-adding every query, then every
        unresolved mutation (same request ids) and every unsent action.
        """
        self._socket = _Socket()
        self._sent_auth = False
        messages: list[ClientMessage] = [
            Connect(
                self.session_id,
                self.connection_count,
                last_close_reason,
                self.max_observed_timestamp,
                client_ts,
            )
        ]
        self.connection_count += 1
        if self._token is not None:
            messages.append(self._authenticate())
        adds = tuple(
            QuerySetAdd(q.query_id, q.udf_path, q.args, q.journal)
            for q in sorted(self._queries.values(), key=lambda q: q.query_id)
        )
        messages.extend(self._modify(adds))
        for request_id in sorted(self._requests):
            request = self._requests[request_id]
            request.status = RequestStatus.REQUESTED
            messages.append(request.message)
        return messages

    def disconnect(self) -> list[ClientEvent]:
        """The socket is gone. Sent actions fail; mutations wait to be re-sent."""
        self._socket = None
        events: list[ClientEvent] = []
        for request_id in sorted(self._requests):
            request = self._requests[request_id]
            if request.kind == "action" and request.status is not RequestStatus.NOT_SENT:
                del self._requests[request_id]
                outcome = FunctionResult(None, ACTION_CONNECTION_LOST)
                events.append(_resolved(request, outcome))
        return events

    # -- server messages --------------------------------------------------

    def receive(self, message: ServerMessage) -> list[ClientEvent]:
        """Apply one server message and report what happened.

        Raises:
            RemoteProtocolError: a Transition broke the version chain, or the
                server sent FatalError or TransitionChunk. The state is left as
                it was; the caller should reconnect.
            LocalProtocolError: no socket is connected.
        """
        if self._socket is None:
            raise LocalProtocolError("received a server message with no socket connected")
        if isinstance(message, Transition):
            return self._transition(self._socket, message)
        if isinstance(message, MutationResponse):
            return self._mutation_response(message)
        if isinstance(message, ActionResponse):
            return self._action_response(message)
        if isinstance(message, AuthError):
            return [
                AuthRejected(message.error, message.base_version, message.auth_update_attempted)
            ]
        if isinstance(message, Ping):
            return []
        if isinstance(message, FatalError):
            raise RemoteProtocolError(f"server sent FatalError: {message.error}")
        if isinstance(message, TransitionChunk):
            raise RemoteProtocolError(
                "server sent TransitionChunk, which this client never asks for"
            )
        raise RemoteProtocolError(f"unexpected server message {type(message).__name__}")

    def _transition(self, socket: _Socket, message: Transition) -> list[ClientEvent]:
        if message.start_version != socket.remote:
            raise RemoteProtocolError(
                f"Transition startVersion {_show(message.start_version)} does not match "
                f"the current version {_show(socket.remote)}"
            )
        events: list[ClientEvent] = []
        for modification in message.modifications:
            event = self._apply_modification(modification)
            if event is not None:
                events.append(event)
        socket.remote = message.end_version
        self._observe_ts(message.end_version.ts)
        start, end = message.start_version.identity, message.end_version.identity
        if self._token is not None and end > start and end >= socket.identity_version:
            events.append(AuthConfirmed(end))
        events.extend(self._resolve_completed(message.end_version.ts))
        return events

    def _apply_modification(
        self, modification: QueryUpdated | QueryFailed | QueryRemoved
    ) -> QueryResultChanged | None:
        if isinstance(modification, QueryRemoved):
            return None
        query = self._queries.get(modification.query_id)
        if query is None:  # answered after we removed it; both official clients ignore this
            return None
        outcome = _query_outcome(modification)
        query.journal = modification.journal
        if outcome.same_result(query.outcome):
            return None
        query.outcome = outcome
        return QueryResultChanged(query.query_id, outcome)

    def _mutation_response(self, message: MutationResponse) -> list[ClientEvent]:
        request = self._requests.get(message.request_id)
        if request is None or request.kind != "mutation":
            return []  # a duplicate answer for a request already resolved
        if not message.success:
            del self._requests[message.request_id]
            return [_resolved(request, _failure(message.result, message.error_data, message))]
        request.status = RequestStatus.COMPLETED
        request.outcome = FunctionResult(_plain(message.result), log_lines=tuple(message.log_lines))
        request.ts = message.ts
        if message.ts is not None:
            self._observe_ts(message.ts)
        return []

    def _action_response(self, message: ActionResponse) -> list[ClientEvent]:
        request = self._requests.pop(message.request_id, None)
        if request is None:
            return []
        if request.kind != "action":
            self._requests[message.request_id] = request
            return []
        if message.success:
            outcome = FunctionResult(_plain(message.result), log_lines=tuple(message.log_lines))
        else:
            outcome = _failure(message.result, message.error_data, message)
        return [_resolved(request, outcome)]

    def _resolve_completed(self, ts: int) -> list[ClientEvent]:
        events: list[ClientEvent] = []
        for request_id in sorted(self._requests):
            request = self._requests[request_id]
            done = request.status is RequestStatus.COMPLETED
            if done and request.outcome is not None and (request.ts is None or request.ts <= ts):
                del self._requests[request_id]
                events.append(_resolved(request, request.outcome))
        return events

    # -- helpers ----------------------------------------------------------

    def _modify(self, modifications: tuple[QuerySetModification, ...]) -> list[ClientMessage]:
        socket = self._socket
        if socket is None:
            return []
        base = socket.query_set_version
        socket.query_set_version = base + 1
        return [ModifyQuerySet(base, base + 1, modifications)]

    def _authenticate(self) -> Authenticate:
        socket = self._socket
        if socket is None:  # pragma: no cover - callers check first
            raise LocalProtocolError("Authenticate needs a connected socket")
        base = socket.identity_version
        socket.identity_version = base + 1
        self._sent_auth = True
        if self._token is None:
            return Authenticate(base, "None")
        return Authenticate(base, "User", self._token)

    def _observe_ts(self, ts: int) -> None:
        if self.max_observed_timestamp is None or ts > self.max_observed_timestamp:
            self.max_observed_timestamp = ts


def _canonical(udf_path: str) -> str:
    try:
        return canonicalize_udf_path(udf_path)
    except RemoteProtocolError as exc:
        raise LocalProtocolError(str(exc)) from None


def _query_outcome(modification: QueryUpdated | QueryFailed) -> FunctionResult:
    log_lines = tuple(modification.log_lines)
    if isinstance(modification, QueryUpdated):
        return FunctionResult(_plain(modification.value), log_lines=log_lines)
    data = modification.error_data
    error_data: JSONValue | Missing = data if isinstance(data, Missing) else _plain(data)
    return FunctionResult(None, modification.error_message, error_data, log_lines)


def _failure(
    result: JSONValue | RawJSON,
    error_data: JSONValue | RawJSON | Missing,
    message: MutationResponse | ActionResponse,
) -> FunctionResult:
    plain = _plain(result)
    text = plain if isinstance(plain, str) else canonical_json(plain)
    data: JSONValue | Missing = (
        error_data if isinstance(error_data, Missing) else _plain(error_data)
    )
    return FunctionResult(None, text, data, tuple(message.log_lines))


def _plain(value: JSONValue | RawJSON) -> JSONValue:
    # Parsed server messages never carry RawJSON; it exists for the server's
    # send path. Accept it anyway so hand-built messages work in tests.
    if isinstance(value, RawJSON):
        parsed: JSONValue = json.loads(value.text)
        return parsed
    return value


def _comparable(value: JSONValue | Missing) -> str | None:
    if isinstance(value, Missing):
        return None
    return canonical_json(value)


def _resolved(request: _Request, outcome: FunctionResult) -> RequestResolved:
    return RequestResolved(
        request.message.request_id, request.kind, request.message.udf_path, outcome
    )


def _show(version: StateVersion) -> str:
    return f"(querySet={version.query_set}, identity={version.identity}, ts={version.ts})"
