"""A free TCP port on 127.0.0.1, for a process that binds it itself."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

from tests.helpers.timeouts import REPLY, STARTUP

__all__ = ["await_port", "free_port"]


def free_port() -> int:
    """A port nothing listens on now (another process may take it before the
    caller's child binds it; the children here start at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def await_port(
    proc: subprocess.Popen[bytes], port: int, what: str, log_text: Callable[[], str]
) -> None:
    """Wait until `proc` (a child that prints no readiness line of its own)
    accepts on `port`; fail with its log if it exits or never does."""
    deadline = time.monotonic() + STARTUP
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=REPLY):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen:\n{log_text()}") from None
            time.sleep(0.02)
