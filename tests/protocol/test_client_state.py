from __future__ import annotations

import pytest

from protocol.client_messages import (
    Action,
    Authenticate,
    Connect,
    ModifyQuerySet,
    Mutation,
    QuerySetAdd,
    QuerySetRemove,
)
from protocol.client_state import (
    ACTION_CONNECTION_LOST,
    AuthConfirmed,
    AuthRejected,
    ClientState,
    FunctionResult,
    QueryResultChanged,
    RequestResolved,
    RequestStatus,
)
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.server_messages import (
    ActionResponse,
    AuthError,
    FatalError,
    MutationResponse,
    Ping,
    QueryFailed,
    QueryRemoved,
    QueryUpdated,
    Transition,
    TransitionChunk,
)
from protocol.values import RawJSON
from protocol.versions import StateVersion

SESSION = "6f1c8c1e-0000-4000-8000-000000000000"


def connected_state() -> ClientState:
    state = ClientState(SESSION)
    state.connect("InitialConnect", 0.0)
    return state


def transition(state: ClientState, ts: int, *modifications: object, identity: int | None = None):
    start = state.remote_version
    assert start is not None
    end = StateVersion(
        start.query_set + 1 if modifications else start.query_set,
        start.identity if identity is None else identity,
        ts,
    )
    return Transition(start, end, tuple(modifications))  # type: ignore[arg-type]


def test_first_connect_sends_connect_then_empty_query_set():
    state = ClientState(SESSION)
    messages = state.connect("InitialConnect", 12.0)
    assert messages == [
        Connect(SESSION, 0, "InitialConnect", None, 12.0),
        ModifyQuerySet(0, 1, ()),
    ]


def test_add_query_while_connected_sends_next_query_set_version():
    state = connected_state()
    query_id, messages = state.add_query("messages:list", [{"channel": "a"}])
    assert query_id == 0
    assert messages == [
        ModifyQuerySet(1, 2, (QuerySetAdd(0, "messages:list", [{"channel": "a"}]),))
    ]


def test_add_query_canonicalizes_the_path():
    state = connected_state()
    _, messages = state.add_query("messages.js", [{}])
    assert messages == [ModifyQuerySet(1, 2, (QuerySetAdd(0, "messages:default", [{}]),))]


def test_identical_queries_share_one_id_until_the_last_subscriber_leaves():
    state = connected_state()
    first, _ = state.add_query("messages:list", [{"a": 1.0, "b": 2.0}])
    second, messages = state.add_query("messages:list", [{"b": 2.0, "a": 1.0}])
    assert first == second and messages == []
    assert state.remove_query(first) == []
    assert state.remove_query(first) == [ModifyQuerySet(2, 3, (QuerySetRemove(first),))]
    assert state.query_ids() == []


def test_query_ids_are_never_reused():
    state = connected_state()
    first, _ = state.add_query("a:b", [{}])
    state.remove_query(first)
    second, _ = state.add_query("a:b", [{}])
    assert second == first + 1


def test_empty_path_is_a_local_error():
    state = connected_state()
    with pytest.raises(LocalProtocolError):
        state.add_query("", [{}])
    with pytest.raises(LocalProtocolError):
        state.add_request("mutation", "  ", [{}])


def test_reconnect_readds_every_query_with_journal_and_resends_mutations_with_same_ids():
    state = connected_state()
    state.set_token("tok")
    qid, _ = state.add_query("messages:list", [{}])
    state.receive(transition(state, 10, QueryUpdated(qid, [], (), "j1")))
    rid, sent = state.add_request("mutation", "messages:send", [{"body": "x"}])
    assert sent == [Mutation(rid, "messages:send", [{"body": "x"}])]
    state.disconnect()
    messages = state.connect("closed with code 1006", 1.0)
    assert messages == [
        Connect(SESSION, 1, "closed with code 1006", 10, 1.0),
        Authenticate(0, "User", "tok"),
        ModifyQuerySet(0, 1, (QuerySetAdd(qid, "messages:list", [{}], "j1"),)),
        Mutation(rid, "messages:send", [{"body": "x"}]),
    ]


def test_requests_made_while_disconnected_are_sent_on_connect():
    state = ClientState(SESSION)
    rid, sent = state.add_request("action", "acts:go", [{}])
    assert sent == []
    assert state.request_status(rid) is RequestStatus.NOT_SENT
    messages = state.connect(None, None)
    assert messages[-1] == Action(rid, "acts:go", [{}])
    assert state.request_status(rid) is RequestStatus.REQUESTED


def test_request_ids_are_shared_by_mutations_and_actions_and_keep_growing():
    state = connected_state()
    ids = [state.add_request(kind, "m:f", [{}])[0] for kind in ("mutation", "action", "mutation")]
    assert ids == [0, 1, 2]


def test_mutation_resolves_only_at_the_transition_that_reaches_its_ts():
    state = connected_state()
    qid, _ = state.add_query("messages:list", [{}])
    state.receive(transition(state, 5, QueryUpdated(qid, [])))
    rid, _ = state.add_request("mutation", "messages:send", [{}])
    assert state.receive(MutationResponse(rid, True, {"n": 1.0}, 20, ("[LOG] 'x'",))) == []
    assert state.request_status(rid) is RequestStatus.COMPLETED
    assert state.receive(transition(state, 15)) == []
    events = state.receive(transition(state, 20, QueryUpdated(qid, ["x"])))
    assert events == [
        QueryResultChanged(qid, FunctionResult(["x"])),
        RequestResolved(
            rid, "mutation", "messages:send", FunctionResult({"n": 1.0}, log_lines=("[LOG] 'x'",))
        ),
    ]
    assert state.pending_request_ids() == []


def test_failed_mutation_resolves_at_once_with_error_data():
    state = connected_state()
    rid, _ = state.add_request("mutation", "m:f", [{}])
    events = state.receive(MutationResponse(rid, False, "Uncaught nope", None, (), {"code": 1.0}))
    assert events == [
        RequestResolved(
            rid, "mutation", "m:f", FunctionResult(None, "Uncaught nope", {"code": 1.0})
        )
    ]


def test_duplicate_or_unknown_responses_are_ignored():
    state = connected_state()
    assert state.receive(MutationResponse(99, True, None, 1)) == []
    assert state.receive(ActionResponse(99, True, None)) == []
    rid, _ = state.add_request("mutation", "m:f", [{}])
    assert state.receive(ActionResponse(rid, True, None)) == []
    assert state.request_status(rid) is RequestStatus.REQUESTED


def test_action_response_resolves_immediately():
    state = connected_state()
    rid, _ = state.add_request("action", "a:b", [{}])
    ok = state.receive(ActionResponse(rid, True, RawJSON('{"echo":1}')))
    assert ok == [RequestResolved(rid, "action", "a:b", FunctionResult({"echo": 1}))]
    rid2, _ = state.add_request("action", "a:b", [{}])
    failed = state.receive(ActionResponse(rid2, False, "boom"))
    assert failed == [RequestResolved(rid2, "action", "a:b", FunctionResult(None, "boom"))]


def test_disconnect_fails_sent_actions_but_keeps_mutations():
    state = connected_state()
    aid, _ = state.add_request("action", "a:b", [{}])
    mid, _ = state.add_request("mutation", "m:f", [{}])
    events = state.disconnect()
    assert events == [
        RequestResolved(aid, "action", "a:b", FunctionResult(None, ACTION_CONNECTION_LOST))
    ]
    assert state.pending_request_ids() == [mid]


def test_transition_with_wrong_start_version_raises_and_leaves_state_unchanged():
    state = connected_state()
    qid, _ = state.add_query("q:a", [{}])
    bad = Transition(StateVersion(0, 0, 7), StateVersion(1, 0, 9), (QueryUpdated(qid, 1.0),))
    with pytest.raises(RemoteProtocolError, match="startVersion"):
        state.receive(bad)
    assert state.remote_version == StateVersion.initial()
    assert state.latest(qid) is None


def test_remote_version_restarts_at_zero_on_every_socket():
    state = connected_state()
    state.receive(transition(state, 50))
    state.disconnect()
    state.connect(None, None)
    assert state.remote_version == StateVersion.initial()


def test_unchanged_query_results_are_not_reported_again():
    state = connected_state()
    qid, _ = state.add_query("q:a", [{}])
    first = state.receive(transition(state, 1, QueryUpdated(qid, {"a": [1.0]})))
    again = state.receive(transition(state, 2, QueryUpdated(qid, {"a": [1.0]})))
    assert first == [QueryResultChanged(qid, FunctionResult({"a": [1.0]}))]
    assert again == []


def test_query_failure_is_reported_with_its_data():
    state = connected_state()
    qid, _ = state.add_query("q:a", [{}])
    events = state.receive(
        transition(state, 1, QueryFailed(qid, "Not authenticated", (), None, None))
    )
    assert events == [QueryResultChanged(qid, FunctionResult(None, "Not authenticated", None))]
    assert state.latest(qid) == FunctionResult(None, "Not authenticated", None)
    assert not FunctionResult(None, "x").success


def test_results_for_removed_queries_are_ignored():
    state = connected_state()
    qid, _ = state.add_query("q:a", [{}])
    state.remove_query(qid)
    events = state.receive(transition(state, 1, QueryUpdated(qid, 1.0), QueryRemoved(qid)))
    assert events == []


def test_token_is_confirmed_when_identity_reaches_our_counter():
    state = ClientState(SESSION)
    state.set_token("a")
    messages = state.connect(None, None)
    assert Authenticate(0, "User", "a") in messages
    assert state.receive(transition(state, 1, identity=1)) == [AuthConfirmed(1)]
    assert state.set_token("b") == [Authenticate(1, "User", "b")]
    assert state.receive(transition(state, 2, identity=2)) == [AuthConfirmed(2)]


def test_clearing_the_token_sends_none_only_if_auth_was_sent():
    state = connected_state()
    assert state.set_token(None) == []
    state.set_token("a")
    assert state.set_token(None) == [Authenticate(1, "None")]
    assert state.token is None


def test_auth_error_is_reported():
    state = connected_state()
    events = state.receive(AuthError("expired", 1, False))
    assert events == [AuthRejected("expired", 1, False)]


def test_ping_is_ignored_and_fatal_error_or_chunk_asks_for_reconnect():
    state = connected_state()
    assert state.receive(Ping()) == []
    with pytest.raises(RemoteProtocolError, match="FatalError: nope"):
        state.receive(FatalError("nope"))
    with pytest.raises(RemoteProtocolError, match="TransitionChunk"):
        state.receive(TransitionChunk("{", 0, 2, "t"))


def test_receive_without_socket_is_a_local_error():
    with pytest.raises(LocalProtocolError):
        ClientState(SESSION).receive(Ping())


def test_max_observed_timestamp_tracks_transitions_and_mutation_responses():
    state = connected_state()
    rid, _ = state.add_request("mutation", "m:f", [{}])
    state.receive(MutationResponse(rid, True, None, 40))
    assert state.max_observed_timestamp == 40
    state.receive(transition(state, 30))
    assert state.max_observed_timestamp == 40
    state.receive(transition(state, 45))
    assert state.max_observed_timestamp == 45
