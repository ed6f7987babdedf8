"""Naming a function from server code: by its `"module:function"` path, by
`api.module.function` / `internal.module.function` (Convex's spelling), or
by the decorated handler itself, which a type checker and an editor follow:

    await ctx.run_mutation("messages:save", {...})
    await ctx.run_mutation(internal.messages.save, {...})
    await ctx.run_mutation(save, {...})        # from .messages import save

`api.admin.users.ban` names `admin/users:ban`. A reference says whether it
means a public or an internal function, and is checked against the
function when it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.errors import FunctionError
from server.functions.decorators import get_spec
from server.functions.registry import FunctionRegistry

__all__ = ["FunctionLike", "FunctionReference", "api", "function_path", "internal"]


class FunctionReference:
    """`api.x.y` or `internal.x.y`: each attribute adds a part of the path."""

    __slots__ = ("_internal", "_parts")

    def __init__(self, internal: bool, parts: tuple[str, ...] = ()) -> None:
        self._internal = internal
        self._parts = parts

    def __getattr__(self, name: str) -> FunctionReference:
        if name.startswith("__"):  # copy, pickle and friends probe for these
            raise AttributeError(name)
        return FunctionReference(self._internal, (*self._parts, name))

    def __repr__(self) -> str:
        return ".".join(("internal" if self._internal else "api", *self._parts))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FunctionReference):
            return NotImplemented
        return (self._internal, self._parts) == (other._internal, other._parts)

    def __hash__(self) -> int:
        return hash((self._internal, self._parts))


api = FunctionReference(internal=False)
"""The app's public functions: `api.messages.send` is `messages:send`."""

internal = FunctionReference(internal=True)
"""The app's internal functions: `internal.messages.purge` is `messages:purge`."""

FunctionLike = str | FunctionReference | Callable[..., Any]
"""What `ctx.run_query` and friends, the scheduler and `crons.py` accept."""


def function_path(fn: FunctionLike, registry: FunctionRegistry) -> str:
    """The path `fn` names. Raises `FunctionError` for a reference that does
    not name a function of `registry` as it says (public or internal), and
    for anything that is not a function name at all."""
    if isinstance(fn, str):
        return fn
    if isinstance(fn, FunctionReference):
        return _reference_path(fn, registry)
    if callable(fn) and get_spec(fn) is not None:
        path = registry.path_of(fn)
        if path is None:
            raise FunctionError(f"{_name_of(fn)} is not a function of this app's functions folder")
        return path
    raise FunctionError(
        f"Expected a function path such as 'messages:send', a reference such as "
        f"api.messages.send, or a decorated function, got {fn!r}"
    )


def _reference_path(ref: FunctionReference, registry: FunctionRegistry) -> str:
    parts = ref._parts
    if len(parts) < 2:
        raise FunctionError(f"{ref!r} names a module, not a function: add the function's name")
    path = f"{'/'.join(parts[:-1])}:{parts[-1]}"
    try:
        function = registry.lookup(path, internal_ok=True)
    except FunctionError:
        return path  # unknown: the call fails as for any unknown path
    if function.internal != ref._internal:
        right = "internal" if function.internal else "api"
        raise FunctionError(
            f"{ref!r}: {path} is {'an internal' if function.internal else 'a public'} "
            f"function; refer to it as {right}.{'.'.join(parts)}"
        )
    return path


def _name_of(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
