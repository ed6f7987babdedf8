"""`python -m bench.profiled OUT.prof MODULE ARGS...`: `python -m MODULE ARGS...` under cProfile.

Not `python -m cProfile`: uvicorn re-raises the SIGTERM it caught once the
server has shut down, and the default handler would end the process before
cProfile writes anything. The handler installed here, which uvicorn puts
back before re-raising, writes the profile and exits.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
from types import FrameType

__all__ = ["main"]


def main() -> None:
    out, module, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    profile = cProfile.Profile()

    def stop(signum: int, frame: FrameType | None) -> None:
        profile.disable()
        profile.dump_stats(out)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    sys.argv = [module, *args]
    profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        profile.disable()
        profile.dump_stats(out)


if __name__ == "__main__":
    main()
