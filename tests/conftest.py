"""Fixtures shared by the whole suite.

`start_server` starts real livesync server subprocesses (see
tests/helpers/server.py). When a test fails, the stderr of every server it
started is attached to its report, so a server-side traceback is never lost.
Each test's pytest-timeout limit is multiplied by the suite's timeout scale
(tests/helpers/timeouts.py). `store_backend` runs a test once per store
backend (tests/helpers/stores.py). A SQLite connection a failed test left
open would keep the process from exiting after the report: the suite then
exits without waiting for it, and says so.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest

from tests.helpers.s3_server import FILE_BACKENDS, FileBackend, S3Server
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.stores import BACKENDS, StoreBackend, open_backend
from tests.helpers.timeouts import SCALE

__all__ = [
    "file_backend",
    "pytest_collection_modifyitems",
    "pytest_runtest_makereport",
    "pytest_sessionfinish",
    "pytest_unconfigure",
    "s3_server",
    "start_server",
    "store_backend",
]

_SERVERS = pytest.StashKey[list[LivesyncServer]]()
_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    """After the report: aiosqlite's worker threads are not daemons, so one a
    test never closed would hang the interpreter's exit (and CI until its
    time limit) instead of ending with the report's status."""
    left = [
        t for t in threading.enumerate() if "_connection_worker_thread" in t.name and not t.daemon
    ]
    if left:
        sys.stderr.write(
            f"\n{len(left)} SQLite connection(s) left open by the tests; "
            "exiting without waiting for them\n"
        )
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(config.stash.get(_EXIT_STATUS, 1))


@pytest.fixture
def start_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[StartServer]:
    """A factory: each call starts one more server with a fresh SQLite file in tmp_path.

    The returned server is listening; it has `.url`, `.ws_url`, `.db_path`,
    `.stop()` and `.restart()` (same port, same database file). Every server
    is stopped at teardown: SIGTERM, then SIGKILL after a timeout.
    """
    servers: list[LivesyncServer] = []
    request.node.stash[_SERVERS] = servers

    def start(
        functions_dir: Path | str,
        *,
        config_extra: str = "",
        server_extra: str = "",
        env: dict[str, str] | None = None,
        database_url: str | None = None,
    ) -> LivesyncServer:
        server = LivesyncServer(
            Path(functions_dir),
            tmp_path / f"server-{len(servers)}",
            config_extra=config_extra,
            server_extra=server_extra,
            env=env,
            database_url=database_url,
        )
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=BACKENDS)
async def store_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreBackend]:
    """An empty database of each backend in turn: SQLite, then PostgreSQL
    (tests/helpers/postgres.py: skipped without a server, failed under CI)."""
    async with open_backend(request.param, tmp_path) as backend:
        yield backend


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One S3-compatible server (moto's) for the session; tests keep apart
    by bucket."""
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=FILE_BACKENDS)
def file_backend(request: pytest.FixtureRequest) -> FileBackend:
    """Each backend of stored files in turn: a local folder, then an S3
    bucket of its own on `s3_server`."""
    s3 = request.getfixturevalue("s3_server") if request.param == "s3" else None
    return FileBackend(request.param, s3)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for n, server in enumerate(item.stash.get(_SERVERS, [])):
            report.sections.append((f"livesync server {n} stderr", server.stderr_text()))
    return report


def _configured_timeout(config: pytest.Config) -> float | None:
    # pytest-timeout's own order: --timeout, then PYTEST_TIMEOUT, then the ini value.
    for value in (
        config.getoption("timeout", None),
        os.environ.get("PYTEST_TIMEOUT"),
        config.getini("timeout"),
    ):
        if value not in (None, ""):
            return float(value)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Scale every test's limit; a marker added first is the one pytest-timeout reads."""
    if SCALE == 1.0:
        return
    default = _configured_timeout(config)
    for item in items:
        marker = item.get_closest_marker("timeout")
        if marker is None:
            if default:
                item.add_marker(pytest.mark.timeout(default * SCALE), append=False)
            continue
        args, kwargs = list(marker.args), dict(marker.kwargs)
        if kwargs.get("timeout"):
            kwargs["timeout"] *= SCALE
        elif args and args[0]:
            args[0] *= SCALE
        else:
            continue  # no limit (0 disables it): nothing to scale
        item.add_marker(pytest.mark.timeout(*args, **kwargs), append=False)
