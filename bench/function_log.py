"""What recording every call for the dashboard's Logs costs a busy node.

The throughput scenario (writers pipelining `counter:bump`, 100 subscribers
waiting for the final count) runs on a server keeping the newest 5,000 calls
in `_function_logs` and, as its baseline, on one keeping none. The runs
alternate, two of each, and the best of each is compared, so a busy moment
of the machine does not count against one side only. The run is long
enough (about four seconds) for the once-a-second writes and trims to happen
many times.
"""

from __future__ import annotations

from bench.harness import Settings
from bench.report import Figure, at_least, print_figure
from bench.throughput import SUBSCRIBERS, livesync_rate

__all__ = ["run_function_log"]

KEEPING = "[server]\nfunction_log_entries = 5000\n"
NONE = "[server]\nfunction_log_entries = 0\n"
ROUNDS = 2
WRITERS = 20  # each pipelines 750: a connection may have 1,000 pending


async def run_function_log(settings: Settings) -> list[Figure]:
    count = settings.size(2_000, 15_000)
    rates: dict[str, list[float]] = {KEEPING: [], NONE: []}
    stuck = 0
    for _ in range(ROUNDS):
        for config in (NONE, KEEPING):
            rate, missing = await livesync_rate(settings, count, config=config, writers=WRITERS)
            rates[config].append(rate)
            stuck += missing
    logged, bare = max(rates[KEEPING]), max(rates[NONE])
    name = "function-log"
    figures = [
        Figure(
            name,
            f"mutations/s keeping 5,000 calls ({count}, {SUBSCRIBERS} subscribers, best of "
            f"{ROUNDS}: {', '.join(f'{r:.0f}' for r in rates[KEEPING])})",
            logged,
            "/s",
        ),
        Figure(
            name,
            f"mutations/s keeping none (best of {ROUNDS}: "
            f"{', '.join(f'{r:.0f}' for r in rates[NONE])})",
            bare,
            "/s",
        ),
        at_least(name, "ratio keeping / none", logged / bare, "x", 0.95),
        Figure(name, "subscribers never sent the final count", stuck, "", "= 0", stuck == 0),
    ]
    return [print_figure(f) for f in figures]
