"""A lean HTTP/1.1 load generator on asyncio for `make bench`.

It shares the machine's two cores with the pipeline, so it does as little as it can per
request: bodies are encoded before the run, requests go out on keep-alive connections as
pre-built bytes, and answers are parsed (for their ids) only after the run.

Two ways to drive:
- open loop (`rate` > 0): requests are due on a fixed schedule, `rate` per second. A request
  whose connection is busy waits in a queue, and its latency counts from when it was due, so
  an api that falls behind shows it in the latency (no coordinated omission);
- closed loop (`rate` == 0): each of `connections` clients sends its next request as soon as
  the previous one is answered (what Locust users do); it finds the maximum throughput.
"""

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

_HEADER_END = b"\r\n\r\n"
_LENGTH = b"content-length:"


@dataclass(frozen=True)
class Load:
    """What to send and how hard."""

    path: str
    bodies: list[bytes]
    rate: float  # requests per second; 0 = closed loop
    connections: int
    seconds: float


@dataclass
class Outcome:
    """Per request: when it was due, sent and answered, the status and the answer's body."""

    started: float = 0.0
    ended: float = 0.0
    due: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)  # 0: never answered, -1: connection lost
    body: list[bytes] = field(default_factory=list)
    unsent: int = 0  # open loop: due but still queued at the end (the api fell behind)


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, driver: "_Driver") -> None:
        self.driver = driver
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport
        self.buffer = bytearray()
        self.current = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self, index: int, payload: bytes) -> None:
        self.current = index
        self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(_HEADER_END)
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            at = head.find(_LENGTH)
            if at < 0:
                length = 0
            else:
                stop = head.find(b"\r\n", at)
                length = int(head[at + len(_LENGTH) : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            status = int(head[9:12])
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self.driver.answered(self, status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.driver.lost(self)


class _Driver:
    def __init__(self, load: Load, host: str) -> None:
        self.load = load
        self.out = Outcome()
        prefix = (
            f"POST {load.path} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self.payloads = [prefix + str(len(b)).encode() + _HEADER_END + b for b in load.bodies]
        self.idle: list[_Connection] = []
        self.queue: deque[int] = deque()
        self.outstanding = 0
        self.stopping = False
        self.settled = asyncio.Event()

    def issue(self, due: float, connection: _Connection | None = None) -> None:
        out = self.out
        index = len(out.due)
        out.due.append(due)
        out.sent.append(0.0)
        out.answered.append(0.0)
        out.status.append(0)
        out.body.append(b"")
        self.outstanding += 1
        if connection is None and self.idle:
            connection = self.idle.pop()
        if connection is None:
            self.queue.append(index)
        else:
            self._send(connection, index)

    def _send(self, connection: _Connection, index: int) -> None:
        self.out.sent[index] = time.perf_counter()
        connection.send(index, self.payloads[index % len(self.payloads)])

    def answered(self, connection: _Connection, status: int, body: bytes) -> None:
        now = time.perf_counter()
        index, connection.current = connection.current, -1
        out = self.out
        out.answered[index] = now
        out.status[index] = status
        out.body[index] = body
        self.outstanding -= 1
        if self.queue:
            self._send(connection, self.queue.popleft())
        elif self.load.rate <= 0 and not self.stopping:
            self.issue(now, connection)
        else:
            self.idle.append(connection)
        if self.stopping and self.outstanding == 0:
            self.settled.set()

    def lost(self, connection: _Connection) -> None:
        if connection.current >= 0:
            self.out.status[connection.current] = -1
            self.out.answered[connection.current] = time.perf_counter()
            self.outstanding -= 1
            connection.current = -1
        with contextlib.suppress(ValueError):
            self.idle.remove(connection)
        if self.stopping and self.outstanding == 0:
            self.settled.set()


async def drive(host: str, port: int, load: Load, settle_s: float = 30.0) -> Outcome:
    """Runs one load step and returns what happened to every request."""
    loop = asyncio.get_running_loop()
    driver = _Driver(load, f"{host}:{port}")
    connections = []
    for _ in range(load.connections):
        _, protocol = await loop.create_connection(lambda: _Connection(driver), host, port)
        connections.append(protocol)
    driver.idle = list(connections)
    out = driver.out
    out.started = start = time.perf_counter()
    if load.rate > 0:
        issued, total = 0, int(load.seconds * load.rate)
        while issued < total:
            elapsed = time.perf_counter() - start
            due = min(int(elapsed * load.rate) + 1, total)
            while issued < due:
                driver.issue(start + issued / load.rate)
                issued += 1
            # libuv timers count whole milliseconds: shorter sleeps would spin a core
            await asyncio.sleep(max(0.001, start + issued / load.rate - time.perf_counter()))
        await asyncio.sleep(max(0.0, start + load.seconds - time.perf_counter()))
    else:
        for connection in connections:
            driver.issue(time.perf_counter(), connection)
        await asyncio.sleep(load.seconds)
    driver.stopping = True
    out.ended = time.perf_counter()
    # what is still queued was due but never sent: the api fell behind the schedule
    while driver.queue:
        index = driver.queue.pop()
        out.status[index] = 0
        driver.outstanding -= 1
        out.unsent += 1
    if driver.outstanding:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(driver.settled.wait(), settle_s)
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()
    return out
