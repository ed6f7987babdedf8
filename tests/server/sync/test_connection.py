"""End-to-end tests of the sync connection: a real server on 127.0.0.1 port 0,
driven by a raw `websockets` client that speaks the protocol frames itself.

Most tests run the server in-process (uvicorn on an ephemeral port, as the CLI
does) so they can set `[server]` options; the restart test uses the
subprocess `start_server` fixture. Every frame we expect is awaited with a
timeout. When a test must show that something did *not* arrive, it sends an
empty ModifyQuerySet as a barrier: the server answers it with a Transition
that would carry any update already owed to that connection.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from server.app import LivesyncApp
from server.config import Config, DatabaseConfig, FunctionsConfig, ServerConfig
from server.websocket import LivesyncWebSocketProtocol
from tests.helpers.asgi_server import serve_asgi
from tests.helpers.server import StartServer
from tests.helpers.timeouts import REPLY

__all__: list[str] = []

FUNCTIONS = Path(__file__).parent / "functions"
ZERO_TS = "AAAAAAAAAAA="

Frame = dict[str, Any]


def ts_value(encoded: str) -> int:
    """A wire u64 timestamp (base64 of 8 little-endian bytes) as an int."""
    raw = base64.b64decode(encoded)
    assert len(raw) == 8, encoded
    return int.from_bytes(raw, "little")


# -- an in-process server ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Served:
    app: LivesyncApp
    url: str
    ws: str  # a key of WS_PROTOCOLS

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/sync"


# The CLI's protocol (with the direct-send extension), and plain uvicorn's,
# which is what an app mounted under another server sees: both must behave.
WS_PROTOCOLS = {"livesync": LivesyncWebSocketProtocol, "uvicorn": "websockets-sansio"}


@contextlib.asynccontextmanager
async def serving(
    db_path: Path, ws: str = "livesync", **server_options: Any
) -> AsyncIterator[Served]:
    """Serve the test functions on an ephemeral port with these `[server]` options."""
    config = Config(
        server=ServerConfig(**server_options),
        functions=FunctionsConfig(FUNCTIONS),
        database=DatabaseConfig(f"sqlite:///{db_path}"),
    )
    app = LivesyncApp(config)
    options = {"ws": WS_PROTOCOLS[ws], "ws_max_size": config.server.max_message_bytes}
    async with serve_asgi(app, lifespan="on", **options) as url:
        yield Served(app, url, ws)


@pytest.fixture(params=sorted(WS_PROTOCOLS))
async def served(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    async with serving(tmp_path / "livesync.db", request.param) as s:
        yield s


# -- a raw protocol client -----------------------------------------------------


class Peer:
    """One sync socket speaking raw frames; checks the Transition chain as they arrive."""

    def __init__(self, ws: ClientConnection, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self.version: Frame = {"querySet": 0, "identity": 0, "ts": ZERO_TS}
        self.query_set = 0
        self.next_query_id = 0
        self.next_request_id = 0
        self.frames: list[Frame] = []  # everything received, Pings included

    @classmethod
    async def open(cls, ws_url: str, session_id: str | None = None) -> Peer:
        ws = await asyncio.wait_for(websockets.connect(ws_url), REPLY)
        peer = cls(ws, session_id or str(uuid.uuid4()))
        await peer.send(
            {
                "type": "Connect",
                "sessionId": peer.session_id,
                "connectionCount": 0,
                "lastCloseReason": "InitialConnect",
                "clientTs": 0,
            }
        )
        return peer

    async def send(self, msg: Frame) -> None:
        await self.ws.send(json.dumps(msg))

    async def recv(self) -> Frame:
        msg: Frame = json.loads(await asyncio.wait_for(self.ws.recv(), REPLY))
        self.frames.append(msg)
        if msg["type"] == "Transition":
            assert msg["startVersion"] == self.version, "the Transition chain is broken"
            self.version = msg["endVersion"]
        return msg

    async def until(self, done: Callable[[Frame], bool]) -> list[Frame]:
        """Every non-Ping frame up to and including the first one `done` accepts."""
        got: list[Frame] = []
        while True:
            msg = await self.recv()
            if msg["type"] == "Ping":
                continue
            got.append(msg)
            if done(msg):
                return got

    async def modify(self, *modifications: Frame) -> int:
        self.query_set += 1
        await self.send(
            {
                "type": "ModifyQuerySet",
                "baseVersion": self.query_set - 1,
                "newVersion": self.query_set,
                "modifications": list(modifications),
            }
        )
        return self.query_set

    async def subscribe(self, udf_path: str, args: Frame) -> tuple[int, Frame]:
        """Add a query and return its id and its first QueryUpdated/QueryFailed."""
        query_id = self.next_query_id
        self.next_query_id += 1
        version = await self.modify(
            {"type": "Add", "queryId": query_id, "udfPath": udf_path, "args": [args]}
        )
        frames = await self.until(lambda m: _ends_query_set(m, version))
        return query_id, only(query_mods(frames, query_id))

    async def barrier(self) -> list[Frame]:
        """Frames up to the Transition answering an empty ModifyQuerySet."""
        version = await self.modify()
        return await self.until(lambda m: _ends_query_set(m, version))

    async def mutate(self, udf_path: str, args: Frame, request_id: int | None = None) -> int:
        if request_id is None:
            request_id = self.next_request_id
            self.next_request_id += 1
        await self.send(
            {"type": "Mutation", "requestId": request_id, "udfPath": udf_path, "args": [args]}
        )
        return request_id

    async def mutation_result(self, udf_path: str, args: Frame) -> tuple[Frame, list[Frame]]:
        """Run one mutation; its response, and the frames up to the Transition covering it."""
        request_id = await self.mutate(udf_path, args)
        frames = await self.until(
            lambda m: m["type"] == "MutationResponse" and m["requestId"] == request_id
        )
        response = frames[-1]
        frames += await self.until(lambda m: _covers(m, response))
        return response, frames

    async def closed(self) -> tuple[int, str]:
        """Read until the server closes; its close code and reason."""
        with pytest.raises(ConnectionClosed):
            while True:
                await self.recv()
        code = self.ws.close_code
        assert code is not None, "the connection dropped without a close frame"
        return code, self.ws.close_reason or ""

    async def close(self) -> None:
        await self.ws.close()


def _ends_query_set(msg: Frame, version: int) -> bool:
    return msg["type"] == "Transition" and msg["endVersion"]["querySet"] >= version


def _covers(msg: Frame, response: Frame) -> bool:
    """A Transition at or past a mutation response's commit ts (any one, after a failure)."""
    if msg["type"] != "Transition":
        return False
    if response.get("ts") is None:
        return True
    return ts_value(msg["endVersion"]["ts"]) >= ts_value(response["ts"])


def query_mods(frames: list[Frame], query_id: int) -> list[Frame]:
    return [
        mod
        for msg in frames
        if msg["type"] == "Transition"
        for mod in msg["modifications"]
        if mod["queryId"] == query_id
    ]


def only(items: list[Frame]) -> Frame:
    assert len(items) == 1, items
    return items[0]


async def executions(url: str, path: str) -> float:
    """`livesync_query_executions_total{path=...}` from GET /metrics."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(url + "/metrics", timeout=REPLY)).text
    pattern = re.escape(f'livesync_query_executions_total{{path="{path}"}}') + r" (\S+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


@contextlib.asynccontextmanager
async def peers(ws_url: str, n: int) -> AsyncIterator[list[Peer]]:
    opened = [await Peer.open(ws_url) for _ in range(n)]
    try:
        yield opened
    finally:
        for peer in opened:
            await peer.close()


# -- subscriptions ---------------------------------------------------------------


async def test_add_then_remove_query_chains_transitions_from_zero(served: Served) -> None:
    peer = await Peer.open(served.ws_url)
    query_id, first = await peer.subscribe("messages:list", {"channel": "a"})
    added = peer.frames[-1]
    assert added["startVersion"] == {"querySet": 0, "identity": 0, "ts": ZERO_TS}
    assert added["endVersion"]["querySet"] == 1
    assert first == {
        "type": "QueryUpdated",
        "queryId": query_id,
        "value": [],
        "logLines": ["[LOG] listing a"],
        "journal": None,
    }

    await peer.mutation_result("messages:send", {"channel": "a", "body": "hi"})
    version = await peer.modify({"type": "Remove", "queryId": query_id})
    frames = await peer.until(lambda m: _ends_query_set(m, version))
    assert query_mods(frames, query_id)[-1] == {"type": "QueryRemoved", "queryId": query_id}
    assert frames[-1]["endVersion"]["querySet"] == 2
    # Peer.recv checked every link; make sure there were several to check.
    transitions = [m for m in peer.frames if m["type"] == "Transition"]
    assert len(transitions) >= 3
    await peer.close()


# -- invalidation ----------------------------------------------------------------


async def test_write_to_one_channel_reruns_only_its_shared_query(served: Served) -> None:
    async with peers(served.ws_url, 6) as conns:
        a_subs, b_subs, writer = conns[:3], conns[3:5], conns[5]
        a_ids = [(await p.subscribe("messages:list", {"channel": "a"}))[0] for p in a_subs]
        b_ids = [(await p.subscribe("messages:list", {"channel": "b"}))[0] for p in b_subs]
        # Three subscribers of channel a and two of b share one execution each.
        assert await executions(served.url, "messages:list") == 2

        response, _ = await writer.mutation_result("messages:send", {"channel": "a", "body": "x"})
        assert response["success"] is True
        for peer, query_id in zip(a_subs, a_ids, strict=True):
            frames = await peer.until(lambda m, q=query_id: bool(query_mods([m], q)))
            assert query_mods(frames, query_id)[-1]["value"] == ["x"]
        for peer, query_id in zip(b_subs, b_ids, strict=True):
            assert query_mods(await peer.barrier(), query_id) == []

        assert await executions(served.url, "messages:list") == 3
        # Idle subscribers of a re-run query get their Transition written in
        # the commit's own pass when the server offers direct sends.
        inline = served.app.metrics.inline_transitions.get()
        assert inline == (3 if served.ws == "livesync" else 0)


async def test_one_commit_to_two_ranges_arrives_in_one_transition(served: Served) -> None:
    peer = await Peer.open(served.ws_url)
    list_id, _ = await peer.subscribe("messages:list", {"channel": "c"})
    count_id, first_count = await peer.subscribe("counts:get", {"channel": "c"})
    assert first_count["value"] == 0

    response, frames = await peer.mutation_result(
        "messages:send_counted", {"channel": "c", "body": "one"}
    )
    assert response["success"] is True
    changed = [m for m in frames if m["type"] == "Transition" and m["modifications"]]
    assert len(changed) == 1, frames
    values = {mod["queryId"]: mod["value"] for mod in changed[0]["modifications"]}
    assert values == {list_id: ["one"], count_id: 1}
    await peer.close()


# -- mutations -------------------------------------------------------------------


async def test_back_to_back_mutations_apply_in_order_and_respond_before_their_transition(
    served: Served,
) -> None:
    peer = await Peer.open(served.ws_url)
    query_id, _ = await peer.subscribe("messages:list", {"channel": "o"})
    start = len(peer.frames)
    bodies = [str(n) for n in range(6)]
    request_ids = [await peer.mutate("messages:send", {"channel": "o", "body": b}) for b in bodies]

    frames = await peer.until(
        lambda m: bool(query_mods([m], query_id)) and m["modifications"][-1]["value"] == bodies
    )
    responses = [m for m in frames if m["type"] == "MutationResponse"]
    assert [r["requestId"] for r in responses] == request_ids
    assert all(r["success"] for r in responses)
    stamps = [ts_value(r["ts"]) for r in responses]
    # Group commit may give several of them one commit ts; never a decreasing one.
    assert stamps == sorted(stamps)
    # No Transition reaching a mutation's ts arrives before that mutation's response.
    received = peer.frames[start:]
    for response in responses:
        before = received[: received.index(response)]
        assert all(
            ts_value(m["endVersion"]["ts"]) < ts_value(response["ts"])
            for m in before
            if m["type"] == "Transition"
        )
    # The final value lists every body in the order sent, so they applied in order.
    assert query_mods(frames, query_id)[-1]["value"] == bodies
    await peer.close()


async def test_failed_mutation_reports_error_data_then_a_transition_and_rolls_back(
    served: Served,
) -> None:
    peer = await Peer.open(served.ws_url)
    response, frames = await peer.mutation_result("messages:fail", {"reason": "nope"})
    assert response["success"] is False
    assert response["result"] == 'Uncaught ConvexError: {"reason":"nope"}'
    assert response["errorData"] == {"reason": "nope"}
    assert response.get("ts") is None
    assert frames[-1]["type"] == "Transition"
    # The insert before the raise did not commit.
    _, failed_rows = await peer.subscribe("messages:list", {"channel": "failed"})
    assert failed_rows["value"] == []
    await peer.close()


async def test_resent_request_on_new_socket_returns_original_result_without_reapplying(
    served: Served,
) -> None:
    first = await Peer.open(served.ws_url)
    await first.mutate("messages:send", {"channel": "d", "body": "once"}, request_id=7)
    original = (await first.until(lambda m: m["type"] == "MutationResponse"))[-1]
    assert original["success"] is True
    await first.close()

    again = await Peer.open(served.ws_url, session_id=first.session_id)
    await again.mutate("messages:send", {"channel": "d", "body": "once"}, request_id=7)
    repeat = (await again.until(lambda m: m["type"] == "MutationResponse"))[-1]
    assert (repeat["result"], repeat["ts"]) == (original["result"], original["ts"])
    await again.until(lambda m: _covers(m, repeat))
    _, rows = await again.subscribe("messages:list", {"channel": "d"})
    assert rows["value"] == ["once"]
    await again.close()


# -- restart -----------------------------------------------------------------------


async def test_restart_on_same_file_keeps_data_and_moves_timestamps_forward(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    before = await Peer.open(server.ws_url)
    query_id, _ = await before.subscribe("messages:list", {"channel": "r"})
    for body in ("one", "two"):
        await before.mutation_result("messages:send", {"channel": "r", "body": body})
    seen = [ts_value(m["ts"]) for m in before.frames if m["type"] == "MutationResponse"]
    seen += [ts_value(m["endVersion"]["ts"]) for m in before.frames if m["type"] == "Transition"]
    await before.close()

    await asyncio.to_thread(server.restart)
    after = await Peer.open(server.ws_url)
    _, rows = await after.subscribe("messages:list", {"channel": "r"})
    assert rows["value"] == ["one", "two"]
    response, _ = await after.mutation_result("messages:send", {"channel": "r", "body": "three"})
    assert ts_value(response["ts"]) > max(seen)
    await after.close()


# -- bad input ----------------------------------------------------------------------


@dataclass(slots=True)
class Bystander:
    """A second connection with committed data, to show bad input elsewhere harms neither."""

    peer: Peer
    query_id: int

    async def check_intact(self) -> None:
        response, frames = await self.peer.mutation_result(
            "messages:send", {"channel": "keep", "body": "after"}
        )
        assert response["success"] is True
        assert query_mods(frames, self.query_id)[-1]["value"] == ["kept", "after"]


@pytest.fixture
async def small_server(tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(tmp_path / "livesync.db", max_message_bytes=4096) as s:
        yield s


@pytest.fixture
async def bystander(small_server: Served) -> AsyncIterator[Bystander]:
    peer = await Peer.open(small_server.ws_url)
    await peer.mutation_result("messages:send", {"channel": "keep", "body": "kept"})
    query_id, rows = await peer.subscribe("messages:list", {"channel": "keep"})
    assert rows["value"] == ["kept"]
    yield Bystander(peer, query_id)
    await peer.close()


def _mutation_frame(body: str) -> str:
    args = [{"channel": "keep", "body": body}]
    return json.dumps(
        {"type": "Mutation", "requestId": 0, "udfPath": "messages:send", "args": args}
    )


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        pytest.param(
            "{not json", 1002, "ProtocolError: client message is not valid JSON", id="json"
        ),
        pytest.param(
            json.dumps({"type": "Bogus"}),
            1002,
            "ProtocolError: unknown client message type 'Bogus'",
            id="type",
        ),
        pytest.param(
            b'{"type":"Event","eventType":"x","event":null}',
            1002,
            "ProtocolError: binary frames are not supported",
            id="binary",
        ),
        pytest.param(
            json.dumps(
                {"type": "ModifyQuerySet", "baseVersion": 5, "newVersion": 6, "modifications": []}
            ),
            1002,
            "ProtocolError: Base version 5 passed up doesn't match the current version 0",
            id="query-set-version",
        ),
        pytest.param(
            json.dumps({"type": "Authenticate", "baseVersion": 3, "tokenType": "None"}),
            1002,
            "ProtocolError: Authenticate.baseVersion 3 doesn't match the current identity version 0",
            id="identity-version",
        ),
        pytest.param(_mutation_frame("y" * 5000), 1009, "frame exceeds limit", id="too-big"),
    ],
)
async def test_bad_frame_closes_only_its_connection_with_a_clear_reason(
    small_server: Served, bystander: Bystander, frame: str | bytes, code: int, reason: str
) -> None:
    peer = await Peer.open(small_server.ws_url)
    await peer.ws.send(frame)
    closed_code, closed_reason = await peer.closed()
    assert closed_code == code
    assert closed_reason.startswith(reason), closed_reason
    assert not [m for m in peer.frames if m["type"] == "MutationResponse"]
    await bystander.check_intact()


@pytest.mark.parametrize(
    ("path", "args", "query_error", "mutation_error"),
    [
        pytest.param(
            "nope:missing",
            {},
            "Could not find public function for 'nope:missing'",
            "Could not find public function for 'nope:missing'",
            id="unknown-function",
        ),
        pytest.param(
            "messages:send",
            {"channel": 5, "body": "x"},
            "ArgumentValidationError: Value does not match validator.\nPath: .channel\n",
            "ArgumentValidationError: Value does not match validator.\nPath: .channel\n",
            id="invalid-args",
        ),
        pytest.param(
            "messages:send",
            {"$foo": 1},
            "Invalid arguments: unknown special value '$foo'",
            "Invalid request: unknown special value '$foo'",
            id="undecodable-args",
        ),
    ],
)
async def test_bad_call_fails_alone_and_the_connection_keeps_working(
    small_server: Served,
    bystander: Bystander,
    path: str,
    args: Frame,
    query_error: str,
    mutation_error: str,
) -> None:
    peer = await Peer.open(small_server.ws_url)
    query_path = "messages:list" if path == "messages:send" else path
    query_args = {k: val for k, val in args.items() if k != "body"}
    _, failed = await peer.subscribe(query_path, query_args)
    assert failed["type"] == "QueryFailed"
    assert failed["errorMessage"].startswith(query_error), failed
    assert "errorData" not in failed

    response, frames = await peer.mutation_result(path, args)
    assert response["success"] is False
    assert response["result"].startswith(mutation_error), response
    assert frames[-1]["type"] == "Transition"

    _, rows = await peer.subscribe("messages:list", {"channel": "keep"})
    assert rows["value"] == ["kept"]
    await bystander.check_intact()
    await peer.close()


# -- pagination journal -------------------------------------------------------------


async def test_a_page_sends_its_journal_and_a_re_add_with_it_keeps_the_pinned_end(
    served: Served,
) -> None:
    writer = await Peer.open(served.ws_url)
    for body in ("1", "2", "3", "4"):
        await writer.mutation_result("messages:send", {"channel": "p", "body": body})
    args = {"channel": "p", "paginationOpts": {"numItems": 2.0, "cursor": None}}
    peer = await Peer.open(served.ws_url)
    query_id, first = await peer.subscribe("messages:page", args)
    assert first["value"]["page"] == ["4", "3"]
    journal = first["journal"]
    assert isinstance(journal, str)

    # A row lands inside the page: the live page grows, with the same journal.
    await writer.mutation_result("messages:send", {"channel": "p", "body": "5"})
    grown = only(query_mods(await peer.until(lambda m: bool(query_mods([m], query_id))), query_id))
    assert grown["value"]["page"] == ["5", "4", "3"]
    assert grown["journal"] == journal

    # A new socket re-adding with that journal (a reconnect) gets the pinned
    # page; without it, a fresh first page of numItems rows.
    again = await Peer.open(served.ws_url)
    version = await again.modify(
        {
            "type": "Add",
            "queryId": 0,
            "udfPath": "messages:page",
            "args": [args],
            "journal": journal,
        },
        {"type": "Add", "queryId": 1, "udfPath": "messages:page", "args": [args], "journal": None},
        {"type": "Add", "queryId": 2, "udfPath": "messages:page", "args": [args], "journal": "x"},
    )
    got = await again.until(lambda m: _ends_query_set(m, version))
    pinned, fresh, bad = (only(query_mods(got, query_id)) for query_id in (0, 1, 2))
    assert pinned["value"]["page"] == ["5", "4", "3"] and pinned["journal"] == journal
    assert fresh["value"]["page"] == ["5", "4"] and fresh["journal"] != journal
    assert bad["type"] == "QueryFailed" and bad["errorMessage"].startswith("InvalidCursor")
    assert bad["journal"] == "x"
    for open_peer in (writer, peer, again):
        await open_peer.close()


# -- heartbeat ------------------------------------------------------------------------


async def test_silent_connection_gets_a_json_ping_after_the_interval(tmp_path: Path) -> None:
    async with serving(tmp_path / "livesync.db", ping_interval=0.5) as s:
        peer = await Peer.open(s.ws_url)
        _, _ = await peer.subscribe("messages:list", {"channel": "p"})
        quiet_since = time.monotonic()
        ping = await peer.recv()
        waited = time.monotonic() - quiet_since
        assert ping == {"type": "Ping"}
        assert 0.4 <= waited < 5.0
        await peer.close()
