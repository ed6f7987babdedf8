"""A real S3-compatible server for the tests of `[storage] backend = "s3"`:
moto's standalone server (PyPI `moto[server]`), a separate process speaking
S3's HTTP API, and `FileBackend`, which runs a storage test on each backend.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.helpers.ports import await_port, free_port
from tests.helpers.server import LivesyncServer
from tests.helpers.timeouts import REPLY

__all__ = ["FILE_BACKENDS", "FileBackend", "S3Server"]

FILE_BACKENDS = ("local", "s3")
# moto takes any key pair; livesync must still send one.
KEY_ID, SECRET = "test-key", "test-secret"


class S3Server:
    """moto's server on a free port of 127.0.0.1, in memory: a restart empties it."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self._log = workdir / f"moto-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # moto's readiness line is werkzeug's and may change: its port accepting is the event.
        await_port(self._proc, self.port, "moto", self._log.read_text)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=REPLY)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=REPLY)

    def config(self, bucket: str, **storage: Any) -> str:
        """A `[storage]` table for config_extra: this server's `bucket`."""
        return _storage_table({"backend": "s3", **storage}) + (
            "\n[storage.s3]\n"
            f'bucket = "{bucket}"\nendpoint_url = "{self.endpoint}"\nregion = "us-east-1"\n'
            f'access_key_id = "{KEY_ID}"\nsecret_access_key = "{SECRET}"\n'
        )

    def client(self) -> Any:
        """A boto3 client, to look at the bucket from outside livesync."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(entry["Key"] for entry in listed.get("Contents", []))


class FileBackend:
    """One storage backend for a test: its `[storage]` config and a look at
    the files it holds."""

    def __init__(self, name: str, s3: S3Server | None) -> None:
        self.name = name
        self._s3 = s3
        self.bucket = f"files-{uuid.uuid4().hex[:12]}"

    def config(self, **storage: Any) -> str:
        if self._s3 is None:
            return _storage_table(storage)
        return self._s3.config(self.bucket, **storage)

    def stored(self, server: LivesyncServer) -> list[str]:
        """The storage ids of the files the backend holds for `server`."""
        if self._s3 is None:
            folder = server.db_path.parent / "storage"
            return sorted(p.name for p in folder.iterdir() if p.is_file())
        return self._s3.keys(self.bucket)


def _storage_table(keys: dict[str, Any]) -> str:
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
    return f"[storage]\n{lines}" if lines else ""
