"""A FunctionRunner for testing the function layer without the sync layer.

In the server every mutation reaches the store through the committer, which
runs `FunctionRunner.mutation_body` inside `Store.write`. `AppRunner` does the
same for one mutation at a time, so runner tests see the commit (or its
absence) directly, and gives actions that path for their nested mutations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server.auth.identity import UserIdentity
from server.functions.outcome import Outcome
from server.functions.runner import FunctionRunner, MutationFailed, MutationRunner
from server.scheduler.context import TransactionRunner
from server.store.base import Commit, Transaction

__all__ = ["AppRunner"]


class AppRunner(FunctionRunner):
    @property
    def store(self) -> Any:
        return self._store

    async def run_mutation(
        self,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        *,
        dedup: tuple[str, int] | None = None,
        internal_ok: bool = False,
    ) -> tuple[Outcome, Commit | None]:
        """One mutation in its own transaction: its outcome and commit (None on failure)."""
        try:
            return await self._store.write(
                lambda tx: self.mutation_body(
                    tx, path, args, identity, dedup, internal_ok=internal_ok
                )
            )
        except MutationFailed as failed:
            return failed.outcome, None

    async def run_action(
        self,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        *,
        mutate: MutationRunner | None = None,
        transact: TransactionRunner | None = None,
        depth: int = 0,
        internal_ok: bool = False,
    ) -> Outcome:
        async def write(body: Callable[[Transaction], Awaitable[Any]]) -> Any:
            return (await self._store.write(body))[0]

        async def commit_one(
            m_path: str, m_args: dict[str, Any], m_identity: UserIdentity | None
        ) -> Outcome:
            return (await self.run_mutation(m_path, m_args, m_identity, internal_ok=True))[0]

        return await super().run_action(
            path,
            args,
            identity,
            mutate=mutate or commit_one,
            transact=transact or write,
            depth=depth,
            internal_ok=internal_ok,
        )
