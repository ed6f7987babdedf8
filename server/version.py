"""The version of livesync that is running, as pip reports it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["installed_version"]


def installed_version() -> str:
    """The version of the installed `livesync` distribution (what pip reports)."""
    try:
        return version("livesync")
    except PackageNotFoundError:
        return "unknown (the livesync package is not installed: pip install -e .)"
