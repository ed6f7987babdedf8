"""Scenario 4: Authenticate handshakes per second, and a token refresh at scale.

Handshakes re-authenticate already open sockets with fresh tokens (keys are
cached after the first), in rounds of one per socket. After each round the
baseline, PyJWT verifying one of those tokens, runs as many decodes in this
process; each round's ratio compares the two under the same conditions, and
the figure is the median round, so a slow stretch of the machine's decides
neither. The refresh sends every subscribed connection a new token and
waits until each has its identity Transition with the query still right.
"""

from __future__ import annotations

import statistics

from bench import wire
from bench.baselines import jwt_decode_rate
from bench.harness import Settings, authed_plan, pool, server
from bench.report import Figure, at_least, print_figure

__all__ = ["run_auth"]

ROUNDS = 10


async def _handshakes(settings: Settings, clients: int) -> tuple[list[float], list[float]]:
    """Per round: handshakes per second (first send to last answer), and the
    bare decodes per second measured right after it."""
    async with server(settings) as proc, pool(settings) as workers:
        await workers.open([authed_plan(proc, proc.token(f"user{i}")) for i in range(clients)])
        assert proc.issuer is not None
        public_key = proc.issuer.keys.signing_key().private_key.public_key()
        token = proc.token("user0")
        rates: list[float] = []
        bare: list[float] = []
        for round_no in range(1, ROUNDS + 1):
            tokens = {
                i: wire.authenticate(proc.token(f"user{i}"), round_no) for i in range(clients)
            }
            sent = await workers.send(tokens)
            await workers.wait_all(1, timeout=120)
            events = await workers.collect()
            if any(evs[0].failed or evs[0].identity != round_no + 1 for evs in events.values()):
                raise RuntimeError(f"round {round_no}: a re-authentication failed")
            elapsed = (max(e[0].t_ns for e in events.values()) - min(sent.values())) / 1e9
            rates.append(clients / elapsed)
            bare.append(jwt_decode_rate(token, public_key, "convex", clients))
        return rates, bare


async def _refresh(settings: Settings, clients: int) -> tuple[float, int]:
    """Seconds until all are re-authenticated, and how many then read a wrong subject."""
    async with server(settings) as proc, pool(settings) as workers:
        plans = [authed_plan(proc, proc.token(f"user{i}"), "users:whoami") for i in range(clients)]
        await workers.open(plans)
        fresh = {i: wire.authenticate(proc.token(f"user{i}"), 1) for i in range(clients)}
        sent = await workers.send(fresh)
        await workers.wait_all(1, timeout=120)
        events = await workers.collect()
    wrong = 0
    for i, evs in events.items():
        event = evs[0]
        values = dict(event.values)
        # An unchanged result may be left out of the Transition; a present one must be right.
        if event.failed or event.identity != 2 or values.get(0, f"user{i}") != f"user{i}":
            wrong += 1
    return (max(e[0].t_ns for e in events.values()) - min(sent.values())) / 1e9, wrong


async def run_auth(settings: Settings) -> list[Figure]:
    clients = settings.size(200, 1000)
    rates, bare = await _handshakes(settings, clients)
    ratios = [r / b for r, b in zip(rates, bare, strict=True)]
    seconds, wrong = await _refresh(settings, clients)
    figures = [
        Figure(
            "auth",
            f"livesync Authenticate handshakes/s, median of {ROUNDS} rounds ({clients} sockets)",
            statistics.median(rates),
            "/s",
        ),
        Figure("auth", "bare PyJWT RS256 decodes/s, median", statistics.median(bare), "/s"),
        Figure("auth", "round ratios from", min(ratios), f"x to {max(ratios):.3g} x"),
        at_least(
            "auth", "ratio livesync / bare, median round", statistics.median(ratios), "x", 0.5
        ),
        Figure("auth", f"token refresh across {clients} live connections", seconds * 1000, "ms"),
        Figure(
            "auth",
            "connections with a wrong or failed result after refresh",
            wrong,
            "",
            "= 0",
            wrong == 0,
        ),
    ]
    return [print_figure(f) for f in figures]
