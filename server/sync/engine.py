"""The sync engine: shared query executions, commits, and invalidation.

Theory of operation. A query execution is identified by its `QueryKey`
(canonical path, canonical args, identity) and runs at one snapshot ts. Its
read set is registered in an `IntervalIndex`; every commit stabs the keys it
wrote, and each execution hit gets `invalidated_at = commit.ts`. An execution
is usable for a snapshot `ts` iff `exec.ts <= ts < invalidated_at`, which is
exact because commits are published in ts order by the one committer, before
`published_ts` moves. Executions are shared by every connection subscribed
with the same key, and concurrent requests for the same key at the same ts run
the function once (single flight). A query that never read `ctx.auth` is also
filed under the identity-free key, so every user shares it.

An execution that was running while commits landed is checked against the
recent-commit log before it is registered, so no invalidation is lost.

Each invalidation carries its commit's `Stamp`: the commit's ts and the moment
it was durable (`time.perf_counter`; for another node's commit, the moment
this node read it). A connection keeps the stamp of the oldest commit it has
not pushed yet and times its next Transition from it (push latency).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from server.auth.identity import UserIdentity
from server.errors import FunctionError
from server.functions.decorators import FunctionKind
from server.functions.http_router import HttpRoute
from server.functions.outcome import SERVER_ERROR, Outcome, failure
from server.functions.readset import ReadSet
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner, MutationFailed
from server.metrics import Metrics
from server.store.base import Commit, IndexKeyChange, Store, Transaction
from server.sync.committer import Committed, Committer
from server.sync.executions import (
    ADMIN_IDENTITY,
    ANY_IDENTITY,
    Execution,
    QueryKey,
    Stamp,
    digest,
)
from server.sync.intervals import IntervalIndex

__all__ = ["UNKNOWN_PATH", "Engine"]

log = logging.getLogger("livesync.sync")

# The metrics' label for a query path no function answers to.
UNKNOWN_PATH = "<unknown>"
# How many recent commits are kept to check executions that raced with them.
_COMMIT_LOG_SIZE = 4096
# An invalidated execution with this many subscribers is re-run before they
# are woken (see Engine._prefetch); a lone subscriber just re-runs it itself.
_PREFETCH_MIN_LISTENERS = 2


def _notify(engine: Engine, ex: Execution) -> None:
    engine.telling = ex.stale_since
    for listener in list(ex.listeners):
        try:
            listener()
        except Exception:
            # One subscriber's failure is its own: the commit is published,
            # and the committer and the other subscribers must go on.
            log.exception("a subscriber of %s failed to take an invalidation", ex.key.path)


class Engine:
    """Owns the store, the runner, executions and the commit pipeline."""

    def __init__(self, store: Store, runner: FunctionRunner, metrics: Metrics) -> None:
        self.store = store
        self.runner = runner
        self.metrics = metrics
        self.published_ts = store.latest_ts
        self._intervals: IntervalIndex[Execution] = IntervalIndex()
        self._cache: dict[QueryKey, Execution] = {}
        # (path, args, journal, ts) -> identity -> the run under way
        self._inflight: dict[
            tuple[str, str, str | None, int], dict[str, asyncio.Future[Execution]]
        ] = {}
        # Only stamps and keys: the documents of old commits are not kept alive.
        self._commits: deque[tuple[Stamp, tuple[IndexKeyChange, ...]]] = deque(
            maxlen=_COMMIT_LOG_SIZE
        )
        # The commit whose invalidations listeners are being told of, if known.
        self.telling: Stamp | None = None
        self.committer = Committer(store, runner, self.publish_commit, metrics)
        self._catching_up = asyncio.Lock()
        self._unknown_before = 0  # commits before this ts were never seen (a pruned log)
        self._catch_up_task: asyncio.Task[None] | None = None
        self._catch_up_again = False
        self._stopped_at_own = False
        store.watch_commits(self._others_committed)
        self._prefetches: set[asyncio.Task[None]] = set()
        self._watchers: list[Callable[[Commit | None], None]] = []

    # -- queries ---------------------------------------------------------

    def cached(self, key: QueryKey, ts: int) -> Execution | None:
        """A shared execution usable at `ts`, trying the identity-free key first."""
        return self.cached_for(key.shared(), key.identity, ts)

    def cached_for(self, shared: QueryKey, identity: str, ts: int) -> Execution | None:
        """`cached` for a query's identity-free key, which a subscriber keeps,
        and its identity key: the per-identity key is only made when needed."""
        ex = None if identity.startswith(ADMIN_IDENTITY) else self._usable(shared, ts)
        if ex is None:
            ex = self._usable(QueryKey(shared.path, shared.args, identity, shared.journal), ts)
        return ex

    def _usable(self, key: QueryKey, ts: int) -> Execution | None:
        ex = self._cache.get(key)
        if ex is None or not ex.valid_at(ts):
            return None
        if ex.invalidated_at is None and ex not in self._intervals:
            self._check_missed_commits(ex)
            if not ex.valid_at(ts):
                return None
        return ex

    async def execute(
        self,
        key: QueryKey,
        args: dict[str, Any],
        identity: UserIdentity | None,
        ts: int,
        listener: Callable[[], None],
    ) -> Execution:
        """The query's result at snapshot `ts`, run at most once per (key, ts),
        retained for `listener` (call `release` when done with it)."""
        ex = self.cached(key, ts)
        if ex is None:
            ex = await self._join_flight(key, ts)
        if ex is None:
            ex = await self._run(key, args, identity, ts)
        self.retain(ex, listener)
        return ex

    async def _join_flight(self, key: QueryKey, ts: int) -> Execution | None:
        """Wait for a run of the same query at `ts` already under way: one with
        the same identity, or, failing that, another identity's run, whose
        result is shared only if it turns out not to have read ctx.auth (which
        is known only when it finishes). Errors of other runs are not ours."""
        flights = self._inflight.get((key.path, key.args, key.journal, ts))
        if not flights:
            return None
        own = flights.get(key.identity)
        if own is not None:
            return await asyncio.shield(own)
        if key.identity.startswith(ADMIN_IDENTITY):
            return None
        other = next(iter(flights.values()))
        try:
            ex = await asyncio.shield(other)
        except Exception:
            return None
        return ex if ex.key.identity == ANY_IDENTITY else None

    async def _run(
        self, key: QueryKey, args: dict[str, Any], identity: UserIdentity | None, ts: int
    ) -> Execution:
        fut: asyncio.Future[Execution] = asyncio.get_running_loop().create_future()
        flight_key = (key.path, key.args, key.journal, ts)
        flights = self._inflight.setdefault(flight_key, {})
        flights[key.identity] = fut
        registry = self.runner.registry
        try:
            admin = key.identity.startswith(ADMIN_IDENTITY)
            started = time.perf_counter()
            outcome = await self.runner.run_query(
                key.path, args, identity, self.store.snapshot(ts), key.journal, internal_ok=admin
            )
            # Paths no function answers to share one label: a client asking
            # for made-up paths must not grow the metrics without bound.
            label = key.path if key.path in registry else UNKNOWN_PATH
            self.metrics.query_seconds.inc(label, time.perf_counter() - started)
            self.metrics.query_executions.inc(label)
            shared = key if outcome.used_auth or admin else key.shared()
            ex = Execution(shared, ts, outcome, digest(outcome), args, identity)
            current = self._cache.get(shared)
            if self.runner.registry is not registry:
                ex.invalidated_at = ts  # old code's result: its subscribers re-run it
            elif current is None or current.ts <= ts:
                self._cache[shared] = ex
            fut.set_result(ex)
            return ex
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # waiters get it; don't warn when there are none
            raise
        finally:
            del flights[key.identity]
            if not flights:
                del self._inflight[flight_key]

    def retain(self, ex: Execution, listener: Callable[[], None]) -> None:
        """Subscribe `listener` to `ex`'s invalidation, registering its read
        set if no one else holds it yet. If `ex` is already invalidated (a
        commit landed while it ran or was handed over), the listener is told
        at once: nothing else would wake it."""
        ex.refs += 1
        ex.listeners.add(listener)
        if ex.invalidated_at is None and ex not in self._intervals:
            self._check_missed_commits(ex)
            if ex.invalidated_at is None:
                self._intervals.add(
                    ex, [(r.index, r.start, r.end) for r in ex.outcome.read_set.ranges]
                )
        if ex.invalidated_at is not None:
            self.telling = ex.stale_since
            listener()

    def _check_missed_commits(self, ex: Execution) -> None:
        # Commits published while `ex` was unregistered did not stab it.
        if ex.ts < self._unknown_before:
            ex.invalidated_at = self._unknown_before
            return
        commits = self._commits
        if commits and len(commits) == commits.maxlen and commits[0][0][0] > ex.ts + 1:
            # Older than the log: assume the worst.
            ex.stale_since = oldest = commits[0][0]
            ex.invalidated_at = oldest[0]
            return
        contains = ex.outcome.read_set.contains
        # Newest first, stopping at ex.ts: usually no commit at all is looked at.
        for stamp, keys in reversed(commits):
            if stamp[0] <= ex.ts:
                break
            if any(contains(c.index, c.key) for c in keys):
                # Keeps going: the earliest such commit wins.
                ex.invalidated_at, ex.stale_since = stamp[0], stamp

    def release(self, ex: Execution, listener: Callable[[], None]) -> None:
        ex.refs -= 1
        ex.listeners.discard(listener)
        if ex.refs <= 0:
            self._forget(ex)

    def _forget(self, ex: Execution) -> None:
        if self._cache.get(ex.key) is ex:
            del self._cache[ex.key]
        self._intervals.remove(ex)

    # -- commits ---------------------------------------------------------

    def submit(
        self,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        dedup: tuple[str, int] | None,
        *,
        internal_ok: bool = False,
    ) -> asyncio.Future[Committed]:
        """Queue a mutation behind every earlier one (see `Committer`). A
        retry of an already committed (session, request) gets the stored
        result and original ts. Only server-side callers pass `internal_ok`."""
        return self.committer.submit(path, args, identity, dedup, internal_ok=internal_ok)

    async def mutate(
        self,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        *,
        internal_ok: bool = False,
    ) -> Committed:
        """Run a mutation and publish its commit."""
        return await self.submit(path, args, identity, None, internal_ok=internal_ok)

    async def run_action(
        self,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        *,
        internal_ok: bool = False,
    ) -> Outcome:
        """Run an action; the mutations it calls go through the committer."""
        return await self.runner.run_action(
            path,
            args,
            identity,
            mutate=self._action_mutate,
            transact=self.transact,
            internal_ok=internal_ok,
        )

    async def run_http_action(
        self, route: HttpRoute, request: Any, identity: UserIdentity | None
    ) -> Outcome:
        """Run an HTTP action as an action runs (see `run_action`)."""
        return await self.runner.run_http_action(
            route, request, identity, mutate=self._action_mutate, transact=self.transact
        )

    async def _action_mutate(
        self, path: str, args: dict[str, Any], identity: UserIdentity | None
    ) -> Outcome:
        # An action's ctx.run_mutation: internal functions allowed.
        return (await self.mutate(path, args, identity, internal_ok=True)).outcome

    async def transact(self, body: Callable[[Transaction], Awaitable[Any]]) -> Any:
        """Run the server's own `body` in a transaction of its own through
        the committer, and publish the commit; returns what `body` returned.
        A `FunctionError` from `body` rolls it back and is raised here."""

        async def run(tx: Transaction) -> Outcome:
            try:
                value = await body(tx)
            except FunctionError as exc:
                raise MutationFailed(failure(str(exc))) from None
            return Outcome(value, None, None, None, (), ReadSet(), False)

        committed = await self.committer.submit_body("server transaction", run)
        if not committed.outcome.ok:
            raise FunctionError(committed.outcome.error_message or SERVER_ERROR)
        return committed.outcome.value

    async def run_query(
        self,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        ts: int,
        *,
        internal_ok: bool = False,
    ) -> Outcome:
        """Run a query once at snapshot `ts`, for a caller that does not
        subscribe (the HTTP API): nothing is cached or registered."""
        snapshot = self.store.snapshot(ts)
        return await self.runner.run_query(path, args, identity, snapshot, internal_ok=internal_ok)

    def function_kind(self, path: str, *, internal_ok: bool = False) -> FunctionKind:
        """The kind of the function at `path`; raises `FunctionNotFound`."""
        return self.runner.registry.lookup(path, internal_ok=internal_ok).kind

    async def prune_mutation_results(self, now_ns: int, window_s: float) -> int:
        """Forget the results of mutations committed more than `window_s`
        before `now_ns`: a retry within the window still gets its original
        answer, an older one runs as a new request. Returns how many went."""
        return await self.store.prune_mutation_results(now_ns - int(window_s * 1e9))

    async def close(self) -> None:
        await self.committer.close()
        if self._catch_up_task is not None:
            self._catch_up_task.cancel()
        for task in self._prefetches:
            task.cancel()

    async def _prefetch(self, old: Execution, ts: int) -> None:
        """Re-run a popular invalidated query once, then wake its subscribers:
        each adopts the new result without waiting on the run separately."""
        key = old.next_key()
        try:
            if (
                self.cached(key, ts) is None
                and (key.path, key.args, key.journal, ts) not in self._inflight
            ):
                await self._run(key, old.args, old.identity, ts)
        except Exception:
            log.debug("prefetch of %s failed; subscribers will re-run it", old.key.path)
        finally:
            _notify(self, old)

    async def publish_commit(self, commit: Commit) -> None:
        """Publish a commit made here, after the commits other nodes sharing
        the database made before it (commits are published in ts order)."""
        durable = time.perf_counter()
        if commit.previous_ts > self.published_ts:
            await self.catch_up()
        self.publish(commit, durable)
        if self._stopped_at_own:
            # A catch-up stopped at this commit while it was unpublished:
            # what other nodes committed after it is published from here.
            self._stopped_at_own = False
            self._others_committed()

    async def catch_up(self) -> None:
        """Publish, oldest first, the commits other nodes made since
        `published_ts` (see `Store.commits_after`)."""
        async with self._catching_up:
            commits = await self.store.commits_after(self.published_ts)
            if commits is None:
                log.warning("commits since %d are unknown; every query re-runs", self.published_ts)
                self._invalidate_all(self.store.latest_ts)
                return
            for commit in commits:
                self.publish(commit)
            # The store knows of a commit not published yet: one of this
            # node's own, which the log read stops at (its committer is
            # about to publish it).
            if self.store.latest_ts > self.published_ts:
                self._stopped_at_own = True

    def _others_committed(self) -> None:
        # Coalesced: one catch-up at a time, and one more if told meanwhile.
        if self._catch_up_task is not None and not self._catch_up_task.done():
            self._catch_up_again = True
            return
        self._catch_up_task = asyncio.get_running_loop().create_task(self._catch_up_loop())

    async def _catch_up_loop(self) -> None:
        while True:
            self._catch_up_again = False
            try:
                await self.catch_up()
            except Exception:
                # The store's listener calls again once the database is back.
                log.warning("catching up with other nodes' commits failed", exc_info=True)
            if not self._catch_up_again:
                return

    def _invalidate_all(self, ts: int) -> None:
        hit = self._invalidate_live(ts, (ts, time.perf_counter()))
        # An execution still running from before the gap cannot be checked
        # against the log: it is invalid once registered.
        self._unknown_before = max(self._unknown_before, ts)
        self.published_ts = max(self.published_ts, ts)
        for ex in hit:
            _notify(self, ex)
        self._tell_watchers(None)

    def _invalidate_live(self, ts: int, stamp: Stamp | None) -> set[Execution]:
        live = set(self._intervals.owners()) | set(self._cache.values())
        hit = {ex for ex in live if ex.invalidated_at is None}
        for ex in hit:
            ex.invalidated_at, ex.stale_since = ts, stamp
            self._forget(ex)
        return hit

    def use_functions(self, registry: FunctionRegistry) -> None:
        """Run `registry`'s functions from now on (a dev reload), and re-run
        every subscribed query with them at the latest ts: subscribers get
        the results that changed without resubscribing. A run of the old
        code still under way is invalid when it ends (see `_run`)."""
        self.runner.use(registry)
        # No commit: the pushes of new results are not timed as commit pushes.
        for ex in self._invalidate_live(self.published_ts, None):
            _notify(self, ex)

    def watch(self, watcher: Callable[[Commit | None], None]) -> None:
        """Call `watcher` with every commit published, this node's or
        another's (with its keys), once its ts is readable; with None when
        commits were missed (a pruned log) and anything may have changed."""
        self._watchers.append(watcher)

    def _tell_watchers(self, commit: Commit | None) -> None:
        for watcher in self._watchers:
            try:
                watcher(commit)
            except Exception:
                log.exception("a commit watcher failed")

    def publish(self, commit: Commit, durable: float | None = None) -> None:
        """Invalidate what `commit` touched, then make its ts readable.
        `durable` is when it was written (`time.perf_counter`), if known."""
        if commit.ts <= self.published_ts:
            return  # covered already: a catch-up over a pruned log invalidated everything
        stamp = (commit.ts, time.perf_counter() if durable is None else durable)
        self._commits.append((stamp, commit.keys))
        hit: set[Execution] = set()
        for change in commit.keys:
            hit |= self._intervals.stab(change.index, change.key)
        for ex in hit:
            ex.invalidated_at, ex.stale_since = commit.ts, stamp
            self._forget(ex)
        self.published_ts = max(self.published_ts, commit.ts)
        for ex in hit:
            if len(ex.listeners) >= _PREFETCH_MIN_LISTENERS:
                task = asyncio.get_running_loop().create_task(self._prefetch(ex, commit.ts))
                self._prefetches.add(task)
                task.add_done_callback(self._prefetches.discard)
            else:
                _notify(self, ex)
        if hit:
            self.metrics.invalidations.inc("", len(hit))
        if self._watchers:
            self._tell_watchers(commit)
