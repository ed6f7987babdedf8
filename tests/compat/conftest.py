"""Fixtures for the compatibility tests: the compat functions and the Node toolchain."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.ci import skip_or_fail
from tests.helpers.node import node_binary

__all__ = ["node_ready"]

COMPAT_DIR = Path(__file__).resolve().parent


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
    skip_or_fail("the JS compat tests cannot run: " + "; ".join(missing))
