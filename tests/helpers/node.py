"""Run a Node script under a timeout and collect the JSON lines it prints.

The compat scripts print one JSON object per observed event on stdout and exit
non-zero when what they saw was wrong; this module turns that into a value a
pytest test can assert on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.timeouts import NODE_SCRIPT

__all__ = [
    "NodeResult",
    "NodeScriptError",
    "json_object",
    "node_binary",
    "run_node_script",
]


class NodeScriptError(AssertionError):
    """The script failed, timed out, or printed something that is not JSON lines."""


@dataclass(frozen=True, slots=True)
class NodeResult:
    """What a finished script printed: `events` are its stdout JSON objects, in order."""

    returncode: int
    events: tuple[dict[str, Any], ...]
    other_lines: tuple[str, ...]
    stderr: str

    def named(self, name: str) -> list[dict[str, Any]]:
        """The events whose "event" field is `name`."""
        return [e for e in self.events if e.get("event") == name]

    def one(self, name: str) -> dict[str, Any]:
        """The single event called `name`; fails if there is not exactly one."""
        found = self.named(name)
        if len(found) != 1:
            raise NodeScriptError(f"expected one {name!r} event, got {len(found)}:\n{self}")
        return found[0]

    def __str__(self) -> str:
        events = "\n".join(json.dumps(e) for e in self.events)
        other = "\n".join(self.other_lines)
        return (
            f"exit code {self.returncode}\nevents:\n{events}\n"
            f"other stdout:\n{other}\nstderr:\n{self.stderr}"
        )


def node_binary() -> str | None:
    """The `node` executable on PATH, or None."""
    return shutil.which("node")


def run_node_script(
    script: Path,
    args: Sequence[str] = (),
    *,
    timeout: float = NODE_SCRIPT,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> NodeResult:
    """Run `node script args...` from the script's folder and parse its stdout.

    Raises:
        NodeScriptError: on timeout, or (with `check`) on a non-zero exit.
    """
    node = node_binary()
    if node is None:
        raise NodeScriptError("node is not installed")
    try:
        done = subprocess.run(
            [node, str(script), *args],
            cwd=script.parent,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise NodeScriptError(
            f"{script.name} ran past {timeout} s\nstdout:\n{_text(exc.stdout)}\n"
            f"stderr:\n{_text(exc.stderr)}"
        ) from None
    result = _parse(done.returncode, done.stdout, done.stderr)
    if check and result.returncode != 0:
        raise NodeScriptError(f"{script.name} failed: {result}")
    return result


def _parse(returncode: int, stdout: str, stderr: str) -> NodeResult:
    events: list[dict[str, Any]] = []
    other: list[str] = []
    for line in stdout.splitlines():
        parsed = json_object(line)
        if parsed is None:
            # The convex client prints its own log lines to stdout too.
            other.append(line)
        else:
            events.append(parsed)
    return NodeResult(returncode, tuple(events), tuple(other), stderr)


def json_object(line: str) -> dict[str, Any] | None:
    """A JSON-object line of a script's stdout, or None for anything else."""
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
