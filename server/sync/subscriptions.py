"""One connection's subscribed queries, and what it last sent of each.

A `Subscription` holds the engine's shared `Execution` it currently shows
and the digest of the result last sent. Bringing the set up to a snapshot
`ts` is two steps, the same for the connection's loop and its inline push:

1. `catch_up(ts, key)`: every subscription whose execution is not valid at
   `ts` (or not for this identity) takes the result another subscriber's run
   left at `ts`, if there is one; the rest are returned;
2. `run(...)` those (the loop only: the push path leaves them to the loop).

`modifications()` then says what changed since the last Transition: every
removal, and each subscription given a new result whose digest differs from
the one sent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from protocol.errors import ValueDecodeError
from protocol.messages import MISSING, QueryFailed, QueryRemoved, QueryUpdated, StateModification
from protocol.session import QuerySetChange, QuerySpec
from protocol.values import canonical_json, decode_args
from server.auth.identity import UserIdentity
from server.config import Limits
from server.errors import StoreUnavailable
from server.functions.outcome import SERVER_ERROR
from server.limits import path_refusal, size_refusal, text_size
from server.sync.engine import Engine
from server.sync.executions import ANY_IDENTITY, Execution, QueryKey

__all__ = ["Subscription", "Subscriptions"]

log = logging.getLogger("livesync.sync")

_CONCURRENCY = 20  # query runs of one Transition under way at once
_NO_KEY = QueryKey("", "", ANY_IDENTITY)  # a query whose args could not be decoded never runs
_SENT_ERROR = b"error"  # the sent digest of a subscription's own error


@dataclass(eq=False, slots=True)
class Subscription:
    spec: QuerySpec
    args: dict[str, Any] | None
    error: str | None  # set when the query cannot run: its args, or a crash
    listener: Callable[[], None]  # told when `execution` is invalidated
    # Its key as run without reading auth (see Engine.cached_for), with the
    # journal its next run replays: the Add's, then the latest result's.
    shared_key: QueryKey
    execution: Execution | None = None
    sent_digest: bytes | None = None


class Subscriptions:
    """The query set of one connection; see the module docstring."""

    __slots__ = (
        "_by_id",
        "_changed",
        "_conn_id",
        "_engine",
        "_invalidated",
        "_limits",
        "_removed",
    )

    def __init__(
        self,
        engine: Engine,
        limits: Limits,
        conn_id: int,
        invalidated: Callable[[], None],
    ) -> None:
        self._engine = engine
        self._limits = limits
        self._conn_id = conn_id
        self._invalidated = invalidated
        self._by_id: dict[int, Subscription] = {}
        self._removed: list[QueryRemoved] = []
        # Subscriptions given a new result or error since the last Transition.
        self._changed: list[Subscription] = []

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(self._by_id.values())

    def apply(self, change: QuerySetChange) -> None:
        """Apply one ModifyQuerySet's net change (the session checked it)."""
        for query_id in change.removed:
            sub = self._by_id.pop(query_id, None)
            if sub is not None:
                self._release(sub)
            self._removed.append(QueryRemoved(query_id))
        for spec in change.added:
            sub = self._by_id[spec.query_id] = self._subscribe(spec)
            self._changed.append(sub)

    def clear(self) -> None:
        for sub in self._by_id.values():
            self._release(sub)
        self._by_id.clear()

    # -- bringing results up to a snapshot -------------------------------

    def catch_up(self, ts: int, key: str) -> list[Subscription]:
        """Bring every subscription to `ts` under identity `key` where a result
        is already computed; return those that need a run of their own."""
        runs: list[Subscription] = []
        engine = self._engine
        for sub in self._by_id.values():
            if not _needs_run(sub, ts, key) or sub.args is None:
                continue  # up to date, or its error is all there is to send
            ex = engine.cached_for(sub.shared_key, key, ts)
            if ex is None:
                runs.append(sub)
            else:
                engine.retain(ex, sub.listener)
                self._adopt(sub, ex)
        return runs

    async def run(
        self, runs: list[Subscription], ts: int, identity: UserIdentity | None, key: str
    ) -> None:
        if len(runs) == 1:
            await self._refresh(runs[0], ts, identity, key, None)
        elif runs:
            limit = asyncio.Semaphore(_CONCURRENCY)
            await asyncio.gather(*(self._refresh(sub, ts, identity, key, limit) for sub in runs))

    def modifications(self) -> list[StateModification]:
        """What the client has not seen yet; recorded as sent."""
        mods: list[StateModification] = []
        if self._removed:
            mods.extend(self._removed)
            self._removed.clear()
        if self._changed:
            by_id = self._by_id
            for sub in self._changed:
                # Skipped if removed since (a Remove after an inline adopt).
                if by_id.get(sub.spec.query_id) is sub:
                    mod = _modification(sub)
                    if mod is not None:
                        mods.append(mod)
            self._changed.clear()
        return mods

    # -- one subscription ------------------------------------------------

    def _subscribe(self, spec: QuerySpec) -> Subscription:
        # One listener object per subscription: the engine keeps a set of
        # them per execution, and two subscriptions may share one.
        listener = functools.partial(self._invalidated)
        try:
            args = decode_args(spec.args_raw)
        except ValueDecodeError as exc:
            return Subscription(spec, None, f"Invalid arguments: {exc}", listener, _NO_KEY)
        # The canonical text is made for the cache key anyway: its size is free.
        args_text = canonical_json(spec.args_raw)
        refusal = path_refusal(spec.udf_path, self._limits.udf_path_bytes) or size_refusal(
            "Arguments are", text_size(args_text), self._limits.args_bytes
        )
        if refusal is not None:
            return Subscription(spec, None, refusal, listener, _NO_KEY)
        shared = QueryKey(spec.udf_path, args_text, ANY_IDENTITY, spec.journal)
        return Subscription(spec, args, None, listener, shared)

    def _adopt(self, sub: Subscription, ex: Execution) -> None:
        if sub.execution is not None:
            self._engine.release(sub.execution, sub.listener)
        sub.execution = ex
        self._changed.append(sub)
        # A paginated page pins its end on its first run: later runs replay it.
        journal = ex.outcome.journal
        if journal != sub.shared_key.journal:
            sub.shared_key = sub.shared_key._replace(journal=journal)

    def _release(self, sub: Subscription) -> None:
        if sub.execution is not None:
            self._engine.release(sub.execution, sub.listener)
            sub.execution = None

    async def _refresh(
        self,
        sub: Subscription,
        ts: int,
        identity: UserIdentity | None,
        key: str,
        limit: asyncio.Semaphore | None,
    ) -> None:
        assert sub.args is not None
        shared = sub.shared_key
        run_key = QueryKey(shared.path, shared.args, key, shared.journal)
        engine = self._engine
        try:
            if limit is None:
                ex = await engine.execute(run_key, sub.args, identity, ts, sub.listener)
            else:
                async with limit:
                    ex = await engine.execute(run_key, sub.args, identity, ts, sub.listener)
        except StoreUnavailable:
            raise  # the connection closes; the client resubscribes when it is back
        except Exception:
            log.exception("connection %s: query %s failed", self._conn_id, run_key.path)
            sub.error = SERVER_ERROR
            sub.sent_digest = None
            self._changed.append(sub)
            return
        self._adopt(sub, ex)


def _needs_run(sub: Subscription, ts: int, key: str) -> bool:
    if sub.error is not None:
        return sub.sent_digest is None
    ex = sub.execution
    if ex is None or not ex.valid_at(ts):
        return True
    return not ex.serves(key)


def _modification(sub: Subscription) -> StateModification | None:
    spec = sub.spec
    if sub.error is not None:
        if sub.sent_digest is not None:
            return None
        sub.sent_digest = _SENT_ERROR
        return QueryFailed(spec.query_id, sub.error, (), spec.journal)
    ex = sub.execution
    if ex is None or ex.digest == sub.sent_digest:
        return None
    sub.sent_digest = ex.digest
    outcome = ex.outcome
    if outcome.value_json is not None:
        return QueryUpdated(spec.query_id, outcome.value_json, outcome.log_lines, outcome.journal)
    data = outcome.error_data_json
    return QueryFailed(
        spec.query_id,
        outcome.error_message or SERVER_ERROR,
        outcome.log_lines,
        outcome.journal,
        data if data is not None else MISSING,
    )
