"""App functions: registry, validators, schema, `ctx.db`, logs and the runner.

The sync layer loads an app with `FunctionRegistry.load(dir)` and runs its
functions with `FunctionRunner`; app code imports the decorators, `v` and the
schema helpers through `server`.
"""

from __future__ import annotations

from server.functions.outcome import Outcome
from server.functions.readset import IndexRange, ReadSet
from server.functions.registry import FunctionRegistry, RegisteredFunction
from server.functions.runner import FunctionRunner

__all__ = [
    "FunctionRegistry",
    "FunctionRunner",
    "IndexRange",
    "Outcome",
    "ReadSet",
    "RegisteredFunction",
]
