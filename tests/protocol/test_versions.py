from __future__ import annotations

import pytest

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.versions import StateVersion


def test_the_initial_version_is_all_zero() -> None:
    assert StateVersion.initial() == StateVersion(0, 0, 0)


def test_state_versions_round_trip_through_the_wire_form() -> None:
    version = StateVersion(3, 2, 1795337179024605404)
    assert version.to_json() == {"querySet": 3, "identity": 2, "ts": "3EDQ96ZR6hg="}
    assert StateVersion.from_json(version.to_json()) == version


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"identity": 0, "ts": "AAAAAAAAAAA="}, r"StateVersion\.querySet: missing"),
        ({"querySet": 0, "identity": "0", "ts": "AAAAAAAAAAA="}, r"identity: expected"),
        ({"querySet": 0, "identity": 0, "ts": 0}, r"ts: timestamp"),
        (
            {"querySet": 0, "identity": 2**32, "ts": "AAAAAAAAAAA="},
            r"identity: expected a non-negative integer up to 4294967295",
        ),
        ([], "expected an object"),
    ],
)
def test_bad_wire_versions_are_refused(data: object, reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason):
        StateVersion.from_json(data)


@pytest.mark.parametrize(
    ("args", "name"),
    [((-1, 0, 0), "query_set"), ((0, 2**32, 0), "identity"), ((0, 0, 2**63), "ts")],
)
def test_out_of_range_versions_cannot_be_built(args: tuple[int, int, int], name: str) -> None:
    with pytest.raises(LocalProtocolError, match=f"StateVersion.{name}"):
        StateVersion(*args)
