"""A query execution: one run of a query at one snapshot, the key it is
shared under, and the commit that ends its validity (see
`server.sync.engine` for how executions are shared and invalidated)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from server.auth.identity import UserIdentity
from server.functions.outcome import Outcome

__all__ = ["ADMIN_IDENTITY", "ANY_IDENTITY", "Execution", "QueryKey", "Stamp", "digest"]

# The identity key of a run that never read `ctx.auth`: it serves everyone.
ANY_IDENTITY = "*"
# Identity keys of admin callers (`ConnectionAuth`): their runs may reach
# internal functions, so they are never shared with, or served by, anyone
# else's (another caller's "not found" for an internal path, say).
ADMIN_IDENTITY = "admin:"

Stamp = tuple[int, float]
"""A commit's ts and when it was durable (`time.perf_counter`; for another
node's commit, when this node read it)."""


class QueryKey(NamedTuple):
    """A named tuple: one is looked up per subscriber per commit, and a
    tuple's hash costs no Python call."""

    path: str
    args: str  # canonical JSON of the Convex-encoded args
    identity: str  # identity_key(), or ANY_IDENTITY when auth was not read
    # The journal the run replays (a paginated page's pinned end): runs with
    # different journals read different ranges, so they never share.
    journal: str | None = None

    def shared(self) -> QueryKey:
        """The key of a run that did not read auth, which serves any identity."""
        return QueryKey(self.path, self.args, ANY_IDENTITY, self.journal)


@dataclass(eq=False, slots=True)
class Execution:
    """One run of a query at one snapshot, shared by its subscribers."""

    key: QueryKey
    ts: int
    outcome: Outcome  # its JSON is sent as is to every subscriber
    digest: bytes  # equal digests mean an unchanged result: nothing re-sent
    args: dict[str, Any] = field(default_factory=dict, repr=False)
    identity: UserIdentity | None = field(default=None, repr=False)  # what it ran under
    invalidated_at: int | None = None
    stale_since: Stamp | None = None  # the invalidating commit, when known
    refs: int = 0
    listeners: set[Callable[[], None]] = field(default_factory=set)

    def serves(self, identity: str) -> bool:
        """Whether a connection with `identity_key` `identity` may use this."""
        return self.key.identity in (ANY_IDENTITY, identity)

    def valid_at(self, ts: int) -> bool:
        return self.ts <= ts and (self.invalidated_at is None or self.invalidated_at > ts)

    def next_key(self) -> QueryKey:
        """The key its subscribers re-run it under: with the journal it produced."""
        journal = self.outcome.journal
        return self.key if journal == self.key.journal else self.key._replace(journal=journal)


def digest(outcome: Outcome) -> bytes:
    """What tells two results apart: equal digests, nothing to re-send."""
    h = hashlib.blake2b(digest_size=16)
    if outcome.value_json is not None:
        h.update(b"ok\0" + outcome.value_json.text.encode())
    else:
        data = outcome.error_data_json
        h.update(b"err\0" + (outcome.error_message or "").encode())
        h.update(b"\0" + (data.text if data is not None else "-").encode())
    for line in outcome.log_lines:
        h.update(b"\0" + line.encode())
    return h.digest()
