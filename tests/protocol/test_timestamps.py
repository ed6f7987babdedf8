from __future__ import annotations

import pytest

from protocol.errors import RemoteProtocolError, ValueEncodeError
from protocol.timestamps import MAX_TS, decode_ts, encode_ts


@pytest.mark.parametrize(
    ("ts", "text"),
    [(0, "AAAAAAAAAAA="), (1, "AQAAAAAAAAA="), (1795337179024605404, "3EDQ96ZR6hg=")],
)
def test_timestamps_use_base64_of_eight_little_endian_bytes(ts: int, text: str) -> None:
    assert encode_ts(ts) == text
    assert decode_ts(text) == ts


def test_the_largest_timestamp_round_trips_in_twelve_characters() -> None:
    assert len(encode_ts(MAX_TS)) == 12
    assert decode_ts(encode_ts(MAX_TS)) == MAX_TS


@pytest.mark.parametrize("ts", [-1, MAX_TS + 1, True, 1.0])
def test_timestamps_outside_i63_are_not_encoded(ts: object) -> None:
    with pytest.raises(ValueEncodeError, match="0..2"):
        encode_ts(ts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("AAA", "not valid base64"),
        ("AAAAAAAAAAA", "not valid base64"),
        ("!!!!", "not valid base64"),
        ("AQID", "3 bytes"),
        ("AAAAAAAAAAAAAAAA", "12 bytes"),
        ("//////////8=", "above 2\\*\\*63-1"),
        (5, "must be a base64 string"),
    ],
)
def test_bad_timestamps_are_refused(text: object, reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason):
        decode_ts(text)  # type: ignore[arg-type]
