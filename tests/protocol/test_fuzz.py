"""Property tests (hypothesis) for the two parsers every byte from a client
goes through: the value codec and the client message parser.

They run a bounded number of examples in the normal suite; set
HYPOTHESIS_PROFILE=long for the longer run RELIABILITY.md describes.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from protocol.client_messages import parse_client_message
from protocol.errors import RemoteProtocolError, ValueDecodeError, ValueEncodeError
from protocol.fields import U32_MAX
from protocol.values import MAX_SAFE_INTEGER, Int64, decode, dumps, encode

settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile(
    "long", max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_KEY = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12).filter(
    lambda key: not key.startswith("$")
)

_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.integers(-(2**63), 2**63 - 1).map(Int64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
VALUES = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_KEY, inner, max_size=5),
    max_leaves=30,
)

# Arbitrary JSON, as a hostile client could send it.
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.text(max_size=10) | st.sampled_from(["$integer", "$bytes", "$float"]),
            inner,
            max_size=5,
        )
    ),
    max_leaves=30,
)


def _normal(value: Any) -> Any:
    """The value as a function reads it back: whole float64s within 2**53
    are ints, NaN compares equal to itself, tuples are lists."""
    if isinstance(value, Int64) or value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER and math.copysign(1, value) > 0:
            return int(value)
        return value
    if isinstance(value, dict):
        return {key: _normal(item) for key, item in value.items()}
    return [_normal(item) for item in value]


@given(VALUES)
def test_every_value_survives_the_wire_as_a_function_reads_it(value: Any) -> None:
    text = dumps(encode(value))
    back = decode(json.loads(text))
    assert _normal(back) == _normal(value)
    # And it stays put: one more trip changes nothing.
    assert dumps(encode(back)) == dumps(encode(decode(json.loads(dumps(encode(back))))))


@given(VALUES)
def test_int64_keeps_its_type_and_plain_numbers_never_become_int64(value: Any) -> None:
    def kinds(v: Any) -> Any:
        if isinstance(v, dict):
            return {key: kinds(item) for key, item in v.items()}
        if isinstance(v, list):
            return [kinds(item) for item in v]
        return "int64" if isinstance(v, Int64) else "other"

    assert kinds(decode(encode(value))) == kinds(_normal(value))


@given(JSON)
def test_decoding_any_json_gives_a_value_or_a_decode_error(raw: Any) -> None:
    try:
        value = decode(raw)
    except ValueDecodeError:
        return
    # What decodes also encodes again (the server may echo it back).
    encode(value)


@given(st.integers())
def test_any_int_encodes_exactly_or_is_refused(n: int) -> None:
    try:
        wire = encode(n)
    except ValueEncodeError:
        assert abs(n) > MAX_SAFE_INTEGER
        return
    assert wire == n and float(n) == n


_TYPES = ["Connect", "ModifyQuerySet", "Mutation", "Action", "Authenticate", "Event", "Nope"]


@given(st.sampled_from(_TYPES), st.dictionaries(st.text(max_size=20), JSON, max_size=8))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_json_object_frame_parses_or_is_a_protocol_error(kind: str, fields: Any) -> None:
    frame = json.dumps({**fields, "type": kind})
    try:
        message = parse_client_message(frame)
    except RemoteProtocolError:
        return
    # A frame that parses serializes to one that parses the same.
    assert parse_client_message(message.serialize()) == message


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_bytes_or_text_parse_or_are_a_protocol_error(frame: bytes | str) -> None:
    try:
        parse_client_message(frame)
    except RemoteProtocolError:
        pass


@given(
    st.sampled_from(["requestId", "queryId", "baseVersion", "newVersion"]),
    st.integers(-(2**70), 2**70),
)
def test_protocol_integers_parse_only_within_u32(field: str, n: int) -> None:
    frames = {
        "requestId": {"type": "Mutation", "requestId": n, "udfPath": "a:b", "args": [{}]},
        "queryId": {
            "type": "ModifyQuerySet",
            "baseVersion": 0,
            "newVersion": 1,
            "modifications": [{"type": "Add", "queryId": n, "udfPath": "a:b", "args": [{}]}],
        },
        "baseVersion": {
            "type": "ModifyQuerySet",
            "baseVersion": n,
            "newVersion": 1,
            "modifications": [],
        },
        "newVersion": {
            "type": "ModifyQuerySet",
            "baseVersion": 0,
            "newVersion": n,
            "modifications": [],
        },
    }
    try:
        parse_client_message(json.dumps(frames[field]))
    except RemoteProtocolError:
        assert not 0 <= n <= U32_MAX
        return
    assert 0 <= n <= U32_MAX
