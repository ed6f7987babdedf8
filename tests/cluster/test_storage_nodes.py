"""Two nodes on one PostgreSQL database sharing their stored files (one
folder, or one S3 bucket): a file uploaded through one node is served by the
other, and deleted everywhere."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from client import Client
from tests.helpers.postgres import fresh_database
from tests.helpers.s3_server import FileBackend
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import CLIENT, REPLY

FILES = Path(__file__).parents[1] / "server" / "storage_functions"


def call(node: LivesyncServer, kind: str, path: str, args: dict[str, str] | None = None) -> object:
    reply = httpx.post(f"{node.url}/api/{kind}", json={"path": path, "args": args or {}})
    body = reply.json()
    assert body["status"] == "success", body
    return body["value"]


async def test_a_file_uploaded_through_one_node_is_served_by_the_other(
    start_server: StartServer, tmp_path: Path, file_backend: FileBackend
) -> None:
    folder = {"dir": str(tmp_path / "shared-files")} if file_backend.name == "local" else {}
    shared = file_backend.config(**folder)
    async with fresh_database() as url:
        a, b = (start_server(FILES, database_url=url, config_extra=shared) for _ in range(2))
        upload_url = call(a, "mutation", "files:upload_url")
        assert isinstance(upload_url, str) and upload_url.startswith(a.url)
        reply = httpx.post(
            upload_url, content=b"shared bytes", headers={"content-type": "text/plain"}
        )
        storage_id = reply.json()["storageId"]
        # Node B serves the file once it has caught up with A's commit.
        async with Client(b.url) as client, asyncio.timeout(CLIENT):
            watched = client.subscribe("files:url", {"id": storage_id})
            on_b = await watched.next()
            while on_b is None:
                on_b = await watched.next()
        assert on_b == f"{b.url}/api/storage/{storage_id}"
        assert httpx.get(str(on_b), timeout=REPLY).content == b"shared bytes"
        call(b, "mutation", "files:remove", {"id": storage_id})
        assert httpx.get(f"{a.url}/api/storage/{storage_id}", timeout=REPLY).status_code == 404
        for node in (a, b):
            node.stop()
