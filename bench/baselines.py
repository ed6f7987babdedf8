"""The raw baselines each scenario is divided by, and the socket.io peer.

`python -m bench.baselines ws|socketio` runs a server process and prints
`listening on URL`. The in-process baselines (SQLite inserts, PyJWT decodes)
are plain functions the coordinator calls.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import jwt
import uvicorn
from websockets.asyncio.server import ServerConnection, broadcast, serve

__all__ = ["jwt_decode_rate", "main", "postgres_insert_rate", "sqlite_insert_rate"]

ROOM = "everyone"


async def _ws_server() -> None:
    """Bare broadcast: `hello` gets `ok`; `bump FRAME` sends FRAME to every other socket."""
    peers: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        peers.add(ws)
        try:
            async for message in ws:
                if isinstance(message, str) and message.startswith("bump "):
                    broadcast(peers - {ws}, message[len("bump ") :])
                else:
                    await ws.send("ok")
        finally:
            peers.discard(ws)

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"baseline ws: listening on http://127.0.0.1:{port}", flush=True)
        await server.serve_forever()


def _socketio_server() -> None:
    """python-socketio's room broadcast under uvicorn, the stack livesync runs on."""
    import socketio  # type: ignore[import-untyped]  # only the peer scenario needs it

    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

    @sio.on("join")  # type: ignore[untyped-decorator]
    async def join(sid: str, _data: Any = None) -> None:
        await sio.enter_room(sid, ROOM)
        await sio.emit("joined", {}, to=sid)

    @sio.on("bump")  # type: ignore[untyped-decorator]
    async def bump(sid: str, size: int) -> None:
        await sio.emit("update", "x" * int(size), room=ROOM, skip_sid=sid)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)  # connections queue here until uvicorn accepts them
    print(f"peer socketio: listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        socketio.ASGIApp(sio),
        ws="websockets-sansio",
        log_level="warning",
        log_config=None,
        lifespan="off",
    )
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


async def sqlite_insert_rate(path: Path, count: int) -> float:
    """Rows per second, one row per transaction, WAL and synchronous=NORMAL like the store."""
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")
        start = time.perf_counter()
        for i in range(count):
            await db.execute("BEGIN IMMEDIATE")
            await db.execute("INSERT INTO t (body) VALUES (?)", (f'{{"n":{i}}}'.encode(),))
            await db.execute("COMMIT")
        return count / (time.perf_counter() - start)


async def postgres_insert_rate(url: str, count: int) -> float:
    """Rows per second, one asyncpg INSERT per transaction (autocommit: one
    round trip and one commit each), PostgreSQL's default durability."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY, body bytea)")
        start = time.perf_counter()
        for i in range(count):
            await conn.execute("INSERT INTO t (body) VALUES ($1)", f'{{"n":{i}}}'.encode())
        return count / (time.perf_counter() - start)
    finally:
        await conn.close()


def jwt_decode_rate(token: str, public_key: Any, audience: str, count: int) -> float:
    """Verified RS256 decodes per second of one token with an already parsed key."""
    start = time.perf_counter()
    for _ in range(count):
        jwt.decode(token, public_key, algorithms=["RS256"], audience=audience)
    return count / (time.perf_counter() - start)


def main(argv: list[str]) -> None:
    if argv == ["ws"]:
        asyncio.run(_ws_server())
    elif argv == ["socketio"]:
        _socketio_server()
    else:
        raise SystemExit("usage: python -m bench.baselines ws|socketio")


if __name__ == "__main__":
    main(sys.argv[1:])
