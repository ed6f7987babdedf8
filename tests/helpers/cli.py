"""The `livesync` command run as a user runs it: a subprocess, its output and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.server import REPO_ROOT
from tests.helpers.timeouts import STARTUP

__all__ = ["LIVESYNC_SCRIPT", "livesync"]

# The console script pip installed beside this interpreter.
LIVESYNC_SCRIPT = Path(sys.executable).parent / "livesync"


def livesync(*args: str, script: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m server ARGS` (or the `livesync` console script), run to its end.

    The checkout wins over any installed copy of the packages, as for the
    server subprocesses; entry points still come from the installed metadata.
    """
    command = [str(LIVESYNC_SCRIPT)] if script else [sys.executable, "-m", "server"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, timeout=STARTUP, check=False
    )
