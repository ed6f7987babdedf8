from __future__ import annotations

import asyncio
import logging

from server.functions.logs import MAX_LOG_LINES, LogCollector, capture_logs

app_logger = logging.getLogger("someapp.module")


async def run_logged(name: str, gate: asyncio.Event, started: asyncio.Event) -> tuple[str, ...]:
    with capture_logs() as collector:
        print("hello from", name)
        started.set()
        await gate.wait()  # interleave with the other execution
        app_logger.warning("warned by %s", name)
        app_logger.error("failed in %s", name)
        print(name, end="")
        print(" done")
    return collector.lines()


async def test_concurrent_executions_keep_their_own_print_and_logging_lines():
    gate = asyncio.Event()
    started = [asyncio.Event(), asyncio.Event()]
    tasks = [
        asyncio.create_task(run_logged(name, gate, event))
        for name, event in zip(("one", "two"), started, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 5)
    gate.set()
    one, two = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert one == (
        "[LOG] hello from one",
        "[WARN] warned by one",
        "[ERROR] failed in one",
        "[LOG] one done",
    )
    assert two[0] == "[LOG] hello from two" and two[-1] == "[LOG] two done"


def test_info_and_debug_levels_are_named(caplog):
    logger = logging.getLogger("someapp.levels")
    logger.setLevel(logging.DEBUG)
    with capture_logs() as collector:
        logger.debug("d")
        logger.info("i %d", 1)
    assert collector.lines() == ("[DEBUG] d", "[INFO] i 1")


def test_output_outside_a_function_goes_to_stdout(capsys):
    with capture_logs():
        print("inside")
    print("outside")
    assert capsys.readouterr().out == "outside\n"


def test_server_loggers_are_not_captured():
    with capture_logs() as collector:
        logging.getLogger("livesync.store").error("server trouble")
    assert collector.lines() == ()


def test_multi_line_print_is_one_log_line():
    with capture_logs() as collector:
        print("a\nb")
    assert collector.lines() == ("[LOG] a\nb",)


def test_overflow_keeps_the_cap_and_adds_one_warning():
    collector = LogCollector()
    for n in range(MAX_LOG_LINES + 10):
        collector.add(f"[LOG] {n}")
    lines = collector.lines()
    assert len(lines) == MAX_LOG_LINES + 1
    assert lines[-1] == "[WARN] Log overflow"
