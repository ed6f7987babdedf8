"""The processes a scenario measures: livesync itself and the bare baselines.

Each is a subprocess that prints `...listening on URL` once it accepts
connections; we block on that line rather than polling the port.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from server.dev_issuer import DevIssuer, KeyStore

__all__ = [
    "FUNCTIONS_DIR",
    "Proc",
    "cpu_ms",
    "raise_fd_limit",
    "rss_kb",
    "start_baseline",
    "start_livesync",
]

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO / "bench" / "functions"
_LISTENING = re.compile(r"listening on (\S+)")
START_TIMEOUT = 60.0
# A folder: every livesync server runs under cProfile and writes its profile
# there when stopped (SIGTERM lets it shut down cleanly), named after its
# work folder. For finding where a scenario's time goes; figures measured
# this way are slower than real ones.
PROFILE_ENV = "LIVESYNC_BENCH_PROFILE"


@dataclass(slots=True)
class Proc:
    """A started server process and where it listens."""

    popen: subprocess.Popen[str]
    url: str
    workdir: Path
    issuer: DevIssuer | None = None
    _stdout: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def ws_url(self) -> str:
        """The sync endpoint the Python client uses (any path for the baselines)."""
        return "ws" + self.url.removeprefix("http") + "/api/sync"

    def token(self, sub: str, ttl: int = 3600) -> str:
        """A dev-issuer token, minted here with the server's own key folder."""
        assert self.issuer is not None, "only livesync has an issuer"
        return self.issuer.mint({"sub": sub, "ttl": ttl})

    def metric(self, name: str, label: str = "") -> float:
        """One sample of GET /metrics (0 when absent)."""
        text = httpx.get(self.url + "/metrics", timeout=30).text
        wanted = f"{name}{{{label}}}" if label else name
        for line in text.splitlines():
            key, _, value = line.rpartition(" ")
            if key == wanted:
                return float(value)
        return 0.0

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def stderr_tail(self, lines: int = 20) -> str:
        path = self.workdir / "stderr.log"
        return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else ""


def raise_fd_limit() -> int:
    """Lift the soft file-descriptor limit to the hard one; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_ms(pid: int) -> float:
    """CPU time a process has run so far, from /proc/<pid>/schedstat (ns)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6


def rss_kb(pid: int) -> int:
    """VmRSS of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _start(args: list[str], workdir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LIVESYNC_LOG_LEVEL": "WARNING"}
    stderr = (workdir / "stderr.log").open("w")
    popen = subprocess.Popen(
        [sys.executable, *args],
        cwd=workdir,  # no config.toml here, so only our flags apply
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    stderr.close()
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        # Keep reading after the marker so a chatty server never blocks on a full pipe.
        assert popen.stdout is not None
        for line in popen.stdout:
            match = _LISTENING.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(START_TIMEOUT) or not found:
        popen.kill()
        tail = (workdir / "stderr.log").read_text()[-2000:]
        raise RuntimeError(f"{args[:3]} did not start:\n{tail}")
    return popen, found[0]


def start_livesync(workdir: Path, database: str | None = None, config: str = "") -> Proc:
    """`python -m server dev` on port 0 serving bench/functions, on the
    database URL `database` (default: SQLite in `workdir`), with the
    config.toml text `config`."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.toml").write_text(config)
    keys = workdir / "keys"
    KeyStore(keys).refresh()  # create the key before the server, so both read one folder
    profile = os.environ.get(PROFILE_ENV)
    # Under cProfile through bench.profiled (see there), which then runs the module.
    module = ["-m", "bench.profiled", f"{profile}/{workdir.name}.prof"] if profile else ["-m"]
    popen, url = _start(
        [
            *module,
            "server",
            "dev",
            "--config",
            str(workdir / "config.toml"),
            "--port",
            "0",
            "--functions",
            str(FUNCTIONS_DIR),
            "--database",
            database or f"sqlite:///{workdir / 'bench.db'}",
            "--keys",
            str(keys),
        ],
        workdir,
    )
    return Proc(popen, url, workdir, DevIssuer(keys, url + "/dev-issuer"))


def start_baseline(kind: str, workdir: Path) -> Proc:
    """`python -m bench.baselines KIND`: "ws" (bare broadcast) or "socketio" (peer)."""
    workdir.mkdir(parents=True, exist_ok=True)
    popen, url = _start(["-m", "bench.baselines", kind], workdir)
    return Proc(popen, url, workdir)
