"""What the export/import tests share: the CLI as a user runs it, HTTP calls
to a server, and a whole deployment read back (documents and files)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from protocol.values import decode
from server.storage.folder import FolderFiles
from server.store import open_store
from server.store.catalog import STORAGE
from server.store.keys import encode_tuple
from tests.helpers.server import REPO_ROOT
from tests.helpers.timeouts import REPLY, STARTUP

__all__ = ["FUNCTIONS", "call", "livesync", "read_deployment"]

FUNCTIONS = Path(__file__).resolve().parents[1] / "backup_functions"


def livesync(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m server ARGS`, as a user runs it (no terminal: no bars)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=STARTUP * 4,
        check=False,
    )


def call(url: str, kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
    """A query, mutation or action over HTTP; its value, decoded."""
    reply = httpx.post(
        f"{url}/api/{kind}",
        json={"path": path, "args": args or {}, "format": "json"},
        timeout=REPLY,
    )
    body = reply.json()
    assert body["status"] == "success", body
    return decode(body["value"])


async def read_deployment(
    database: str, storage: Path
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, bytes]]:
    """Every live document by table (creation order) and every stored
    file by storage id, read through a read-only store."""
    store = open_store(database, read_only=True)
    await store.open([])
    try:
        snapshot = store.snapshot()
        tables: dict[str, list[dict[str, Any]]] = {}
        for table in await store.tables(snapshot.ts):
            rows = snapshot.scan(f"{table}.by_creation_time", encode_tuple([]), None)
            docs = [doc async for _, doc in rows]
            if docs:
                tables[table] = docs
    finally:
        await store.close()
    files = FolderFiles(storage)
    stored = {}
    for doc in tables.get(STORAGE, []):
        data = await files.read(doc["_id"])
        assert data is not None
        stored[doc["_id"]] = data
    return tables, stored
