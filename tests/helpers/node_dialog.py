"""Run a Node script that waits for the test to act midway, then collect its JSON lines.

`run_node_script` runs a script start to finish; some scenarios need the test
to do something while the script runs (rotate an issuer's key once the client
is signed in). The script prints an event, the test acts, then answers with a
line on the script's stdin. Every wait has a deadline.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from tests.helpers.node import (
    NodeResult,
    NodeScriptError,
    json_object as _event,
    node_binary,
)
from tests.helpers.timeouts import NODE_SCRIPT

__all__ = ["run_node_dialog"]


def run_node_dialog(
    script: Path,
    args: Sequence[str],
    *,
    wait_for: str,
    act: Callable[[dict[str, Any]], str],
    timeout: float = NODE_SCRIPT,
) -> NodeResult:
    """Run `script`; when it prints event `wait_for`, call `act(event)` and send its reply line."""
    node = node_binary()
    if node is None:
        raise NodeScriptError("node is not installed")
    proc = subprocess.Popen(
        [node, str(script), *args],
        cwd=script.parent,
        env=dict(os.environ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    stderr: list[str] = []
    threading.Thread(target=_collect, args=(proc.stderr, stderr), daemon=True).start()
    stdout: list[str] = []
    try:
        _answer(proc, lines, stdout, wait_for, act, timeout)
        _drain(lines, stdout, timeout)
        proc.wait(timeout)
    except (queue.Empty, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
        raise NodeScriptError(
            f"{script.name} ran past {timeout} s\nstdout:\n" + "".join(stdout)
        ) from None
    events = tuple(e for e in map(_event, stdout) if e is not None)
    other = tuple(line.rstrip("\n") for line in stdout if _event(line) is None)
    return NodeResult(proc.returncode, events, other, "".join(stderr))


def _answer(
    proc: subprocess.Popen[str],
    lines: queue.Queue[str | None],
    stdout: list[str],
    wait_for: str,
    act: Callable[[dict[str, Any]], str],
    timeout: float,
) -> None:
    while (line := lines.get(timeout=timeout)) is not None:
        stdout.append(line)
        event = _event(line)
        if event is not None and event.get("event") == wait_for:
            assert proc.stdin is not None
            proc.stdin.write(act(event) + "\n")
            proc.stdin.flush()
            return


def _drain(lines: queue.Queue[str | None], stdout: list[str], timeout: float) -> None:
    while (line := lines.get(timeout=timeout)) is not None:
        stdout.append(line)


def _pump(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    if stream is not None:
        for line in stream:
            lines.put(line)
    lines.put(None)


def _collect(stream: IO[str] | None, into: list[str]) -> None:
    if stream is not None:
        into.extend(stream)
