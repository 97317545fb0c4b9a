"""A short burst of seed-shaped traffic and a summary of what reached Valkey."""

import asyncio
import os
import random
import time

import httpx
import valkey.asyncio as valkey

from clima.contract import MUNICIPALITIES
from clima.local._traffic import seed_body
from clima.store import STATS_HASH, WEATHER_COUNTS_HASH, latest_key, stream_key


async def burst(api_url: str, reports: int, concurrency: int = 32) -> str:
    """POSTs `reports` seed-shaped reports: a sixth one by one, the rest in batches of 100.

    Returns a one-line result. The client is httpx, which costs more CPU per request than
    the api itself: `make load` (Locust) and `make bench` measure throughput, this shows
    traffic landing.
    """
    rng = random.Random(42)  # noqa: S311 - traffic, not secrets
    singles = reports // 6
    bodies: list[object] = [seed_body(rng) for _ in range(singles)]
    rest = [seed_body(rng) for _ in range(reports - singles)]
    bodies += [rest[i : i + 100] for i in range(0, len(rest), 100)]
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[object] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=api_url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                path = "/clima/batch" if isinstance(body, list) else "/clima"
                answer = await client.post(path, json=body)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return (
        f"{reports} reports ({singles} single, the rest in batches of 100) in {elapsed:.2f}s "
        f"({reports / elapsed:.0f}/s), answers {statuses}"
    )


async def summary(timeout_s: float = 30) -> str:
    """Waits until Valkey's applied count stops growing, then describes what is there."""
    client = valkey.from_url(os.environ["VALKEY_SERVICE_URL"], decode_responses=True)
    previous, deadline = -1, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        applied = int(await client.hget(STATS_HASH, "applied") or 0)
        if applied == previous:
            break
        previous = applied
        await asyncio.sleep(1)
    lines = [
        f"==> Valkey: {previous} reports applied in all (earlier runs included)",
        "    per weather:",
    ]
    counts = await client.hgetall(WEATHER_COUNTS_HASH)
    lines += [f"      {name:10} {count}" for name, count in sorted(counts.items())]
    lines.append("    latest per municipality (HGETALL municipality:<slug>):")
    for m in MUNICIPALITIES:
        latest = await client.hgetall(latest_key(m.slug))
        size = await client.xlen(stream_key(m.slug))
        lines.append(f"      {m.name:10} {latest}  stream clima:{m.slug} has {size} entries")
    await client.aclose()
    return "\n".join(lines)
