"""Loading an app's function modules and finding a function by path.

`FunctionRegistry.load(directory)` imports every `*.py` file in the folder
tree (except `schema.py` and `crons.py` at the top, files starting with `_`,
and `__pycache__`), then `schema.py` and `crons.py` (the app's cron jobs,
`registry.crons`), which may name the functions. Each
folder becomes a synthetic package with a name unique to this load, so two
apps with a `messages.py` each can be loaded side by side in one process, and
function modules can import their siblings relatively
(`from .helpers import x`, `from ..lib import y`).

A handler `send` in `messages.py` answers to `messages:send`; in
`admin/users.py` to `admin/users:send`. A snake_case name also answers to its
camelCase form, and `name=` in the decorator replaces the function part (or,
if it contains ":", the whole path).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import itertools
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any

from server.errors import ConfigError, FunctionNotFound
from server.functions.decorators import FunctionKind, get_spec
from server.functions.http_router import HttpRouter
from server.functions.schema import Schema
from server.functions.validators import Validator
from server.store.base import IndexDef, SearchIndexDef

if TYPE_CHECKING:  # crons.py names functions through references, which need this module
    from server.functions.crons import CronJob

__all__ = ["FunctionRegistry", "RegisteredFunction", "camel_case"]

logger = logging.getLogger("livesync.functions")

_package_numbers = itertools.count(1)
_KIND_TITLES = {"query": "Query", "mutation": "Mutation", "action": "Action"}


@dataclass(frozen=True, slots=True)
class RegisteredFunction:
    """One app function. `path` is its canonical `module:function` path."""

    path: str
    kind: FunctionKind
    handler: Callable[..., Any]
    args_validator: Validator | None
    returns_validator: Validator | None
    internal: bool = False


def camel_case(name: str) -> str:
    """`get_for_current_user` -> `getForCurrentUser`; leading underscores kept."""
    stripped = name.lstrip("_")
    head, *rest = stripped.split("_")
    return (
        name[: len(name) - len(stripped)]
        + head
        + "".join(part[:1].upper() + part[1:] for part in rest)
    )


class FunctionRegistry:
    """Every function of one app, plus its schema (or None)."""

    def __init__(
        self,
        functions: dict[str, RegisteredFunction] | None = None,
        schema: Schema | None = None,
        package: str | None = None,
    ) -> None:
        # Maps every path a function answers to (canonical and aliases) to it.
        self._by_path: dict[str, RegisteredFunction] = dict(functions or {})
        self.schema = schema
        self.package = package
        self.http: HttpRouter | None = None  # http.py's router, if the app has one
        self.crons: tuple[CronJob, ...] = ()

    @classmethod
    def load(cls, directory: Path) -> FunctionRegistry:
        """Import the app in `directory`. Raises `ConfigError` for a module
        that fails to import, two functions answering to one path, or a bad
        `schema.py` or `crons.py`."""
        root = Path(directory).resolve()
        if not root.is_dir():
            raise ConfigError(f"functions folder {root} does not exist")
        package = f"_livesync_app_{next(_package_numbers)}"
        _make_package(package, root)
        # App loggers (`logging.getLogger(__name__)`) pass every level, so
        # info and debug lines reach the function's log output.
        logging.getLogger(package).setLevel(logging.DEBUG)
        registry = cls(package=package)
        for file in _function_files(root):
            module = _import_file(package, root, file)
            registry._add_module(root, file, module)
        schema_file = root / "schema.py"
        if schema_file.is_file():
            registry.schema = _load_schema(package, root, schema_file)
        crons_file = root / "crons.py"
        if crons_file.is_file():
            registry.crons = _load_crons(package, root, crons_file, registry)
        logger.debug("loaded %d functions from %s", len(registry.paths()), root)
        return registry

    def unload(self) -> None:
        """Forget this load's modules (a reload replaced them); functions
        still running keep what they refer to."""
        if self.package is not None:
            prefix = self.package + "."
            for name in [n for n in sys.modules if n == self.package or n.startswith(prefix)]:
                del sys.modules[name]

    def __contains__(self, path: object) -> bool:
        """Whether a function answers to `path` (internal ones too)."""
        return path in self._by_path

    def paths(self) -> list[str]:
        """The canonical paths of every function, sorted."""
        return sorted({function.path for function in self._by_path.values()})

    def functions(self) -> list[RegisteredFunction]:
        return sorted({id(f): f for f in self._by_path.values()}.values(), key=lambda f: f.path)

    def index_defs(self) -> list[IndexDef | SearchIndexDef]:
        """The schema's indexes (empty without a schema)."""
        return [] if self.schema is None else self.schema.index_defs()

    def lookup(
        self, path: str, kind: FunctionKind | None = None, *, internal_ok: bool = False
    ) -> RegisteredFunction:
        """The function answering to canonical `path`; with `kind`, it must be
        of that kind. An internal function is found only with `internal_ok`
        (for callers on the server's side); to anyone else it does not exist.
        Raises `FunctionNotFound` with a message for the caller."""
        function = self._by_path.get(path)
        if function is None or (function.internal and not internal_ok):
            raise FunctionNotFound(
                f"Could not find public function for '{path}'. Did you forget to define it "
                "in the functions folder (`livesync dev` loads it on save; restart "
                "`livesync serve` after adding it)?"
            )
        if kind is not None and function.kind != kind:
            raise FunctionNotFound(
                f"Trying to execute {path} as {_KIND_TITLES[kind]}, "
                f"but it is defined as {_KIND_TITLES[function.kind]}."
            )
        return function

    def path_of(self, handler: Callable[..., Any]) -> str | None:
        """The canonical path of a registered handler, or None."""
        for function in self._by_path.values():
            if function.handler is handler:
                return function.path
        return None

    def add(self, function: RegisteredFunction, aliases: tuple[str, ...] = ()) -> None:
        """Register `function` under its path and `aliases`; a path already
        taken by another function is a `ConfigError` naming both."""
        for path in (function.path, *aliases):
            existing = self._by_path.get(path)
            if existing is not None and existing.handler is not function.handler:
                raise ConfigError(
                    f"Two functions answer to '{path}': {_describe(existing)} and "
                    f"{_describe(function)}. Rename one or pass name= to the decorator."
                )
            self._by_path[path] = function

    def _add_module(self, root: Path, file: Path, module: ModuleType) -> None:
        module_path = file.relative_to(root).with_suffix("").as_posix()
        if module_path == "http":
            router = getattr(module, "http", None)
            if not isinstance(router, HttpRouter):
                raise ConfigError(f"{file}: http.py must set `http = http_router()`")
            self.http = router
        aliases: tuple[str, ...]
        for attribute, value in list(vars(module).items()):
            spec = get_spec(value)
            # Only handlers defined here: an imported sibling's handler is
            # registered under its own module, not again under this one.
            if spec is None or getattr(value, "__module__", None) != module.__name__:
                continue
            if spec.name is not None and ":" in spec.name:
                path, aliases = spec.name, ()
            elif spec.name is not None:
                path, aliases = f"{module_path}:{spec.name}", ()
            else:
                path = f"{module_path}:{attribute}"
                alias = f"{module_path}:{camel_case(attribute)}"
                aliases = (alias,) if alias != path else ()
            if path.startswith("_"):
                # Such paths are the server's own (the dashboard's functions).
                raise ConfigError(
                    f"{file}: {attribute} is named {path!r}; paths starting with '_' "
                    "are reserved for livesync's built-in functions"
                )
            function = RegisteredFunction(
                path, spec.kind, value, spec.args, spec.returns, spec.internal
            )
            self.add(function, aliases)


def _describe(function: RegisteredFunction) -> str:
    handler = function.handler
    module = getattr(handler, "__module__", "?").split(".", 1)[-1].replace(".", "/")
    kind = f"internal {function.kind}" if function.internal else function.kind
    return f"{module}.py:{getattr(handler, '__name__', '?')} ({kind})"


def _function_files(root: Path) -> list[Path]:
    files = []
    for file in sorted(root.rglob("*.py")):
        parts = file.relative_to(root).parts
        if any(part.startswith("_") or part.startswith(".") for part in parts):
            continue
        if parts in (("schema.py",), ("crons.py",)):
            continue
        files.append(file)
    return files


def _make_package(name: str, directory: Path) -> ModuleType:
    existing = sys.modules.get(name)
    if existing is not None:
        return existing
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(directory)]
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(directory)]
    sys.modules[name] = package
    # Siblings imported relatively are found through this finder, so they
    # too are compiled from their source as it is now.
    sys.path_importer_cache[str(directory)] = importlib.machinery.FileFinder(
        str(directory), (_SourceLoader, importlib.machinery.SOURCE_SUFFIXES)
    )
    return package


class _SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a function module from its source every time, never from
    __pycache__: a .pyc records its source's mtime in whole seconds, so an
    edit saved within the second it was written (a dev reload) would go
    unseen. Writes no .pyc either."""

    def get_code(self, fullname: str) -> CodeType:
        source = self.get_data(self.path)
        code: CodeType = compile(source, self.path, "exec", dont_inherit=True)
        return code


def _module_name(package: str, root: Path, file: Path) -> str:
    parts = file.relative_to(root).with_suffix("").parts
    return ".".join((package, *parts))


def _import_file(package: str, root: Path, file: Path) -> ModuleType:
    name = _module_name(package, root, file)
    existing = sys.modules.get(name)
    if existing is not None:
        return existing  # already imported by a sibling's relative import
    parent = package
    for part in file.relative_to(root).parent.parts:
        parent = f"{parent}.{part}"
        _make_package(parent, root.joinpath(*parent.split(".")[1:]))
    spec = importlib.util.spec_from_file_location(name, file, loader=_SourceLoader(name, str(file)))
    if spec is None or spec.loader is None:
        raise ConfigError(f"Could not load function module {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigError(f"{_failed_at(root, file, exc)}: {_describe_failure(exc)}") from exc
    return module


def _failed_at(root: Path, file: Path, exc: BaseException) -> str:
    """`path:line` of the app's own line that raised `exc` while `file` was
    imported (a sibling it imports may be the one at fault), or `file`."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{exc.filename}:{exc.lineno}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).is_relative_to(root) and frame.lineno is not None:
            return f"{frame.filename}:{frame.lineno}"
    return str(file)


def _describe_failure(exc: BaseException) -> str:
    message = " ".join((exc.msg if isinstance(exc, SyntaxError) else str(exc)).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _load_schema(package: str, root: Path, file: Path) -> Schema:
    module = _import_file(package, root, file)
    schema = getattr(module, "schema", None)
    if not isinstance(schema, Schema):
        raise ConfigError(
            f"{file} must define `schema = define_schema({{...}})`, found {type(schema).__name__}"
        )
    return schema


def _load_crons(
    package: str, root: Path, file: Path, registry: FunctionRegistry
) -> tuple[CronJob, ...]:
    from server.functions.crons import CronDefinitionError, CronJobs

    try:
        module = _import_file(package, root, file)
    except ConfigError as exc:
        # A job crons.py declares wrongly: one line naming the file and the job.
        cause = exc.__cause__
        if isinstance(cause, CronDefinitionError):
            raise ConfigError(f"{_failed_at(root, file, cause)}: {cause}") from None
        raise
    crons = getattr(module, "crons", None)
    if not isinstance(crons, CronJobs):
        raise ConfigError(f"{file} must define `crons = cron_jobs()`, found {type(crons).__name__}")
    try:
        return crons.resolve(registry)
    except CronDefinitionError as exc:
        raise ConfigError(f"{file}: {exc}") from None
