"""What reached Valkey: every report's id and its end-to-end latency, from the streams.

Each report the consumers apply becomes one entry of STREAM `clima:<slug>`: the entry id's
millisecond part is when Valkey applied it, the `ts` field is its event time (set by the api
at acceptance) and the `id` field its id. So an accepted id missing from every stream is a
lost report, an id present twice a duplicate, and `apply - ts` the end-to-end latency.
"""

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import valkey

from clima.contract import MUNICIPALITIES
from clima.store import STATS_HASH, stream_key

_PAGE = 20_000


@dataclass
class Applied:
    """Stream entries read back: ids with how often each appears, and latencies."""

    counts: Counter[str]
    e2e_ms: list[float]
    first_apply_ms: int
    last_apply_ms: int


def stats(client: "valkey.Valkey") -> tuple[int, int]:
    """(applied, duplicates) counted by the consumers' script."""
    applied, duplicates = client.hmget(STATS_HASH, ["applied", "duplicates"])
    return int(applied or 0), int(duplicates or 0)


def wait_drained(
    client: "valkey.Valkey", expected: int, timeout_s: float = 60.0, quiet_s: float = 0.4
) -> float:
    """Waits until the consumers handled `expected` deliveries and then stopped for `quiet_s`.

    Returns the seconds waited. `expected` counts deliveries, so in mode `both` it is twice
    the reports: the second copy must be handled (as a duplicate) before the next step.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    last, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        total = sum(stats(client))
        now = time.monotonic()
        if total != last:
            last, still_since = total, now
        elif total >= expected and now - still_since >= quiet_s:
            break
        time.sleep(0.05)
    return time.monotonic() - started


def read_streams(client: "valkey.Valkey") -> Applied:
    """Reads every municipality stream whole."""
    counts: Counter[str] = Counter()
    e2e: list[float] = []
    first, last = 2**63, 0
    parse = datetime.fromisoformat
    for municipality in MUNICIPALITIES:
        key = stream_key(municipality.slug)
        start = b"-"
        while True:
            page = client.xrange(key, start, b"+", count=_PAGE)
            for entry_id, fields in page:
                applied_ms = int(entry_id.split(b"-", 1)[0])
                counts[fields[b"id"].decode()] += 1
                event_ms = parse(fields[b"ts"].decode()).timestamp() * 1000
                e2e.append(applied_ms - event_ms)
                first, last = min(first, applied_ms), max(last, applied_ms)
            if len(page) < _PAGE:
                break
            start = b"(" + page[-1][0]
    return Applied(counts, e2e, first if counts else 0, last)
