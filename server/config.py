"""config.toml, loaded once at start-up into frozen values.

Every other component receives the section it needs as a constructor
argument; nothing else reads the file or the environment. `${VAR}` and
`${VAR:-default}` expand from the environment in every string value, and
relative paths resolve against the config file's folder.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from server.auth.providers import parse_providers
from server.errors import ConfigError

__all__ = [
    "AuthConfig",
    "Config",
    "DatabaseConfig",
    "FunctionsConfig",
    "ServerConfig",
    "expand_env",
    "load_config",
]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 3210
    # Frames above this close the socket with 1009; Convex's own limits on
    # arguments and results are 16 MiB.
    max_message_bytes: int = 16 * 1024 * 1024
    # A JSON Ping after this many seconds of silence (the JS client gives up
    # after 60 s, the Rust/Python one after 30 s).
    ping_interval: float = 15.0
    # Mutations waiting on one connection before it is closed as overloaded.
    max_pending_mutations: int = 1000
    # Seconds between full garbage-collection passes, which the server then
    # schedules instead of CPython (see server/gcpolicy.py); 0 leaves
    # CPython's own policy, with a full pass at every quarter of heap growth.
    gc_full_interval: float = 300.0


DEFAULT_FUNCTIONS_DIR = "examples/chat/functions"
DEFAULT_DATABASE_URL = "sqlite:///data/livesync.db"


@dataclass(frozen=True, slots=True)
class FunctionsConfig:
    dir: Path = Path(DEFAULT_FUNCTIONS_DIR)
    # Seconds one execution may take, awaiting included; past it the function
    # is stopped and its caller gets a timeout error (Convex: 1 s for queries
    # and mutations, 10 min for actions). See server/functions/limits.py.
    query_timeout: float = 1.0
    mutation_timeout: float = 1.0
    action_timeout: float = 600.0
    # Seconds one synchronous stretch of a query or mutation (code between
    # two awaits) may hold the event loop that serves every socket; actions
    # run on threads of their own (server/functions/action_threads.py).
    blocking_timeout: float = 1.0


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str = DEFAULT_DATABASE_URL


@dataclass(frozen=True, slots=True)
class AuthConfig:
    providers: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    functions: FunctionsConfig = field(default_factory=FunctionsConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    # The folder relative paths resolve against.
    base_dir: Path = Path(".")

    def with_overrides(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        functions: str | None = None,
        database: str | None = None,
    ) -> Config:
        """Apply CLI flags; their relative paths resolve against the cwd."""
        cfg = self
        if host is not None or port is not None:
            cfg = replace(
                cfg,
                server=replace(
                    cfg.server,
                    host=host if host is not None else cfg.server.host,
                    port=port if port is not None else cfg.server.port,
                ),
            )
        if functions is not None:
            cfg = replace(cfg, functions=replace(cfg.functions, dir=Path(functions).resolve()))
        if database is not None:
            cfg = replace(cfg, database=DatabaseConfig(_resolve_db_url(database, Path.cwd())))
        return cfg


def expand_env(value: str, key: str, env: Mapping[str, str]) -> str:
    """Expand `${VAR}` / `${VAR:-default}`; an unset VAR without default is
    an error naming the key and the variable."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env and (env[name] != "" or default is None):
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{key}: environment variable {name} is not set")

    return _VAR.sub(sub, value)


def _expand_tree(node: Any, key: str, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return expand_env(node, key, env)
    if isinstance(node, dict):
        return {k: _expand_tree(v, f"{key}.{k}" if key else k, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_tree(v, f"{key}[{i}]", env) for i, v in enumerate(node)]
    return node


def _resolve_db_url(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def _section(data: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{name}: expected a table")
    unknown = set(section) - allowed
    if unknown:
        raise ConfigError(f"{name}.{sorted(unknown)[0]}: unknown key")
    return section


def _typed(section: dict[str, Any], name: str, key: str, kind: type, default: Any) -> Any:
    if key not in section:
        return default
    value = section[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{name}.{key}: expected {kind.__name__}, got {value!r}")
    return value


_FUNCTION_LIMITS = ("query_timeout", "mutation_timeout", "action_timeout", "blocking_timeout")


def _seconds(section: dict[str, Any], name: str, key: str) -> float:
    value: float = _typed(section, name, key, float, getattr(FunctionsConfig(), key))
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}.{key}: expected a positive number of seconds, got {value!r}")
    return value


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read config.toml (or return defaults relative to the cwd if `path` is None)."""
    env = os.environ if env is None else env
    if path is None:
        base = Path.cwd()
        return Config(
            functions=FunctionsConfig((base / DEFAULT_FUNCTIONS_DIR).resolve()),
            database=DatabaseConfig(_resolve_db_url(DEFAULT_DATABASE_URL, base)),
            base_dir=base,
        )
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    unknown = set(raw) - {"server", "functions", "database", "auth"}
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section")
    data = _expand_tree(raw, "", env)
    base = path.resolve().parent
    srv = _section(data, "server", {f for f in ServerConfig.__dataclass_fields__})
    defaults = ServerConfig()
    server = ServerConfig(
        host=_typed(srv, "server", "host", str, defaults.host),
        port=_typed(srv, "server", "port", int, defaults.port),
        max_message_bytes=_typed(
            srv, "server", "max_message_bytes", int, defaults.max_message_bytes
        ),
        ping_interval=_typed(srv, "server", "ping_interval", float, defaults.ping_interval),
        max_pending_mutations=_typed(
            srv, "server", "max_pending_mutations", int, defaults.max_pending_mutations
        ),
        gc_full_interval=_typed(
            srv, "server", "gc_full_interval", float, defaults.gc_full_interval
        ),
    )
    fn = _section(data, "functions", {f for f in FunctionsConfig.__dataclass_fields__})
    fdir = _typed(fn, "functions", "dir", str, DEFAULT_FUNCTIONS_DIR)
    limits = {name: _seconds(fn, "functions", name) for name in _FUNCTION_LIMITS}
    db = _section(data, "database", {"url"})
    url = _typed(db, "database", "url", str, DEFAULT_DATABASE_URL)
    auth = _section(data, "auth", {"providers"})
    providers_raw = auth.get("providers", [])
    if not isinstance(providers_raw, list):
        raise ConfigError("auth.providers: expected an array of tables")
    return Config(
        server=server,
        functions=FunctionsConfig((base / fdir).resolve(), **limits),
        database=DatabaseConfig(_resolve_db_url(url, base)),
        auth=AuthConfig(parse_providers(providers_raw)),
        base_dir=base,
    )
