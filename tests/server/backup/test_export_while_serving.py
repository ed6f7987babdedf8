"""An export taken while a server serves and writes is one consistent
snapshot: a bank's invariant across three tables holds in it, on both
backends, though transfers commit before, during and after it."""

from __future__ import annotations

import json
import threading
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers.postgres import fresh_database
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import EVENT, REPLY
from tests.server.backup.helpers import FUNCTIONS, call, livesync

TOTAL = 1_000_000.0


class Transfers:
    """Transfers one after another from a thread until stopped."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self.done = 0
        self.reached = threading.Condition()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Transfers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(EVENT)

    def wait_for(self, count: int) -> None:
        with self.reached:
            assert self.reached.wait_for(lambda: self.done >= count, EVENT), self.failure

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=REPLY) as client:
                while not self._stop.is_set():
                    body = {"path": "bank:transfer", "args": {}, "format": "json"}
                    reply = client.post(f"{self._url}/api/mutation", json=body).json()
                    assert reply["status"] == "success", reply
                    with self.reached:
                        self.done += 1
                        self.reached.notify_all()
        except BaseException as exc:  # reported by wait_for
            self.failure = exc


@asynccontextmanager
async def _database(backend: str) -> AsyncIterator[str | None]:
    if backend == "sqlite":
        yield None
    else:
        async with fresh_database() as url:
            yield url


def _balances(path: Path) -> tuple[float, float, int]:
    with zipfile.ZipFile(path) as zf:

        def docs(table: str) -> list[dict[str, float]]:
            return [json.loads(line) for line in zf.read(f"{table}/documents.jsonl").splitlines()]

        (checking,), (savings,) = docs("checking"), docs("savings")
        return checking["balance"], savings["balance"], len(docs("ledger"))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_export_during_writes_is_one_snapshot(
    backend: str, start_server: StartServer, tmp_path: Path
) -> None:
    async with _database(backend) as url:
        server: LivesyncServer = start_server(FUNCTIONS, database_url=url)
        call(server.url, "mutation", "bank:open_accounts")
        with Transfers(server.url) as transfers:
            transfers.wait_for(20)
            done = livesync(
                "export", str(tmp_path / "bank.zip"), "--config", str(server.config_path)
            )
            exported_at = transfers.done
            transfers.wait_for(exported_at + 5)
        assert done.returncode == 0, done.stderr
        checking, savings, ledger = _balances(tmp_path / "bank.zip")
        assert checking + savings == TOTAL
        assert savings == ledger >= 20
        assert call(server.url, "query", "bank:transfers") > ledger
        server.stop()
