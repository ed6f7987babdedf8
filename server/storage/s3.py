"""Stored files in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2...), so
nodes that share a database need no shared disk.

Each file is the object `<prefix><storage id>`. An upload up to one part
is a single PUT; a larger one is a multipart upload of `PART_BYTES` parts,
so a node holds at most one part of it in memory. Downloads stream through
the node (the file's URL stays the server's, granting that one file), with
a client's Range passed on to the bucket.

Any failure to reach the bucket becomes `FileStoreUnavailable`: the upload
or function fails with a message, the node and other clients carry on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.responses import Response, StreamingResponse

from server.config import S3Config
from server.errors import ConfigError, FileStoreUnavailable
from server.storage.files import CHUNK_BYTES, FileStore, Received
from server.store.catalog import STORAGE
from server.store.ids import id_matches_table

__all__ = ["PART_BYTES", "S3Files"]

# S3's smallest part but the last is 5 MiB; larger parts, fewer requests.
PART_BYTES = 8 * 1024 * 1024


class S3Files(FileStore):
    """Files by storage id in `settings.bucket`."""

    def __init__(self, settings: S3Config) -> None:
        self.settings = settings
        self._client: Any = None  # aiobotocore's S3 client: untyped
        self._exits = contextlib.AsyncExitStack()

    async def open(self) -> None:
        try:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import get_session
        except ImportError:
            raise ConfigError(
                'storage.backend = "s3" needs aiobotocore: pip install "livesync[s3]"'
            ) from None
        s = self.settings
        config = AioConfig(
            connect_timeout=s.timeout,
            read_timeout=s.timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            # Each download streams through one pooled connection while it lasts.
            max_pool_connections=100,
            # Other S3-compatible servers need the path style and refuse
            # the checksums botocore now adds by default.
            s3={"addressing_style": "path" if s.endpoint_url else "auto"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client = await self._exits.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=s.endpoint_url or None,
                region_name=s.region or None,
                aws_access_key_id=s.access_key_id or None,
                aws_secret_access_key=s.secret_access_key or None,
                config=config,
            )
        )
        where = f"S3 bucket {s.bucket!r}" + (f" at {s.endpoint_url}" if s.endpoint_url else "")
        try:
            await self._ensure_bucket()
        except FileStoreUnavailable as exc:
            await self.close()
            raise ConfigError(f"storage.s3: cannot use the {where}: {exc}") from None

    async def close(self) -> None:
        await self._exits.aclose()

    async def receive(
        self, storage_id: str, chunks: AsyncIterator[bytes], limit: int
    ) -> tuple[int, str]:
        key = self._key(storage_id)
        assert key is not None
        received = Received(limit)
        pending = bytearray()
        upload: _Multipart | None = None
        try:
            async for chunk in chunks:
                received.add(chunk)
                pending += chunk
                while len(pending) >= PART_BYTES:
                    if upload is None:
                        upload = await _Multipart.start(self, key)
                    await upload.add(bytes(pending[:PART_BYTES]))
                    del pending[:PART_BYTES]
            if upload is None:
                await self._call(
                    "put_object", Bucket=self.settings.bucket, Key=key, Body=bytes(pending)
                )
            else:
                if pending:
                    await upload.add(bytes(pending))
                await upload.complete()
        except BaseException:
            if upload is not None:
                with contextlib.suppress(FileStoreUnavailable):
                    await upload.abort()
            raise
        return received.result()

    async def chunks(self, storage_id: str) -> AsyncIterator[bytes]:
        key = self._key(storage_id)
        got = await self._get(key) if key is not None else None
        if got is None:
            raise FileNotFoundError(storage_id)
        async for chunk in self._stream(got["Body"]):
            yield chunk

    async def response(
        self, storage_id: str, size: int, headers: Mapping[str, str], method: str
    ) -> Response | None:
        key = self._key(storage_id)
        if key is None:
            return None
        if method == "HEAD":
            return Response(headers={"content-length": str(size), "accept-ranges": "bytes"})
        try:
            got = await self._get(key, headers.get("range"))
        except _Unsatisfiable:
            return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
        if got is None:
            return None
        sent = {"content-length": str(got["ContentLength"]), "accept-ranges": "bytes"}
        if got.get("ContentRange"):
            sent["content-range"] = got["ContentRange"]
        status = got["ResponseMetadata"]["HTTPStatusCode"]  # 206 for a range
        return StreamingResponse(self._stream(got["Body"]), status_code=status, headers=sent)

    async def remove(self, storage_id: str) -> None:
        key = self._key(storage_id)
        if key is not None:  # deleting a missing key succeeds in S3
            await self._call("delete_object", Bucket=self.settings.bucket, Key=key)

    async def older_than(self, seconds: float) -> list[str]:
        horizon = time.time() - seconds
        bucket, prefix = self.settings.bucket, self.settings.prefix
        found = await self._call("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
        for upload in found.get("Uploads", []):
            if upload["Initiated"].timestamp() < horizon:
                await self._call(
                    "abort_multipart_upload",
                    Bucket=bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                )
        old: list[str] = []
        token: str | None = None
        while True:
            more = {"ContinuationToken": token} if token else {}
            page = await self._call("list_objects_v2", Bucket=bucket, Prefix=prefix, **more)
            for entry in page.get("Contents", []):
                storage_id = entry["Key"].removeprefix(prefix)
                if entry["LastModified"].timestamp() < horizon and self._key(storage_id):
                    old.append(storage_id)
            token = page.get("NextContinuationToken")
            if not token:
                return old

    def _key(self, storage_id: str) -> str | None:
        if not id_matches_table(storage_id, STORAGE):
            return None
        return self.settings.prefix + storage_id

    async def _ensure_bucket(self) -> None:
        try:
            await self._call("head_bucket", Bucket=self.settings.bucket)
            return
        except _Missing:
            pass
        where = {}
        if self.settings.region and self.settings.region != "us-east-1":
            where = {"CreateBucketConfiguration": {"LocationConstraint": self.settings.region}}
        await self._call("create_bucket", Bucket=self.settings.bucket, **where)

    async def _get(self, key: str, byte_range: str | None = None) -> dict[str, Any] | None:
        extra = {"Range": byte_range} if byte_range else {}
        try:
            got: dict[str, Any] = await self._call(
                "get_object", Bucket=self.settings.bucket, Key=key, **extra
            )
        except _Missing:
            return None
        return got

    async def _stream(self, body: Any) -> AsyncIterator[bytes]:
        async with body as stream:
            while chunk := await stream.read(CHUNK_BYTES):
                yield chunk

    async def _call(self, operation: str, **params: Any) -> Any:
        """One S3 request, its failures translated to ours."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await getattr(self._client, operation)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):  # HEAD answers have no code
                raise _Missing(code) from None
            if code == "InvalidRange":
                raise _Unsatisfiable from None
            raise FileStoreUnavailable(
                f"file storage failed: {code or 'error'}: {error.get('Message', '')}".rstrip(": ")
            ) from None
        except (BotoCoreError, OSError) as exc:
            raise FileStoreUnavailable(f"file storage is out of reach: {exc}") from None


class _Multipart:
    """One multipart upload in progress."""

    def __init__(self, files: S3Files, key: str, upload_id: str) -> None:
        self._files = files
        self._key = key
        self._id = upload_id
        self._parts: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, files: S3Files, key: str) -> _Multipart:
        made = await files._call("create_multipart_upload", Bucket=files.settings.bucket, Key=key)
        return cls(files, key, made["UploadId"])

    async def add(self, data: bytes) -> None:
        number = len(self._parts) + 1
        sent = await self._files._call("upload_part", **self._where(), PartNumber=number, Body=data)
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    async def complete(self) -> None:
        await self._files._call(
            "complete_multipart_upload", **self._where(), MultipartUpload={"Parts": self._parts}
        )

    async def abort(self) -> None:
        await self._files._call("abort_multipart_upload", **self._where())

    def _where(self) -> dict[str, str]:
        return {"Bucket": self._files.settings.bucket, "Key": self._key, "UploadId": self._id}


class _Missing(Exception):
    pass


class _Unsatisfiable(Exception):
    pass
