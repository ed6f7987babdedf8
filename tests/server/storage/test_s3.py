"""The S3 backend of stored files against a real S3-compatible server
(moto's): multipart uploads that never hold the file, limits that leave no
part behind, the sweep's listing, names outside `_storage` refused, and a
bucket that is missing (made) or out of reach (one clear error)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import S3Config, load_config
from server.errors import ConfigError, LimitExceeded
from server.storage.files import open_file_store
from server.storage.s3 import PART_BYTES, S3Files
from server.store.catalog import STORAGE
from server.store.ids import new_id
from tests.helpers import api
from tests.helpers.ports import free_port
from tests.helpers.s3_server import KEY_ID, SECRET, S3Server
from tests.helpers.server import StartServer
from tests.helpers.timeouts import REPLY

FUNCTIONS = Path(__file__).parents[1] / "storage_functions"
MiB = 1024 * 1024


def settings(s3: S3Server, bucket: str, prefix: str = "") -> S3Config:
    return S3Config(
        bucket=bucket,
        endpoint_url=s3.endpoint,
        region="us-east-1",
        prefix=prefix,
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
    )


@pytest.fixture
async def files(s3_server: S3Server) -> AsyncIterator[S3Files]:
    opened = S3Files(settings(s3_server, f"unit-{uuid.uuid4().hex[:12]}", prefix="app/"))
    await opened.open()  # makes the bucket
    yield opened
    await opened.close()


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_a_file_larger_than_a_part_goes_up_in_parts_and_comes_back_whole(
    files: S3Files, s3_server: S3Server
) -> None:
    data = bytes(range(256)) * (2 * PART_BYTES // 256) + b"tail"
    storage_id = new_id(STORAGE)
    size, sha256 = await files.receive(storage_id, pieces(data, MiB), limit=len(data))
    assert size == len(data)
    assert sha256 == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert s3_server.keys(files.settings.bucket) == [f"app/{storage_id}"]
    head = s3_server.client().head_object(Bucket=files.settings.bucket, Key=f"app/{storage_id}")
    assert head["ETag"].endswith('-3"')  # S3's mark of a three-part upload
    assert await files.read(storage_id) == data


async def test_a_file_over_the_limit_leaves_no_object_and_no_open_upload(
    files: S3Files, s3_server: S3Server
) -> None:
    storage_id = new_id(STORAGE)
    with pytest.raises(LimitExceeded, match="File too large"):
        await files.receive(storage_id, pieces(b"x" * (PART_BYTES + MiB), MiB), PART_BYTES)
    bucket = files.settings.bucket
    assert s3_server.keys(bucket) == []
    assert s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


async def test_the_sweep_lists_old_files_and_drops_abandoned_uploads(
    files: S3Files, s3_server: S3Server
) -> None:
    kept = new_id(STORAGE)
    await files.store(kept, b"kept", 100)
    bucket = files.settings.bucket
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="app/not-a-storage-id", Body=b"x")
    client.put_object(Bucket=bucket, Key="elsewhere", Body=b"x")  # outside the prefix
    client.create_multipart_upload(Bucket=bucket, Key=f"app/{new_id(STORAGE)}")
    assert await files.older_than(3600) == []  # all young
    assert await files.older_than(-1) == [kept]  # only ids of _storage, under the prefix
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    await files.remove(kept)
    await files.remove(kept)  # gone already: no error
    assert await files.read(kept) is None


async def test_names_that_are_not_storage_ids_reach_nothing(files: S3Files) -> None:
    for name in ("../x", "elsewhere", new_id("messages")):
        assert await files.read(name) is None
        assert await files.response(name, 1, {}, "GET") is None


async def test_an_unreachable_bucket_is_one_clear_error_at_open() -> None:
    nowhere = S3Config(bucket="files", endpoint_url=f"http://127.0.0.1:{free_port()}", timeout=2.0)
    with pytest.raises(ConfigError) as refused:
        await S3Files(nowhere).open()
    message = str(refused.value)
    assert message.startswith("storage.s3: cannot use the S3 bucket 'files' at http://127.0.0.1:")
    assert "\n" not in message


def test_s3_settings_come_from_config_toml_and_hide_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[storage]\nbackend = "s3"\n[storage.s3]\nbucket = "b"\n'
        'endpoint_url = "http://minio:9000"\nsecret_access_key = "${S3_SECRET:-hush}"\n'
    )
    s3 = load_config(path).storage.s3
    assert s3 is not None and s3.bucket == "b" and s3.secret_access_key == "hush"
    assert "hush" not in repr(s3)
    path.write_text('[storage]\nbackend = "local"\n[storage.s3]\nbucket = "b"\n')
    assert load_config(path).storage.s3 is None
    for bad, key in (
        ('[storage]\nbackend = "s3"\n', "storage.s3.bucket"),
        ('[storage]\nbackend = "ftp"\n', "storage.backend"),
        ('[storage.s3]\nbucket = "b"\nregoin = "x"\n', "storage.s3.regoin"),
    ):
        path.write_text(bad)
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(path)


def test_a_bucket_out_of_reach_fails_uploads_and_downloads_alone(
    start_server: StartServer, tmp_path: Path
) -> None:
    """The bucket goes away under a running server: uploads, downloads and
    actions that need it fail with a message; everything else carries on;
    once the bucket is back, so are files."""
    s3 = S3Server(tmp_path)
    s3.start()
    try:
        server = start_server(FUNCTIONS, config_extra=s3.config("outage"))

        def call(kind: str, path: str, args: dict[str, str] | None = None) -> Any:
            return api.reply(server.url, kind, path, args)

        stored = httpx.post(
            call("mutation", "files:upload_url")["value"],
            content=b"before",
            headers={"content-type": "text/plain"},
        ).json()["storageId"]
        s3.stop()
        # The bucket's client retries (botocore's standard mode) before it gives up.
        upload = httpx.post(
            call("mutation", "files:upload_url")["value"], content=b"during", timeout=REPLY
        )
        assert upload.status_code == 503 and upload.json()["code"] == "StorageUnavailable"
        download = httpx.get(f"{server.url}/api/storage/{stored}", timeout=REPLY)
        assert download.status_code == 503
        failed = call("action", "files:store_text", {"text": "during"})
        assert failed["status"] == "error" and "file storage" in failed["errorMessage"]
        assert call("query", "files:metadata", {"id": stored})["value"]["size"] == 6
        assert httpx.get(f"{server.url}/health", timeout=REPLY).status_code == 200
        s3.start()  # empty, as moto keeps nothing: the bucket comes back by hand
        s3.client().create_bucket(Bucket="outage")
        again = httpx.post(
            call("mutation", "files:upload_url")["value"],
            content=b"after",
            headers={"content-type": "text/plain"},
        )
        assert again.status_code == 200
        served = httpx.get(f"{server.url}/api/storage/{again.json()['storageId']}", timeout=REPLY)
        assert served.content == b"after"
    finally:
        s3.stop()


async def test_the_repository_config_takes_the_bucket_from_compose_variables(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker-compose.yml sets these for every node (no Docker engine runs
    here: this holds the config.toml half of it)."""
    for name, value in {
        "LIVESYNC_STORAGE_BACKEND": "s3",
        "S3_BUCKET": "compose-files",
        "S3_ENDPOINT_URL": s3_server.endpoint,
        "S3_ACCESS_KEY_ID": KEY_ID,
        "S3_SECRET_ACCESS_KEY": SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    config = load_config(Path(__file__).parents[3] / "config.toml")
    files = open_file_store(config)
    await files.open()
    storage_id = new_id(STORAGE)
    await files.store(storage_id, b"via compose", 100)
    await files.close()
    assert s3_server.keys("compose-files") == [storage_id]
