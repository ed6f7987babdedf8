"""A real livesync server in a subprocess, for end-to-end and compatibility tests.

The process is started exactly as a user would (`python -m server serve ...`)
on 127.0.0.1, with a fresh SQLite file. Readiness is the one line the CLI
prints once it accepts connections; we wait for that line, never for time.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from tests.helpers.timeouts import REPLY, STARTUP

__all__ = [
    "REPO_ROOT",
    "DevServer",
    "LivesyncServer",
    "ServerStartError",
    "StartServer",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

_LISTENING = re.compile(r"^livesync: listening on (http://127\.0\.0\.1:(\d+))\s*$")


class ServerStartError(RuntimeError):
    """The server exited or stayed silent instead of announcing its port."""


class LivesyncServer:
    """One server process, restartable on the same port and database file.

    Args:
        functions_dir: the app's function modules.
        workdir: a private folder for the config, database and stderr logs.
        config_extra: TOML appended to the generated config (e.g. auth providers).
        server_extra: TOML lines added to its `[server]` table.
        env: extra environment variables for the server process.
        database_url: its `[database] url` (default: a SQLite file in workdir).
    """

    def __init__(
        self,
        functions_dir: Path,
        workdir: Path,
        *,
        config_extra: str = "",
        server_extra: str = "",
        env: dict[str, str] | None = None,
        database_url: str | None = None,
    ) -> None:
        self.functions_dir = Path(functions_dir).resolve()
        self.workdir = workdir
        self.db_path = workdir / "livesync.db"
        self.database_url = database_url or f"sqlite:///{self.db_path}"
        self.config_path = workdir / "config.toml"
        self._config_extra = config_extra
        self._server_extra = server_extra
        self._env = env or {}
        self._port = 0
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stdout_tail: list[str] = []
        self._starts = 0

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("the server has not started yet")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The sync endpoint the Python and Rust clients use."""
        return f"ws://127.0.0.1:{self.port}/api/sync"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the server is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the process and return once it accepts connections."""
        if self.running:
            raise RuntimeError("the server is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._starts += 1
        stderr = self._stderr_path(self._starts).open("w", encoding="utf-8")
        try:
            self._proc = subprocess.Popen(
                self._command(),
                cwd=REPO_ROOT,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                bufsize=1,
            )
        finally:
            stderr.close()
        self._lines = queue.Queue()
        threading.Thread(
            target=_pump_lines, args=(self._proc.stdout, self._lines), daemon=True
        ).start()
        self._port = self._await_listening()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a REPLY wait; returns the exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=REPLY)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=REPLY)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, as in a power cut."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(timeout=REPLY)
        if proc.stdout is not None:
            proc.stdout.close()

    def restart(self) -> None:
        """Stop, then start again on the same port with the same database file.

        Keeping the port lets connected clients reconnect to the URL they know.
        """
        self.stop()
        self.start()

    def admin_key(self) -> str:
        """The deployment's admin key, as the server made it at its first
        start (beside its SQLite database)."""
        return (self.db_path.parent / "admin-key").read_text().strip()

    def stdout_lines(self) -> list[str]:
        """What the last start printed up to its listening line."""
        return list(self._stdout_tail)

    def stderr_text(self) -> str:
        """Everything every run of this server wrote to stderr, oldest first."""
        parts = []
        for n in range(1, self._starts + 1):
            path = self._stderr_path(n)
            if path.exists():
                parts.append(
                    f"--- run {n} ---\n{path.read_text(encoding='utf-8', errors='replace')}"
                )
        return "\n".join(parts)

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "server",
            "serve",
            "--config",
            str(self.config_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self._port),
            "--functions",
            str(self.functions_dir),
            "--database",
            self.database_url,
        ]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # The checkout must win over any installed copy, editable or not.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self._env)
        return env

    def _write_config(self) -> None:
        self.config_path.write_text(
            "[server]\n"
            'host = "127.0.0.1"\n'
            f"port = {self._port}\n" + self._server_extra + "\n"
            "[functions]\n"
            f"dir = {_toml_string(str(self.functions_dir))}\n\n"
            "[database]\n"
            f"url = {_toml_string(self.database_url)}\n\n" + self._config_extra,
            encoding="utf-8",
        )

    def _stderr_path(self, run: int) -> Path:
        return self.workdir / f"server-stderr-{run}.log"

    def _await_listening(self) -> int:
        try:
            return self._read_port()
        except ServerStartError:
            self.stop()
            raise

    def _read_port(self) -> int:
        while True:
            try:
                line = self._lines.get(timeout=STARTUP)
            except queue.Empty:
                raise self._start_error(f"no listening line within {STARTUP} s") from None
            if line is None:
                raise self._start_error("the server exited before listening")
            self._stdout_tail.append(line)
            match = _LISTENING.match(line)
            if match:
                return int(match.group(2))

    def _start_error(self, what: str) -> ServerStartError:
        proc = self._proc
        code = proc.poll() if proc is not None else None
        stdout = "".join(self._stdout_tail[-20:])
        return ServerStartError(
            f"{what} (exit code {code})\n"
            f"command: {' '.join(self._command())}\n"
            f"stdout:\n{stdout}\nstderr:\n{self.stderr_text()}"
        )


class DevServer(LivesyncServer):
    """`livesync dev`: the server plus its dev issuer at /dev-issuer, as a user runs it."""

    def _command(self) -> list[str]:
        command = super()._command()
        command[command.index("serve")] = "dev"
        return [*command, "--keys", str(self.workdir / "dev-issuer-keys")]


StartServer = Callable[..., LivesyncServer]
"""The `start_server` fixture: `(functions_dir, *, config_extra="", env=None) -> LivesyncServer`."""


def _pump_lines(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    """Forward stdout lines to a queue, then None at EOF, so readers can wait with a timeout."""
    if stream is None:
        lines.put(None)
        return
    try:
        for line in stream:
            lines.put(line)
    except ValueError:
        pass  # the pipe was closed by stop() while we were reading
    lines.put(None)


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
