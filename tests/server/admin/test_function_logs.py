"""The function log (`_function_logs`, read by `_system/dashboard:logs`)
through the official PyPI client holding the admin key, against a real
server: queries, mutations, actions and HTTP actions appear live with their duration,
outcome, log lines and the subject of the identity an admin acted as; the
dashboard's own functions never do; filters narrow the list; the table keeps
only the newest `[server] function_log_entries`; and the in-memory buffer
drops (and counts) what overflows it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from convex import ConvexClient

from server.admin.dashboard import ServerFacts, install_dashboard
from server.admin.function_logs import CALLS_PER_DOCUMENT, LOG_LINE_CHARS, FunctionLog
from server.app import LivesyncApp
from server.config import load_config
from server.errors import ConfigError
from server.functions.registry import FunctionRegistry
from server.functions.runner import CallRecord, FunctionRunner
from server.metrics import Metrics
from server.store.base import Store, Transaction
from server.store.catalog import BY_CREATION_TIME, FUNCTION_LOGS
from server.sync.engine import Engine
from tests.helpers.api import admin_client
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.stores import StoreBackend
from tests.helpers.timeouts import CLIENT, REPLY

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

FUNCTIONS = Path(__file__).resolve().parent / "logged_functions"
LOGS = "_system/dashboard:logs"


def logs(client: ConvexClient, **filters: Any) -> Iterator[Any]:
    """The live first page of the log (50 calls), newest first."""
    opts = {"numItems": 50, "cursor": None}
    return iter(client.subscribe(LOGS, {"paginationOpts": opts, **filters}))


def until(updates: Iterator[Any], wanted: Any) -> list[dict[str, Any]]:
    """The first page from a subscription that `wanted` accepts, within CLIENT
    seconds (the log is written once a second)."""
    deadline = time.monotonic() + CLIENT
    seen: list[Any] = []
    for result in updates:
        seen.append(result["page"])
        if wanted(result["page"]):
            return list(result["page"])
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"no page of the log as wanted; saw {seen[-3:]}")


def call_acting_as(server: LivesyncServer, path: str, identity: dict[str, str]) -> Any:
    """Run a query through the HTTP API as the admin acting as `identity`,
    the way the official clients send it."""
    acting = base64.b64encode(json.dumps(identity).encode()).decode()
    reply = httpx.post(
        f"{server.url}/api/query",
        json={"path": path, "args": {}, "format": "json"},
        headers={"Authorization": f"Convex {server.admin_key()}:{acting}"},
        timeout=REPLY,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["value"]


def test_calls_appear_live_with_their_outcome_logs_and_caller(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS)
    client = admin_client(server)
    updates = logs(client)
    assert client.query("calls:echo", {"word": "hi"}) == "hi"
    client.mutation("calls:add", {"text": "one"})
    assert client.action("calls:shout", {"text": "hey"}) == "HEY"
    with pytest.raises(Exception, match="deliberately broken"):
        client.mutation("calls:fail")
    assert httpx.post(f"{server.url}/ping", timeout=REPLY).json() == {"pong": True}
    me = {"subject": "user_7", "issuer": "https://issuer.example"}
    assert call_acting_as(server, "calls:whoami", me) == "user_7"

    page = until(updates, lambda page: any(c["path"] == "calls:whoami" for c in page))
    assert all(not call["path"].startswith("_system/") for call in page)
    by_path = {call["path"]: call for call in page}
    assert [c["path"] for c in page] == [
        "calls:whoami",
        "POST /ping",
        "calls:fail",
        "calls:shout",
        "calls:add",
        "calls:echo",
    ]  # newest first
    echo, add, shout = by_path["calls:echo"], by_path["calls:add"], by_path["calls:shout"]
    assert (echo["kind"], add["kind"], shout["kind"]) == ("query", "mutation", "action")
    assert echo["logLines"] == ["[LOG] echoing hi"]
    assert shout["logLines"] == ["[LOG] shouting hey"]
    assert add["logLines"] == [] and add["ok"] is True and add["error"] is None
    fail = by_path["calls:fail"]
    assert fail["ok"] is False and fail["kind"] == "mutation"
    assert fail["error"] == "Uncaught ConvexError: deliberately broken"
    assert fail["logLines"] == ["[LOG] about to fail"]
    ping = by_path["POST /ping"]
    assert (ping["kind"], ping["ok"], ping["logLines"]) == ("httpAction", True, ["[LOG] pinged"])
    assert by_path["calls:whoami"]["subject"] == "user_7"
    assert {echo["subject"], add["subject"], shout["subject"]} == {None}
    node_id = client.query("_system/dashboard:health")["nodeId"]
    for call in page:
        assert call["nodeId"] == node_id
        assert 0 <= call["durationMs"] < CLIENT * 1000
        assert abs(call["startedAt"] / 1000 - time.time()) < CLIENT + 60


def test_filters_narrow_the_log(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS)
    client = admin_client(server)
    client.query("calls:echo", {"word": "a"})
    client.action("calls:shout", {"text": "b"})
    with pytest.raises(Exception, match="deliberately broken"):
        client.mutation("calls:fail")
    until(logs(client), lambda page: len(page) == 3)  # all three are written
    paths = {
        "kind": lambda: [c["path"] for c in until(logs(client, kind="action"), bool)],
        "ok": lambda: [c["path"] for c in until(logs(client, ok=False), bool)],
        "path": lambda: [c["path"] for c in until(logs(client, path="calls:echo"), bool)],
    }
    assert paths["kind"]() == ["calls:shout"]
    assert paths["ok"]() == ["calls:fail"]
    assert paths["path"]() == ["calls:echo"]
    with pytest.raises(Exception, match="ArgumentValidationError"):
        client.query(LOGS, {"paginationOpts": {"numItems": 5, "cursor": None}, "ok": "no"})


def test_the_log_keeps_the_newest_entries(start_server: StartServer) -> None:
    server = start_server(FUNCTIONS, server_extra="function_log_entries = 3\n")
    client = admin_client(server)
    updates = logs(client)
    for n in range(8):
        client.query("calls:echo", {"word": f"w{n}"})
    seen: list[list[dict[str, Any]]] = []

    def newest_written(page: list[dict[str, Any]]) -> bool:
        seen.append(page)
        return bool(page) and page[0]["logLines"] == ["[LOG] echoing w7"]

    page = until(updates, newest_written)
    assert [c["logLines"][0] for c in page] == [
        "[LOG] echoing w7",
        "[LOG] echoing w6",
        "[LOG] echoing w5",
    ]
    assert all(len(page) <= 3 for page in seen)  # never more, at any commit


def call(
    path: str, n: int = 0, *, error: str | None = None, lines: tuple[str, ...] = ()
) -> CallRecord:
    """A finished query of `path` that started `n` ms after the epoch."""
    return CallRecord(path, "query", float(n), 1.0, error, lines, None)


async def written(store: Any) -> list[dict[str, Any]]:
    """The log's documents, oldest first, each with its calls decoded."""
    index = f"{FUNCTION_LOGS}.{BY_CREATION_TIME}"
    docs = [doc async for _, doc in store.snapshot().scan(index, b"", None)]
    for doc in docs:
        doc["calls"] = json.loads(doc["calls"])
        assert doc["count"] == len(doc["calls"])
    return docs


async def logs_page(engine: Engine) -> list[dict[str, Any]]:
    """The first page of `_system/dashboard:logs`, as the admin reads it."""
    opts = {"numItems": 50, "cursor": None}
    outcome = await engine.run_query(
        LOGS, {"paginationOpts": opts}, None, engine.published_ts, internal_ok=True
    )
    assert outcome.error_message is None, outcome.error_message
    return list(outcome.value["page"])


@asynccontextmanager
async def log_engine(store_backend: StoreBackend) -> AsyncIterator[tuple[Store, Engine]]:
    """A store and an engine serving `FUNCTIONS` and the dashboard's
    functions, for a `FunctionLog` to write through."""
    registry = FunctionRegistry.load(FUNCTIONS)
    install_dashboard(registry, ServerFacts("0", "sqlite", "node", 0.0, str(FUNCTIONS)))
    store = store_backend.make()
    await store.open(registry.index_defs())
    engine = Engine(store, FunctionRunner(registry, store), Metrics())
    try:
        yield store, engine
    finally:
        await engine.close()
        await store.close()


async def test_the_buffer_drops_the_oldest_beyond_its_bound(store_backend: StoreBackend) -> None:
    async with log_engine(store_backend) as (store, engine):
        recorder = FunctionLog("node", entries=100, buffered=2)
        for n in range(5):
            recorder.record(call(f"calls:f{n}"))
        recorder.record(call("_system/dashboard:logs"))
        assert recorder.dropped == 3
        recorder.start(engine)
        await recorder.close()  # stops the task, then writes what is left
        assert await recorder.flush() == 0  # nothing left to write
        assert [doc["path"] for doc in await written(store)] == ["calls:f3", "calls:f4"]


async def test_the_buffer_drops_calls_beyond_its_characters(store_backend: StoreBackend) -> None:
    async with log_engine(store_backend) as (store, engine):
        recorder = FunctionLog("node", entries=100, buffered_chars=2500)
        for n in range(3):  # 1,000 characters of log lines each
            recorder.record(call(f"calls:f{n}", lines=("z" * 1000,)))
        assert recorder.dropped == 1  # the third would pass 2,500
        recorder.start(engine)
        await recorder.close()
        assert [doc["path"] for doc in await written(store)] == ["calls:f0", "calls:f1"]
        recorder.record(call("calls:later", lines=("z" * 1000,)))  # room again
        assert await recorder.flush() == 1


async def test_documents_of_an_older_livesync_are_read_and_trimmed(
    store_backend: StoreBackend,
) -> None:
    """Before a document held a second's calls it held one, its fields at the
    top: a database written then, or a node not upgraded yet, has them."""
    older = {
        "nodeId": "old-node",
        "path": "calls:echo",
        "kind": "query",
        "startedAt": 1.0,
        "durationMs": 2.0,
        "ok": True,
        "error": None,
        "logLines": ["[LOG] echoing old"],
        "subject": "ada",
    }
    async with log_engine(store_backend) as (store, engine):

        async def write_older(tx: Transaction) -> None:
            await tx.insert(FUNCTION_LOGS, older, system=True)

        await engine.transact(write_older)
        recorder = FunctionLog("node", entries=3)
        recorder.start(engine)
        recorder.record(call("calls:add", 10))
        assert await recorder.flush() == 1
        page = await logs_page(engine)
        assert [(c["path"], c["nodeId"], c["subject"]) for c in page] == [
            ("calls:add", "node", None),
            ("calls:echo", "old-node", "ada"),
        ]
        assert page[1]["logLines"] == ["[LOG] echoing old"]
        for n in range(2):
            recorder.record(call("calls:add", 20 + n))
        await recorder.close()  # three newer calls: the older one is trimmed
        assert [c["startedAt"] for c in await logs_page(engine)] == [21.0, 20.0, 10.0]


async def test_a_second_of_calls_is_a_few_documents(store_backend: StoreBackend) -> None:
    """Calls are grouped by function, kind and outcome, at most
    CALLS_PER_DOCUMENT to a document, the documents ordered by their newest
    call."""
    async with log_engine(store_backend) as (store, engine):
        recorder = FunctionLog("node", entries=1000)
        recorder.start(engine)
        for n in range(CALLS_PER_DOCUMENT + 5):
            recorder.record(call("calls:echo", n))
        recorder.record(call("calls:echo", 500, error="boom"))
        recorder.record(call("calls:add", 501))
        await recorder.close()
        docs = await written(store)
        assert [(d["path"], d["ok"], len(d["calls"])) for d in docs] == [
            ("calls:echo", True, CALLS_PER_DOCUMENT),
            ("calls:echo", True, 5),
            ("calls:echo", False, 1),
            ("calls:add", True, 1),
        ]
        assert [c["startedAt"] for c in docs[1]["calls"]] == [100.0, 101.0, 102.0, 103.0, 104.0]
        assert docs[2]["calls"][0]["error"] == "boom" and docs[0]["nodeId"] == "node"


async def test_long_log_lines_are_cut(store_backend: StoreBackend) -> None:
    async with log_engine(store_backend) as (store, engine):
        recorder = FunctionLog("node", entries=1000)
        recorder.start(engine)
        long_line = "x" * (LOG_LINE_CHARS + 10)
        recorder.record(call("calls:echo", lines=("short", long_line)))
        recorder.record(call("calls:echo", 1, lines=tuple("y" * 1000 for _ in range(256))))
        await recorder.close()
        docs = await written(store)
        first, second = docs[0]["calls"]
        assert first["logLines"] == ["short", "x" * LOG_LINE_CHARS + "… (10 more characters)"]
        kept = second["logLines"]
        assert kept[:-1] == ["y" * 1000] * (len(kept) - 1) and 16 < len(kept) < 256
        assert kept[-1] == f"… ({256 - len(kept) + 1} more lines)"


async def test_trimming_cuts_the_oldest_calls_of_a_document(store_backend: StoreBackend) -> None:
    async with log_engine(store_backend) as (store, engine):
        recorder = FunctionLog("node", entries=7)
        recorder.start(engine)
        for n in range(5):
            recorder.record(call("calls:echo", n))
        assert await recorder.flush() == 5
        for n in range(5, 9):
            recorder.record(call("calls:add", n))
        await recorder.close()
        docs = await written(store)
        assert [(d["path"], [c["startedAt"] for c in d["calls"]]) for d in docs] == [
            ("calls:echo", [2.0, 3.0, 4.0]),
            ("calls:add", [5.0, 6.0, 7.0, 8.0]),
        ]


def test_a_negative_number_of_entries_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "livesync.toml"
    path.write_text("[server]\nfunction_log_entries = -1\n")
    with pytest.raises(ConfigError, match="function_log_entries"):
        load_config(path)


@pytest.mark.parametrize(
    ("dev", "setting", "kept"),
    [
        (True, "", 5000),
        (False, "", 5000),
        (False, "function_log_entries = 20\n", 20),
        (True, "function_log_entries = 0\n", None),
    ],
)
async def test_every_server_keeps_calls_unless_told_not_to(
    tmp_path: Path, dev: bool, setting: str, kept: int | None
) -> None:
    """5,000 calls by default in `dev` and `serve` alike; 0 records none."""
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        f'[server]\n{setting}\n[functions]\ndir = "{FUNCTIONS}"\n\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "logs.db"}"\n'
    )
    app = LivesyncApp(load_config(config_path), dev=dev)
    await app.startup()
    try:
        log = app.function_log
        assert (log._entries if log is not None else None) == kept
    finally:
        await app.shutdown()
