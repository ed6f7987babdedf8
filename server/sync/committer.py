"""Group commit: mutations run in submission order, many per transaction.

Theory of operation. Every mutation, from any connection or action, is
submitted to one queue and answered through a future. A single task takes
what has queued up (at most `max_batch`) and runs those mutations one after
another inside one store transaction, so each sees the writes of those before
it, exactly as if each had committed alone: the order is serial, only the
fsync and the fan-out to subscribers are shared. The whole batch gets one
commit timestamp and one publish.

A mutation that fails leaves partial writes in the transaction, so the
transaction is rolled back; the failure itself is final (the mutations
before it are deterministic, so it would fail the same way after them), and
the mutations before it are run again as a smaller batch. Those after it wait
for the next batch.

Retries of a committed (session id, request id) are answered from the store
with the original result and ts. Request ids only grow within a session, so
when this process is the database's only writer, a request id above the
highest it committed for that session cannot be a retry and skips the
lookup; on a shared database every request with a session is looked up (the
client may have reconnected from a node that died).

A stored result is bound to the call it answers: a fingerprint of the
canonical path, the canonical args and the caller's token identifier. A
retry with another fingerprint (someone who learnt the session id, or the
same client after another user signed in) gets a clear error: never the
stored result, which is not theirs, and not a new run either, which would
replace the row and make the owner's own retry run twice.

The loop is an error boundary: whatever goes wrong with one request (its
retry lookup raises, its result cannot be stored) fails that request alone.
A database out of reach (`StoreUnavailable`) is not a failure of the
mutations: their futures raise it, so callers can try again.
A batch that fails for a reason no mutation owns is run again one mutation
per transaction, so only the culprit fails; a subscriber that raises while
being told of a commit is logged, and the commit's futures still resolve.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from protocol.values import RawJSON, canonical_json, decode, encode
from server.auth.identity import UserIdentity
from server.errors import StoreUnavailable
from server.functions.outcome import SERVER_ERROR, Outcome, failure
from server.functions.runner import FunctionRunner, MutationFailed
from server.metrics import Metrics
from server.store.base import Commit, Store, StoredResult, Transaction

__all__ = ["Committed", "Committer", "TransactionBody"]

TransactionBody = Callable[[Transaction], Awaitable[Outcome]]
"""The server's own work in a write transaction; raises `MutationFailed`
to fail alone (its writes are dropped, the rest of its group commits)."""

log = logging.getLogger("livesync.sync")

_SESSIONS_REMEMBERED = 100_000


class Committed(NamedTuple):
    """A mutation's answer: its outcome and its commit ts (None if it failed).
    A retry of a committed request gets the stored result and original ts."""

    outcome: Outcome
    ts: int | None


@dataclass(eq=False, slots=True)
class _Pending:
    path: str
    args: dict[str, Any]
    identity: UserIdentity | None
    dedup: tuple[str, int] | None
    future: asyncio.Future[Committed]
    fingerprint: str | None = None  # of the call, when it has a dedup key
    internal_ok: bool = False  # a server-side caller: internal functions run
    body: TransactionBody | None = None  # the server's own work, instead of `path`


class Committer:
    """Owns the only path by which mutations reach the store."""

    def __init__(
        self,
        store: Store,
        runner: FunctionRunner,
        publish: Callable[[Commit], Awaitable[None]],
        metrics: Metrics,
        *,
        max_batch: int = 64,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._runner = runner
        self._publish = publish
        self._max_batch = max_batch
        self._queue: deque[_Pending] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_request: OrderedDict[str, int] = OrderedDict()
        self._closed = False
        self.batches = 0

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The commit loop, once the first mutation started it."""
        return self._task

    @property
    def dead(self) -> str | None:
        """Why the commit loop stopped while it should run, or None (running,
        not started yet, or closed). The next `submit` starts it again."""
        task = self._task
        if task is None or not task.done() or self._closed:
            return None
        if task.cancelled():
            return "cancelled"
        return repr(task.exception())

    def submit_body(self, name: str, body: TransactionBody) -> asyncio.Future[Committed]:
        """Queue the server's own transactional work (the scheduler's), run
        like a mutation: in arrival order, grouped with others, and failing
        alone when it raises `MutationFailed`. `name` labels it in logs."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Committed] = loop.create_future()
        self._queue.append(_Pending(name, {}, None, None, future, body=body))
        self._wake(loop)
        return future

    def submit(
        self,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        dedup: tuple[str, int] | None,
        *,
        internal_ok: bool = False,
    ) -> asyncio.Future[Committed]:
        """Queue a mutation; it runs after every mutation submitted before it.
        Only server-side callers pass `internal_ok`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Committed] = loop.create_future()
        fingerprint = None if dedup is None else _fingerprint(path, args, identity)
        pending = _Pending(path, args, identity, dedup, future, fingerprint, internal_ok)
        self._queue.append(pending)
        self._wake(loop)
        return future

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        self._ready.set()

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                batch = await self._next_batch()
                if batch:
                    await self._commit(batch)

    async def _next_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        keys: set[tuple[str, int]] = set()
        while self._queue and len(batch) < self._max_batch:
            dedup = self._queue[0].dedup
            if dedup is not None:
                if dedup in keys:
                    break  # a retry of one in this batch: answer it after the commit
                keys.add(dedup)
            batch.append(self._queue.popleft())
        return await self._without_retries(batch)

    async def _without_retries(self, batch: list[_Pending]) -> list[_Pending]:
        """`batch` less the retries of committed requests, answered here from
        their stored results (looked up in one read for the whole batch)."""
        # Only this process's own commits are remembered: on a shared
        # database another node may have committed the request.
        remembered = self._last_request if self._store.exclusive else {}
        suspects: dict[tuple[str, int], _Pending] = {}
        for p in batch:
            if p.dedup is not None:
                last = remembered.get(p.dedup[0])
                if last is None or p.dedup[1] <= last:
                    suspects[p.dedup] = p
        if not suspects:
            return batch
        try:
            stored = await self._store.get_mutation_results(list(suspects))
        except StoreUnavailable as exc:
            self._unavailable(batch, exc)
            return []
        except Exception:
            if len(suspects) > 1:
                # No request owns this failure: one lookup each finds the culprit.
                return [kept for p in batch for kept in await self._without_retries([p])]
            # Left in the queue it would stop every write.
            log.exception("retry lookup for %s failed", next(iter(suspects.values())).path)
            self._fail(list(suspects.values()))
            return [p for p in batch if p.dedup not in suspects]
        for key, found in stored.items():
            self._answer_retry(suspects[key], key[1], found)
        return [p for p in batch if p.dedup not in stored]

    def _answer_retry(self, pending: _Pending, request: int, found: StoredResult) -> None:
        ts, result_json, fingerprint = found
        if fingerprint == pending.fingerprint:
            value = decode(json.loads(result_json))
            _resolve(pending, Committed(Outcome(value, RawJSON(result_json)), ts))
            return
        if fingerprint is None:
            refusal = "was committed by an earlier server version; its result is not returned"
        else:
            refusal = "was already used for another call; its result is not returned"
        log.info("refused a reuse of request %d of a session for %s", request, pending.path)
        self._metrics.mutations.inc("error")
        _resolve(pending, Committed(failure(f"Request {request} of this session {refusal}"), None))

    async def _commit(self, batch: list[_Pending]) -> None:
        async def body(tx: Transaction) -> list[Outcome]:
            outcomes: list[Outcome] = []
            for index, p in enumerate(batch):
                try:
                    if p.body is not None:
                        outcome = await p.body(tx)
                    else:
                        outcome = await self._runner.mutation_body(
                            tx,
                            p.path,
                            p.args,
                            p.identity,
                            p.dedup,
                            p.fingerprint,
                            internal_ok=p.internal_ok,
                        )
                except MutationFailed as failed:
                    raise _BatchFailed(index, failed.outcome) from None
                outcomes.append(outcome)
            return outcomes

        started = time.perf_counter()
        try:
            outcomes, commit = await self._store.write(body)
        except _BatchFailed as failed:
            self._metrics.mutations.inc("error")
            _resolve(batch[failed.index], Committed(failed.outcome, None))
            self._queue.extendleft(reversed(batch[failed.index + 1 :]))
            if failed.index:
                await self._commit(batch[: failed.index])
            return
        except StoreUnavailable as exc:
            # The database is out of reach: nothing these mutations did is
            # known to be written. Their callers retry (a retry with the same
            # request id applies once, whether or not the COMMIT landed).
            log.warning("commit of %d mutations: %s", len(batch), exc)
            self._unavailable(batch, exc)
            return
        except Exception:
            if len(batch) > 1:
                # No mutation owns this failure: one per transaction finds the culprit.
                log.warning("commit of %d mutations failed; retrying one by one", len(batch))
                for p in batch:
                    await self._commit([p])
                return
            log.exception("commit of %s failed", batch[0].path)
            self._fail(batch)
            return
        self._metrics.commit_duration.observe(time.perf_counter() - started)
        self.batches += 1
        self._metrics.mutations.inc("ok", len(batch))
        try:
            await self._publish(commit)
        except Exception:
            # The commit is durable: its mutations succeeded whatever fan-out did.
            log.exception("publishing commit %d failed", commit.ts)
        for p, outcome in zip(batch, outcomes, strict=True):
            if p.dedup is not None:
                self._remember(*p.dedup)
            _resolve(p, Committed(outcome, commit.ts))

    def _unavailable(self, batch: list[_Pending], exc: StoreUnavailable) -> None:
        self._metrics.mutations.inc("error", len(batch))
        for p in batch:
            if not p.future.done():
                p.future.set_exception(exc)

    def _fail(self, batch: list[_Pending]) -> None:
        self._metrics.mutations.inc("error", len(batch))
        for p in batch:
            _resolve(p, Committed(failure(SERVER_ERROR), None))

    def _remember(self, session: str, request: int) -> None:
        remembered = self._last_request
        remembered[session] = max(request, remembered.get(session, request))
        remembered.move_to_end(session)
        if len(remembered) > _SESSIONS_REMEMBERED:
            remembered.popitem(last=False)


class _BatchFailed(Exception):
    def __init__(self, index: int, outcome: Outcome) -> None:
        super().__init__(outcome.error_message)
        self.index = index
        self.outcome = outcome


def _resolve(pending: _Pending, committed: Committed) -> None:
    if not pending.future.done():
        pending.future.set_result(committed)


def _fingerprint(path: str, args: dict[str, Any], identity: UserIdentity | None) -> str:
    """What a stored result is bound to: the call and who made it. The token
    identifier ("{iss}|{sub}") stays the same across token refreshes."""
    caller = "" if identity is None else str(identity.token_identifier)
    text = canonical_json([path, encode(args), caller])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
