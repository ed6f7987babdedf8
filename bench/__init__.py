"""livesync benchmarks: `python -m bench [SCENARIO] [--quick]` (see BENCHMARKS.md)."""

from __future__ import annotations

__all__: list[str] = []
