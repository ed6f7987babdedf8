"""Progress bars of `livesync export` and `import`: counts and rate on stderr.

tqdm draws them when stderr is a terminal and `--quiet` was not given;
otherwise they draw nothing (a log or a pipe gets the final summary line
only). The counts are also kept here, so callers and tests read them
instead of parsing the bar.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Never

from tqdm import tqdm

__all__ = ["Progress", "Step"]


class Step:
    """One bar: `advance(n)` as work gets done."""

    def __init__(self, bar: tqdm[Never]) -> None:
        self._bar = bar
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._bar.update(n)

    def note(self, text: str) -> None:
        """Say what is under way (the bar's suffix)."""
        self._bar.set_postfix_str(text, refresh=False)


class Progress:
    """Makes the bars of one command; `shown=None` shows them on a terminal."""

    def __init__(self, shown: bool | None = None) -> None:
        self.shown = sys.stderr.isatty() if shown is None else shown

    @contextmanager
    def step(self, what: str, total: int | None = None, unit: str = "doc") -> Iterator[Step]:
        bar: tqdm[Never] = tqdm(
            desc=what,
            total=total,
            unit=unit,
            unit_scale=True,
            file=sys.stderr,
            disable=not self.shown,
            dynamic_ncols=True,
            leave=True,
        )
        try:
            yield Step(bar)
        finally:
            bar.close()
