"""Malformed input below the api: gRPC straight to the writer (and through the proxy), and
poison written straight into Kafka and RabbitMQ.

The writer refuses bad requests with INVALID_ARGUMENT naming the field (RESOURCE_EXHAUSTED
when too large) and keeps serving; consumers set poison aside in `<topic>.dead` /
`<queue>.dead` with the reason in `x-clima-reason`, and keep applying good reports.
"""

import asyncio
import time

import aio_pika
import grpc
import httpx
import pytest
import valkey
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
)

from clima.contract import Ack, Report, ReportBatch, ReportWriterStub
from clima.local import LocalPipeline

pytestmark = pytest.mark.fuzz
BIG = 64 * 1024 * 1024
_OPTIONS = [("grpc.max_send_message_length", BIG), ("grpc.max_receive_message_length", BIG)]


def _good(ident: str, **changes: object) -> Report:
    fields: dict[str, object] = {
        "id": ident,
        "event_time_ms": int(time.time() * 1000),
        "municipality": 1,
        "temperature_c": 21.5,
        "humidity_pct": 60,
        "weather": 1,
    }
    fields.update(changes)
    return Report(**fields)  # type: ignore[arg-type]


# (what, batch, the field the error must name)
BAD_BATCHES: list[tuple[str, ReportBatch, str]] = [
    ("empty batch", ReportBatch(), "reports: the batch is empty"),
    ("unknown municipality", ReportBatch(reports=[_good("m", municipality=9)]), "municipality"),
    (
        "unspecified municipality",
        ReportBatch(reports=[_good("m0", municipality=0)]),
        "municipality",
    ),
    ("unknown weather", ReportBatch(reports=[_good("w", weather=7)]), "weather"),
    ("hot", ReportBatch(reports=[_good("t", temperature_c=99)]), "temperature_c"),
    ("NaN", ReportBatch(reports=[_good("n", temperature_c=float("nan"))]), "temperature_c"),
    ("-inf", ReportBatch(reports=[_good("i", temperature_c=float("-inf"))]), "temperature_c"),
    ("humidity", ReportBatch(reports=[_good("h", humidity_pct=100.5)]), "humidity_pct"),
    ("no id", ReportBatch(reports=[_good("")]), "id"),
    ("long id", ReportBatch(reports=[_good("x" * 65)]), "id"),
    ("no time", ReportBatch(reports=[_good("e", event_time_ms=0)]), "event_time_ms"),
    ("negative time", ReportBatch(reports=[_good("e2", event_time_ms=-5)]), "event_time_ms"),
    ("time 10**15", ReportBatch(reports=[_good("e3", event_time_ms=10**15)]), "event_time_ms"),
    (
        "time in 1999",
        ReportBatch(reports=[_good("e4", event_time_ms=915148800000)]),
        "event_time_ms",
    ),
    ("id with a newline", ReportBatch(reports=[_good("abc\n")]), "id"),
    (
        "one bad among good",
        ReportBatch(reports=[_good(f"ok-{i}") for i in range(3)] + [_good("bad", weather=0)]),
        "reports[3].weather",
    ),
]


@pytest.mark.parametrize("target", ["writer", "proxy"])
async def test_malformed_grpc_is_refused_and_the_writer_keeps_serving(
    target: str, pipeline: LocalPipeline, store: "valkey.Valkey"
) -> None:
    """Each bad request: INVALID_ARGUMENT naming the field; too large: RESOURCE_EXHAUSTED."""
    port = pipeline.ports.writer if target == "writer" else pipeline.ports.proxy_grpc
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=_OPTIONS) as channel:
        stub = ReportWriterStub(channel)  # type: ignore[no-untyped-call]
        for what, batch, field in BAD_BATCHES:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.SendBatch(batch, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, what
            assert field in (refused.value.details() or ""), (what, refused.value.details())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SendReport(_good("single", humidity_pct=-1), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "humidity_pct" in (refused.value.details() or "")

        huge = ReportBatch(reports=[_good("y" * (17 * 1024 * 1024))])
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SendBatch(huge, timeout=30)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value

        garbage = channel.unary_unary(
            "/clima.v1.ReportWriter/SendBatch",
            request_serializer=lambda raw: raw,
            response_deserializer=Ack.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await garbage(b"\x0a\xff\xff\xff\xff\x0f", timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value
        assert "request: not a clima.v1.ReportBatch" in (refused.value.details() or "")

        ack = await stub.SendBatch(ReportBatch(reports=[_good(f"alive-{target}")]), timeout=10)
        assert ack.accepted == 1
        assert sorted(ack.brokers) == ["kafka", "rabbit"]
    _wait_applied(store, {f"alive-{target}"})
    ids = {fields["id"] for _, fields in store.xrange("clima:mixco")}
    assert not ids & {"ok-0", "ok-1", "ok-2"}, "a refused batch was partly published"


def _wait_applied(store: "valkey.Valkey", ids: set[str], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = {f["id"] for m in ("mixco", "guatemala") for _, f in store.xrange(f"clima:{m}")}
        if ids <= seen:
            return
        assert time.monotonic() < deadline, f"not applied: {sorted(ids - seen)}"
        time.sleep(0.2)


def _dead_letters(store: "valkey.Valkey") -> int:
    return int(store.hget("clima:stats", "dead_letters") or 0)


def _poison() -> list[tuple[str, bytes, str]]:
    """(what, payload, text its dead-letter reason must contain)."""
    whole = ReportBatch(reports=[_good(f"cut-{i}") for i in range(5)]).SerializeToString()
    return [
        ("truncated protobuf", whole[: len(whole) // 2 + 3], "not a clima.v1.ReportBatch"),
        (
            "another message type",
            Ack(accepted=3, brokers=["kafka"]).SerializeToString(),
            "no reports in it",
        ),
        (
            "JSON instead of protobuf",
            b'{"municipality": 1, "temperature": 20}',
            "not a clima.v1.ReportBatch",
        ),
        ("empty payload", b"", "no reports in it"),
        (
            "out-of-range report",
            ReportBatch(reports=[_good("poison-hot", temperature_c=61)]).SerializeToString(),
            "temperature_c",
        ),
        ("huge payload", b"\x0a" + b"\xff" * (9 * 1024 * 1024), "too large"),
    ]


async def test_kafka_poison_is_dead_lettered(
    pipeline: LocalPipeline, store: "valkey.Valkey"
) -> None:
    """Poison in the work topic lands in `<topic>.dead` with its reason; the consumer goes on."""
    env = pipeline.env
    broker, topic = env["KAFKA_BROKER"], env["CLIMA_KAFKA_TOPIC"]
    admin = AdminClient({"bootstrap.servers": broker})
    entry = ConfigEntry(
        "max.message.bytes", str(16 * 2**20), incremental_operation=AlterConfigOpType.SET
    )
    raised = ConfigResource("topic", topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([raised]).values():
        future.result(30)  # the broker's 1 MiB default would refuse the 9 MiB message
    poison = _poison()
    before = _dead_letters(store)
    producer = Producer({"bootstrap.servers": broker, "message.max.bytes": 16 * 2**20})
    for what, payload, _ in poison:
        producer.produce(topic, payload, key=what.encode())
    assert producer.flush(30) == 0
    await asyncio.to_thread(_wait_dead, store, before + len(poison))

    consumer = Consumer(
        {
            "bootstrap.servers": broker,
            "group.id": f"{topic}-dead-reader",
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 32 * 2**20,
        }
    )
    consumer.subscribe([f"{topic}.dead"])
    reasons: list[str] = []
    deadline = time.monotonic() + 30
    while len(reasons) < len(poison) and time.monotonic() < deadline:
        message = await asyncio.to_thread(consumer.poll, 0.5)
        if message is not None and message.error() is None:
            reasons.append(dict(message.headers() or [])["x-clima-reason"].decode())
    consumer.close()
    _check_reasons(poison, reasons)
    await _post_one(pipeline, store, "after-kafka-poison")


async def test_rabbit_poison_is_dead_lettered(
    pipeline: LocalPipeline, store: "valkey.Valkey"
) -> None:
    """Poison in the work queue lands in `<queue>.dead` with its reason; the consumer goes on."""
    queue = pipeline.env["CLIMA_RABBIT_QUEUE"]
    poison = _poison()
    before = _dead_letters(store)
    connection = await aio_pika.connect(pipeline.env["RABBITMQ_URL"])
    async with connection:
        channel = await connection.channel()
        for _, payload, _ in poison:
            await channel.default_exchange.publish(aio_pika.Message(payload), routing_key=queue)
        await asyncio.to_thread(_wait_dead, store, before + len(poison))
        dead = await channel.declare_queue(f"{queue}.dead", durable=True)
        reasons = []
        for _ in poison:
            message = await dead.get(timeout=10)
            assert message is not None
            reasons.append(str((message.headers or {})["x-clima-reason"]))
            await message.ack()
    _check_reasons(poison, reasons)
    await _post_one(pipeline, store, "after-rabbit-poison")


def _wait_dead(store: "valkey.Valkey", n: int, timeout_s: float = 45) -> None:
    deadline = time.monotonic() + timeout_s
    while _dead_letters(store) < n:
        assert time.monotonic() < deadline, f"{_dead_letters(store)} dead letters, expected {n}"
        time.sleep(0.2)


def _check_reasons(poison: list[tuple[str, bytes, str]], reasons: list[str]) -> None:
    assert len(reasons) == len(poison), reasons
    unmatched = list(reasons)
    for what, _, text in poison:
        match = next((r for r in unmatched if text in r), None)
        assert match is not None, (what, text, reasons)
        unmatched.remove(match)


async def _post_one(pipeline: LocalPipeline, store: "valkey.Valkey", ident: str) -> None:
    """A good report still goes all the way through after the poison."""
    body = {"municipality": 2, "temperature": 20, "humidity": 50, "weather": 1, "id": ident}
    async with httpx.AsyncClient(base_url=pipeline.api_url, timeout=30) as client:
        answer = await client.post("/clima", json=body)
    assert answer.status_code == 202, answer.text
    await asyncio.to_thread(_wait_applied, store, {ident})
