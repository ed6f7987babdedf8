"""Reconnect delays: jittered exponential backoff as a pure generator.

The client awaits each delay before reconnecting and starts a fresh generator
once a new socket has synced, so a flapping server is retried quickly at first
and then at most every ``maximum`` seconds. Randomness is injected so tests can
pin the sequence.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

__all__ = ["backoff_delays"]


def backoff_delays(
    *,
    initial: float = 0.1,
    maximum: float = 15.0,
    factor: float = 2.0,
    jitter: float = 0.5,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Yield an endless sequence of reconnect delays, in seconds.

    The n-th base delay is ``min(initial * factor**n, maximum)``; each is then
    scaled by a factor drawn uniformly from ``[1 - jitter, 1 + jitter)`` so that
    many clients dropped by one server restart do not reconnect in lockstep.

    Args:
        initial: the first base delay.
        maximum: cap on the base delay.
        factor: growth per consecutive failure.
        jitter: relative spread, 0 (none) to 1.
        rng: returns floats in ``[0, 1)``; ``random.random`` by default.

    Raises:
        ValueError: a parameter is out of range.
    """
    if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter <= 1:
        raise ValueError("backoff needs 0 < initial <= maximum, factor >= 1, 0 <= jitter <= 1")
    return _delays(initial, maximum, factor, jitter, rng)


def _delays(
    initial: float, maximum: float, factor: float, jitter: float, rng: Callable[[], float]
) -> Iterator[float]:
    base = initial
    while True:
        yield base * (1 - jitter + 2 * jitter * rng())
        # Stop multiplying once capped so the float never overflows.
        base = min(base * factor, maximum)
