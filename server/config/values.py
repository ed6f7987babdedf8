"""The configuration's frozen values, one dataclass per section of
config.toml, with their defaults (`server.config.loading` reads the file)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from server.auth.providers import Provider

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_FUNCTIONS_DIR",
    "AuthConfig",
    "Config",
    "DatabaseConfig",
    "FunctionsConfig",
    "Limits",
    "S3Config",
    "ServerConfig",
    "StorageConfig",
    "resolve_db_url",
]


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
    # node), for the dashboard's Logs view; 0 records none. Writing them
    # costs a node under full write load about 2% of its mutation rate
    # (BENCHMARKS.md, "Function logs").
    function_log_entries: int = 5000
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
            cfg = replace(cfg, database=DatabaseConfig(resolve_db_url(database, Path.cwd())))
        return cfg


def resolve_db_url(url: str, base: Path) -> str:
    """`url` with a relative SQLite path made absolute against `base`."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url
