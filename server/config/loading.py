"""Reading config.toml into `server.config.values`, checking every key.

`${VAR}` and `${VAR:-default}` expand from the environment in every string
value, and relative paths resolve against the config file's folder.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from server.auth.providers import parse_providers
from server.config.values import (
    DEFAULT_DATABASE_URL,
    DEFAULT_FUNCTIONS_DIR,
    AuthConfig,
    Config,
    DatabaseConfig,
    FunctionsConfig,
    Limits,
    S3Config,
    ServerConfig,
    StorageConfig,
    resolve_db_url,
)
from server.errors import ConfigError

__all__ = ["expand_env", "load_config"]

_T = TypeVar("_T")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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


def _section(data: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{name}: expected a table")
    unknown = set(section) - allowed
    if unknown:
        raise ConfigError(f"{name}.{sorted(unknown)[0]}: unknown key")
    return section


def _typed(section: dict[str, Any], name: str, key: str, kind: type[_T], default: _T) -> _T:
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
            database=DatabaseConfig(resolve_db_url(DEFAULT_DATABASE_URL, base)),
            base_dir=base,
        )
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    unknown = set(raw) - {"server", "functions", "database", "auth", "limits", "storage"}
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
        shutdown_grace=_typed(srv, "server", "shutdown_grace", float, defaults.shutdown_grace),
        mutation_dedup_window=_typed(
            srv, "server", "mutation_dedup_window", float, defaults.mutation_dedup_window
        ),
        cors_origins=_cors_origins(srv, defaults.cors_origins),
        metrics=_metrics(srv, defaults.metrics),
        send_timeout=_typed(srv, "server", "send_timeout", float, defaults.send_timeout),
        max_inbox_bytes=_typed(srv, "server", "max_inbox_bytes", int, defaults.max_inbox_bytes),
        site_port=_typed(srv, "server", "site_port", int, 0) if "site_port" in srv else None,
        admin_key=_typed(srv, "server", "admin_key", str, ""),
        node_refresh=_typed(srv, "server", "node_refresh", float, defaults.node_refresh),
        function_log_entries=_typed(
            srv, "server", "function_log_entries", int, defaults.function_log_entries
        ),
        dashboard=_typed(srv, "server", "dashboard", bool, defaults.dashboard),
    )
    if server.node_refresh <= 0:
        raise ConfigError("server.node_refresh: must be a positive number of seconds")
    if server.function_log_entries < 0:
        raise ConfigError("server.function_log_entries: must be 0 (none) or more")
    if server.mutation_dedup_window <= 0:
        raise ConfigError("server.mutation_dedup_window: must be a positive number of seconds")
    if server.send_timeout <= 0 or server.max_inbox_bytes <= 0:
        raise ConfigError("server.send_timeout and server.max_inbox_bytes must be more than 0")
    fn = _section(data, "functions", {f for f in FunctionsConfig.__dataclass_fields__})
    fdir = _typed(fn, "functions", "dir", str, DEFAULT_FUNCTIONS_DIR)
    limits = {name: _seconds(fn, "functions", name) for name in _FUNCTION_LIMITS}
    db = _section(data, "database", {"url"})
    url = _typed(db, "database", "url", str, DEFAULT_DATABASE_URL)
    auth = _section(data, "auth", {"providers", "clock_leeway", "max_token_lifetime"})
    providers_raw = auth.get("providers", [])
    if not isinstance(providers_raw, list):
        raise ConfigError("auth.providers: expected an array of tables")
    auth_defaults = AuthConfig()
    return Config(
        server=server,
        functions=FunctionsConfig((base / fdir).resolve(), **limits),
        database=DatabaseConfig(resolve_db_url(url, base)),
        auth=AuthConfig(
            parse_providers(providers_raw),
            clock_leeway=_non_negative(auth, "auth", "clock_leeway", auth_defaults.clock_leeway),
            max_token_lifetime=_non_negative(
                auth, "auth", "max_token_lifetime", auth_defaults.max_token_lifetime
            ),
        ),
        base_dir=base,
        limits=_limits(data),
        storage=_storage(data, base),
    )


def _storage(data: dict[str, Any], base: Path) -> StorageConfig:
    allowed = set(StorageConfig.__dataclass_fields__) | {"backend"}
    section = _section(data, "storage", allowed)
    defaults = StorageConfig()
    folder = _typed(section, "storage", "dir", str, "")
    max_bytes = _typed(section, "storage", "max_file_bytes", int, defaults.max_file_bytes)
    ttl = _typed(section, "storage", "upload_url_ttl", float, defaults.upload_url_ttl)
    if max_bytes < 1 or ttl <= 0:
        raise ConfigError("storage.max_file_bytes and storage.upload_url_ttl must be more than 0")
    types = section.get("content_types", list(defaults.content_types))
    if not isinstance(types, list) or not all(
        isinstance(t, str) and t.count("/") == 1 for t in types
    ):
        raise ConfigError('storage.content_types: expected a list like ["image/*", "text/plain"]')
    public_url = _typed(section, "storage", "public_url", str, "").rstrip("/")
    return StorageConfig(
        (base / folder).resolve() if folder else None,
        max_bytes,
        ttl,
        tuple(types),
        public_url,
        _s3(section),
    )


def _s3(storage: dict[str, Any]) -> S3Config | None:
    backend = _typed(storage, "storage", "backend", str, "local")
    if backend not in ("local", "s3"):
        raise ConfigError(f'storage.backend: expected "local" or "s3", got {backend!r}')
    section = storage.get("s3", {})
    if not isinstance(section, dict):
        raise ConfigError("storage.s3: expected a table")
    unknown = set(section) - set(S3Config.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"storage.s3.{sorted(unknown)[0]}: unknown key")
    if backend == "local":
        return None  # [storage.s3] may stay, for switching back and forth
    values = {key: _typed(section, "storage.s3", key, str, "") for key in _S3_TEXT}
    if not values["bucket"]:
        raise ConfigError('storage.s3.bucket: required with storage.backend = "s3"')
    timeout = _typed(section, "storage.s3", "timeout", float, 30.0)
    if not timeout > 0:
        raise ConfigError(f"storage.s3.timeout: must be more than 0, got {timeout!r}")
    return S3Config(**values, timeout=timeout)


_S3_TEXT = ("bucket", "endpoint_url", "region", "prefix", "access_key_id", "secret_access_key")


def _non_negative(section: dict[str, Any], name: str, key: str, default: float) -> float:
    value: float = _typed(section, name, key, float, default)
    if value < 0:
        raise ConfigError(f"{name}.{key}: must be 0 or more, got {value!r}")
    return value


def _limits(data: dict[str, Any]) -> Limits:
    section = _section(data, "limits", set(Limits.__dataclass_fields__))
    defaults = Limits()
    values: dict[str, int] = {}
    for key in Limits.__dataclass_fields__:
        value = _typed(section, "limits", key, int, getattr(defaults, key))
        if value < 1:
            raise ConfigError(f"limits.{key}: must be at least 1, got {value!r}")
        values[key] = value
    return Limits(**values)


def _cors_origins(section: dict[str, Any], default: tuple[str, ...]) -> tuple[str, ...]:
    value = section.get("cors_origins", list(default))
    if not isinstance(value, list) or not all(isinstance(o, str) and o for o in value):
        raise ConfigError(
            f'server.cors_origins: expected an array of origins like ["https://app.example"]'
            f' or ["*"], got {value!r}'
        )
    for origin in value:
        if origin != "*" and (origin.endswith("/") or "://" not in origin):
            raise ConfigError(
                f"server.cors_origins: {origin!r} is not an origin (scheme://host[:port], "
                "no path or trailing slash)"
            )
    return tuple(value)


def _metrics(section: dict[str, Any], default: str) -> str:
    value: str = _typed(section, "server", "metrics", str, default)
    if value in ("public", "off"):
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f'server.metrics: expected "public", "off" or "HOST:PORT", got {value!r}')
    return value
