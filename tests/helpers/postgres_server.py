"""A PostgreSQL server of a test's own, which the test may crash and restart.

Debian's server binaries (`/usr/lib/postgresql/<version>/bin`, from the
`postgresql` package `.ci/run` installs) run a throwaway cluster: `initdb`
into a temporary folder, a free port on 127.0.0.1, the role `livesync`
trusted without a password, and the default durability settings (`fsync`,
`synchronous_commit`). PostgreSQL refuses to run as root, so under root it
runs as the `postgres` user the package created.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from tests.helpers.ci import skip_or_fail
from tests.helpers.ports import free_port
from tests.helpers.timeouts import STARTUP

__all__ = ["PostgresServer", "private_postgres"]

_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _binaries() -> Path:
    found = sorted(Path("/").glob(_BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name))
    if not found or not (found[-1] / "initdb").exists():
        skip_or_fail(f"no PostgreSQL server binaries in {_BIN_GLOB} (Debian package postgresql)")
    return found[-1]


class PostgresServer:
    """One cluster in a temporary folder; `start`, `stop` (or crash) and
    `start` again keep its data."""

    def __init__(self) -> None:
        self.bin = _binaries()
        # Not under pytest's tmp_path: its parent is private to root, and the
        # server may run as another user.
        self.home = Path(tempfile.mkdtemp(prefix="livesync-pg-"))
        self.data = self.home / "data"
        self.port = free_port()
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            pw = pwd.getpwnam(self._user)
            os.chown(self.home, pw.pw_uid, pw.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://livesync@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "livesync", "--auth=trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1"
        log = str(self.home / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server; `immediate` is a crash as far as the data goes
        (no shutdown checkpoint: the next start replays the WAL)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def log(self) -> str:
        path = self.home / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        done = subprocess.run(
            command, cwd=self.home, capture_output=True, text=True, timeout=STARTUP, check=False
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{tool} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{self.log()}"
            )


@contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    """A started server of the caller's own, removed afterwards."""
    server = PostgresServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()
