"""`python -m bench [SCENARIO ...] [--quick]`: run scenarios and print figures."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.harness import Settings
from bench.procs import raise_fd_limit
from bench.report import Figure

__all__ = ["SCENARIOS", "main"]

Scenario = Callable[[Settings], Awaitable[list[Figure]]]


def _scenarios() -> dict[str, Scenario]:
    # Imported here so `--help` works without the scenarios' own imports.
    from bench.auth import run_auth
    from bench.fanout import run_fanout, run_peer
    from bench.function_log import run_function_log
    from bench.isolation import run_isolation
    from bench.latency import run_latency
    from bench.memory import run_memory, run_pg_memory
    from bench.nodes import run_nodes_fanout, run_nodes_latency, run_nodes_throughput
    from bench.scheduler import run_pg_scheduler, run_scheduler
    from bench.search import run_search
    from bench.selective import run_selective
    from bench.throughput import run_pg_throughput, run_throughput

    return {
        "fanout": run_fanout,
        "selective": run_selective,
        "throughput": run_throughput,
        "pg-throughput": run_pg_throughput,
        "auth": run_auth,
        "memory": run_memory,
        "pg-memory": run_pg_memory,
        "latency": run_latency,
        "peer": run_peer,
        "isolation": run_isolation,
        "nodes-latency": run_nodes_latency,
        "nodes-fanout": run_nodes_fanout,
        "nodes-throughput": run_nodes_throughput,
        "scheduler": run_scheduler,
        "pg-scheduler": run_pg_scheduler,
        "search": run_search,
        "function-log": run_function_log,
    }


SCENARIOS = (
    "fanout",
    "selective",
    "throughput",
    "pg-throughput",
    "auth",
    "memory",
    "pg-memory",
    "latency",
    "peer",
    "isolation",
    "nodes-latency",
    "nodes-fanout",
    "nodes-throughput",
    "scheduler",
    "pg-scheduler",
    "search",
    "function-log",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="livesync benchmarks; each scenario runs its own baseline and prints the ratio.",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"any of {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="reduced sizes, all in under 3 minutes"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="load-generating processes (default 2)"
    )
    return parser


async def _run(names: list[str], settings: Settings) -> int:
    table = _scenarios()
    missed = 0
    for name in names:
        started = time.perf_counter()
        figures = await table[name](settings)
        missed += sum(1 for f in figures if f.met is False)
        print(f"[{name}] took {time.perf_counter() - started:.1f} s", flush=True)
    return missed


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    unknown = [n for n in args.scenarios if n not in SCENARIOS]
    if unknown:
        raise SystemExit(
            f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    names = args.scenarios or list(SCENARIOS)
    raise_fd_limit()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}, "
        f"{'quick' if args.quick else 'full'} sizes, {args.workers} load workers",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="livesync-bench-") as tmp:
        settings = Settings(args.quick, args.workers, Path(tmp))
        started = time.perf_counter()
        missed = asyncio.run(_run(names, settings))
    print(f"total {time.perf_counter() - started:.1f} s; {missed} target(s) missed", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
