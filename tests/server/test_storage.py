"""File storage in a real server: upload URLs (single use, only if their
mutation commits), streaming uploads within the size and type limits, file
URLs that serve one file each, metadata in `_storage`, deletion (seen by a
subscriber), and files stored and read by actions."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client import Client, ClientError
from server.config import StorageConfig
from server.storage.folder import FolderFiles
from server.storage.service import Storage
from server.store.catalog import STORAGE
from server.store.ids import new_id
from server.store.sqlite import SqliteStore
from tests.helpers import api
from tests.helpers.s3_server import FileBackend
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import CLIENT, REPLY

FUNCTIONS = Path(__file__).parent / "storage_functions"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def call(server: LivesyncServer, kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
    return api.call(server.url, kind, path, args)


def upload(url: str, data: bytes | Iterator[bytes], content_type: str) -> httpx.Response:
    return httpx.post(url, content=data, headers={"content-type": content_type}, timeout=REPLY)


def test_a_file_uploaded_to_its_url_is_served_at_its_own_url(
    start_server: StartServer, file_backend: FileBackend
) -> None:
    server = start_server(FUNCTIONS, config_extra=file_backend.config())
    upload_url = call(server, "mutation", "files:upload_url")
    assert upload_url.startswith(f"{server.url}/api/storage/upload?token=")
    reply = upload(upload_url, PNG, "image/png")
    assert reply.status_code == 200
    storage_id = reply.json()["storageId"]
    meta = call(server, "query", "files:metadata", {"id": storage_id})
    assert meta == {
        "storageId": storage_id,
        "sha256": base64.b64encode(hashlib.sha256(PNG).digest()).decode(),
        "size": len(PNG),
        "contentType": "image/png",
    }
    file_url = call(server, "query", "files:url", {"id": storage_id})
    assert file_url == f"{server.url}/api/storage/{storage_id}"
    served = httpx.get(file_url, timeout=REPLY)
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["etag"] == f'"{meta["sha256"]}"'
    # Served on the dashboard's origin: an uploaded page may run nothing there.
    assert served.headers["content-security-policy"] == "sandbox"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert file_backend.stored(server) == [storage_id]


def test_an_upload_url_works_once_and_only_if_its_mutation_committed(
    start_server: StartServer, file_backend: FileBackend
) -> None:
    server = start_server(FUNCTIONS, config_extra=file_backend.config())
    upload_url = call(server, "mutation", "files:upload_url")
    assert upload(upload_url, b"first", "text/plain").status_code == 200
    again = upload(upload_url, b"second", "text/plain")
    assert again.status_code == 403 and again.json()["code"] == "InvalidUploadUrl"
    failed = httpx.post(
        f"{server.url}/api/mutation", json={"path": "files:upload_url_then_fail", "args": {}}
    ).json()
    never = failed["errorData"]  # the URL the failed mutation made
    assert upload(never, b"x", "text/plain").status_code == 403
    for token in ("", "nonsense", "a" * 32):
        assert (
            upload(f"{server.url}/api/storage/upload?token={token}", b"x", "text/plain").status_code
            == 403
        )
    assert len(file_backend.stored(server)) == 1


def test_uploads_over_the_size_limit_or_of_a_refused_type_leave_nothing(
    start_server: StartServer, file_backend: FileBackend
) -> None:
    server = start_server(
        FUNCTIONS,
        config_extra=file_backend.config(
            max_file_bytes=1000, content_types=["image/*", "text/plain"]
        ),
    )

    def fresh() -> str:
        url: str = call(server, "mutation", "files:upload_url")
        return url

    assert upload(fresh(), b"x" * 1001, "image/png").status_code == 413  # declared length
    streamed = upload(fresh(), iter([b"x" * 600, b"y" * 600]), "image/png")  # no length: counted
    assert streamed.status_code == 413
    refused = upload(fresh(), b"<svg/>", "application/json")
    assert refused.status_code == 415
    assert upload(fresh(), b"not a type", "nonsense").status_code == 415
    assert file_backend.stored(server) == []
    assert upload(fresh(), b"x" * 1000, "image/png").status_code == 200


def test_a_file_url_serves_that_file_alone(
    start_server: StartServer, file_backend: FileBackend
) -> None:
    server = start_server(FUNCTIONS, config_extra=file_backend.config())
    storage_id = upload(call(server, "mutation", "files:upload_url"), PNG, "image/png").json()[
        "storageId"
    ]
    token = call(server, "mutation", "files:upload_url").rsplit("=", 1)[1]
    for other in (token, "a" * 32, "..%2F..%2Fconfig.toml", "../livesync.db", f"{storage_id}x"):
        assert httpx.get(f"{server.url}/api/storage/{other}", timeout=REPLY).status_code == 404
    assert httpx.delete(f"{server.url}/api/storage/{storage_id}").status_code == 405
    assert httpx.get(f"{server.url}/api/storage/{storage_id}").content == PNG


def test_a_file_url_answers_ranges_and_head(
    start_server: StartServer, file_backend: FileBackend
) -> None:
    server = start_server(FUNCTIONS, config_extra=file_backend.config())
    storage_id = upload(call(server, "mutation", "files:upload_url"), PNG, "image/png").json()[
        "storageId"
    ]
    url = f"{server.url}/api/storage/{storage_id}"
    part = httpx.get(url, headers={"range": "bytes=10-19"}, timeout=REPLY)
    assert part.status_code == 206 and part.content == PNG[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(PNG)}"
    assert part.headers["content-type"] == "image/png"
    beyond = httpx.get(url, headers={"range": f"bytes={len(PNG) + 5}-"}, timeout=REPLY)
    assert beyond.status_code == 416
    head = httpx.head(url, timeout=REPLY)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(PNG))
    assert head.content == b"" and head.headers["etag"].startswith('"')


async def test_a_deleted_file_is_gone_for_its_subscribers_and_its_url(
    start_server: StartServer, file_backend: FileBackend
) -> None:
    server = start_server(FUNCTIONS, config_extra=file_backend.config())
    storage_id = upload(call(server, "mutation", "files:upload_url"), PNG, "image/png").json()[
        "storageId"
    ]
    async with Client(server.url) as client:
        watched = client.subscribe("files:url", {"id": storage_id})
        async with asyncio.timeout(CLIENT):
            first = await watched.next()
            assert first == f"{server.url}/api/storage/{storage_id}"
            await client.mutation("files:remove", {"id": storage_id})
            assert await watched.next() is None
        assert await client.query("files:document", {"id": storage_id}) is None
        with pytest.raises(ClientError, match="No stored file has the id"):
            await client.mutation("files:remove", {"id": storage_id})
    assert httpx.get(f"{server.url}/api/storage/{storage_id}").status_code == 404


def test_actions_store_read_and_delete_files(
    start_server: StartServer, file_backend: FileBackend
) -> None:
    server = start_server(FUNCTIONS, config_extra=file_backend.config())
    done = call(server, "action", "files:store_text", {"text": "kept by an action"})
    assert done["back"] == "kept by an action"
    assert (
        done["meta"]["size"] == len("kept by an action")
        and done["meta"]["contentType"] == "text/plain"
    )
    assert httpx.get(done["url"], timeout=REPLY).text == "kept by an action"
    assert upload(done["fresh_url"], b"via action url", "text/plain").status_code == 200
    assert call(server, "action", "files:remove_in_action", {"id": done["id"]}) is None
    assert httpx.get(done["url"], timeout=REPLY).status_code == 404


async def test_the_sweep_removes_orphaned_files_and_expired_upload_urls(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.open([])
    now = [1_000_000.0]
    storage = Storage(
        FolderFiles(tmp_path / "files"),
        StorageConfig(upload_url_ttl=60.0),
        "http://x",
        clock=lambda: now[0],
    )

    async def transact(body: Any) -> Any:
        return (await store.write(body))[0]

    kept = await storage.accept(transact, None, _chunks(b"kept"), "text/plain")
    orphan = new_id(STORAGE)  # an upload whose commit never came
    await storage.files.store(orphan, b"orphan", 100)
    young = new_id(STORAGE)  # one still committing
    await storage.files.store(young, b"young", 100)
    old = os.path.getmtime(tmp_path / "files" / kept) - 3600
    for name in (kept, orphan):
        os.utime(tmp_path / "files" / name, (old, old))
    url = await transact(storage.new_upload_url)
    token = url.rsplit("=", 1)[1]
    now[0] += 61  # the URL expires
    files, urls = await storage.sweep(store.snapshot(), transact)
    assert (files, urls) == (1, 1)
    assert sorted(p.name for p in (tmp_path / "files").iterdir() if p.is_file()) == sorted(
        [kept, young]
    )
    assert await store.snapshot().get(token) is None
    await store.close()


async def _chunks(data: bytes) -> Any:
    yield data
