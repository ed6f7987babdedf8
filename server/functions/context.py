"""The `ctx` object a handler receives: `QueryCtx`, `MutationCtx`, `ActionCtx`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from server.auth.identity import UserIdentity
from server.errors import FunctionError
from server.functions.database import DatabaseReader, DatabaseWriter
from server.functions.references import FunctionLike

if TYPE_CHECKING:
    from server.scheduler.context import ActionScheduler, MutationScheduler
    from server.storage.context import ActionStorage, MutationStorage, QueryStorage

__all__ = ["ActionCtx", "Auth", "MutationCtx", "QueryCtx"]

RunFunction = Callable[[FunctionLike, "dict[str, Any] | None"], Awaitable[Any]]


class Auth:
    """`ctx.auth`: the caller's identity, and whether the function looked at it.

    Whether auth was read matters to the sync layer: a result that never read
    the identity can be shared across users and survives a token refresh.
    """

    __slots__ = ("_identity", "used")

    def __init__(self, identity: UserIdentity | None) -> None:
        self._identity = identity
        self.used = False

    async def get_user_identity(self) -> UserIdentity | None:
        """The `UserIdentity` of the caller, or None when unauthenticated."""
        self.used = True
        return self._identity

    @property
    def subject(self) -> str | None:
        """The caller's subject, for the server's records; not a use of auth."""
        return None if self._identity is None else self._identity.subject


async def _actions_only(
    ctx: object, fn: FunctionLike, args: dict[str, Any] | None = None
) -> NoReturn:
    # A message the caller sees, where a missing attribute would only reach
    # them as "Server Error". Convex offers runAction in actions alone: queries
    # and mutations are transactions, which must not wait on side effects.
    kind = "query" if isinstance(ctx, QueryCtx) else "mutation"
    raise FunctionError(
        f"ctx.run_action({fn!r}) called from a {kind}: only actions can run actions "
        "(call it from the client or from an action)"
    )


@dataclass(frozen=True, slots=True)
class QueryCtx:
    db: DatabaseReader
    auth: Auth
    storage: QueryStorage

    run_action = _actions_only

    @property
    def scheduler(self) -> NoReturn:
        raise FunctionError(
            "ctx.scheduler is available in mutations and actions: a query only reads"
        )


@dataclass(frozen=True, slots=True)
class MutationCtx:
    db: DatabaseWriter
    auth: Auth
    scheduler: MutationScheduler
    storage: MutationStorage

    run_action = _actions_only


@dataclass(frozen=True, slots=True)
class ActionCtx:
    """Actions have no `db`: they read and write through queries and
    mutations, each its own transaction."""

    auth: Auth
    scheduler: ActionScheduler
    storage: ActionStorage
    _run_query: RunFunction
    _run_mutation: RunFunction
    _run_action: RunFunction

    async def run_query(self, fn: FunctionLike, args: dict[str, Any] | None = None) -> Any:
        """Run the query `fn` (a path, a reference such as
        `internal.x.y`, or the handler) at the latest snapshot; returns its value
        or raises its error (`AppError` with the same data for app errors)."""
        return await self._run_query(fn, args)

    async def run_mutation(self, fn: FunctionLike, args: dict[str, Any] | None = None) -> Any:
        """Run the mutation `fn` in its own transaction; returns its value
        or raises its error."""
        return await self._run_mutation(fn, args)

    async def run_action(self, fn: FunctionLike, args: dict[str, Any] | None = None) -> Any:
        """Run the action `fn` with the same identity and wait for it;
        returns its value or raises its error."""
        return await self._run_action(fn, args)
