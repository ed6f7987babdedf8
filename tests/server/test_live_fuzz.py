"""A live fuzz: many connections send random valid and hostile frames to a
running server; after every round the server must still be up, an honest
client must still be served with right answers, and its memory must stay
bounded.

The normal suite runs a bounded number of rounds; LIVESYNC_FUZZ_ROUNDS sets
more (RELIABILITY.md has the command for the long run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.raw_sync import RawSyncSocket, add_query
from tests.helpers.server import StartServer
from tests.helpers.timeouts import READ

FUNCTIONS = Path(__file__).parent / "durability_functions"
ROUNDS = int(os.environ.get("LIVESYNC_FUZZ_ROUNDS", "25"))
CONNECTIONS = 6
FRAMES_PER_ROUND = 8
MAX_RSS_MB = 400

Frame = str | bytes


def _mutation(request_id: object, path: object = "records:record_for", args: object = None) -> str:
    if args is None:
        args = [{"owner": "fuzz"}]
    return json.dumps({"type": "Mutation", "requestId": request_id, "udfPath": path, "args": args})


def _modify(base: object, new: object, mods: list[Any]) -> str:
    return json.dumps(
        {"type": "ModifyQuerySet", "baseVersion": base, "newVersion": new, "modifications": mods}
    )


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


HOSTILE: list[Callable[[random.Random], Frame]] = [
    lambda r: r.randbytes(r.randint(0, 64)),
    lambda r: "".join(chr(r.randint(0, 0x2FF)) for _ in range(r.randint(0, 64))),
    lambda r: "{" * r.randint(1, 3000),
    lambda r: json.dumps([1, 2, 3]),
    lambda r: json.dumps({"type": "Nope"}),
    lambda r: _mutation(r.choice([2**63, 2**64, -1, 1.5, "7", True, None, 2**53 + 1])),
    lambda r: _mutation(r.randint(0, 10**6), path=r.choice(["", ":", "x" * 5000, 5, "records:nope"])),
    lambda r: _mutation(r.randint(0, 10**6), args=r.choice([{}, [], [1], "x", [{"owner": 5}]])),
    lambda r: _mutation(r.randint(0, 10**6), args=[{"owner": _nested(r.choice([10, 70, 500]))}]),
    lambda r: _mutation(r.randint(0, 10**6), path="records:crash"),
    lambda r: _modify(0, r.choice([2**32, 2**33, -1, 0]), []),
    lambda r: _modify(r.randint(0, 5), r.randint(0, 5), [add_query(r.randint(0, 3), "records:all_ns")]),
    lambda r: _modify(0, 1, [{"type": "Add", "queryId": 2**40, "udfPath": "records:all_ns"}]),
    lambda r: _modify(0, 1, [{"type": "Remove", "queryId": r.randint(0, 9)}]),
    lambda r: json.dumps(
        {"type": "Authenticate", "baseVersion": r.randint(0, 3), "tokenType": "User", "value": "x.y.z"}
    ),
    lambda r: json.dumps({"type": "Authenticate", "baseVersion": 0, "tokenType": r.choice(["Admin", 5])}),
    lambda r: json.dumps(
        {"type": "Connect", "sessionId": "s" * r.choice([1, 10_000]), "connectionCount": 0,
         "lastCloseReason": None, "clientTs": 0}
    ),
    lambda r: json.dumps({"type": "Event", "eventType": "x", "event": _nested(30)}),
]  # fmt: skip

VALID: list[Callable[[random.Random], Frame]] = [
    lambda r: _mutation(r.randint(0, 10**6)),
    lambda r: _modify(0, 1, [add_query(0, "records:count_of", {"owner": "fuzz"})]),
]


class Fuzzer:
    """One connection sending random frames, reopened whenever the server closes it."""

    def __init__(self, ws_url: str, rng: random.Random) -> None:
        self.ws_url = ws_url
        self.rng = rng
        self.sock: RawSyncSocket | None = None
        self.reader: asyncio.Task[None] | None = None
        self.reopened = 0

    async def round(self) -> None:
        for _ in range(FRAMES_PER_ROUND):
            if self.sock is None:
                await self._open()
            assert self.sock is not None
            pool = VALID if self.rng.random() < 0.3 else HOSTILE
            frame = self.rng.choice(pool)(self.rng)
            try:
                await self.sock.ws.send(frame)
            except Exception:
                await self._drop()
            if self.rng.random() < 0.05:
                await self._drop()  # leave abruptly, mid-conversation

    async def _open(self) -> None:
        self.sock = await RawSyncSocket(self.ws_url).open()
        self.reader = asyncio.create_task(self._read(self.sock))
        self.reopened += 1

    async def _read(self, sock: RawSyncSocket) -> None:
        # Read everything, so the server never waits on this client.
        with contextlib.suppress(Exception):
            async for _ in sock.ws:
                pass
        if self.sock is sock:
            self.sock = None

    async def _drop(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.ws.transport.abort()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader


class Canary:
    """An honest client: each check records one row and waits for its
    subscription to show exactly the rows it recorded."""

    def __init__(self, sock: RawSyncSocket) -> None:
        self.sock = sock
        self.recorded = 0

    @classmethod
    async def open(cls, ws_url: str) -> Canary:
        sock = await RawSyncSocket(ws_url).open()
        await sock.modify(add_query(0, "records:count_of", {"owner": "canary"}))
        canary = cls(sock)
        await canary._until_count(0)
        return canary

    async def check(self) -> None:
        request_id = await self.sock.mutation("records:record_for", {"owner": "canary"})
        self.recorded += 1
        async with asyncio.timeout(READ):
            while True:
                message = await self.sock.next(READ)
                if message["type"] == "MutationResponse":
                    assert message["requestId"] == request_id and message["success"], message
                    break
        await self._until_count(self.recorded)

    async def _until_count(self, expected: int) -> None:
        async with asyncio.timeout(READ):
            while True:
                message = await self.sock.next(READ)
                if message["type"] != "Transition":
                    continue
                for mod in message["modifications"]:
                    if mod.get("type") == "QueryUpdated" and mod["queryId"] == 0:
                        assert mod["value"] <= expected, (mod, expected)  # never a wrong count
                        if mod["value"] == expected:
                            return


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_hostile_and_valid_frames_from_many_connections_never_stop_the_server(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    rng = random.Random(int(os.environ.get("LIVESYNC_FUZZ_SEED", "12")))
    fuzzers = [Fuzzer(server.ws_url, random.Random(rng.random())) for _ in range(CONNECTIONS)]
    canary = await Canary.open(server.ws_url)
    async with httpx.AsyncClient(base_url=server.url, timeout=READ) as http:
        try:
            for round_no in range(ROUNDS):
                await asyncio.gather(*(fuzzer.round() for fuzzer in fuzzers))
                await canary.check()
                health = await http.get("/health")
                assert health.status_code == 200, (round_no, health.text)
                assert _rss_mb(server.pid) < MAX_RSS_MB, round_no
        finally:
            for fuzzer in fuzzers:
                await fuzzer._drop()
            await canary.sock.close()
    # The fuzzers were refused and reconnected many times, and the server is still up.
    assert sum(fuzzer.reopened for fuzzer in fuzzers) > CONNECTIONS
    assert server.running
