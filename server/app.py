"""The ASGI application: one port for the sync WebSocket, the HTTP function
API, health and metrics (and, in dev mode, the dev issuer).

Run by uvicorn with `server.websocket.LivesyncWebSocketProtocol` (uvicorn's
sans-I/O protocol plus a direct-send extension); users can also mount it in
their own ASGI app, where it falls back to awaiting `send`. Start-up (the
ASGI lifespan) loads the functions, opens the store and builds the engine, so
a broken config fails before the port is listening.

HTTP requests are routed by `server.http_routes`; the periodic upkeep runs
in `server.upkeep`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from typing import TYPE_CHECKING, Any

from protocol.session import AuthState
from server.admin.dashboard import ServerFacts, install_dashboard
from server.admin.function_logs import FunctionLog
from server.admin.keys import AdminKey, admin_key_path
from server.admin.nodes import NodeInfo, NodePresence
from server.admin.stats import node_stats
from server.asgi import ASGIApp, Receive, Scope, Send
from server.asgi_transport import AsgiTransport
from server.config import Config
from server.dev_issuer import DevIssuer
from server.errors import LivesyncError
from server.functions.legacy_numbers import convert_legacy_numbers
from server.functions.registry import FunctionRegistry
from server.functions.runner import FunctionRunner
from server.functions.timeouts import time_limits
from server.gcpolicy import GcPolicy
from server.http_api import Authenticate, json_error
from server.http_routes import HttpRoutes
from server.interrupt import LoopWatchdog
from server.metrics import Metrics
from server.scheduler.crons import CronRunner
from server.scheduler.executor import JobExecutor
from server.storage.files import open_file_store
from server.storage.service import Storage
from server.store import open_store
from server.sync.connection import SyncConnection
from server.sync.engine import Engine
from server.upkeep import Upkeep
from server.version import installed_version
from server.websocket import EXTENSION, Direct

if TYPE_CHECKING:
    from server.auth.authenticator import Authenticator

__all__ = ["LivesyncApp"]

log = logging.getLogger("livesync.server")


# JS clients append /api/<version>/sync to whatever URL they were given, so
# anything ending that way is the sync route (after collapsing "//").
_SYNC_PATH = re.compile(r"(^|/)api/([^/]+/)?sync$")


class LivesyncApp:
    """The server as an ASGI callable; `startup()` must run before use."""

    def __init__(
        self,
        config: Config,
        *,
        mounts: dict[str, ASGIApp] | None = None,
        public_url: str | None = None,
        registry: FunctionRegistry | None = None,
        dev: bool = False,
    ) -> None:
        self.config = config
        # `livesync dev`: the dashboard page opens signed in for this machine.
        self.dev = dev
        # Functions loaded beforehand (the CLI does, to report a broken app
        # before anything starts); None: `startup()` loads them.
        self._registry = registry
        # How clients reach this server, for the URLs of stored files.
        self.public_url = (
            config.storage.public_url
            or public_url
            or f"http://{config.server.host}:{config.server.port}"
        )
        self.storage: Storage | None = None
        self.admin_key = AdminKey(admin_key_path(config), config.server.admin_key)
        self.facts: ServerFacts | None = None  # known once started
        self.metrics = Metrics()
        self.mounts = dict(mounts or {})
        self.engine: Engine | None = None
        self.authenticator: Authenticator | None = None
        self._conn_ids = itertools.count(1)
        # Each live connection's task, and the connection (for drain()).
        self._connections: dict[asyncio.Task[None], SyncConnection] = {}
        self.draining = False
        self._upkeep: Upkeep | None = None
        self._jobs: JobExecutor | None = None
        self._crons: CronRunner | None = None
        self.presence: NodePresence | None = None
        self.function_log: FunctionLog | None = None
        self._gc = GcPolicy(config.server.gc_full_interval, self.metrics)
        self._watchdog = LoopWatchdog(self.metrics)
        self.routes = HttpRoutes(self)

    async def startup(self) -> None:
        registry = self._registry or FunctionRegistry.load(self.config.functions.dir)
        self._registry = None
        files = open_file_store(self.config)
        await files.open()
        self.storage = Storage(files, self.config.storage, self.public_url)
        store = open_store(self.config.database.url)
        await store.open(registry.index_defs(), convert_legacy_numbers(registry.schema))
        backend = "postgresql" if self.config.database.url.startswith("postgres") else "sqlite"
        node = NodeInfo(self.public_url, installed_version(), backend)
        dev_issuer = next(
            (prefix for prefix, app in self.mounts.items() if isinstance(app, DevIssuer)), None
        )
        self.facts = ServerFacts.of(node, self.config, dev_issuer)
        app_functions = len(registry.paths())
        install_dashboard(registry, self.facts)
        made = self.admin_key.ensure()
        if made is not None:
            # On stdout, never in the log: it is a password.
            print(
                f"livesync: admin key (kept in {self.admin_key.path}; "
                f"`livesync admin-key` shows it again): {made}",
                flush=True,
            )
        entries = self.config.server.function_log_entries
        if entries:
            self.function_log = FunctionLog(node.node_id, entries)
        runner = FunctionRunner(
            registry,
            store,
            self.config.limits,
            timeouts=time_limits(self.config.functions),
            metrics=self.metrics,
            storage=self.storage,
            record=self.function_log.record if self.function_log is not None else None,
        )
        self.engine = Engine(store, runner, self.metrics)
        if self.function_log is not None:
            self.function_log.start(self.engine)
        self._jobs = JobExecutor(
            self.engine, self.metrics, action_timeout=self.config.functions.action_timeout
        )
        self._crons = CronRunner(self.engine)
        if self.config.auth.providers:
            from server.auth.authenticator import Authenticator

            auth = self.config.auth
            self.authenticator = Authenticator(
                auth.providers,
                clock_leeway=auth.clock_leeway,
                max_token_lifetime=auth.max_token_lifetime,
            )
        self._upkeep = Upkeep(self.engine, self.storage, self.config)
        self._upkeep.start()
        self._jobs.start()
        self._crons.start()
        self.presence = NodePresence(
            self.engine, node, self._auth_counts, self._stats, self.config.server.node_refresh
        )
        self.presence.start()
        self._gc.start()
        self._watchdog.start()
        log.info("functions loaded from %s: %d", self.config.functions.dir, app_functions)

    async def use_functions(self, registry: FunctionRegistry) -> None:
        """Serve `registry` from now on (a dev reload): its schema's indexes
        are created and backfilled (or dropped), new calls, HTTP routes and
        cron jobs use it, and every subscribed query re-runs with it. If the
        indexes cannot be changed, the old functions stay in service."""
        assert self.engine is not None and self._crons is not None, "startup() has not run"
        assert self.facts is not None
        old = self.engine.runner.registry
        install_dashboard(registry, self.facts)
        await self.engine.store.change_indexes(registry.index_defs())
        self.engine.use_functions(registry)
        old.unload()
        try:
            await self._crons.reconcile()
        except LivesyncError:
            log.exception("cron jobs could not be brought in line with the reloaded crons.py")
        self._crons.wake()

    async def drain(self, grace: float) -> None:
        """The first step of a shutdown: /health and the HTTP API answer 503,
        every connection stops taking frames, answers what is in flight and
        closes with 1012. After `grace` seconds the connections still busy
        (a long query, a slow action) are cancelled; their sockets are then
        closed with 1012 by the server."""
        self.draining = True
        for conn in self._connections.values():
            conn.drain()
        if not self._connections:
            return
        done, running = await asyncio.wait(list(self._connections), timeout=grace)
        log.info("drained %d connection(s); cancelling %d still busy", len(done), len(running))
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def dead_tasks(self) -> dict[str, str]:
        """The essential tasks that stopped while the server runs, each with
        why: `/health` is unhealthy while there is one."""
        dead: dict[str, str] = {}
        committer = self.engine.committer.dead if self.engine is not None else None
        if committer is not None:
            dead["committer"] = committer
        scheduler = self._jobs.task if self._jobs is not None else None
        crons = self._crons.task if self._crons is not None else None
        presence = self.presence.task if self.presence is not None else None
        function_log = self.function_log.task if self.function_log is not None else None
        upkeep = self._upkeep.tasks if self._upkeep is not None else {}
        for name, task in (
            *upkeep.items(),
            ("scheduler", scheduler),
            ("crons", crons),
            ("node_presence", presence),
            ("function_log", function_log),
        ):
            if task is not None and task.done():
                dead[name] = "cancelled" if task.cancelled() else repr(task.exception())
        problem = self.engine.store.problem if self.engine is not None else None
        if problem is not None:
            dead["database"] = problem
        return dead

    async def shutdown(self) -> None:
        self._gc.stop()
        self._watchdog.stop()
        if self._upkeep is not None:
            self._upkeep.close()
        if self._crons is not None:
            await self._crons.close()
        if self._jobs is not None:
            await self._jobs.close()
        if self.presence is not None:
            await self.presence.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self.function_log is not None:
            await self.function_log.close()  # the calls answered before the stop
        if self.authenticator is not None:
            await self.authenticator.aclose()
        if self.engine is not None:
            await self.engine.close()
            await self.engine.store.close()
        if self.storage is not None:
            await self.storage.files.close()

    def _auth_counts(self) -> dict[str, int]:
        """This node's connections by auth state (every state, 0 included)."""
        counts = dict.fromkeys((state.value for state in AuthState), 0)
        for conn in self._connections.values():
            counts[conn.auth.state.value] += 1
        return counts

    def _stats(self) -> dict[str, Any]:
        subscriptions = sum(len(conn.subscriptions) for conn in self._connections.values())
        return node_stats(self.metrics, subscriptions)

    @property
    def authenticate(self) -> Authenticate | None:
        return self.authenticator.authenticate if self.authenticator is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        path = re.sub("/+", "/", scope.get("path", "/"))
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                sub = dict(scope, path=path[len(prefix) :] or "/", root_path=prefix)
                await app(sub, receive, send)
                return
        if kind == "websocket":
            query = scope.get("query_string", b"").decode("latin-1")
            if _SYNC_PATH.search(path) or _SYNC_PATH.search(query):
                await self._websocket(scope, receive, send)
            else:
                await _refuse_websocket(scope, send, path)
            return
        if kind == "http":
            await self.routes(scope, receive, send, path)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except LivesyncError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- WebSocket ---------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.engine is not None, "startup() has not run"
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        direct: Direct | None = (scope.get("extensions") or {}).get(EXTENSION)
        conn = SyncConnection(
            self.engine,
            self.authenticator,
            self.config.server,
            AsgiTransport(send, direct),
            next(self._conn_ids),
            self.metrics,
            self.config.limits,
            admin_key=self.admin_key,
        )
        task = asyncio.get_running_loop().create_task(conn.run())
        self._connections[task] = conn
        task.add_done_callback(self._forget)
        if self.draining:
            conn.drain()
        if direct is not None:
            direct.deliver_to(conn.feed)  # then only a disconnect comes through receive()
        try:
            while not task.done():
                message = await receive()
                if message["type"] == "websocket.receive":
                    text = message.get("text")
                    conn.feed(text if text is not None else message.get("bytes") or b"")
                elif message["type"] == "websocket.disconnect":
                    break
        finally:
            conn.disconnected()
            await asyncio.gather(task, return_exceptions=True)
            self._gc.connection_closed(len(self._connections))

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._connections.pop(task, None)


async def _refuse_websocket(scope: Scope, send: Send, path: str) -> None:
    # A close before accept reaches the client as a bare HTTP 403; with the
    # denial-response extension it gets a real 404 naming the path instead.
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 4040, "reason": "NotFound"})
        return
    body = json_error(404, "NotFound", f"No route for {path}").body.encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "websocket.http.response.start", "status": 404, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})
