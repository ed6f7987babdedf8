"""An npm package folder's node_modules, installed from its lockfile when
missing or older than it, and its commands run with their output kept for
the failure message."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers.timeouts import INSTALL

__all__ = ["installed_modules", "run_npm"]


def run_npm(command: list[str], folder: Path, env: dict[str, str] | None = None) -> None:
    """Run `command` in `folder`; an AssertionError with its output if it fails."""
    done = subprocess.run(
        command,
        cwd=folder,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=INSTALL,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )


def installed_modules(folder: Path) -> Path:
    """`folder`/node_modules, after `npm ci` if it is missing or stale."""
    modules = folder / "node_modules"
    marker = modules / ".package-lock.json"
    lockfile = folder / "package-lock.json"
    # A linked folder is another checkout's install: `npm ci` here would empty
    # it through the link, so it is taken as it is.
    stale = not marker.exists() or marker.stat().st_mtime < lockfile.stat().st_mtime
    if stale and not modules.is_symlink():
        run_npm(["npm", "ci", "--no-audit", "--no-fund"], folder)
    return modules
