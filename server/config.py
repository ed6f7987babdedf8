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
from typing import Any, TypeVar

from server.auth.providers import Provider, parse_providers
from server.errors import ConfigError

__all__ = [
    "AuthConfig",
    "Config",
    "DatabaseConfig",
    "FunctionsConfig",
    "Limits",
    "S3Config",
    "ServerConfig",
    "StorageConfig",
    "expand_env",
    "load_config",
]

_T = TypeVar("_T")

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
    # Seconds a SIGTERM gives in-flight mutations and actions to be answered
    # before every socket is closed (1012) and what still runs is cancelled.
    shutdown_grace: float = 10.0
    # Seconds a mutation's stored result answers a retry of its (sessionId,
    # requestId); older results are pruned. The JS client's reconnect backoff
    # caps near 16 s, so a retry after a dropped socket arrives well within
    # this; a client offline for longer re-runs its unanswered mutations.
    mutation_dedup_window: float = 600.0
    # Origins browsers may call the HTTP API from. "*" (the default) allows
    # any origin without credentials: the API authenticates by bearer token,
    # never by cookie, so credentials are only sent to listed origins.
    cors_origins: tuple[str, ...] = ("*",)
    # Where /metrics is served: "public" (this port), "off", or "HOST:PORT"
    # (a listener of its own, and not on this port; port 0 picks a free one).
    metrics: str = "public"
    # Seconds a frame may wait for a client that does not read before the
    # connection is closed (1008 SlowClient); as long again for the close
    # frame, then the socket is dropped.
    send_timeout: float = 30.0
    # Characters of received frames waiting on one connection before it is
    # closed (1008); reading pauses once one full message is waiting.
    max_inbox_bytes: int = 64 * 1024 * 1024
    # A second port serving the app's HTTP actions alone (Convex's "site"
    # URL), on `host`; None: they are served on `port` only. 0 picks one.
    site_port: int | None = None
    # The admin key (the dashboard's, and `Authenticate` tokenType Admin);
    # "": the `admin-key` file beside the database, made at the first start.
    # Nodes sharing a PostgreSQL database set the same one here.
    admin_key: str = field(default="", repr=False)
    # Seconds between refreshes of this node's `_nodes` document; a node
    # silent for three of them is taken for gone.
    node_refresh: float = 15.0
    # Function calls the `_function_logs` table keeps (the newest, of every
    # node), for the dashboard's Logs view; 0 records none. None: 5,000 in
    # `livesync dev`, none in `serve`, where writing the records costs a
    # busy node about 6% of its mutation rate (BENCHMARKS.md).
    function_log_entries: int | None = None
    # The dashboard page at /_dashboard (its functions answer the admin key
    # either way; false serves no page).
    dashboard: bool = True

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) when `metrics` names a listener of its own."""
        if self.metrics in ("public", "off"):
            return None
        host, _, port = self.metrics.rpartition(":")
        return host.strip("[]"), int(port)


MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes a client or a function may not exceed, Convex's where it has one.

    Each is refused with an error naming the size and the limit: a document
    fails its mutation, arguments fail their call, a result fails its query
    or call, an over-long sessionId closes the socket (1002), an over-long
    udfPath fails its call, and a ModifyQuerySet that would pass
    `queries_per_connection` closes the socket (1008)."""

    document_bytes: int = 1 * MiB  # a stored document, as JSON
    document_depth: int = 16  # nesting of objects and arrays in a document
    args_bytes: int = 16 * MiB  # a call's arguments, as JSON
    result_bytes: int = 16 * MiB  # a function's return value, as JSON
    queries_per_connection: int = 1000
    session_id_bytes: int = 256  # clients send a 36-character UUID
    udf_path_bytes: int = 1024


DEFAULT_FUNCTIONS_DIR = "examples/chat/functions"
DEFAULT_DATABASE_URL = "sqlite:///data/livesync.db"


@dataclass(frozen=True, slots=True)
class FunctionsConfig:
    dir: Path = Path(DEFAULT_FUNCTIONS_DIR)
    # Seconds one execution may take, awaiting included; past it the function
    # is stopped and its caller gets a timeout error (Convex: 1 s for queries
    # and mutations, 10 min for actions). See server/functions/timeouts.py.
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
class S3Config:
    """`[storage.s3]`: the bucket of `[storage] backend = "s3"`."""

    bucket: str
    # "": AWS itself; else the S3-compatible server (MinIO...), path-style.
    endpoint_url: str = ""
    region: str = ""
    # Prepended to every object's key (storage ids), e.g. "livesync/".
    prefix: str = ""
    # "": botocore's usual chain (AWS_ACCESS_KEY_ID..., ~/.aws, a role).
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    # Seconds to connect, and between bytes of an answer.
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """`[storage]`: files the app stores (`ctx.storage`)."""

    # The folder holding the files; None: `storage/` beside a SQLite
    # database, else `data/storage` under the config's folder. Nodes sharing
    # a PostgreSQL database must share this folder too.
    dir: Path | None = None
    # The largest file an upload URL takes (413 past it).
    max_file_bytes: int = 100 * 1024 * 1024
    # Seconds an upload URL stays usable (it is single-use besides).
    upload_url_ttl: float = 3600.0
    # Content types uploads may declare ("image/*" matches every image).
    content_types: tuple[str, ...] = ("*/*",)
    # How clients reach this server, for the URLs ctx.storage hands out;
    # "": http://HOST:PORT of [server] (127.0.0.1 for a wildcard host).
    public_url: str = ""
    # The bucket of `backend = "s3"`; None: the folder above (`"local"`).
    s3: S3Config | None = None


@dataclass(frozen=True, slots=True)
class AuthConfig:
    providers: tuple[Provider, ...] = ()
    # Seconds a token's nbf and iat may lie in the future (clock skew), and a
    # custom JWT's exp in the past; Convex and Clerk both use 5 s.
    clock_leeway: float = 5.0
    # Seconds from iat to exp beyond which a token is refused; 0: no maximum.
    max_token_lifetime: float = 0.0


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    functions: FunctionsConfig = field(default_factory=FunctionsConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    # The folder relative paths resolve against.
    base_dir: Path = Path(".")

    @property
    def data_dir(self) -> Path:
        """Where the deployment's own files go (stored files, the admin key):
        beside a SQLite database, else `data/` under the config's folder."""
        url = self.database.url.partition("?")[0]
        # Loaded configs hold SQLite paths absolute: sqlite:////abs/file.db.
        if url.startswith("sqlite:////"):
            return Path(url.removeprefix("sqlite:///")).parent
        return self.base_dir / "data"

    limits: Limits = field(default_factory=Limits)

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
        function_log_entries=(
            _typed(srv, "server", "function_log_entries", int, 0)
            if "function_log_entries" in srv
            else None
        ),
        dashboard=_typed(srv, "server", "dashboard", bool, defaults.dashboard),
    )
    if server.node_refresh <= 0:
        raise ConfigError("server.node_refresh: must be a positive number of seconds")
    if server.function_log_entries is not None and server.function_log_entries < 0:
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
        database=DatabaseConfig(_resolve_db_url(url, base)),
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
