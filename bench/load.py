"""Load clients in worker processes, so the server's process is measured alone.

The coordinator (the bench's main process) hands each worker a list of
`ClientPlan`s. A worker opens those WebSockets, sends each plan's opening
frames, waits until every client is ready, and from then on stamps every
update frame with `time.monotonic_ns()` the moment it is read. CLOCK_MONOTONIC
is system-wide on Linux, so stamps from different processes compare.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

__all__ = ["ClientPlan", "Event", "LoadClient", "Pool"]

OPEN_TIMEOUT = 60.0
_OPEN_CONCURRENCY = 100  # handshakes in flight per worker; more only queues in the server


@dataclass(frozen=True, slots=True)
class ClientPlan:
    """One load client. `kind` is "convex", "raw" (any frame) or "socketio"."""

    url: str
    kind: str = "convex"
    init: tuple[str, ...] = ()
    # convex: ready at the first Transition reaching both versions.
    ready_query_set: int = 0
    ready_identity: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    """One update frame a ready client received."""

    t_ns: int
    size: int
    identity: int = 0
    values: tuple[tuple[int, Any], ...] = ()  # (queryId, value) per QueryUpdated
    failed: bool = False  # a QueryFailed, AuthError or FatalError


class _WebSocket(asyncio.Protocol):
    """A lean WebSocket client: websockets' sans-I/O `ClientProtocol` on an
    asyncio transport, calling back per message. The asyncio client of the
    same library costs several times more Python per frame, and two workers
    of those could not keep a fast server busy: the load would measure
    itself. No compression is offered, like the official Python client."""

    def __init__(self, url: str, on_message: Callable[[int, str | bytes], None]) -> None:
        self._protocol = ClientProtocol(parse_uri(url), max_size=None)
        self._on_message = on_message
        self._transport: asyncio.Transport | None = None
        self._parts: list[bytes] = []
        self._text = True
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._protocol.send_request(self._protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        t_ns = time.monotonic_ns()
        self._protocol.receive_data(data)
        for event in self._protocol.events_received():
            if isinstance(event, Response):
                if self._protocol.handshake_exc is not None:
                    self._fail(f"handshake failed: {self._protocol.handshake_exc}")
                elif not self.opened.done():
                    self.opened.set_result(None)
            elif not isinstance(event, Frame):
                continue  # a client is never sent a Request
            elif event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                if event.opcode is not Opcode.CONT:
                    self._text = event.opcode is Opcode.TEXT
                self._parts.append(bytes(event.data))
                if event.fin:
                    raw = b"".join(self._parts)
                    self._parts = []
                    self._on_message(t_ns, raw.decode() if self._text else raw)
            elif event.opcode is Opcode.CLOSE:
                close = self._protocol.close_rcvd
                self._fail(
                    f"closed: {close.code if close else 1005} {close.reason if close else ''}"
                )
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc}")

    def send(self, text: str) -> None:
        self._protocol.send_text(text.encode())
        self._flush()

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            try:
                self._protocol.send_close(1000)
                self._flush()
            finally:
                self._transport.close()

    def _flush(self) -> None:
        assert self._transport is not None
        for chunk in self._protocol.data_to_send():
            if chunk:
                self._transport.write(chunk)
            elif self._transport.can_write_eof():
                self._transport.write_eof()

    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(RuntimeError(reason))
        if not self.closed.done():
            self.closed.set_result(reason)


class LoadClient:
    """A WebSocket speaking just enough of one protocol to be subscribed and timed."""

    def __init__(self, plan: ClientPlan, on_event: Callable[[], None]) -> None:
        self.plan = plan
        self.events: list[Event] = []
        self.error: str | None = None
        self._on_event = on_event
        self._ready = asyncio.Event()
        self._ws: _WebSocket | None = None

    async def open(self) -> None:
        url = urlsplit(self.plan.url)
        loop = asyncio.get_running_loop()

        def made() -> _WebSocket:
            # Set here, not from create_connection's result: a server that
            # speaks first (Engine.IO's open packet) can be read before that
            # coroutine resumes, and the reply needs the socket.
            self._ws = _WebSocket(self.plan.url, self._on_message)
            return self._ws

        assert url.hostname is not None and url.port is not None, self.plan.url
        await asyncio.wait_for(loop.create_connection(made, url.hostname, url.port), OPEN_TIMEOUT)
        assert self._ws is not None
        await asyncio.wait_for(self._ws.opened, OPEN_TIMEOUT)
        self._ws.closed.add_done_callback(self._on_closed)
        if self.plan.kind != "socketio":  # socket.io frames wait for the namespace ack
            for frame in self.plan.init:
                self._ws.send(frame)
        await asyncio.wait_for(self._ready.wait(), OPEN_TIMEOUT)
        if self.error is not None:
            raise RuntimeError(f"load client failed to get ready: {self.error}")

    async def send(self, frame: str) -> int:
        assert self._ws is not None
        t_ns = time.monotonic_ns()
        self._ws.send(frame)
        return t_ns

    async def close(self) -> None:
        if self._ws is not None:
            self._ws.close()

    def _on_closed(self, closed: asyncio.Future[str]) -> None:
        self.error = self.error or closed.result()
        self._ready.set()

    def _on_message(self, t_ns: int, raw: str | bytes) -> None:
        if self.plan.kind == "convex":
            self._on_convex(t_ns, raw)
        elif self.plan.kind == "socketio":
            self._on_socketio(t_ns, raw)
        elif raw[:20] == '{"type":"Transition"':
            # A baseline's Transition-shaped frame: decoded as livesync's are,
            # so both sides' clients do the same work per update.
            self._record(t_ns, _transition_event(t_ns, raw, json.loads(raw)))
        else:
            self._record(t_ns, Event(t_ns, len(raw)))

    def _record(self, t_ns: int, event: Event) -> None:
        if not self._ready.is_set():
            self._ready.set()  # the frame that made the client ready is not an update
            return
        self.events.append(event)
        self._on_event()

    def _on_convex(self, t_ns: int, raw: str | bytes) -> None:
        msg = json.loads(raw)
        kind = msg["type"]
        if kind in ("AuthError", "FatalError"):
            self.error = f"{kind}: {msg.get('error')}"
            self._record(t_ns, Event(t_ns, len(raw), failed=True))
            return
        if kind != "Transition":
            return
        event = _transition_event(t_ns, raw, msg)
        end = msg["endVersion"]
        if not self._ready.is_set():
            if end["querySet"] < self.plan.ready_query_set:
                return
            if end["identity"] < self.plan.ready_identity:
                return
        self._record(t_ns, event)

    def _on_socketio(self, t_ns: int, raw: str | bytes) -> None:
        assert self._ws is not None
        text = raw if isinstance(raw, str) else raw.decode()
        if text == "2":  # Engine.IO ping: answer or the server drops us
            self._ws.send("3")
        elif text.startswith("0"):  # Engine.IO open: join the default namespace
            self._ws.send("40")
        elif text.startswith("40"):
            for frame in self.plan.init:
                self._ws.send(frame)
        elif text.startswith("42"):
            self._record(t_ns, Event(t_ns, len(text)))


def _transition_event(t_ns: int, raw: str | bytes, msg: dict[str, Any]) -> Event:
    mods = msg["modifications"]
    failed = any(m["type"] == "QueryFailed" for m in mods)
    values = tuple((m["queryId"], m["value"]) for m in mods if m["type"] == "QueryUpdated")
    return Event(t_ns, len(raw), msg["endVersion"]["identity"], values, failed)


class _Worker:
    """The load clients of one worker process, and the commands it answers."""

    def __init__(self) -> None:
        self.clients: list[LoadClient] = []
        self._goals: dict[int, Callable[[LoadClient], bool]] = {}
        self._done = asyncio.Event()

    def _event_for(self, index: int) -> Callable[[], None]:
        def on_event() -> None:
            goal = self._goals.get(index)
            if goal is not None and goal(self.clients[index]):
                del self._goals[index]
                if not self._goals:
                    self._done.set()

        return on_event

    async def open(self, plans: list[ClientPlan]) -> int:
        limit = asyncio.Semaphore(_OPEN_CONCURRENCY)
        start = len(self.clients)
        new = [LoadClient(plan, self._event_for(start + i)) for i, plan in enumerate(plans)]
        self.clients.extend(new)

        async def open_one(client: LoadClient) -> None:
            async with limit:
                await client.open()

        await asyncio.gather(*(open_one(c) for c in new))
        return len(self.clients)

    async def send(self, frames: list[tuple[int, str]]) -> list[int]:
        return [await self.clients[i].send(frame) for i, frame in frames]

    async def wait(self, arg: tuple[dict[int, int], float]) -> None:
        """Until client i holds targets[i] events (counted since the last collect)."""
        targets, timeout = arg
        await self._wait({i: _count_goal(n) for i, n in targets.items()}, timeout)

    async def wait_value(self, arg: tuple[list[int], Any, float]) -> None:
        """Until each listed client's latest update carries `value` for some query."""
        indexes, value, timeout = arg
        await self._wait(dict.fromkeys(indexes, _value_goal(value)), timeout)

    async def _wait(self, goals: dict[int, Callable[[LoadClient], bool]], timeout: float) -> None:
        self._goals = {i: g for i, g in goals.items() if not g(self.clients[i])}
        self._done = asyncio.Event()
        if not self._goals:
            return
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            short = len(self._goals)
            self._goals = {}
            raise TimeoutError(f"{short} of {len(goals)} clients never got their update") from None

    async def collect(self, _: None) -> dict[int, list[Event]]:
        out = {i: c.events for i, c in enumerate(self.clients) if c.events}
        for client in self.clients:
            client.events = []
        return out

    async def close(self, _: None) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


def _count_goal(count: int) -> Callable[[LoadClient], bool]:
    return lambda client: len(client.events) >= count


def _value_goal(value: Any) -> Callable[[LoadClient], bool]:
    def goal(client: LoadClient) -> bool:
        return bool(client.events) and any(v == value for _, v in client.events[-1].values)

    return goal


def _worker_main(conn: Connection) -> None:
    asyncio.run(_worker_loop(conn))


async def _worker_loop(conn: Connection) -> None:
    worker = _Worker()
    while True:
        command, arg = await asyncio.to_thread(conn.recv)
        try:
            result = await getattr(worker, command)(arg)
        except Exception as error:  # reported to the coordinator, which raises it
            conn.send(("error", f"{type(error).__name__}: {error}"))
        else:
            conn.send(("ok", result))
        if command == "close":
            return


class Pool:
    """Worker processes holding load clients; client `i` lives in worker `i % n`."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        for _ in range(workers):
            ours, theirs = context.Pipe()
            proc = context.Process(target=_worker_main, args=(theirs,), daemon=True)
            proc.start()
            self._conns.append(ours)
            self._procs.append(proc)
        self.size = 0

    def _where(self, index: int) -> tuple[int, int]:
        return index % len(self._conns), index // len(self._conns)

    async def _call(self, worker: int, command: str, arg: Any) -> Any:
        conn = self._conns[worker]

        def roundtrip() -> Any:
            conn.send((command, arg))
            return conn.recv()

        status, result = await asyncio.to_thread(roundtrip)
        if status != "ok":
            raise RuntimeError(f"load worker {worker}: {result}")
        return result

    async def _call_all(self, command: str, args: list[Any]) -> list[Any]:
        # Let every worker answer before raising, or a pipe would be read by two callers.
        results = await asyncio.gather(
            *(self._call(w, command, a) for w, a in enumerate(args)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return list(results)

    async def open(self, plans: list[ClientPlan]) -> None:
        """Open clients `self.size ...` and wait until all are ready."""
        per: list[list[ClientPlan]] = [[] for _ in self._conns]
        for offset, plan in enumerate(plans):
            per[self._where(self.size + offset)[0]].append(plan)
        await self._call_all("open", per)
        self.size += len(plans)

    async def send(self, frames: dict[int, str]) -> dict[int, int]:
        """Send frame per client index; returns each send's monotonic stamp."""
        per: list[list[tuple[int, str]]] = [[] for _ in self._conns]
        order: list[list[int]] = [[] for _ in self._conns]
        for index, frame in frames.items():
            worker, local = self._where(index)
            per[worker].append((local, frame))
            order[worker].append(index)
        stamps = await self._call_all("send", per)
        return {
            i: t
            for idx, ts in zip(order, stamps, strict=True)
            for i, t in zip(idx, ts, strict=True)
        }

    async def wait(self, targets: dict[int, int], timeout: float = 60.0) -> None:
        per: list[tuple[dict[int, int], float]] = [({}, timeout) for _ in self._conns]
        for index, count in targets.items():
            worker, local = self._where(index)
            per[worker][0][local] = count
        await self._call_all("wait", per)

    async def wait_all(self, count: int, timeout: float = 60.0) -> None:
        await self.wait(dict.fromkeys(range(self.size), count), timeout)

    async def wait_value(self, indexes: list[int], value: Any, timeout: float = 60.0) -> None:
        per: list[tuple[list[int], Any, float]] = [([], value, timeout) for _ in self._conns]
        for index in indexes:
            worker, local = self._where(index)
            per[worker][0].append(local)
        await self._call_all("wait_value", per)

    async def collect(self) -> dict[int, list[Event]]:
        """Every client's events since the last collect, by client index; then forget them."""
        n = len(self._conns)
        out: dict[int, list[Event]] = {}
        for worker, events in enumerate(await self._call_all("collect", [None] * n)):
            for local, evs in events.items():
                out[local * n + worker] = evs
        return out

    async def close(self) -> None:
        try:
            await self._call_all("close", [None] * len(self._conns))
        finally:
            for proc in self._procs:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
