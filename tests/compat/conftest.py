"""Fixtures for the compatibility tests: the compat functions and the Node toolchain."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.node import node_binary

__all__ = ["node_ready"]

COMPAT_DIR = Path(__file__).resolve().parent


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def node_ready() -> None:
    """Skip (locally) or fail (under CI) when Node or the pinned convex package is missing."""
    missing = []
    if node_binary() is None:
        missing.append("node is not on PATH")
    if not (COMPAT_DIR / "node_modules" / "convex" / "package.json").exists():
        missing.append("tests/compat/node_modules is missing (run `npm ci` in tests/compat)")
    if not missing:
        return
    reason = "; ".join(missing)
    if _in_ci():
        pytest.fail(f"CI is set but the JS compat tests cannot run: {reason}")
    pytest.skip(reason)
