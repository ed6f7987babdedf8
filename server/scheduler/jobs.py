"""Scheduled jobs as documents of the `_scheduled_functions` system table,
with Convex's fields:

    name           the function's path, "module:function"
    args           [the arguments object], as Convex stores them
    scheduledTime  when it is due, ms since the epoch
    completedTime  when it finished (success, failed or canceled), ms
    state          {"kind": "pending" | "inProgress" | "success" | "failed"
                    | "canceled"}; "failed" adds "error" (the message), and
                   "inProgress" adds "startedTime" (ms), which tells a job
                   whose node died from one still running

The writes here happen inside a store `Transaction`, with the store's
`system` flag: app code can read these documents, never write them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from protocol.values import dumps, encode
from server.errors import FunctionError, LimitExceeded
from server.limits import size_refusal, text_size
from server.store.base import Document, Snapshot, Transaction
from server.store.catalog import SCHEDULED_FUNCTIONS
from server.store.ids import id_matches_table, is_id
from server.store.keys import encode_tuple, prefix_end

__all__ = [
    "BY_STATE",
    "CANCELED",
    "FAILED",
    "IN_PROGRESS",
    "MAX_ARGS_BYTES",
    "MAX_JOBS_PER_FUNCTION",
    "PENDING",
    "SKIPPED",
    "SUCCESS",
    "ScheduleBudget",
    "cancel_job",
    "finish_job",
    "insert_job",
    "jobs_in_state",
    "start_job",
    "state_of",
]

PENDING: Final = "pending"
IN_PROGRESS: Final = "inProgress"
SUCCESS: Final = "success"
FAILED: Final = "failed"
CANCELED: Final = "canceled"
# Not a job's state: how a cron job's due time ends when its previous run
# has not finished (no job is made; `livesync_cron_runs_total` counts it).
SKIPPED: Final = "skipped"

BY_STATE = f"{SCHEDULED_FUNCTIONS}.by_state"

# Convex's limits on what one function execution may schedule
# (TRANSACTION_MAX_NUM_SCHEDULED, TRANSACTION_MAX_SCHEDULED_TOTAL_ARGUMENT_SIZE_BYTES).
MAX_JOBS_PER_FUNCTION = 1000
MAX_ARGS_BYTES = 16 * 1024 * 1024


class ScheduleBudget:
    """What one function execution has scheduled so far, against the limits."""

    __slots__ = ("args_bytes", "jobs")

    def __init__(self) -> None:
        self.jobs = 0
        self.args_bytes = 0

    def charge(self, args_text: str) -> None:
        if self.jobs + 1 > MAX_JOBS_PER_FUNCTION:
            raise LimitExceeded(
                f"Too many functions scheduled by one function execution "
                f"(the limit is {MAX_JOBS_PER_FUNCTION:,})"
            )
        size = self.args_bytes + text_size(args_text)
        refusal = size_refusal(
            "Arguments of the functions scheduled by one execution are", size, MAX_ARGS_BYTES
        )
        if refusal is not None:
            raise LimitExceeded(refusal)
        self.jobs += 1
        self.args_bytes = size


def state_of(doc: Document | None) -> str | None:
    """The job's state kind, or None for a missing document."""
    if doc is None:
        return None
    state = doc.get("state")
    kind = state.get("kind") if isinstance(state, dict) else None
    return kind if isinstance(kind, str) else None


async def insert_job(
    tx: Transaction, path: str, args: dict[str, Any], when_ms: float, budget: ScheduleBudget
) -> str:
    """Schedule `path(args)` at `when_ms` in `tx`: it exists only if `tx` commits."""
    if not isinstance(args, dict):
        raise FunctionError(f"Arguments of a scheduled function must be an object, got {args!r}")
    try:
        args_text = dumps(encode(args))
    except Exception as exc:  # ValueEncodeError, with the offending value named
        raise FunctionError(f"Arguments of {path} are not Convex values: {exc}") from None
    budget.charge(args_text)
    job = {
        "name": path,
        "args": [args],
        "scheduledTime": float(when_ms),
        "state": {"kind": PENDING},
    }
    return await tx.insert(SCHEDULED_FUNCTIONS, job, system=True)


async def cancel_job(tx: Transaction, job_id: str, now_ms: float) -> None:
    """Cancel a job that has not finished; a finished one is left as it is."""
    if not is_id(job_id) or not id_matches_table(job_id, SCHEDULED_FUNCTIONS):
        raise FunctionError(f"{job_id!r} is not the id of a scheduled function")
    doc = await tx.get(job_id)
    if doc is None:
        raise FunctionError(f"No scheduled function has the id {job_id}")
    if state_of(doc) in (PENDING, IN_PROGRESS):
        state = {"state": {"kind": CANCELED}, "completedTime": float(now_ms)}
        await tx.patch(job_id, state, system=True)


async def start_job(tx: Transaction, job_id: str, now_ms: float) -> Document | None:
    """Claim a pending action job (pending -> inProgress); None when it is
    not pending any more (run elsewhere, canceled)."""
    doc = await tx.get(job_id)
    if state_of(doc) != PENDING:
        return None
    await tx.patch(job_id, {"state": {"kind": IN_PROGRESS, "startedTime": now_ms}}, system=True)
    return doc


async def finish_job(
    tx: Transaction,
    job_id: str,
    now_ms: float,
    error: str | None,
    *,
    from_state: str,
) -> bool:
    """Record a job's end (success, or failed with `error`) if it is still
    in `from_state`; False when it is not (canceled, or finished elsewhere)."""
    doc = await tx.get(job_id)
    if state_of(doc) != from_state:
        return False
    state: dict[str, Any] = {"kind": SUCCESS} if error is None else {"kind": FAILED, "error": error}
    await tx.patch(job_id, {"state": state, "completedTime": float(now_ms)}, system=True)
    return True


async def jobs_in_state(snapshot: Snapshot, kind: str) -> AsyncIterator[Document]:
    """The jobs in state `kind`, oldest `scheduledTime` first."""
    start = encode_tuple([kind])
    async for _, doc in snapshot.scan(BY_STATE, start, prefix_end(start)):
        yield doc
