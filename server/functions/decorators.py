"""The decorators app code marks functions with: `query`, `mutation` and
`action`, and their `internal_` twins, which no client may call (only
actions, scheduled jobs and cron jobs).

A decorator leaves the handler callable as it was and attaches a
`FunctionSpec` to it; `FunctionRegistry.load` later finds the marked
handlers in each module and gives them their paths.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from server.errors import ConfigError
from server.functions.validators import Validator, as_object_validator

__all__ = [
    "FunctionKind",
    "FunctionSpec",
    "action",
    "get_spec",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "query",
]

FunctionKind = Literal["query", "mutation", "action"]
Handler = Callable[..., Any]
F = TypeVar("F", bound=Handler)
ArgsSpec = Mapping[str, Validator] | Validator | None

_SPEC_ATTRIBUTE = "__livesync_function__"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """What a decorator declared about one handler."""

    kind: FunctionKind
    args: Validator | None
    returns: Validator | None
    name: str | None
    internal: bool = False


def get_spec(obj: object) -> FunctionSpec | None:
    """The spec attached to a decorated handler, or None for anything else."""
    spec = getattr(obj, _SPEC_ATTRIBUTE, None)
    return spec if isinstance(spec, FunctionSpec) else None


def _mark(
    kind: FunctionKind,
    args: ArgsSpec,
    returns: Validator | None,
    name: str | None,
    internal: bool,
) -> Callable[[F], F]:
    args_validator = None if args is None else as_object_validator(args)
    if returns is not None and not isinstance(returns, Validator):
        raise TypeError(f"returns= takes a validator such as v.string(), got {returns!r}")
    spec = FunctionSpec(kind, args_validator, returns, name, internal)
    decorator = f"internal_{kind}" if internal else kind

    def decorate(handler: F) -> F:
        if not inspect.iscoroutinefunction(handler):
            raise ConfigError(
                f"@{decorator} handler {getattr(handler, '__qualname__', handler)!r} "
                "must be an `async def` function"
            )
        setattr(handler, _SPEC_ATTRIBUTE, spec)
        return handler

    return decorate


def _decorator(
    kind: FunctionKind,
    args: ArgsSpec | Handler,
    returns: Validator | None,
    name: str | None,
    internal: bool = False,
) -> Handler | Callable[[Handler], Handler]:
    if isinstance(args, Validator) or not callable(args):
        return _mark(kind, args, returns, name, internal)
    return _mark(kind, None, None, None, internal)(args)  # bare `@query`


@overload
def query(args: F) -> F: ...
@overload
def query(
    args: ArgsSpec = None, returns: Validator | None = None, name: str | None = None
) -> Callable[[F], F]: ...
def query(
    args: ArgsSpec | Handler = None, returns: Validator | None = None, name: str | None = None
) -> Handler | Callable[[Handler], Handler]:
    """Mark an `async def handler(ctx, **args)` as a query (read-only, reactive)."""
    return _decorator("query", args, returns, name)


@overload
def mutation(args: F) -> F: ...
@overload
def mutation(
    args: ArgsSpec = None, returns: Validator | None = None, name: str | None = None
) -> Callable[[F], F]: ...
def mutation(
    args: ArgsSpec | Handler = None, returns: Validator | None = None, name: str | None = None
) -> Handler | Callable[[Handler], Handler]:
    """Mark an `async def handler(ctx, **args)` as a mutation (one transaction)."""
    return _decorator("mutation", args, returns, name)


@overload
def action(args: F) -> F: ...
@overload
def action(
    args: ArgsSpec = None, returns: Validator | None = None, name: str | None = None
) -> Callable[[F], F]: ...
def action(
    args: ArgsSpec | Handler = None, returns: Validator | None = None, name: str | None = None
) -> Handler | Callable[[Handler], Handler]:
    """Mark an `async def handler(ctx, **args)` as an action (no db; calls
    queries and mutations through `ctx.run_query` / `ctx.run_mutation`)."""
    return _decorator("action", args, returns, name)


@overload
def internal_query(args: F) -> F: ...
@overload
def internal_query(
    args: ArgsSpec = None, returns: Validator | None = None, name: str | None = None
) -> Callable[[F], F]: ...
def internal_query(
    args: ArgsSpec | Handler = None, returns: Validator | None = None, name: str | None = None
) -> Handler | Callable[[Handler], Handler]:
    """A query no client may call: for actions (`ctx.run_query`) and jobs."""
    return _decorator("query", args, returns, name, internal=True)


@overload
def internal_mutation(args: F) -> F: ...
@overload
def internal_mutation(
    args: ArgsSpec = None, returns: Validator | None = None, name: str | None = None
) -> Callable[[F], F]: ...
def internal_mutation(
    args: ArgsSpec | Handler = None, returns: Validator | None = None, name: str | None = None
) -> Handler | Callable[[Handler], Handler]:
    """A mutation no client may call: for actions (`ctx.run_mutation`),
    scheduled jobs and cron jobs."""
    return _decorator("mutation", args, returns, name, internal=True)


@overload
def internal_action(args: F) -> F: ...
@overload
def internal_action(
    args: ArgsSpec = None, returns: Validator | None = None, name: str | None = None
) -> Callable[[F], F]: ...
def internal_action(
    args: ArgsSpec | Handler = None, returns: Validator | None = None, name: str | None = None
) -> Handler | Callable[[Handler], Handler]:
    """An action no client may call: for actions (`ctx.run_action`),
    scheduled jobs and cron jobs."""
    return _decorator("action", args, returns, name, internal=True)
