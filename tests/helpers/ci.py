"""Whether the tests run under CI, where a missing tool fails instead of skipping."""

from __future__ import annotations

import os

import pytest

__all__ = ["in_ci", "skip_or_fail"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip locally; under CI=true fail, so a broken setup cannot pass quietly."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so this fails instead of skipping)")
    pytest.skip(reason)
