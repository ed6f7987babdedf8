from __future__ import annotations

import json

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
    parse_client_message,
)
from protocol.errors import LocalProtocolError, RemoteProtocolError

# Frames captured from the official clients (convex-protocol.md §13).
CAPTURED = [
    '{"type":"Connect","sessionId":"87239d62-1275-4279-a3a3-e36c0b52eb28","connectionCount":0,'
    '"lastCloseReason":"InitialConnect","clientTs":1795337179207}',
    '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":['
    '{"type":"Add","queryId":0,"udfPath":"messages:list","args":[{}]},'
    '{"type":"Add","queryId":1,"udfPath":"fail:query","args":[{"x":{"$integer":"AQAAAAAAAAA="}}]}]}',
    '{"type":"Authenticate","baseVersion":0,"tokenType":"User","value":"eyJhbGciOiJub25lIn0.e30.sig"}',
    '{"type":"Mutation","requestId":0,"udfPath":"messages:send","args":[{"body":"hi",'
    '"bytes":{"$bytes":"AQID"},"count":{"$integer":"BQAAAAAAAAA="},"f":{"$float":"AAAAAAAA+H8="}}]}',
    '{"type":"Mutation","requestId":1,"udfPath":"messages:other","args":[{}]}',
    '{"type":"Action","requestId":2,"udfPath":"acts:doit","args":[{"q":1}]}',
    '{"type":"Connect","sessionId":"s","connectionCount":1,"lastCloseReason":null,'
    '"maxObservedTimestamp":"WuSPKZpR6hg=","clientTs":1795337179207}',
    '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add",'
    '"queryId":0,"udfPath":"messages:list","args":[{}],"journal":null}]}',
    '{"type":"Connect","sessionId":"ca290c90","connectionCount":0,'
    '"lastCloseReason":"InitialConnect","clientTs":0}',
    '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add",'
    '"queryId":0,"udfPath":"messages.js:list","args":[{"k":1.0}]}]}',
    '{"type":"Authenticate","baseVersion":2,"tokenType":"None"}',
    '{"type":"Event","eventType":"NetworkRecoveryReconnect","event":{"n":1}}',
]


@pytest.mark.parametrize("frame", CAPTURED)
def test_captured_client_frames_round_trip(frame: str) -> None:
    message = parse_client_message(frame)
    assert parse_client_message(message.serialize()) == message
    assert parse_client_message(frame.encode()) == message


def test_a_captured_connect_parses_into_named_fields() -> None:
    message = parse_client_message(CAPTURED[6])
    assert message == Connect(
        session_id="s",
        connection_count=1,
        last_close_reason=None,
        max_observed_timestamp=int.from_bytes(bytes.fromhex("5ae48f299a51ea18"), "little"),
        client_ts=1795337179207.0,
    )


def test_a_captured_modify_query_set_keeps_args_raw() -> None:
    message = parse_client_message(CAPTURED[1])
    assert isinstance(message, ModifyQuerySet)
    assert message.modifications[1] == QuerySetAdd(
        query_id=1, udf_path="fail:query", args=[{"x": {"$integer": "AQAAAAAAAAA="}}]
    )


BUILT: list[ClientMessage] = [
    Connect("id", 3, "closed with code 1006", 42, 1.5),
    Connect("id", 0, None, None, None),
    ModifyQuerySet(
        4,
        5,
        (
            QuerySetAdd(7, "a:b", [{"x": 1.0}], journal="j", component_path="c"),
            QuerySetRemove(3),
        ),
    ),
    Mutation(9, "m:send", [{}], component_path="comp"),
    Action(10, "a:run", [{"n": {"$integer": "AQAAAAAAAAA="}}]),
    Authenticate(0, "Admin", "key", {"subject": "u1"}),
    Authenticate(1, "None"),
    Event("ClientConnect", None),
]


@pytest.mark.parametrize("message", BUILT)
def test_built_client_messages_round_trip(message: ClientMessage) -> None:
    text = message.serialize()
    assert json.loads(text) == message.to_json()
    assert parse_client_message(text) == message


def test_optional_fields_are_left_out_when_unset() -> None:
    assert json.loads(Connect("id", 0, None, None, None).serialize()) == {
        "type": "Connect",
        "sessionId": "id",
        "connectionCount": 0,
        "lastCloseReason": None,
    }
    assert "journal" not in QuerySetAdd(0, "a:b", [{}]).to_json()


def test_the_rust_acting_as_spelling_is_accepted_for_impersonating() -> None:
    message = parse_client_message(
        '{"type":"Authenticate","baseVersion":0,"tokenType":"Admin","value":"k",'
        '"acting_as":{"subject":"u"}}'
    )
    assert isinstance(message, Authenticate)
    assert message.impersonating == {"subject": "u"}


def test_unknown_extra_fields_are_ignored() -> None:
    message = parse_client_message(
        '{"type":"Action","requestId":1,"udfPath":"a","args":[{}],"x":1}'
    )
    assert message == Action(1, "a", [{}])


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("[1]", "must be a JSON object, got an array"),
        ("{}", "unknown client message type None"),
        ('{"type":"Hello"}', "unknown client message type 'Hello'"),
        ('{"type":7}', "unknown client message type 7"),
        ('{"type":"Connect","connectionCount":0}', r"Connect\.sessionId: missing required field"),
        ('{"type":"Mutation","requestId":"7","udfPath":"a","args":[]}', r"Mutation\.requestId"),
        ('{"type":"Mutation","requestId":-1,"udfPath":"a","args":[]}', "non-negative integer"),
        ('{"type":"Mutation","requestId":true,"udfPath":"a","args":[]}', "non-negative integer"),
        (
            '{"type":"Action","requestId":1,"udfPath":"a","args":{}}',
            r"Action\.args: expected an array",
        ),
        (
            '{"type":"Action","requestId":1,"udfPath":2,"args":[]}',
            r"Action\.udfPath: expected a string",
        ),
        (
            '{"type":"Connect","sessionId":"s","connectionCount":0,"maxObservedTimestamp":"AAA="}',
            r"Connect\.maxObservedTimestamp",
        ),
        (
            '{"type":"Connect","sessionId":"s","connectionCount":0,"clientTs":"now"}',
            "expected a number",
        ),
        (
            '{"type":"Authenticate","baseVersion":0,"tokenType":"User"}',
            "missing token for tokenType User",
        ),
        (
            '{"type":"Authenticate","baseVersion":0,"tokenType":"Admin","value":null}',
            "missing token",
        ),
        (
            '{"type":"Authenticate","baseVersion":0,"tokenType":"Bearer"}',
            r"tokenType: expected one of",
        ),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[5]}',
            r"modifications\[0\]",
        ),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Swap"}]}',
            r"modifications\[0\]\.type",
        ),
        ('{"type":"Event","event":1}', r"Event\.eventType"),
        ("[" * 100000, "not valid JSON"),
    ],
)
def test_malformed_client_frames_are_refused_with_a_clear_message(
    frame: str | bytes, reason: str
) -> None:
    with pytest.raises(RemoteProtocolError, match=reason):
        parse_client_message(frame)


def test_a_token_less_user_authenticate_cannot_be_built_either() -> None:
    with pytest.raises(LocalProtocolError, match="needs a value"):
        Authenticate(0, "User")
    with pytest.raises(LocalProtocolError, match="not valid"):
        Authenticate(0, "Bearer", "x")  # type: ignore[arg-type]


# Every small integer of the protocol is a u32 (convex-protocol.md §2): what
# lies outside is refused while parsing, before it reaches a session, the
# committer or SQLite (issue 13: a requestId of 2**63 stopped every write).
U32_FIELDS = [
    ('{{"type":"Mutation","requestId":{n},"udfPath":"a","args":[{{}}]}}', "Mutation.requestId"),
    ('{{"type":"Action","requestId":{n},"udfPath":"a","args":[{{}}]}}', "Action.requestId"),
    (
        '{{"type":"Connect","sessionId":"s","connectionCount":{n},"lastCloseReason":null}}',
        "Connect.connectionCount",
    ),
    (
        '{{"type":"ModifyQuerySet","baseVersion":0,"newVersion":{n},"modifications":[]}}',
        "ModifyQuerySet.newVersion",
    ),
    (
        '{{"type":"ModifyQuerySet","baseVersion":{n},"newVersion":1,"modifications":[]}}',
        "ModifyQuerySet.baseVersion",
    ),
    (
        '{{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":['
        '{{"type":"Add","queryId":{n},"udfPath":"q","args":[{{}}]}}]}}',
        "ModifyQuerySet.modifications[0].queryId",
    ),
    (
        '{{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":['
        '{{"type":"Remove","queryId":{n}}}]}}',
        "ModifyQuerySet.modifications[0].queryId",
    ),
    ('{{"type":"Authenticate","baseVersion":{n},"tokenType":"None"}}', "Authenticate.baseVersion"),
]


@pytest.mark.parametrize(("template", "field"), U32_FIELDS)
@pytest.mark.parametrize("n", [2**32, 2**63, 2**64, 10**400])
def test_a_small_integer_beyond_u32_is_refused_naming_its_field(
    template: str, field: str, n: int
) -> None:
    with pytest.raises(RemoteProtocolError) as refused:
        parse_client_message(template.format(n=n))
    assert str(refused.value).startswith(field + ": expected a non-negative integer")
    assert "4294967295" in str(refused.value)


@pytest.mark.parametrize(("template", "field"), U32_FIELDS)
def test_the_largest_u32_is_accepted_everywhere(template: str, field: str) -> None:
    message = parse_client_message(template.format(n=2**32 - 1))
    assert "4294967295" in message.serialize()
    assert parse_client_message(message.serialize()) == message


@pytest.mark.parametrize("value", ["1e400", str(10**400), "-1e400"])
def test_a_client_ts_too_large_for_a_float_is_refused_clearly(value: str) -> None:
    frame = f'{{"type":"Connect","sessionId":"s","connectionCount":0,"clientTs":{value}}}'
    with pytest.raises(RemoteProtocolError, match=r"Connect\.clientTs: expected a finite number"):
        parse_client_message(frame)
