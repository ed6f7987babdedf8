"""Running app functions: arguments in, an `Outcome` out.

The runner looks the function up (checking its kind), validates the
arguments, calls the handler with a fresh ctx while capturing its logs and
recording its reads, checks the `returns` validator and that the value is
encodable, and turns every failure into client-visible text:

    AppError        -> "Uncaught ConvexError: <message>", with its data
    FunctionError   -> its own message
    anything else   -> "Server Error" (the traceback goes to the server log)

Mutations run inside `Store.write`, so a failure rolls every write back.
A database out of reach (`StoreUnavailable`) is raised, not turned into a
failure: it is no fault of the function, and its caller can try again.
Every handler runs under its time limits (see `server.functions.timeouts`): an
overrun fails like any other error, with a message naming the limit. Every
run, failed ones too, is timed into the metrics by kind, and handed as a
`CallRecord` to the runner's `record` callable (the dashboard's Logs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, NamedTuple

from protocol.errors import ValueEncodeError
from protocol.values import RawJSON, dumps, encode
from server.auth.identity import UserIdentity
from server.config import Limits
from server.errors import (
    AppError,
    ArgumentError,
    FunctionError,
    LimitExceeded,
    ReturnValueError,
    StoreError,
    StoreUnavailable,
)
from server.functions.action_threads import GRACE, Bridge, ThreadAbandoned, run_on_thread
from server.functions.context import ActionCtx, Auth, MutationCtx, QueryCtx
from server.functions.database import DatabaseReader, DatabaseWriter, ReadBudget, TableCatalog
from server.functions.decorators import FunctionKind
from server.functions.http_router import HttpRoute
from server.functions.logs import LogCollector, capture_logs, current_collector
from server.functions.outcome import SERVER_ERROR, Outcome, failure
from server.functions.pagination import PageJournal
from server.functions.readset import ReadSet
from server.functions.references import FunctionLike, function_path
from server.functions.registry import FunctionRegistry, RegisteredFunction
from server.functions.timeouts import FunctionTimeout, TimeLimits, limited
from server.interrupt import interrupt_thread
from server.limits import size_refusal, text_size
from server.metrics import Metrics
from server.scheduler.context import ActionScheduler, MutationScheduler, Planner, TransactionRunner
from server.storage.context import ActionStorage, ActionStorageOps, MutationStorage, QueryStorage
from server.storage.service import Storage
from server.store.base import Snapshot, Store, Transaction

__all__ = [
    "MAX_ACTION_DEPTH",
    "CallRecord",
    "FunctionRunner",
    "MutationFailed",
    "MutationRunner",
]

logger = logging.getLogger("livesync.functions")

# Actions nested through ctx.run_action, the outermost counted: a cap that
# turns runaway recursion into a clear error, not a RecursionError.
MAX_ACTION_DEPTH = 16

MutationRunner = Callable[[str, dict[str, Any], UserIdentity | None], Awaitable[Outcome]]
"""How an action's `ctx.run_mutation` commits: the sync layer's committer,
internal functions allowed."""


class MutationFailed(Exception):
    """Carries a finished failure Outcome out of a `Store.write` callback, so
    the transaction rolls back."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error_message)
        self.outcome = outcome


class CallRecord(NamedTuple):
    """One finished run, as the dashboard's Logs show it. A tuple: building
    one per call must stay cheap."""

    path: str
    kind: str  # "query", "mutation", "action" or "httpAction"
    started_at: float  # ms since the epoch
    duration_ms: float
    error: str | None  # the message the caller saw; None: it succeeded
    log_lines: tuple[str, ...]
    subject: str | None  # the caller's identity subject


class FunctionRunner:
    """Runs the functions of one registry against one store."""

    def __init__(
        self,
        registry: FunctionRegistry,
        store: Store,
        sizes: Limits | None = None,
        *,
        timeouts: TimeLimits | None = None,
        metrics: Metrics | None = None,
        storage: Storage | None = None,
        record: Callable[[CallRecord], None] | None = None,
    ) -> None:
        """`record` gets every finished run; it is called on action threads
        too, so it must be thread-safe and must not block."""
        self._registry = registry
        self._record = record
        self._store = store
        self._storage = storage
        self._sizes = sizes if sizes is not None else Limits()
        self.timeouts = timeouts if timeouts is not None else TimeLimits()
        self._metrics = metrics
        self._catalog = _tables(registry)

    @property
    def registry(self) -> FunctionRegistry:
        return self._registry

    def use(self, registry: FunctionRegistry) -> None:
        """Run `registry`'s functions from now on (a reload); runs under way
        finish with the functions they started with."""
        self._registry = registry
        self._catalog = _tables(registry)

    async def run_query(
        self,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        snapshot: Snapshot,
        journal: str | None = None,
        *,
        internal_ok: bool = False,
    ) -> Outcome:
        """Run the query at `path` against `snapshot`, replaying `journal`
        (from an earlier run of the same subscription). Internal functions
        run only with `internal_ok` (server-side callers, and clients
        holding the admin key)."""
        read_set = ReadSet()
        auth = Auth(identity)
        page_journal = PageJournal(journal)

        def make_ctx() -> QueryCtx:
            db = DatabaseReader(
                snapshot,
                read_set,
                schema=self._registry.schema,
                catalog=self._catalog,
                budget=ReadBudget(),
                journal=page_journal,
            )
            return QueryCtx(db, auth, QueryStorage(self._storage, db))

        outcome = await self._execute(path, "query", args, make_ctx, read_set, auth, internal_ok)
        return replace(outcome, journal=page_journal.result)

    async def mutation_body(
        self,
        tx: Transaction,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        dedup: tuple[str, int] | None = None,
        fingerprint: str | None = None,
        *,
        internal_ok: bool = False,
    ) -> Outcome:
        """Run the mutation at `path` inside `tx`, which may hold other
        mutations too. On success its result is recorded for deduplication
        under `dedup` (session id, request id), bound to `fingerprint` (the
        call's; see `server.sync.committer`), in the same transaction; on
        failure `MutationFailed` carries the outcome, and the caller must roll
        `tx` back."""
        try:
            self._registry.lookup(path, "mutation", internal_ok=internal_ok)
        except FunctionError as exc:
            raise MutationFailed(failure(str(exc))) from None
        read_set = ReadSet()
        auth = Auth(identity)

        def make_ctx() -> MutationCtx:
            db = DatabaseWriter(
                tx,
                read_set,
                schema=self._registry.schema,
                catalog=self._catalog,
                budget=ReadBudget(),
                limits=self._sizes,
            )
            scheduler = MutationScheduler(tx, Planner(self._registry))
            return MutationCtx(db, auth, scheduler, MutationStorage(self._storage, db, tx))

        outcome = await self._execute(path, "mutation", args, make_ctx, read_set, auth, internal_ok)
        if not outcome.ok:
            raise MutationFailed(outcome)
        if dedup is not None:
            assert outcome.value_json is not None  # _execute made it
            await tx.record_mutation_result(*dedup, outcome.value_json.text, fingerprint)
        return outcome

    async def run_action(
        self,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        *,
        mutate: MutationRunner,
        transact: TransactionRunner | None = None,
        depth: int = 0,
        internal_ok: bool = False,
    ) -> Outcome:
        """Run the action at `path`; its `ctx.run_query` / `ctx.run_mutation` /
        `ctx.run_action` run with the same identity, each in its own snapshot,
        transaction or action, and may call internal functions. Its mutations
        go through `mutate` (the sync layer's committer, which serializes and
        publishes their commits), and its `ctx.scheduler` commits through
        `transact` (without it, scheduling fails with a message). `depth`
        counts the actions this one runs inside."""

        async def execute(make_ctx: Callable[[], ActionCtx], auth: Auth) -> Outcome:
            return await self._execute(path, "action", args, make_ctx, ReadSet(), auth, internal_ok)

        return await self._on_action_thread(path, identity, mutate, transact, depth, execute)

    async def run_http_action(
        self,
        route: HttpRoute,
        request: Any,
        identity: UserIdentity | None,
        *,
        mutate: MutationRunner,
        transact: TransactionRunner | None = None,
    ) -> Outcome:
        """Run an HTTP action's handler on `request` as an action runs. The
        Outcome's value is what the handler returned, as it is (a response,
        or what becomes one): the HTTP layer, not the sync protocol, sends it."""

        async def execute(make_ctx: Callable[[], ActionCtx], auth: Auth) -> Outcome:
            collector = LogCollector()
            wall, started = time.time(), time.perf_counter()
            try:
                with capture_logs(collector):
                    call = route.handler(make_ctx(), request)
                    value = await limited(call, route.name, "action", self.timeouts)
            except StoreUnavailable:
                raise
            except Exception as exc:
                outcome = failure(
                    self._error_message(exc, route.name, "action"),
                    data_json=_app_error_data(exc) if isinstance(exc, AppError) else None,
                    log_lines=collector.lines(),
                    used_auth=auth.used,
                )
            else:
                outcome = Outcome(value, None, None, None, collector.lines(), ReadSet(), auth.used)
            finally:
                elapsed = self._timed("action", started)
            self._recorded(route.name, "httpAction", wall, elapsed, outcome, auth)
            return outcome

        return await self._on_action_thread(route.name, identity, mutate, transact, 0, execute)

    async def _on_action_thread(
        self,
        label: str,
        identity: UserIdentity | None,
        mutate: MutationRunner,
        transact: TransactionRunner | None,
        depth: int,
        execute: Callable[[Callable[[], ActionCtx], Auth], Awaitable[Outcome]],
    ) -> Outcome:
        """`execute(make_ctx, auth)` on an action thread, under the action
        time limit, with an action's ctx (see `run_action`)."""
        auth = Auth(identity)

        # These run on the serving loop; the action's thread reaches them
        # through its bridge and unwraps their outcomes on its own side,
        # where its log collector is.
        async def run_query(fn: FunctionLike, query_args: dict[str, Any] | None) -> Outcome:
            snapshot = self._store.snapshot()
            query_path = function_path(fn, self._registry)
            return await self.run_query(
                query_path, query_args or {}, identity, snapshot, internal_ok=True
            )

        async def run_mutation(fn: FunctionLike, mutation_args: dict[str, Any] | None) -> Outcome:
            return await mutate(function_path(fn, self._registry), mutation_args or {}, identity)

        async def run_action(fn: FunctionLike, action_args: dict[str, Any] | None) -> Outcome:
            action_path = function_path(fn, self._registry)
            if depth + 1 >= MAX_ACTION_DEPTH:
                raise FunctionError(
                    f"ctx.run_action({action_path!r}) would nest actions "
                    f"{MAX_ACTION_DEPTH} deep; is an action calling itself?"
                )
            return await self.run_action(
                action_path,
                action_args or {},
                identity,
                mutate=mutate,
                transact=transact,
                depth=depth + 1,
                internal_ok=True,
            )

        async def commit_body(body: Callable[[Transaction], Awaitable[Any]]) -> Any:
            if transact is None:
                raise FunctionError("ctx.scheduler is not available to this action")
            return await transact(body)

        storage_ops = ActionStorageOps(self._storage, self._store, transact)

        async def on_thread(bridge: Bridge) -> Outcome:
            def through(fn: Callable[..., Awaitable[Outcome]]) -> Callable[..., Awaitable[Any]]:
                async def call(fn_path: str, fn_args: dict[str, Any] | None) -> Any:
                    return _unwrap(await bridge.call(fn, fn_path, fn_args))

                return call

            async def on_loop(body: Callable[[Transaction], Awaitable[Any]]) -> Any:
                return await bridge.call(commit_body, body)

            def make_ctx() -> ActionCtx:
                scheduler = ActionScheduler(on_loop, Planner(self._registry))
                storage = ActionStorage(storage_ops, bridge.call)
                return ActionCtx(
                    auth,
                    scheduler,
                    storage,
                    through(run_query),
                    through(run_mutation),
                    through(run_action),
                )

            return await execute(make_ctx, auth)

        try:
            return await run_on_thread(
                label, on_thread, self.timeouts.action + GRACE, interrupt_thread
            )
        except ThreadAbandoned:
            message = (
                f"Function {label} timed out after {self.timeouts.action:g} s "
                "(limit: [functions] action_timeout)"
            )
            logger.warning("%s; its thread is abandoned", message)
            if self._metrics is not None:
                self._metrics.function_timeouts.inc("action")
                self._metrics.abandoned_threads.inc()
            return failure(message, used_auth=auth.used)

    async def _execute(
        self,
        path: str,
        kind: FunctionKind,
        args: dict[str, Any],
        make_ctx: Callable[[], Any],
        read_set: ReadSet,
        auth: Auth,
        internal_ok: bool,
    ) -> Outcome:
        collector = LogCollector()
        wall, started = time.time(), time.perf_counter()
        try:
            function = self._registry.lookup(path, kind, internal_ok=internal_ok)
            with capture_logs(collector):
                value = await _call(function, make_ctx(), args, self.timeouts)
            value, value_json = _check_result(function, value, self._sizes.result_bytes)
        except StoreUnavailable:
            # Not the function's failure: the caller retries once the
            # database is back (a mutation's writes roll back meanwhile).
            raise
        except Exception as exc:
            outcome = failure(
                self._error_message(exc, path, kind),
                data_json=_app_error_data(exc) if isinstance(exc, AppError) else None,
                log_lines=collector.lines(),
                read_set=read_set,
                used_auth=auth.used,
            )
        else:
            outcome = Outcome(
                value, RawJSON(value_json), None, None, collector.lines(), read_set, auth.used
            )
        finally:
            elapsed = self._timed(kind, started)
        self._recorded(path, kind, wall, elapsed, outcome, auth)
        return outcome

    def _timed(self, kind: FunctionKind, started: float) -> float:
        """Observe a run that began at `started` (`time.perf_counter`);
        returns its seconds."""
        elapsed = time.perf_counter() - started
        if self._metrics is not None:
            self._metrics.function_duration.observe(elapsed, kind)
        return elapsed

    def _recorded(
        self, path: str, kind: str, wall: float, elapsed: float, outcome: Outcome, auth: Auth
    ) -> None:
        """Hand the run that began at `wall` (`time.time`) and took
        `elapsed` seconds to `record`."""
        if self._record is not None:
            self._record(
                CallRecord(
                    path,
                    kind,
                    wall * 1000,
                    elapsed * 1000,
                    outcome.error_message,
                    outcome.log_lines,
                    auth.subject,
                )
            )

    def _error_message(self, exc: Exception, path: str, kind: FunctionKind) -> str:
        """What the client sees of a failed run; the server log gets the rest."""
        if isinstance(exc, AppError):
            return f"Uncaught ConvexError: {_app_error_text(exc)}"
        if isinstance(exc, FunctionTimeout):
            logger.warning("%s", exc)
            if self._metrics is not None:
                self._metrics.function_timeouts.inc(kind)
            return str(exc)
        if isinstance(exc, FunctionError):
            return str(exc)
        if isinstance(exc, StoreError):
            logger.exception("storage failed while running %s", path, exc_info=exc)
        else:
            logger.exception("function %s raised", path, exc_info=exc)
        return SERVER_ERROR


async def _call(function: RegisteredFunction, ctx: Any, args: Any, limits: TimeLimits) -> Any:
    if not isinstance(args, dict):
        raise FunctionError(f"Arguments of {function.path} must be an object, got {args!r}")
    if function.args_validator is not None:
        try:
            args = function.args_validator.validate(args)
        except ArgumentError as exc:
            raise ArgumentError(f"ArgumentValidationError: {exc}") from None
    return await limited(function.handler(ctx, **args), function.path, function.kind, limits)


def _check_result(function: RegisteredFunction, value: Any, limit: int) -> tuple[Any, str]:
    """The value (as the `returns` validator has it) and its JSON text."""
    if function.returns_validator is not None:
        try:
            value = function.returns_validator.validate(value)
        except FunctionError as exc:
            raise ReturnValueError(f"Return value of {function.path} is invalid: {exc}") from None
    try:
        text = dumps(encode(value))
    except ValueEncodeError as exc:
        raise ReturnValueError(
            f"Return value of {function.path} is not a valid Convex value: {exc}"
        ) from None
    refusal = size_refusal(f"Return value of {function.path} is", text_size(text), limit)
    if refusal is not None:
        raise LimitExceeded(refusal)
    return value, text


def _app_error_text(exc: AppError) -> str:
    if isinstance(exc.data, str):
        return exc.data
    try:
        return dumps(encode(exc.data))
    except ValueEncodeError:
        return repr(exc.data)


def _app_error_data(exc: AppError) -> RawJSON:
    try:
        return RawJSON(dumps(encode(exc.data)))
    except ValueEncodeError:
        logger.warning("AppError data has no Convex encoding; sending null: %r", exc.data)
        return RawJSON("null")


def _unwrap(outcome: Outcome) -> Any:
    """An action's view of a nested call: its value, or its error raised again.
    The nested call's log lines join the action's."""
    collector = current_collector()
    if collector is not None:
        collector.extend(outcome.log_lines)
    if outcome.ok:
        return outcome.value
    if outcome.error_data_json is not None:
        raise AppError(outcome.error_data())
    raise FunctionError(outcome.error_message or SERVER_ERROR)


def _tables(registry: FunctionRegistry) -> TableCatalog:
    schema = registry.schema
    return TableCatalog(tuple(schema.tables) if schema is not None else ())
