"""A real dev token issuer on 127.0.0.1 port 0: in a background thread, in a
subprocess, or as the `livesync dev-issuer` command itself.

The compat tests drive Node with blocking calls, so the issuer cannot share the
test's event loop: `ThreadedIssuer` gives it its own loop in a thread. The
official Python client holds the GIL while it blocks, which starves any thread
in the test process, so with it use `ProcessIssuer` (`python -m
tests.helpers.issuer KEYS_DIR`, which prints its URL once it listens).
`CommandIssuer` is the issuer a deployment of several nodes trusts the way it
would trust Clerk: one process of its own, not a node's `/dev-issuer`.
Readiness is always an event or a printed line, never a sleep.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import uvicorn

from server.dev_issuer import (
    DevIssuer,
    bind_socket,
    issuer_url_for,
    request_token,
    rotate_keys,
)
from tests.helpers.timeouts import READ, STARTUP

__all__ = [
    "CommandIssuer",
    "ProcessIssuer",
    "ThreadedIssuer",
    "custom_jwt_provider_config",
    "oidc_provider_config",
    "running_issuer",
    "running_issuer_command",
    "running_issuer_process",
]


class _ReadyServer(uvicorn.Server):
    """uvicorn that sets a thread-safe event once it accepts connections."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._ready.set()


class _Issuer:
    """What every issuer here offers; `url` is its issuer URL."""

    keys_dir: Path
    url: str

    def token(self, sub: str, *, email: str | None = None, ttl: float | None = None) -> str:
        """A token from `POST /token`, exactly as a client would get one."""
        return request_token(self.url, sub, email=email, ttl=ttl)

    def rotate(self) -> str:
        """Rotate the signing key as the CLI does (another KeyStore); returns the new kid."""
        return rotate_keys(self.keys_dir)

    def provider_config(self) -> str:
        return oidc_provider_config(self.url)


class _ChildIssuer(_Issuer):
    """An issuer in a child process, stopped by `_ask_to_stop` (or killed)."""

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = Path(keys_dir)
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def _ask_to_stop(self, proc: subprocess.Popen[str]) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._ask_to_stop(proc)
        try:
            proc.wait(READ)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ThreadedIssuer(_Issuer):
    """A `DevIssuer` under uvicorn in a daemon thread; `url` is its issuer URL."""

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = Path(keys_dir)
        self._sock = bind_socket("127.0.0.1", 0)
        self.url = issuer_url_for("127.0.0.1", self._sock.getsockname()[1])
        self.app = DevIssuer(self.keys_dir, self.url)
        self.app.keys.refresh()  # the first key exists before any token is asked for
        self._ready = threading.Event()
        self._server = _ReadyServer(
            uvicorn.Config(self.app, lifespan="on", log_level="warning"), self._ready
        )
        self._thread = threading.Thread(target=self._serve, name="dev-issuer", daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(READ):
            raise RuntimeError(f"dev issuer did not start within {READ} s")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(READ)
        self._sock.close()

    def sign(self, sub: str, *, iat: int, exp: int) -> str:
        """A token with chosen times (e.g. already expired), signed by the current key."""
        claims = {"iss": self.url, "sub": sub, "aud": "convex", "iat": iat, "exp": exp}
        return self.app.keys.sign(claims)


class ProcessIssuer(_ChildIssuer):
    """The same issuer in a child process; tokens and rotation go through HTTP and files."""

    def start(self) -> None:
        from tests.helpers.server import REPO_ROOT

        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.issuer", str(self.keys_dir)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self._readline()), daemon=True)
        reader.start()
        reader.join(READ)
        if not lines or not lines[0].startswith("issuer: "):
            self.stop()
            raise RuntimeError(f"dev issuer process did not start: {lines}")
        self.url = lines[0].removeprefix("issuer: ").strip()

    def _readline(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        return self._proc.stdout.readline()

    def _ask_to_stop(self, proc: subprocess.Popen[str]) -> None:
        if proc.stdin is not None:
            proc.stdin.close()  # the child serves until its stdin closes


# The line `livesync dev-issuer` logs once its socket listens (it binds before logging).
_ISSUER_AT = re.compile(r"dev issuer at (http://127\.0\.0\.1:\d+), keys in ")


class CommandIssuer(_ChildIssuer):
    """`livesync dev-issuer --port 0 --keys DIR` in a child process, as a user runs it."""

    def __init__(self, keys_dir: Path) -> None:
        super().__init__(keys_dir)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._log: list[str] = []

    def start(self) -> None:
        from tests.helpers.server import REPO_ROOT

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["LIVESYNC_LOG_LEVEL"] = "INFO"  # the URL is announced at INFO
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "dev-issuer",
                "--port",
                "0",
                "--keys",
                str(self.keys_dir),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        # Read stderr to the end, not just to the URL: uvicorn logs every request
        # there, and an unread pipe would block the issuer once it fills.
        threading.Thread(target=self._pump, args=(self._proc.stderr,), daemon=True).start()
        self.url = self._await_url()

    def _pump(self, stream: IO[str] | None) -> None:
        if stream is not None:
            for line in stream:
                self._log.append(line)
                self._lines.put(line)
        self._lines.put(None)

    def _await_url(self) -> str:
        while True:
            try:
                line = self._lines.get(timeout=STARTUP)
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError(f"livesync dev-issuer did not start:\n{self.log_text()}")
            match = _ISSUER_AT.search(line)
            if match:
                return match.group(1)

    def log_text(self) -> str:
        return "".join(self._log)

    def _ask_to_stop(self, proc: subprocess.Popen[str]) -> None:
        proc.terminate()


def oidc_provider_config(issuer_url: str) -> str:
    """config.toml lines trusting `issuer_url` as an OIDC provider for audience "convex"."""
    return f'[[auth.providers]]\ndomain = "{issuer_url}"\napplication_id = "convex"\n'


def custom_jwt_provider_config(issuer_url: str) -> str:
    """config.toml lines trusting `issuer_url` as a custom-JWT provider (5 s exp leeway)."""
    return (
        "[[auth.providers]]\n"
        'type = "custom_jwt"\n'
        f'issuer = "{issuer_url}"\n'
        f'jwks = "{issuer_url}/.well-known/jwks.json"\n'
        'algorithm = "RS256"\n'
        'application_id = "convex"\n'
    )


@contextmanager
def running_issuer(keys_dir: Path) -> Iterator[ThreadedIssuer]:
    """Start a `ThreadedIssuer` keeping its keys in `keys_dir`; stop it on exit."""
    issuer = ThreadedIssuer(keys_dir)
    issuer.start()
    try:
        yield issuer
    finally:
        issuer.stop()


@contextmanager
def running_issuer_process(keys_dir: Path) -> Iterator[ProcessIssuer]:
    """Start a `ProcessIssuer` keeping its keys in `keys_dir`; stop it on exit."""
    issuer = ProcessIssuer(keys_dir)
    issuer.start()
    try:
        yield issuer
    finally:
        issuer.stop()


@contextmanager
def running_issuer_command(keys_dir: Path) -> Iterator[CommandIssuer]:
    """Start a `CommandIssuer` keeping its keys in `keys_dir`; stop it on exit."""
    issuer = CommandIssuer(keys_dir)
    issuer.start()
    try:
        yield issuer
    finally:
        issuer.stop()


def _main() -> None:
    issuer = ThreadedIssuer(Path(sys.argv[1]))
    issuer.start()
    print(f"issuer: {issuer.url}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    issuer.stop()


if __name__ == "__main__":
    _main()
