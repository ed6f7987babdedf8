"""StateVersion: where a client's view of the server stands (convex-protocol.md §5).

Every Transition carries a start and an end version. ``query_set`` is the last
applied ``ModifyQuerySet.newVersion``, ``identity`` the number of accepted
``Authenticate`` messages, and ``ts`` the snapshot timestamp of the results.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import LocalProtocolError
from protocol.fields import U32_MAX as _U32_MAX, Fields
from protocol.timestamps import MAX_TS, encode_ts
from protocol.values import JSONValue

__all__ = ["StateVersion"]


@dataclass(frozen=True, slots=True)
class StateVersion:
    """One point in a connection's version chain."""

    query_set: int
    identity: int
    ts: int

    def __post_init__(self) -> None:
        # The Rust client reads querySet and identity as u32 and ts as i63.
        # Checked with exact types first: one is built for every Transition.
        q, i, ts = self.query_set, self.identity, self.ts
        if (
            type(q) is int
            and type(i) is int
            and type(ts) is int
            and 0 <= q <= _U32_MAX
            and 0 <= i <= _U32_MAX
            and 0 <= ts <= MAX_TS
        ):
            return
        for name, value, top in (
            ("query_set", self.query_set, _U32_MAX),
            ("identity", self.identity, _U32_MAX),
            ("ts", self.ts, MAX_TS),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise LocalProtocolError(f"StateVersion.{name} must be an int in 0..{top}")

    @classmethod
    def initial(cls) -> StateVersion:
        """The version every new socket starts at: (0, 0, 0)."""
        return cls(0, 0, 0)

    def to_json(self) -> dict[str, JSONValue]:
        """The wire form ``{"querySet", "identity", "ts"}``."""
        return {"querySet": self.query_set, "identity": self.identity, "ts": encode_ts(self.ts)}

    @classmethod
    def from_json(cls, data: object, where: str = "StateVersion") -> StateVersion:
        """Parse the wire form.

        Raises:
            RemoteProtocolError: a field is missing or ill-typed.
        """
        fields = Fields(data, where)
        return cls(fields.integer("querySet"), fields.integer("identity"), fields.ts("ts"))
