from __future__ import annotations

import json

import pytest

from protocol.errors import LocalProtocolError, RemoteProtocolError, ValueEncodeError
from protocol.server_messages import (
    MISSING,
    ActionResponse,
    AuthError,
    FatalError,
    MutationResponse,
    Ping,
    QueryFailed,
    QueryRemoved,
    QueryUpdated,
    ServerMessage,
    Transition,
    TransitionChunk,
    parse_server_message,
)
from protocol.values import RawJSON
from protocol.versions import StateVersion

# Frames captured from the probe server (convex-protocol.md §13).
CAPTURED = [
    '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
    '"endVersion":{"querySet":1,"identity":0,"ts":"3EDQ96ZR6hg="},"modifications":['
    '{"type":"QueryUpdated","queryId":0,"value":[],"logLines":["[LOG] \'ran messages:list\'"],"journal":null},'
    '{"type":"QueryFailed","queryId":1,"errorMessage":"Uncaught Error: boom","errorData":{"code":1},'
    '"logLines":[],"journal":null}],"clientClockSkew":0,"serverTs":1795337179024605404}',
    '{"type":"Ping"}',
    '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
    '"endVersion":{"querySet":0,"identity":1,"ts":"Fv28/ZNR6hg="},"modifications":[]}',
    '{"type":"MutationResponse","requestId":0,"success":true,"result":{"n":1,'
    '"big":{"$integer":"AAAAAAABAAA="}},"ts":"BADyOJRR6hg=","logLines":["[LOG] \'stored\'"]}',
    '{"type":"MutationResponse","requestId":1,"success":false,"result":"Uncaught ConvexError: nope",'
    '"errorData":{"reason":"nope"},"logLines":[]}',
    '{"type":"ActionResponse","requestId":2,"success":true,"result":{"echo":{"q":1}},"logLines":[]}',
    '{"type":"AuthError","error":"Could not verify OIDC token claim.","baseVersion":0,'
    '"authUpdateAttempted":true}',
    '{"type":"AuthError","error":"Convex token identity expired","baseVersion":2,'
    '"authUpdateAttempted":false}',
]


@pytest.mark.parametrize("frame", CAPTURED)
def test_captured_server_frames_round_trip(frame: str) -> None:
    message = parse_server_message(frame)
    text = message.serialize()
    assert parse_server_message(text) == message
    assert json.loads(text) == message.to_json()


def test_the_captured_transition_parses_into_named_fields() -> None:
    message = parse_server_message(CAPTURED[0])
    assert isinstance(message, Transition)
    assert message.start_version == StateVersion.initial()
    assert message.end_version == StateVersion(1, 0, 1795337179024605404)
    assert message.modifications == (
        QueryUpdated(0, [], ("[LOG] 'ran messages:list'",), None),
        QueryFailed(1, "Uncaught Error: boom", (), None, {"code": 1}),
    )
    assert (message.client_clock_skew, message.server_ts) == (0, 1795337179024605404)


BUILT: list[ServerMessage] = [
    Transition(
        StateVersion(1, 2, 3),
        StateVersion(2, 2, 9),
        (
            QueryUpdated(0, {"a": "é"}, ("[LOG] x",), "journal"),
            QueryFailed(1, "boom"),
            QueryFailed(2, "app", error_data=None),
            QueryRemoved(3),
        ),
        client_clock_skew=-12,
        server_ts=5,
    ),
    MutationResponse(0, True, None, 7),
    MutationResponse(1, False, "nope", None, ("[ERROR] x",), error_data={"r": 1}),
    ActionResponse(2, False, "bad", (), error_data=None),
    ActionResponse(3, True, [1.5]),
    AuthError("no", 1, False),
    FatalError("bye"),
    Ping(),
    TransitionChunk('{"type":', 0, 2, "t1"),
]


@pytest.mark.parametrize("message", BUILT)
def test_built_server_messages_round_trip(message: ServerMessage) -> None:
    text = message.serialize()
    assert json.loads(text) == message.to_json()
    assert parse_server_message(text) == message


def test_error_data_is_written_only_when_present_and_null_is_kept() -> None:
    assert "errorData" not in QueryFailed(1, "boom").to_json()
    assert QueryFailed(1, "boom", error_data=None).to_json()["errorData"] is None
    parsed = parse_server_message(
        '{"type":"ActionResponse","requestId":1,"success":false,"result":"x","logLines":[],'
        '"errorData":null}'
    )
    assert isinstance(parsed, ActionResponse)
    assert parsed.error_data is None
    assert repr(MISSING) == "MISSING"


def test_a_failed_mutation_response_writes_a_null_ts_and_log_lines() -> None:
    data = json.loads(MutationResponse(1, False, "x", None).serialize())
    assert data["ts"] is None
    assert data["logLines"] == []


def test_mutation_responses_must_pair_success_with_a_ts() -> None:
    with pytest.raises(LocalProtocolError, match="needs a ts"):
        MutationResponse(1, True, None, None)
    with pytest.raises(LocalProtocolError, match="must not carry a ts"):
        MutationResponse(1, False, "x", 5)


def test_raw_json_values_are_spliced_verbatim() -> None:
    raw = RawJSON('{"big":{"$integer":"AQAAAAAAAAA="},"s":"é"}')
    update = QueryUpdated(4, raw)
    assert raw.text in update.serialize()
    transition = Transition(StateVersion(0, 0, 0), StateVersion(1, 0, 1), (update,))
    text = transition.serialize()
    assert raw.text in text
    assert json.loads(text) == transition.to_json()
    assert transition.to_json()["modifications"] == [
        {
            "type": "QueryUpdated",
            "queryId": 4,
            "value": {"big": {"$integer": "AQAAAAAAAAA="}, "s": "é"},
            "logLines": [],
            "journal": None,
        }
    ]
    failed = MutationResponse(1, False, "x", None, error_data=RawJSON("[1]"))
    assert json.loads(failed.serialize())["errorData"] == [1]


def test_a_nan_inside_a_result_is_refused_rather_than_written_as_a_token() -> None:
    with pytest.raises(ValueEncodeError, match="not serializable"):
        QueryUpdated(0, float("nan")).serialize()


def test_a_query_updated_without_value_reads_as_null_like_the_js_client() -> None:
    message = parse_server_message(
        '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
        '"endVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
        '"modifications":[{"type":"QueryUpdated","queryId":0,"logLines":[]}]}'
    )
    assert isinstance(message, Transition)
    assert message.modifications == (QueryUpdated(0, None),)


START = '"startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="}'
END = '"endVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="}'


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("nope", "not valid JSON"),
        ('"Ping"', "must be a JSON object, got a string"),
        ('{"type":"Pong"}', "unknown server message type 'Pong'"),
        (
            '{"type":"Transition",' + END + ',"modifications":[]}',
            r"Transition\.startVersion: missing",
        ),
        (
            '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AA"},'
            + END
            + ',"modifications":[]}',
            r"Transition\.startVersion\.ts",
        ),
        (
            '{"type":"Transition",' + START + ',"endVersion":5,"modifications":[]}',
            "expected an object",
        ),
        (
            '{"type":"Transition",'
            + START
            + ","
            + END
            + ',"modifications":[],"clientClockSkew":1.5}',
            r"clientClockSkew: expected an integer",
        ),
        (
            '{"type":"Transition",' + START + "," + END + ',"modifications":[],"serverTs":-1}',
            r"serverTs: expected a non-negative integer",
        ),
        (
            '{"type":"Transition",'
            + START
            + ","
            + END
            + ',"modifications":[{"type":"QueryUpdated",'
            '"queryId":0,"value":1}]}',
            r"modifications\[0\]\.logLines: missing",
        ),
        (
            '{"type":"Transition",'
            + START
            + ","
            + END
            + ',"modifications":[{"type":"QueryUpdated",'
            '"queryId":0,"value":1,"logLines":[3]}]}',
            r"logLines\[0\]: expected a string",
        ),
        (
            '{"type":"MutationResponse","requestId":0,"success":true,"result":1,"logLines":[]}',
            r"MutationResponse\.ts: missing",
        ),
        (
            '{"type":"MutationResponse","requestId":0,"success":"yes","result":1,"logLines":[]}',
            r"MutationResponse\.success: expected a boolean",
        ),
        (
            '{"type":"ActionResponse","requestId":0,"success":true,"logLines":[]}',
            r"result: missing",
        ),
        ('{"type":"AuthError","error":"x","baseVersion":0}', r"authUpdateAttempted: missing"),
        (
            '{"type":"Transition","startVersion":{"querySet":4294967296,"identity":0,'
            '"ts":"AAAAAAAAAAA="},' + END + ',"modifications":[]}',
            r"querySet: expected a non-negative integer up to 4294967295",
        ),
    ],
)
def test_malformed_server_frames_are_refused_with_a_clear_message(frame: str, reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason):
        parse_server_message(frame)


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        (
            '{"type":"MutationResponse","requestId":4294967296,"success":false,"result":"x",'
            '"logLines":[]}',
            "MutationResponse.requestId",
        ),
        (
            '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
            '"endVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
            '"modifications":[{"type":"QueryRemoved","queryId":4294967296}]}',
            r"Transition.modifications\[0\].queryId",
        ),
        (
            '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
            '"endVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},"modifications":[],'
            '"serverTs":9223372036854775808}',
            "Transition.serverTs",
        ),
    ],
)
def test_server_integers_past_their_wire_range_are_refused(frame: str, field: str) -> None:
    with pytest.raises(RemoteProtocolError, match=rf"^{field}: expected a non-negative integer"):
        parse_server_message(frame)
