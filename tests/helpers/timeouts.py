"""Every wait in the test suite: one unit, scaled by LIVESYNC_TEST_TIMEOUT_SCALE.

A wait is a deadline for something that should happen; a passing test never
reaches it. So a slow machine can raise them all at once (a loaded CI runner
sets the scale to 3) without any test changing what it checks: only a failing
test reports later. The same scale multiplies pytest-timeout's per-test
limits (see `pytest_collection_modifyitems` in tests/conftest.py).

The named waits differ where the work differs; at scale 1 they are the values
the suite has always used. Elapsed-time bounds derived from them scale too,
but a bound set against a function's own fixed duration (a 5 s `time.sleep`)
stays a plain number, as scaling it would stop it telling the two apart.
"""

from __future__ import annotations

import math
import os

__all__ = [
    "CLIENT",
    "EVENT",
    "INSTALL",
    "NODE_SCENARIO",
    "NODE_SCRIPT",
    "READ",
    "REPLY",
    "SCALE",
    "SCALE_VARIABLE",
    "STARTUP",
    "scaled",
]

SCALE_VARIABLE = "LIVESYNC_TEST_TIMEOUT_SCALE"


def _read_scale() -> float:
    raw = os.environ.get(SCALE_VARIABLE, "").strip()
    if not raw:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    # Zero or a negative number would turn every wait into an instant failure.
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"{SCALE_VARIABLE} must be a positive number, not {raw!r}")
    return scale


SCALE = _read_scale()
_UNIT = 5.0 * SCALE


def scaled(seconds: float) -> float:
    """A one-off budget (a test's own limit, a whole benchmark run) scaled like the waits."""
    return seconds * SCALE


# A task, a thread, or an in-process engine or store of the test itself.
EVENT = _UNIT
# One answer from a server that is already listening (an in-process uvicorn
# starting counts); a thread or a process exiting.
REPLY = 2 * _UNIT
# A message that may come only after other work: a commit's broadcast, a
# shutdown's drain, a reply under hostile traffic, the dev issuer starting.
READ = 3 * _UNIT
# A round trip through a client (ours or an official one), which may retry,
# reconnect, or queue behind a flood.
CLIENT = 4 * _UNIT
# A server subprocess, from launch to the line announcing its port.
STARTUP = 6 * _UNIT
# A Node script run start to finish against a running server.
NODE_SCRIPT = 12 * _UNIT
# A Node script that also waits on token expiries, a server restart or a browser.
NODE_SCENARIO = 18 * _UNIT
# `npm ci`, or Playwright downloading a browser.
INSTALL = 60 * _UNIT
