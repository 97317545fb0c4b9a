"""Peak memory of a consumer that starts onto a large backlog of large messages.

Fills a fresh topic (or queue) with `--messages` messages of `--reports` reports of one
municipality each (what the writer publishes for 1,000-report batches), then starts one
real consumer process and reads its peak resident memory (VmHWM) once every report is
applied. Runs against the local instance of `tools/local/infra.sh` (Valkey db 2).

    .venv/bin/python -m bench.backlog_memory --source kafka --messages 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aio_pika
import valkey
from confluent_kafka import Producer

from clima import wiring
from clima.common.kafka import ensure_topic
from clima.contract import MUNICIPALITIES, Report, ReportBatch
from clima.local import free_port, read_infra_env

ROOT = Path(__file__).resolve().parents[1]
DB = 2


def _message(reports: int, serial: int) -> bytes:
    town = MUNICIPALITIES[0].code
    batch = [
        Report(
            id=f"{serial:06d}-{n:04d}-{uuid.uuid4().hex[:20]}",
            event_time_ms=1_790_000_000_000 + n,
            municipality=town,
            weather=1,
            temperature_c=21.5,
            humidity_pct=40,
        )
        for n in range(reports)
    ]
    return ReportBatch(reports=batch).SerializeToString()


def _fill_kafka(env: dict[str, str], topic: str, messages: int, reports: int) -> int:
    ensure_topic(env["KAFKA_BROKER"], topic, wiring.KAFKA_PARTITIONS)
    producer = Producer({"bootstrap.servers": env["KAFKA_BROKER"], "acks": "all"})
    size = 0
    for serial in range(messages):
        value = _message(reports, serial)
        size += len(value)
        producer.produce(topic, value, key=MUNICIPALITIES[0].slug.encode())
        producer.poll(0)
    assert producer.flush(60) == 0
    return size


async def _fill_rabbit(env: dict[str, str], queue: str, messages: int, reports: int) -> int:
    connection = await aio_pika.connect(env["RABBITMQ_URL"])
    size = 0
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True)
        for serial in range(messages):
            value = _message(reports, serial)
            size += len(value)
            message = aio_pika.Message(value, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=queue)
    return size


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def local_infra() -> dict[str, str]:
    """The addresses of the local instance (`tools/local/infra.sh`, which must be up)."""
    done = subprocess.run(  # noqa: S603 - our own script
        [ROOT / "tools/local/infra.sh", "config"], check=True, capture_output=True, text=True
    )
    config = dict(line.split("=", 1) for line in done.stdout.splitlines())
    return read_infra_env(Path(config["env"]))


def measure(
    env: dict[str, str], source: str, messages: int, reports: int, extra: dict[str, str]
) -> dict[str, object]:
    """Fills a backlog on the brokers of `env`, runs one consumer through it; returns the
    figures."""
    url = env["VALKEY_SERVICE_URL"].rsplit("/", 1)[0] + f"/{DB}"
    store = valkey.Valkey.from_url(url, decode_responses=True)
    store.flushdb()
    name = f"mem-{uuid.uuid4().hex[:8]}"
    if source == "kafka":
        size = _fill_kafka(env, name, messages, reports)
    else:
        size = asyncio.run(_fill_rabbit(env, name, messages, reports))
    probe = free_port()
    process_env = {
        **os.environ,
        **env,
        "VALKEY_SERVICE_URL": url,
        "CLIMA_KAFKA_TOPIC": name,
        "CLIMA_RABBIT_QUEUE": name,
        "CLIMA_CONSUMER_KAFKA_GROUP": name,
        "CLIMA_CONSUMER_PROBE_PORT": str(probe),
        "CLIMA_CONSUMER_HOST": "127.0.0.1",
        "CLIMA_STREAM_MAXLEN": "1000",
        **extra,
    }
    started = time.monotonic()
    log = Path(os.environ.get("CLIMA_BENCH_LOG", os.devnull))
    with log.open("ab") as stderr:
        consumer = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "clima", "consumer", source],
            env=process_env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    want = messages * reports
    try:
        applied = 0
        while applied < want:
            if consumer.poll() is not None:
                raise RuntimeError(f"the consumer exited ({consumer.returncode}) at {applied}")
            if time.monotonic() - started > 600:
                raise RuntimeError(f"only {applied} of {want} applied in 600 s")
            time.sleep(0.2)
            applied = int(store.hget("clima:stats", "applied") or 0)
        seconds = time.monotonic() - started
        peak = _peak_kib(consumer.pid)
    finally:
        consumer.terminate()
        consumer.wait(30)
        store.flushdb()
    return {
        "source": source,
        "messages": messages,
        "reports_per_message": reports,
        "backlog_mib": round(size / 2**20, 1),
        "applied": applied,
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(peak / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=["kafka", "rabbit"], default="kafka")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="VAR=value for the consumer")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    for _ in range(args.rounds):
        figures = measure(local_infra(), args.source, args.messages, args.reports, extra)
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
