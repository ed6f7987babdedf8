"""A free TCP port on 127.0.0.1, for a process that binds it itself."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A port nothing listens on now (another process may take it before the
    caller's child binds it; the children here start at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
