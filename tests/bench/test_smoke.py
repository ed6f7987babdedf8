"""The benchmarks still run: each scenario at its reduced size, once.

No figure is asserted (they belong to BENCHMARKS.md, from full runs); this
only catches a bench that no longer starts, connects or reports.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.ci import skip_or_fail
from tests.helpers.timeouts import scaled

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = ("fanout", "auth", "latency", "peer", "scheduler")


@pytest.mark.timeout(300)
def test_quick_scenarios_run_and_print_their_figures() -> None:
    if importlib.util.find_spec("socketio") is None:
        skip_or_fail("the peer scenario needs `pip install -r bench/requirements.txt`")
    done = subprocess.run(
        [sys.executable, "-m", "bench", *SCENARIOS, "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=scaled(280.0),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    for name in SCENARIOS:
        assert any(line.startswith(f"[{name}] took ") for line in lines), done.stdout
    for name in ("fanout", "auth", "peer", "scheduler"):
        assert any(line.startswith(f"[{name}] ratio ") for line in lines), done.stdout
    assert lines[-1].startswith("total "), done.stdout
