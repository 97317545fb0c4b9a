"""RabbitMQ's resource alarm (its disk under `disk_free_limit`) blocks every publishing
connection: the writer then refuses at once (503 "refused", naming the alarm) instead of
waiting on a publish that cannot be confirmed, and accepts again by itself when the alarm
clears. Every report answered 202 is applied once."""

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import valkey

from clima.local import LocalPipeline

pytestmark = pytest.mark.integration
USUAL_LIMIT = "50MB"


def _body(ident: str) -> dict[str, object]:
    return {"id": ident, "municipality": 1, "temperature": 20, "humidity": 50, "weather": 1}


@pytest.fixture
def alarm(infra: dict[str, str], infra_sh: Path) -> Iterator[Callable[[str], None]]:
    """Sets RabbitMQ's free-disk limit; the usual one again after the test."""

    def limit(value: str) -> None:
        subprocess.run([infra_sh, "rabbitmqctl", "-q", "set_disk_free_limit", value], check=True)

    yield limit
    limit(USUAL_LIMIT)


def test_a_disk_alarm_is_refused_at_once_and_clears_by_itself(
    pipeline_factory: Callable[[str], LocalPipeline],
    store: "valkey.Valkey",
    alarm: Callable[[str], None],
) -> None:
    pipeline = pipeline_factory("rabbit")
    accepted: list[str] = []
    unknown: list[str] = []
    refusals: list[tuple[float, str]] = []
    with httpx.Client(base_url=pipeline.api_url, timeout=30) as client:

        def send(ident: str) -> int:
            started = time.monotonic()
            answer = client.post("/clima", json=_body(ident))
            if answer.status_code == 202:
                accepted.append(ident)
            elif answer.json().get("outcome") == "refused":
                refusals.append((time.monotonic() - started, answer.json()["detail"]))
            else:
                unknown.append(ident)
            return answer.status_code

        for n in range(20):
            assert send(f"before-{n}") == 202
        alarm("100000GB")  # more free disk than any machine has: the alarm goes off
        deadline = time.monotonic() + 30
        n = 0
        while len(refusals) < 10:
            assert time.monotonic() < deadline, f"no refusals after the alarm: {unknown[:3]}"
            send(f"during-{n}")
            n += 1
            time.sleep(0.1)
        alarm(USUAL_LIMIT)
        deadline = time.monotonic() + 30
        while send(f"after-{n}") != 202:
            assert time.monotonic() < deadline, "still refused 30 s after the alarm cleared"
            n += 1
            time.sleep(0.2)
    detail = refusals[-1][1]
    assert "blocked by the broker: a resource alarm" in detail
    assert max(s for s, _ in refusals[-5:]) < 1.0, f"refusals waited: {refusals[-5:]}"
    deadline = time.monotonic() + 30
    while int(store.hget("clima:stats", "applied") or 0) < len(accepted):
        assert time.monotonic() < deadline, "accepted reports not applied"
        time.sleep(0.2)
    time.sleep(1)
    applied = int(store.hget("clima:stats", "applied") or 0)
    # a publish the alarm caught in flight is "unknown": it may or may not be applied
    assert len(accepted) <= applied <= len(accepted) + len(unknown)
