"""Stopping app code that holds the event loop: a watchdog thread and SIGURG.

Queries and mutations run on the event loop that serves every socket: the
fan-out of one commit re-runs up to thousands of them, and a hop to another
thread per execution would cost more than the execution itself (see
BENCHMARKS.md, "isolation"); actions, which are rare and often block, run
on threads of their own (`server.functions.action_threads`). So a query or
mutation that stops awaiting (`while True: pass`, `time.sleep(5)`, a
blocking socket read) holds the whole server until something interrupts
it. This module is that something.

Each step of a limited execution publishes itself in
`server.functions.timeouts.MAIN_STEP` with its step deadline. A watchdog thread
looks every `TICK` seconds; when the step on the loop's thread is past its
deadline, it sends SIGURG to that thread. CPython runs a Python signal
handler in the main thread between two bytecodes, and a blocking call such
as `time.sleep` or `socket.recv` returns early (EINTR) to let it run; an
exception the handler raises comes out of whatever was running (PEP 475).
The handler runs on the loop's own thread, so it can check without a race
that the running code is still that overdue step, and it raises only if
every frame between the interrupted one and the step's trampoline is app
code: server, asyncio, logging and threading code called from the handler
is left to return first, and is interrupted at the next tick, so our own
state is never cut in half. `tests/server/test_interrupt.py` checks the
CPython behaviour this relies on.

Why a signal, not `PyThreadState_SetAsyncExc`: an async exception is raised
whenever its target next checks, so a step that ends between the watchdog's
check and the call would get it in server code; and it cannot interrupt a
blocking call. It serves only to stop an action's thread that is being
abandoned (`interrupt_thread`), where landing anywhere is fine.

Why SIGURG: its default action is to do nothing, so a signal that arrives
after the handler is gone is harmless, and nothing else in a server uses it
(Go's runtime preempts goroutines with it for the same reasons).

Limits, stated plainly: the loop is held up to the step deadline (1 s by
default) plus a tick, not zero; code that runs inside one C call without
checking for signals (a huge regex, a C extension's loop) cannot be
interrupted until that call returns; handler code that catches
`BaseException` and keeps spinning is interrupted again every tick but can
refuse to stop. App functions are the operator's own code: this bounds
accidents, it is not a sandbox. Signals reach Python only in the main thread,
so with the loop elsewhere (an app mounted in a threaded host) only the
await timeouts apply, and the server logs a warning.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, TypeAlias

import aiosqlite

import protocol
import server
from server.functions import timeouts
from server.metrics import Metrics

__all__ = ["SIGNAL", "TICK", "LoopWatchdog", "interrupt_thread", "interruptible"]

log = logging.getLogger("livesync.functions")
# What signal.signal returns and takes back (typeshed's private `_HANDLER`).
SignalHandler: TypeAlias = Callable[[int, FrameType | None], Any] | int | None

# None where the platform has no SIGURG (Windows): only awaits time out there.
SIGNAL: signal.Signals | None = getattr(signal, "SIGURG", None)
TICK = 0.05
"""Seconds between the watchdog's looks: how far past a step deadline an
interrupt may come."""

# Code that app code calls and that must not be cut in half.
_PROTECTED = tuple(
    os.path.dirname(module.__file__ or "") + os.sep
    for module in (server, protocol, asyncio, logging, aiosqlite)
) + (threading.__file__,)

_TRAMPOLINE: CodeType = timeouts._Limited.__await__.__code__  # noqa: SLF001

# One watchdog owns the signal at a time (tests start several apps in one
# process); the steps of every app are published in the same place.
_owner: LoopWatchdog | None = None


def interrupt_thread(ident: int) -> bool:
    """Raise `Interrupted` in thread `ident` at its next bytecode (CPython's
    `PyThreadState_SetAsyncExc`). It lands wherever that thread is, and a
    thread blocked in a C call gets it only when the call returns, so this
    is only for a thread about to be abandoned anyway (an action's)."""
    set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    hit = set_async_exc(ctypes.c_ulong(ident), ctypes.py_object(timeouts.Interrupted))
    return bool(hit == 1)


def interruptible(frame: FrameType | None) -> bool:
    """Whether the code running in `frame` may be interrupted: it is app
    code, called (through app code only) by a limited execution's trampoline."""
    seen = 0
    while frame is not None:
        code = frame.f_code
        if code is _TRAMPOLINE:
            return seen > 0
        if code.co_filename.startswith(_PROTECTED):
            return False
        seen += 1
        frame = frame.f_back
    return False


class LoopWatchdog:
    """Interrupts a step of app code past its step deadline (see module doc)."""

    def __init__(self, metrics: Metrics, tick: float = TICK) -> None:
        self._metrics = metrics
        self._tick = tick
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous: SignalHandler = None

    def start(self) -> None:
        global _owner
        if _owner is not None:
            return
        if SIGNAL is None or threading.current_thread() is not threading.main_thread():
            log.warning(
                "the event loop is not on the main thread, or the platform has no SIGURG: "
                "app code that blocks it cannot be interrupted, only awaits time out"
            )
            return
        _owner = self
        self._previous = signal.signal(SIGNAL, self._on_signal)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._watch,
            args=(threading.main_thread().ident,),
            name="livesync-watchdog",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        global _owner
        if _owner is not self:
            return
        _owner = None
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if SIGNAL is not None:
            signal.signal(SIGNAL, self._previous)

    def _watch(self, loop_thread: int | None) -> None:
        assert loop_thread is not None and SIGNAL is not None  # start() checked both
        step = timeouts.MAIN_STEP
        while not self._stopping.wait(self._tick):
            guard = step.guard
            if guard is not None and time.monotonic() >= guard.step_deadline:
                signal.pthread_kill(loop_thread, SIGNAL)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        guard = timeouts.MAIN_STEP.guard
        if guard is None or time.monotonic() < guard.step_deadline:
            return  # that step is over; a new one is not overdue
        if not interruptible(frame):
            return  # in server code the app called: the next tick retries
        self._metrics.loop_interrupts.inc()
        guard.interrupt()
