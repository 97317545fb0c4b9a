"""What the fault and fuzz suites share: their own infra instance, steady load, reconciliation.

The suites never touch the brokers and Valkey of `make up` or of the integration suite: they
start a separate instance of `tools/local/infra.sh` with its own state folder and ports
(override them with the CLIMA_FAULTS_* variables below) and stop it at the end of the session.
"""

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import ssl
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import valkey

from clima.contract import MUNICIPALITIES
from clima.local import LocalPipeline, Ports, read_infra_env

ROOT = Path(__file__).resolve().parents[2]
INFRA_SH = ROOT / "tools" / "local" / "infra.sh"
STATE = Path(os.environ.get("CLIMA_FAULTS_STATE_DIR", ROOT / ".state" / "faults"))
# Ports of this instance: apart from `make up` (9092, 5672 + 25672, 4369, 6379) and the
# benchmarks (19092, 15672 + 35672, 14369, 16379), and below the kernel's ephemeral range
# (32768-60999), where an outgoing connection could hold the port when a broker restarts.
PORTS = {
    "CLIMA_KAFKA_PORT": os.environ.get("CLIMA_FAULTS_KAFKA_PORT", "29092"),
    "CLIMA_KAFKA_CONTROLLER_PORT": os.environ.get("CLIMA_FAULTS_KAFKA_CONTROLLER_PORT", "29093"),
    "CLIMA_RABBIT_PORT": os.environ.get("CLIMA_FAULTS_RABBIT_PORT", "26672"),
    "CLIMA_RABBIT_DIST_PORT": os.environ.get("CLIMA_FAULTS_RABBIT_DIST_PORT", "26673"),
    "CLIMA_EPMD_PORT": os.environ.get("CLIMA_FAULTS_EPMD_PORT", "24369"),
    "CLIMA_VALKEY_PORT": os.environ.get("CLIMA_FAULTS_VALKEY_PORT", "26379"),
}
COMPONENT_PORTS = {
    "kafka": ["CLIMA_KAFKA_PORT", "CLIMA_KAFKA_CONTROLLER_PORT"],
    "rabbit": ["CLIMA_RABBIT_PORT", "CLIMA_RABBIT_DIST_PORT"],
    "valkey": ["CLIMA_VALKEY_PORT"],
}
_JSON = {"content-type": "application/json"}
PROCESSES = ["api", "proxy", "writer", "kafka-consumer", "rabbit-consumer"]


# ------------------------------------------------------------------ the isolated instance
class Infra:
    """Kafka, RabbitMQ and Valkey of these suites alone, driven through tools/local/infra.sh."""

    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self._users = 0
        self._lock = threading.Lock()

    def _run(self, *args: str) -> None:
        env = {**os.environ, "CLIMA_STATE_DIR": str(STATE), **PORTS}
        done = subprocess.run(
            [str(INFRA_SH), *args],
            check=False,
            env=env,
            timeout=300,
            capture_output=True,
            text=True,
        )
        print(done.stdout, end="")
        if done.returncode != 0:
            raise RuntimeError(
                f"infra.sh {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )

    def acquire(self) -> dict[str, str]:
        """Starts the instance for the first user; returns the addresses for the services."""
        with self._lock:
            if self._users == 0:
                try:
                    self._run("up")
                except RuntimeError:
                    self._run("down", "--purge")  # leave nothing half started behind
                    raise
                self.env = read_infra_env(STATE / "infra" / "env")
            self._users += 1
            return dict(self.env)

    def release(self) -> None:
        """Stops the instance when its last user is done, and deletes its data: every run
        starts from empty brokers (topics of earlier runs would slow Kafka's start)."""
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._run("down", "--purge")

    def stop(self, component: str) -> None:
        """Stops one of kafka, rabbit, valkey (gracefully, as infra.sh does)."""
        self._run("down", component)

    def start(self, *components: str) -> None:
        """Starts components (side by side) and waits until each serves."""
        self._run("up", *components)

    def kill(self, component: str) -> None:
        """Crashes one component: SIGKILL to the pid infra.sh reports, then waits until the
        process is gone (as an OOM kill or a dead node leaves it: no shutdown, no flush)."""
        pid = self.pid(component)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        # the pid's command line empties when its main thread is gone (a zombie keeps the
        # pid), but the other threads of a JVM may hold its listening sockets a while longer
        ports = [int(PORTS[key]) for key in COMPONENT_PORTS[component]]
        while _cmdline(pid) or any(_listening(port) for port in ports):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{component} (pid {pid}) still runs 15 s after SIGKILL")
            time.sleep(0.05)

    def pid(self, component: str) -> int:
        """The pid of a running component, from `infra.sh status`."""
        env = {**os.environ, "CLIMA_STATE_DIR": str(STATE), **PORTS}
        status = subprocess.run(
            [str(INFRA_SH), "status"], check=True, env=env, capture_output=True, text=True
        ).stdout
        for line in status.splitlines():
            words = line.split()
            if words[:3] == [component, "running", "pid"]:
                return int(words[3])
        raise RuntimeError(f"{component} is not running:\n{status}")


INFRA = Infra()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def names(tag: str) -> dict[str, str]:
    """Topic, queue and group of one test, so no test sees another's messages."""
    uid = f"{tag}-{uuid.uuid4().hex[:6]}"
    return {
        "CLIMA_KAFKA_TOPIC": f"clima-{uid}",
        "CLIMA_RABBIT_QUEUE": f"clima-{uid}",
        "CLIMA_CONSUMER_KAFKA_GROUP": f"clima-{uid}",
        # streams keep every report of a test, so reconciliation can read them all
        "CLIMA_STREAM_MAXLEN": "1000000",
        # a process the suite aborts (see abort_for_stacks) leaves every thread's traceback
        "PYTHONFAULTHANDLER": "1",
        # extra service settings to try a change without editing code, e.g.
        # CLIMA_FAULTS_SERVICE_ENV='{"CLIMA_WRITER_PUBLISH_TIMEOUT_S": "1"}'
        **json.loads(os.environ.get("CLIMA_FAULTS_SERVICE_ENV", "{}")),
    }


# ------------------------------------------------------------------ pipelines of a test
@dataclass
class Pipelines:
    """The real pipelines of one test, each on a Valkey database of its own."""

    infra: dict[str, str]
    log_dir: Path
    tag: str
    started: list[LocalPipeline] = field(default_factory=list)
    clients: dict[int, "valkey.Valkey"] = field(default_factory=dict)

    def start(self, mode: str, db: int = 0, extra: dict[str, str] | None = None) -> LocalPipeline:
        """Empties Valkey database `db`, then starts api, proxy, writer and consumers on it
        (with `extra` settings)."""
        env = {**self.infra, **names(self.tag), **(extra or {})}
        env["VALKEY_SERVICE_URL"] = env["VALKEY_SERVICE_URL"].rsplit("/", 1)[0] + f"/{db}"
        self.store(db).flushdb()
        pipeline = LocalPipeline(mode, env, self.log_dir / f"{mode}-db{db}", Ports.free())
        self.started.append(pipeline)
        pipeline.start()
        return pipeline

    def start_all(self, *specs: tuple[str, int]) -> list[LocalPipeline]:
        """Starts several (mode, db) pipelines side by side."""
        with concurrent.futures.ThreadPoolExecutor(len(specs)) as pool:
            return list(pool.map(lambda spec: self.start(*spec), specs))

    def store(self, db: int = 0) -> "valkey.Valkey":
        """A client on Valkey database `db`."""
        if db not in self.clients:
            url = self.infra["VALKEY_SERVICE_URL"].rsplit("/", 1)[0] + f"/{db}"
            self.clients[db] = valkey.Valkey.from_url(url, decode_responses=True)
        return self.clients[db]

    def stop(self) -> list[dict[str, int]]:
        """Stops every pipeline (SIGTERM) and returns their exit codes."""
        for client in self.clients.values():
            client.close()
        return [pipeline.stop() for pipeline in self.started]


# ------------------------------------------------------------------ steady load
@dataclass(slots=True)
class Outcome:
    """One request of the load: the client ids it carried and how the api answered."""

    ids: tuple[str, ...]
    sent: float
    answered: float
    status: int  # HTTP status; 0 = could not connect, -1 = timed out, -2 = connection broke
    detail: str = ""

    @property
    def latency(self) -> float:
        """Seconds from sending to the answer."""
        return self.answered - self.sent

    @property
    def upfront(self) -> bool:
        """A refusal made before any broker could have the reports (so none may be applied):
        the api could not be reached, or its 503 says `"outcome": "refused"`."""
        if self.status == 0:
            return True
        return self.status == 503 and orjson.loads(self.detail).get("outcome") == "refused"


def report_body(seq: int, ident: str) -> dict[str, object]:
    """A valid report with the client's own id (codes and names alternate)."""
    m, w = seq % 4 + 1, (seq // 4) % 4 + 1
    named = seq % 3 == 0
    return {
        "municipality": MUNICIPALITIES[m - 1].slug if named else m,
        "temperature": round(-40 + (seq * 7.3) % 95, 1),
        "humidity": (seq * 13) % 101,
        "weather": ["sunny", "cloudy", "rainy", "foggy"][w - 1] if named else w,
        "id": ident,
    }


@dataclass
class Load:
    """Posts reports at a steady rate and records each answer.

    Every 5th request is a batch of 10, so 100 requests/s carry 280 reports/s. A ticker queues
    requests at the rate; `workers` senders, each with its own one-connection httpx client,
    send them (one shared pool costs the client more CPU per request the more it holds).
    Requests still queued when the load stops are never sent.
    """

    api_url: str
    prefix: str
    rate: float = 100.0
    timeout_s: float = 12.0
    workers: int = 128
    outcomes: list[Outcome] = field(default_factory=list)
    refused_bodies: dict[str, dict[str, object]] = field(default_factory=dict)
    unsent: int = 0
    started: float = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Sends until `stop` is set, then waits for the answers of what was sent."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        tls = ssl.create_default_context()  # plain HTTP; one context spares 200 certificate loads
        senders = [asyncio.create_task(self._sender(queue, tls)) for _ in range(self.workers)]
        self.started = time.monotonic()
        seq = 0
        while not stop.is_set():
            delay = self.started + seq / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(seq)
            seq += 1
        while not queue.empty():
            queue.get_nowait()
            self.unsent += 1
        for _ in senders:
            queue.put_nowait(-1)
        await asyncio.gather(*senders)

    async def _sender(self, queue: "asyncio.Queue[int]", tls: ssl.SSLContext) -> None:
        # idle connections are dropped before the api's 5 s keep-alive timeout; otherwise a
        # request can race the server's close and fail with a ReadError it never caused
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=3)
        async with httpx.AsyncClient(
            base_url=self.api_url, timeout=self.timeout_s, limits=limits, verify=tls
        ) as client:
            while (seq := await queue.get()) >= 0:
                await self._post(client, seq)

    async def _post(self, client: httpx.AsyncClient, seq: int) -> None:
        if seq % 5 == 4:
            ids = tuple(f"{self.prefix}-{seq}-{k}" for k in range(10))
            path = "/clima/batch"
            bodies = [report_body(seq * 10 + k, i) for k, i in enumerate(ids)]
            content = orjson.dumps(bodies)
        else:
            ids = (f"{self.prefix}-{seq}",)
            bodies = [report_body(seq, ids[0])]
            path, content = "/clima", orjson.dumps(bodies[0])
        sent = time.monotonic()
        status, detail = 0, ""
        try:
            answer = await client.post(path, content=content, headers=_JSON)
            status = answer.status_code
            if status == 202:
                got = orjson.loads(answer.content)
                returned = tuple(got["ids"]) if "ids" in got else (got["id"],)
                assert returned == ids, f"api answered ids {returned} for {ids}"
            else:
                detail = answer.text
                if status == 503:
                    got = orjson.loads(answer.content)
                    assert got["outcome"] in ("refused", "unknown"), detail
                    assert tuple(got["ids"]) == ids, f"503 named ids {got['ids']} for {ids}"
                    detail = orjson.dumps({k: got[k] for k in ("detail", "outcome")}).decode()
        except httpx.ConnectError as exc:
            status, detail = 0, repr(exc)
        except httpx.TimeoutException as exc:
            status, detail = -1, repr(exc)
        except httpx.TransportError as exc:
            status, detail = -2, repr(exc)
        self.outcomes.append(Outcome(ids, sent, time.monotonic(), status, detail))
        if status != 202:
            self.refused_bodies.update(zip(ids, bodies, strict=True))

    async def resend_refused(self, deadline_s: float = 60) -> int:
        """Sends every refused report again, same id and body, until each gets a 202.

        This is what a client does with a 503; the ids make the retry safe.
        """
        pending = list(self.refused_bodies.values())
        deadline = time.monotonic() + deadline_s
        async with httpx.AsyncClient(base_url=self.api_url, timeout=30) as client:
            while pending:
                chunk = pending[:500]
                answer = await client.post(
                    "/clima/batch", content=orjson.dumps(chunk), headers=_JSON
                )
                if answer.status_code == 202:
                    del pending[:500]
                    continue
                assert answer.status_code == 503, answer.text
                assert time.monotonic() < deadline, f"retries still refused: {answer.text}"
                await asyncio.sleep(0.5)
        return len(self.refused_bodies)

    # -- what the outcomes say
    def accepted(self) -> set[str]:
        """Ids answered 202."""
        return {i for o in self.outcomes if o.status == 202 for i in o.ids}

    def refused(self) -> set[str]:
        """Ids answered with anything else (error status, broken or refused connection)."""
        return {i for o in self.outcomes if o.status != 202 for i in o.ids}

    def refused_upfront(self) -> set[str]:
        """Ids refused before any broker could have them."""
        return {i for o in self.outcomes if o.status != 202 and o.upfront for i in o.ids}

    def first_202_sent_after(self, t: float) -> Outcome | None:
        """The earliest-answered 202 among requests sent after `t`."""
        found = [o for o in self.outcomes if o.status == 202 and o.sent >= t]
        return min(found, key=lambda o: o.answered) if found else None

    def statuses(self) -> Counter[int]:
        """How many requests got each status."""
        return Counter(o.status for o in self.outcomes)

    def outcome_of(self) -> dict[str, Outcome]:
        """The outcome of each id."""
        return {i: o for o in self.outcomes for i in o.ids}


def p99(values: list[float]) -> float:
    """The 99th percentile (0 for no values)."""
    if not values:
        return 0.0
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[98]


# ------------------------------------------------------------------ reconciliation
@dataclass
class Reconciliation:
    """What reached Valkey compared with what the api answered."""

    accepted: int
    refused: int
    applied: int
    lost: list[str]
    duplicated: list[str]
    refused_but_applied: list[str]
    unknown: list[str]
    dead_letters: int
    stats_applied: int
    settle_s: float


def stream_ids(store: "valkey.Valkey") -> Counter[str]:
    """How often each id appears in the `clima:<slug>` streams."""
    seen: Counter[str] = Counter()
    for m in MUNICIPALITIES:
        last = "-"
        while True:
            entries = store.xrange(f"clima:{m.slug}", min=last, max="+", count=5000)
            if last != "-":
                entries = entries[1:]
            if not entries:
                break
            seen.update(fields["id"] for _, fields in entries)
            last = entries[-1][0]
    return seen


def reconcile(
    store: "valkey.Valkey", accepted: set[str], refused: set[str], timeout_s: float = 75
) -> Reconciliation:
    """Waits until every accepted id is in Valkey (or the timeout), then compares exactly."""
    started = time.monotonic()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        applied = int(store.hget("clima:stats", "applied") or 0)
        if applied >= len(accepted) and accepted <= set(stream_ids(store)):
            break
        time.sleep(0.3)
    settle_s = time.monotonic() - started
    time.sleep(1.0)  # let late duplicates (both mode, redeliveries) arrive before counting
    seen = stream_ids(store)
    stats = store.hgetall("clima:stats")
    return Reconciliation(
        accepted=len(accepted),
        refused=len(refused),
        applied=len(seen),
        lost=sorted(accepted - set(seen)),
        duplicated=sorted(i for i, n in seen.items() if n > 1),
        refused_but_applied=sorted(refused & set(seen)),
        unknown=sorted(set(seen) - accepted - refused),
        dead_letters=int(stats.get("dead_letters", 0)),
        stats_applied=int(stats.get("applied", 0)),
        settle_s=settle_s,
    )


def check_reconciliation(load: Load, rec: Reconciliation) -> None:
    """The exact accounting every scenario must end with."""
    assert not rec.lost, f"{len(rec.lost)} reports answered 202 are not in Valkey: {rec.lost[:5]}"
    assert not rec.duplicated, f"{len(rec.duplicated)} reports applied twice: {rec.duplicated[:5]}"
    assert not rec.unknown, f"ids in Valkey that were never sent: {rec.unknown[:5]}"
    assert rec.stats_applied == rec.applied, "clima:stats applied disagrees with the streams"
    assert rec.dead_letters == 0, "no poison was sent, yet dead letters were counted"
    assert rec.accepted > 300, "too little load got through to prove anything"
    upfront = load.refused_upfront() & set(rec.refused_but_applied)
    assert not upfront, f"reports refused before publishing were applied: {sorted(upfront)[:5]}"


async def check_retries(load: Load, store: "valkey.Valkey") -> int:
    """Resends what was refused (same ids); then every id sent is in Valkey exactly once."""
    resent = await load.resend_refused()
    everything = load.accepted() | load.refused()
    rec = await asyncio.to_thread(reconcile, store, everything, set())
    assert not rec.lost, f"{len(rec.lost)} resent reports are not in Valkey: {rec.lost[:5]}"
    assert not rec.duplicated, f"resending applied reports twice: {rec.duplicated[:5]}"
    assert not rec.unknown, f"ids in Valkey that were never sent: {rec.unknown[:5]}"
    assert rec.stats_applied == rec.applied == len(everything)
    return resent


# ------------------------------------------------------------------ the results table
@dataclass
class Row:
    """One line of the scenario table."""

    scenario: str
    mode: str
    requests: int
    rec: Reconciliation
    errors: int
    baseline_p99_s: float
    max_error_latency_s: float
    p99_error_latency_s: float
    max_accept_latency_s: float
    recovery_s: float | None
    note: str = ""


ROWS: list[Row] = []

HEADER = (
    "| scenario | mode | accepted | applied | lost | duplicated | refused | refused, applied "
    "| 202 p99 before | non-202 max / p99 | 202 max in fault | recovery |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def format_row(row: Row) -> str:
    """The row as a Markdown table line."""
    r = row.rec
    recovery = "—" if row.recovery_s is None else f"{row.recovery_s:.1f} s"
    return (
        f"| {row.scenario} | {row.mode} | {r.accepted} | {r.applied} | {len(r.lost)} "
        f"| {len(r.duplicated)} | {r.refused} | {len(r.refused_but_applied)} "
        f"| {row.baseline_p99_s * 1000:.0f} ms "
        f"| {row.max_error_latency_s * 1000:.0f} / {row.p99_error_latency_s * 1000:.0f} ms "
        f"| {row.max_accept_latency_s * 1000:.0f} ms | {recovery} |"
    )


def table(rows: list[Row]) -> str:
    """All rows as a Markdown table, with notes below."""
    lines = [HEADER, *(format_row(r) for r in rows)]
    notes = [f"- {r.scenario} ({r.mode}): {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


async def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> bool:
    """Polls `predicate` until it holds or the timeout passes; returns whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step_s)
    return predicate()


# ------------------------------------------------------------------ one scenario under load
async def under_load(
    targets: list[tuple[str, str]],
    fault: Callable[[dict[str, float]], Awaitable[None]],
    *,
    warmup_s: float = 2.0,
    tail_s: float = 1.5,
    recover_timeout_s: float = 45.0,
    rate: float = 100.0,
) -> tuple[list[Load], dict[str, float]]:
    """Runs steady load on each (api url, id prefix), applies `fault` after a warm-up, and
    keeps loading until every api answers 202 again.

    `fault(marks)` sets marks["fault_start"] and marks["fault_end"] (when the faulty part is
    back and ready).
    """
    loads = [Load(url, prefix, rate=rate) for url, prefix in targets]
    stop = asyncio.Event()
    runners = [asyncio.create_task(load.run(stop)) for load in loads]
    marks: dict[str, float] = {}
    try:
        await asyncio.sleep(warmup_s)
        await fault(marks)
        end = marks["fault_end"]
        await wait_until(
            lambda: all(load.first_202_sent_after(end) for load in loads), recover_timeout_s
        )
        await asyncio.sleep(tail_s)
    finally:
        stop.set()
        await asyncio.gather(*runners)
    return loads, marks


def row_of(
    scenario: str, mode: str, load: Load, rec: Reconciliation, marks: dict[str, float]
) -> Row:
    """Figures of one scenario: latencies of refusals, of 202s during the fault, recovery."""
    errors = [o for o in load.outcomes if o.status != 202]
    error_latencies = [o.latency for o in errors]
    start, end = marks["fault_start"], marks["fault_end"]
    first = load.first_202_sent_after(end)
    in_fault = [o.latency for o in load.outcomes if o.status == 202 and start <= o.sent <= end]
    before = [o.latency for o in load.outcomes if o.status == 202 and o.sent < start]
    row = Row(
        scenario=scenario,
        mode=mode,
        requests=len(load.outcomes),
        rec=rec,
        errors=len(errors),
        baseline_p99_s=p99(before),
        max_error_latency_s=max(error_latencies, default=0.0),
        p99_error_latency_s=p99(error_latencies),
        max_accept_latency_s=max(in_fault, default=0.0),
        recovery_s=None if first is None else first.answered - end,
    )
    if rec.refused_but_applied:
        outcome = load.outcome_of()
        kinds = Counter(_kind(outcome[i]) for i in rec.refused_but_applied)
        row.note = f"{len(rec.refused_but_applied)} refused reports were applied anyway: " + (
            ", ".join(f"{n} after {k}" for k, n in kinds.most_common())
        )
    return row


def _kind(outcome: Outcome) -> str:
    if outcome.status == 503:
        answer = orjson.loads(outcome.detail)
        cause = answer["detail"].removeprefix("pipeline unavailable: ")
        return f"503 ({answer['outcome']}) {cause}"
    return {0: "no connection", -1: "client timeout", -2: "broken connection"}.get(
        outcome.status, str(outcome.status)
    )


# ------------------------------------------------------------------ post-mortem files
def abort_for_stacks(pipeline: LocalPipeline, name: str) -> None:
    """SIGABRTs a wedged process: Python's faulthandler (PYTHONFAULTHANDLER=1, set for every
    service here) writes the traceback of every thread to its log first."""
    process = pipeline.processes[name]
    if process.poll() is None:
        process.send_signal(signal.SIGABRT)
        process.wait(30)


def dump(load: Load, marks: dict[str, float], path: Path) -> None:
    """Writes every outcome (times relative to the load's start) for a post-mortem."""
    t0 = load.started
    lines = ["# " + " ".join(f"{k}={v - t0:.3f}" for k, v in sorted(marks.items()))]
    lines.append("sent_s,latency_s,status,ids,detail")
    for o in sorted(load.outcomes, key=lambda o: o.sent):
        detail = o.detail.replace(",", ";").replace("\n", " ")
        lines.append(f"{o.sent - t0:.3f},{o.latency:.3f},{o.status},{' '.join(o.ids)},{detail}")
    path.write_text("\n".join(lines) + "\n")


def dump_reconciliation(load: Load, rec: Reconciliation, path: Path) -> None:
    """Writes the ids that broke (or strained) the accounting, with how they were answered."""
    outcome = load.outcome_of()

    def info(i: str) -> list[object]:
        o = outcome.get(i)
        return [i] if o is None else [i, round(o.sent - load.started, 3), o.status, o.detail]

    report = {
        name: [info(i) for i in getattr(rec, name)]
        for name in ("lost", "duplicated", "refused_but_applied", "unknown")
    }
    path.write_text(json.dumps(report, indent=1))
