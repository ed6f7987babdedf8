"""Canonical function paths (convex-protocol.md §2, "Function names").

Clients name the same function several ways: JS sends ``messages`` for a
default export, and the Rust/Python clients re-add queries as
``messages.js:list`` after a reconnect. The server keys everything on one
canonical form, ``module:function`` with no ``.js``.
"""

from __future__ import annotations

from protocol.errors import RemoteProtocolError

__all__ = ["canonicalize_udf_path"]


def canonicalize_udf_path(path: str) -> str:
    """Return the canonical ``module:function`` form of a function path.

    ``messages`` -> ``messages:default``; ``messages.js:list`` ->
    ``messages:list``; ``dir/file.js:fn`` -> ``dir/file:fn``.

    Raises:
        RemoteProtocolError: the path, its module or its function is empty.
    """
    if not isinstance(path, str) or not path:
        raise RemoteProtocolError(f"function path must be a non-empty string, got {path!r}")
    module, colon, function = path.rpartition(":")
    if not colon:
        module, function = path, "default"
    module = module.removesuffix(".js")
    if not module or not function:
        raise RemoteProtocolError(f"function path {path!r} has an empty module or function name")
    return f"{module}:{function}"
