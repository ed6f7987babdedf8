from __future__ import annotations

from collections.abc import Sequence

import pytest

from protocol.client_messages import (
    Action,
    Authenticate,
    ClientMessage,
    Connect,
    Event,
    ModifyQuerySet,
    Mutation,
    QuerySetAdd,
    QuerySetRemove,
)
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.server_messages import (
    QueryRemoved,
    QueryUpdated,
    StateModification as Mod,
    Transition,
    parse_server_message,
)
from protocol.session import (
    AUTH_TRANSITIONS,
    TRANSITIONS,
    AuthEvent,
    AuthState,
    Phase,
    QuerySetChange,
    QuerySpec,
    ServerSession,
)
from protocol.versions import StateVersion

CONNECT = Connect("sess-1", 0, "InitialConnect", None, 0.0).serialize()


def open_session() -> ServerSession:
    session = ServerSession()
    session.receive(CONNECT)
    return session


def add(query_id: int, path: str = "messages:list") -> QuerySetAdd:
    return QuerySetAdd(query_id, path, [{}])


def test_connect_opens_the_session_and_records_the_session_id() -> None:
    session = ServerSession()
    assert session.phase is Phase.AWAITING_CONNECT
    message = session.receive(CONNECT)
    assert isinstance(message, Connect)
    assert session.phase is Phase.OPEN
    assert session.session_id == "sess-1"


def test_an_event_before_connect_is_tolerated() -> None:
    session = ServerSession()
    session.receive(Event("NetworkRecoveryReconnect", None).serialize())
    assert session.phase is Phase.AWAITING_CONNECT
    session.receive(CONNECT)
    assert session.phase is Phase.OPEN


@pytest.mark.parametrize(
    "frame",
    [
        Mutation(0, "m:f", [{}]).serialize(),
        ModifyQuerySet(0, 1, ()).serialize(),
        Authenticate(0, "None").serialize(),
        Action(0, "a:f", [{}]).serialize(),
    ],
)
def test_anything_but_connect_first_is_a_table_miss_that_closes(frame: str) -> None:
    session = ServerSession()
    with pytest.raises(
        RemoteProtocolError, match="is not allowed while the connection is awaiting_connect"
    ):
        session.receive(frame)
    assert session.phase is Phase.CLOSED


def test_a_second_connect_is_refused() -> None:
    session = open_session()
    with pytest.raises(
        RemoteProtocolError, match="Connect is not allowed while the connection is open"
    ):
        session.receive(CONNECT)


def test_frames_after_close_are_refused() -> None:
    session = open_session()
    session.close()
    with pytest.raises(
        RemoteProtocolError, match="Event is not allowed while the connection is closed"
    ):
        session.receive(Event("x", None).serialize())


def test_a_malformed_frame_closes_the_session() -> None:
    session = open_session()
    with pytest.raises(RemoteProtocolError, match="not valid JSON"):
        session.receive("{")
    assert session.phase is Phase.CLOSED


def test_every_message_type_is_accepted_when_open() -> None:
    session = open_session()
    frames: list[ClientMessage] = [
        ModifyQuerySet(0, 1, ()),
        Mutation(0, "m:f", [{}]),
        Action(1, "a:f", [{}]),
        Authenticate(0, "None"),
        Event("x", 1.0),
    ]
    for frame in frames:
        assert session.receive(frame.serialize()) == frame
        assert TRANSITIONS[(Phase.OPEN, type(frame))] is Phase.OPEN
    assert session.phase is Phase.OPEN


def test_modify_query_set_adds_canonical_specs_and_bumps_the_version() -> None:
    session = open_session()
    change = session.apply_modify_query_set(
        ModifyQuerySet(0, 1, (add(0, "messages.js:list"), add(1, "messages")))
    )
    assert change == QuerySetChange(
        added=(
            QuerySpec(0, "messages:list", [{}], None),
            QuerySpec(1, "messages:default", [{}], None),
        ),
        removed=(),
    )
    assert session.query_set_version == 1
    assert set(session.queries) == {0, 1}


def test_remove_drops_the_query() -> None:
    session = open_session()
    session.apply_modify_query_set(ModifyQuerySet(0, 1, (add(0),)))
    change = session.apply_modify_query_set(ModifyQuerySet(1, 2, (QuerySetRemove(0),)))
    assert change == QuerySetChange(added=(), removed=(0,))
    assert session.queries == {}


def test_a_query_added_and_removed_in_one_message_is_no_change() -> None:
    session = open_session()
    change = session.apply_modify_query_set(ModifyQuerySet(0, 1, (add(5), QuerySetRemove(5))))
    assert change == QuerySetChange(added=(), removed=())


def test_remove_then_re_add_reports_both_in_order() -> None:
    session = open_session()
    session.apply_modify_query_set(ModifyQuerySet(0, 1, (add(0, "a:x"),)))
    change = session.apply_modify_query_set(
        ModifyQuerySet(1, 2, (QuerySetRemove(0), add(0, "a:y")))
    )
    assert change.removed == (0,)
    assert change.added == (QuerySpec(0, "a:y", [{}], None),)
    assert session.queries[0].udf_path == "a:y"


def test_the_journal_is_kept_on_the_spec() -> None:
    session = open_session()
    change = session.apply_modify_query_set(
        ModifyQuerySet(0, 1, (QuerySetAdd(0, "a:b", [{}], "j1"),))
    )
    assert change.added[0].journal == "j1"


def test_a_wrong_base_version_is_refused_with_the_real_server_wording() -> None:
    session = open_session()
    session.apply_modify_query_set(ModifyQuerySet(0, 1, ()))
    session.apply_modify_query_set(ModifyQuerySet(1, 2, ()))
    with pytest.raises(
        RemoteProtocolError, match="Base version 3 passed up doesn't match the current version 2"
    ):
        session.apply_modify_query_set(ModifyQuerySet(3, 4, ()))
    assert session.phase is Phase.CLOSED
    assert session.query_set_version == 2


def test_a_new_version_that_does_not_advance_is_refused() -> None:
    session = open_session()
    with pytest.raises(RemoteProtocolError, match="must exceed baseVersion 0"):
        session.apply_modify_query_set(ModifyQuerySet(0, 0, ()))


@pytest.mark.parametrize(
    ("edits", "reason"),
    [
        ((add(0), add(0)), r"modifications\[1\]: queryId 0 is already subscribed"),
        ((QuerySetRemove(9),), r"modifications\[0\]: queryId 9 is not subscribed"),
        ((add(1, ""),), "function path"),
    ],
)
def test_illegal_edits_are_refused_and_nothing_is_applied(
    edits: tuple[QuerySetAdd | QuerySetRemove, ...], reason: str
) -> None:
    session = open_session()
    with pytest.raises(RemoteProtocolError, match=reason):
        session.apply_modify_query_set(ModifyQuerySet(0, 1, edits))
    assert session.queries == {}
    assert session.query_set_version == 0


def test_authentication_bumps_the_identity_through_loading() -> None:
    session = open_session()
    assert session.auth_state is AuthState.UNAUTHENTICATED
    session.begin_authenticate(Authenticate(0, "User", "jwt"))
    assert session.auth_state is AuthState.LOADING
    session.move_auth(AuthEvent.ACCEPT)
    assert (session.auth_state, session.identity_version) == (AuthState.AUTHENTICATED, 1)
    session.begin_authenticate(Authenticate(1, "None"))
    assert session.auth_state is AuthState.LOADING
    session.move_auth(AuthEvent.CLEAR)
    assert (session.auth_state, session.identity_version) == (AuthState.UNAUTHENTICATED, 2)


def test_every_auth_move_follows_the_table() -> None:
    for (state, event), move in AUTH_TRANSITIONS.items():
        session = open_session()
        session.auth_state = state
        change = session.move_auth(event)
        assert (change.old, change.new, session.auth_state) == (state, move.to, move.to)
        assert session.identity_version == (1 if move.new_identity else 0)
        assert (session.phase is Phase.CLOSED) == move.closes


def test_auth_moves_outside_the_table_are_local_errors() -> None:
    for state in AuthState:
        for event in AuthEvent:
            if (state, event) in AUTH_TRANSITIONS:
                continue
            session = open_session()
            session.auth_state = state
            with pytest.raises(LocalProtocolError, match=f"auth event {event.value} while"):
                session.move_auth(event)
            assert session.auth_state is state


def test_a_refresh_that_ends_where_it_began_is_routine() -> None:
    session = open_session()
    begin = session.begin_authenticate(Authenticate(0, "User", "jwt"))
    accept = session.move_auth(AuthEvent.ACCEPT)
    assert not begin.routine and not accept.routine  # signing in is news
    refresh = session.begin_authenticate(Authenticate(1, "User", "jwt"))
    again = session.move_auth(AuthEvent.ACCEPT)
    assert refresh.routine and again.routine
    session.begin_authenticate(Authenticate(2, "None"))
    signed_out = session.move_auth(AuthEvent.CLEAR)
    assert signed_out.settled is AuthState.AUTHENTICATED and not signed_out.routine


def test_auth_state_values_are_the_public_strings() -> None:
    assert [state.value for state in AuthState] == ["unauthenticated", "loading", "authenticated"]


def test_an_authenticate_with_a_stale_base_version_is_refused() -> None:
    session = open_session()
    with pytest.raises(
        RemoteProtocolError, match="baseVersion 1 doesn't match the current identity version 0"
    ):
        session.begin_authenticate(Authenticate(1, "User", "jwt"))
    assert session.phase is Phase.CLOSED
    assert session.auth_state is AuthState.UNAUTHENTICATED


def test_authenticate_allowed_predicts_accept_and_begin_without_changing_state() -> None:
    fresh = ServerSession()
    assert not fresh.authenticate_allowed(Authenticate(0, "User", "jwt"))  # before Connect
    session = open_session()
    assert not session.authenticate_allowed(Authenticate(1, "User", "jwt"))  # stale base
    msg = Authenticate(0, "User", "jwt")
    assert session.authenticate_allowed(msg)
    assert (session.phase, session.auth_state) == (Phase.OPEN, AuthState.UNAUTHENTICATED)
    session.accept(msg)
    session.begin_authenticate(msg)
    assert not session.authenticate_allowed(Authenticate(0, "User", "jwt"))  # still loading


def test_accept_advances_the_phase_of_a_parsed_message_or_closes() -> None:
    session = ServerSession()
    with pytest.raises(RemoteProtocolError, match="not allowed"):
        session.accept(Authenticate(0, "User", "jwt"))
    assert session.phase is Phase.CLOSED


def test_overlapping_or_unmatched_auth_calls_are_local_errors() -> None:
    session = open_session()
    with pytest.raises(LocalProtocolError, match="auth event accept while unauthenticated"):
        session.move_auth(AuthEvent.ACCEPT)
    session.begin_authenticate(Authenticate(0, "User", "jwt"))
    with pytest.raises(LocalProtocolError, match="auth event begin while loading"):
        session.begin_authenticate(Authenticate(0, "User", "jwt"))


def test_a_failed_authentication_closes_and_reports_the_last_sent_identity() -> None:
    session = open_session()
    session.begin_authenticate(Authenticate(0, "User", "good"))
    session.move_auth(AuthEvent.ACCEPT)
    session.transition_text(10, ())
    session.begin_authenticate(Authenticate(1, "User", "bad"))
    error = session.auth_error("Could not verify", auth_update_attempted=True)
    session.move_auth(AuthEvent.REFUSE)
    assert (error.base_version, error.auth_update_attempted) == (1, True)
    assert session.auth_state is AuthState.UNAUTHENTICATED
    assert session.phase is Phase.CLOSED


def transition(session: ServerSession, ts: int, mods: Sequence[Mod] = (), **kw: int) -> Transition:
    parsed = parse_server_message(session.transition_text(ts, mods, **kw))
    assert isinstance(parsed, Transition)
    return parsed


def test_transitions_chain_from_the_initial_version() -> None:
    session = open_session()
    session.apply_modify_query_set(ModifyQuerySet(0, 1, (add(0),)))
    first = transition(session, 100, [QueryUpdated(0, [])], server_ts=7)
    assert first.start_version == StateVersion.initial()
    assert first.end_version == StateVersion(1, 0, 100)
    assert first.server_ts == 7
    session.begin_authenticate(Authenticate(0, "User", "jwt"))
    session.move_auth(AuthEvent.ACCEPT)
    second = transition(session, 100)  # nothing changed: the kept start text must still be right
    session.apply_modify_query_set(ModifyQuerySet(1, 2, (QuerySetRemove(0),)))
    third = transition(session, 250, [QueryRemoved(0)])
    assert second.start_version == first.end_version
    assert second.end_version == StateVersion(1, 1, 100)
    assert third.start_version == second.end_version
    assert third.end_version == StateVersion(2, 1, 250)
    assert third.modifications == (QueryRemoved(0),)
    assert session.last_sent == third.end_version


def test_a_transition_may_not_go_back_in_time() -> None:
    session = open_session()
    session.transition_text(500, ())
    with pytest.raises(LocalProtocolError, match="ts 499 would go back from the last sent ts 500"):
        session.transition_text(499, ())
    assert session.last_sent.ts == 500
