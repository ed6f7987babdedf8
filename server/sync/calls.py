"""One connection's mutations and actions, answered in arrival order.

A Mutation goes to the engine's committer as it arrives, under the identity
then in force (the committer runs mutations in submission order, batching
across connections); an Action runs as a task of its own. Their answers
are taken by the connection's loop, mutations in arrival order: the
committer resolves a batch's futures right after publishing it, so every
commit of this connection that a snapshot can see is answered before the
Transition that covers it.

The wire shaping of a result (`Outcome` -> MutationResponse or
ActionResponse) is here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from protocol.errors import ProtocolError
from protocol.messages import MISSING, Action, ActionResponse, Mutation, MutationResponse
from protocol.paths import canonicalize_udf_path
from protocol.server_messages import Missing
from protocol.values import RawJSON, decode_args
from server.auth.identity import UserIdentity
from server.config import Limits
from server.errors import StoreUnavailable
from server.functions.outcome import SERVER_ERROR, Outcome, failure
from server.limits import args_refusal, path_refusal
from server.sync.committer import Committed
from server.sync.engine import Engine

__all__ = ["Calls", "action_response", "mutation_response"]

log = logging.getLogger("livesync.sync")


def mutation_response(request_id: int, committed: Committed) -> MutationResponse:
    outcome = committed.outcome
    return MutationResponse(
        request_id,
        outcome.ok,
        outcome.value_json if outcome.value_json is not None else _message(outcome),
        committed.ts,
        outcome.log_lines,
        _data(outcome),
    )


def action_response(request_id: int, outcome: Outcome) -> ActionResponse:
    return ActionResponse(
        request_id,
        outcome.ok,
        outcome.value_json if outcome.value_json is not None else _message(outcome),
        outcome.log_lines,
        _data(outcome),
    )


def _message(outcome: Outcome) -> str:
    return outcome.error_message or SERVER_ERROR


def _data(outcome: Outcome) -> RawJSON | Missing:
    # The protocol's absent-field marker: "no error data" on the wire.
    return outcome.error_data_json if outcome.error_data_json is not None else MISSING


class Calls:
    """The mutations and actions of one connection; see the module docstring."""

    __slots__ = (
        "_actions",
        "_answered",
        "_conn_id",
        "_engine",
        "_limits",
        "_loop",
        "_mutations",
        "_tasks",
    )

    def __init__(
        self, engine: Engine, limits: Limits, conn_id: int, answered: Callable[[], None]
    ) -> None:
        self._engine = engine
        self._limits = limits
        self._conn_id = conn_id
        self._answered = answered  # called when an answer is ready to send
        # Kept: in 3.11 every get_running_loop() costs a getpid() system call.
        self._loop = asyncio.get_running_loop()
        # Mutation answers in arrival order; action answers as they finish.
        self._mutations: list[tuple[int, asyncio.Future[Committed] | Committed]] = []
        self._actions: list[ActionResponse] = []
        self._tasks: set[asyncio.Task[None]] | None = None

    @property
    def mutations_pending(self) -> int:
        return len(self._mutations)

    def owed(self) -> bool:
        """Whether any answer is still to be sent."""
        return bool(self._mutations or self._actions)

    def idle(self) -> bool:
        """Nothing owed and no action running: what a drain waits for."""
        return not self.owed() and all(task.done() for task in self._tasks or ())

    def mutation(
        self,
        msg: Mutation,
        frame_size: int,
        session_id: str | None,
        identity: UserIdentity | None,
        admin: bool = False,
    ) -> None:
        """Submit a mutation; `admin` (the caller holds the admin key) lets
        it reach internal functions."""
        request = self._request(msg, frame_size)
        if isinstance(request, Outcome):
            self._mutations.append((msg.request_id, Committed(request, None)))
            self._answered()
            return
        path, args = request
        dedup = (session_id, msg.request_id) if session_id else None
        future = self._engine.submit(path, args, identity, dedup, internal_ok=admin)
        self._mutations.append((msg.request_id, future))
        future.add_done_callback(self._done)

    def action(
        self, msg: Action, frame_size: int, identity: UserIdentity | None, admin: bool = False
    ) -> None:
        self._spawn(self._run_action(msg, self._request(msg, frame_size), identity, admin))

    def answers(self) -> list[MutationResponse | ActionResponse]:
        """Every answer that is ready, mutations in arrival order first."""
        ready: list[MutationResponse | ActionResponse] = []
        mutations = self._mutations
        while mutations:
            request_id, pending = mutations[0]
            if isinstance(pending, asyncio.Future):
                if not pending.done():
                    break
                pending = self._committed(pending)
            del mutations[0]
            ready.append(mutation_response(request_id, pending))
        if self._actions:
            ready.extend(self._actions)
            self._actions = []
        return ready

    def cancel(self) -> None:
        for task in self._tasks or ():
            task.cancel()

    def _done(self, _: object) -> None:
        self._answered()

    def _request(
        self, msg: Mutation | Action, frame_size: int
    ) -> tuple[str, dict[str, Any]] | Outcome:
        """The call's canonical path and decoded args, or the refusal to answer."""
        limits = self._limits
        refusal = path_refusal(msg.udf_path, limits.udf_path_bytes) or args_refusal(
            msg.args, frame_size, limits.args_bytes
        )
        if refusal is not None:
            return failure(refusal)
        try:
            return canonicalize_udf_path(msg.udf_path), decode_args(msg.args)
        except ProtocolError as exc:
            return failure(f"Invalid request: {exc}")

    def _committed(self, future: asyncio.Future[Committed]) -> Committed:
        try:
            return future.result()
        except StoreUnavailable:
            raise  # not answered: the connection closes and the client re-sends
        except Exception:
            log.exception("connection %s: mutation failed", self._conn_id)
            return Committed(failure(SERVER_ERROR), None)

    async def _run_action(
        self,
        msg: Action,
        request: tuple[str, dict[str, Any]] | Outcome,
        identity: UserIdentity | None,
        admin: bool,
    ) -> None:
        if isinstance(request, Outcome):
            outcome = request
        else:
            path, args = request
            try:
                outcome = await self._engine.run_action(path, args, identity, internal_ok=admin)
            except Exception:
                log.exception("connection %s: action %s failed", self._conn_id, path)
                outcome = failure(SERVER_ERROR)
        self._actions.append(action_response(msg.request_id, outcome))
        self._answered()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
