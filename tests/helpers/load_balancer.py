"""HAProxy in front of livesync nodes, as a deployment puts it.

Debian's `haproxy` package, run in the foreground on a config written per
test: WebSockets pass through (`timeout tunnel`), and an HTTP check of each
node's `/health` takes a dead or draining node out of rotation, so a client
whose node died reconnects to another one.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.helpers.ci import skip_or_fail
from tests.helpers.ports import await_port, free_port
from tests.helpers.timeouts import REPLY

__all__ = ["LoadBalancer", "require_haproxy"]


def require_haproxy() -> str:
    """The haproxy binary; skips (fails under CI) when it is not installed."""
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if found is None:
        skip_or_fail("haproxy is not installed (Debian package haproxy; .ci/run installs it)")
        raise AssertionError("unreachable")
    return found


class LoadBalancer:
    """One HAProxy process balancing round-robin over `backends` (ports)."""

    def __init__(self, workdir: Path, backends: Sequence[int]) -> None:
        self.binary = require_haproxy()
        self.workdir = workdir
        self.backends = list(backends)
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/sync"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "haproxy.cfg"
        config.write_text(self._config())
        log = (self.workdir / "haproxy.log").open("wb")
        try:
            self._proc = subprocess.Popen(
                [self.binary, "-db", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        self._await_listening()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=REPLY)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=REPLY)

    def log_text(self) -> str:
        path = self.workdir / "haproxy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _config(self) -> str:
        servers = "\n".join(
            f"    server node{i} 127.0.0.1:{port} check inter 200ms fall 2 rise 1"
            for i, port in enumerate(self.backends)
        )
        return f"""global
    maxconn 4000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # A WebSocket, once upgraded, is a tunnel: it lives as long as its client.
    timeout tunnel 1h

frontend livesync
    bind 127.0.0.1:{self.port}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
{servers}
"""

    def _await_listening(self) -> None:
        # HAProxy prints nothing when it is ready: its port accepting is the event.
        assert self._proc is not None
        await_port(self._proc, self.port, "haproxy", self.log_text)
