"""One server per SQLite file: an exclusive lock held while the store is open.

SQLite is the single-node store. Two servers on one file would each publish
only their own commits, so each one's subscribers would silently miss the
other's writes. The store takes an exclusive `flock` on `<database>.lock`
when it opens and holds it until it closes; the kernel drops it when the
process dies, even by SIGKILL, so a crash never leaves a stale lock. The
file records the holder's pid for the error message only.
"""

from __future__ import annotations

import fcntl
import os

from server.errors import DatabaseInUse

__all__ = ["FileLock"]


class FileLock:
    __slots__ = ("_fd", "path")

    def __init__(self, database: str) -> None:
        self.path = database + ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise `DatabaseInUse` naming the holder."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise DatabaseInUse(
                f"SQLite database {self.path[:-5]} is in use by another livesync server "
                f"({who}); SQLite serves one server at a time: stop the other one, or "
                "use PostgreSQL ([database] url) to run several"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
