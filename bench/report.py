"""Figures a scenario prints: a value, its unit, and the target it is held to."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Figure", "at_least", "at_most", "percentile", "print_figure"]


@dataclass(frozen=True, slots=True)
class Figure:
    scenario: str
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None

    def line(self) -> str:
        verdict = "" if self.met is None else ("  MET" if self.met else "  MISSED")
        target = f"  (target {self.target})" if self.target else ""
        return f"[{self.scenario}] {self.name}: {_fmt(self.value)} {self.unit}{target}{verdict}"


def _fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def at_most(scenario: str, name: str, value: float, unit: str, limit: float) -> Figure:
    return Figure(scenario, name, value, unit, f"<= {limit:g}", value <= limit)


def at_least(scenario: str, name: str, value: float, unit: str, limit: float) -> Figure:
    return Figure(scenario, name, value, unit, f">= {limit:g}", value >= limit)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def print_figure(figure: Figure) -> Figure:
    print(figure.line(), flush=True)
    return figure
