"""A resend counts once whatever the api's clock says: the api runs under a moved clock."""

import datetime
import glob
import math
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import valkey

from clima.contract import MUNICIPALITIES
from clima.local import LocalPipeline

pytestmark = pytest.mark.integration
# libfaketime (Debian package `faketime`, installed by `make test`) moves one process's clock.
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))


class MovedClock:
    """The api's wall clock, moved through libfaketime's offset file (re-read on every call)."""

    def __init__(self, path: Path) -> None:
        assert LIBFAKETIME, "libfaketime is missing: `make test` installs Debian's faketime"
        self.path = path
        self.set(datetime.datetime.now(datetime.UTC))
        self.env = {
            "LD_PRELOAD": LIBFAKETIME[0],
            "FAKETIME_TIMESTAMP_FILE": str(path),
            "FAKETIME_NO_CACHE": "1",
            "TZ": "UTC",
        }

    def set(self, moment: datetime.datetime) -> None:
        """From now on the clock reads `moment`, give or take a second (whole-second offsets),
        and runs on."""
        offset = math.floor((moment - datetime.datetime.now(datetime.UTC)).total_seconds())
        self.path.write_text(f"{offset:+d}\n")


def _post(pipeline: LocalPipeline, report_id: str) -> None:
    body = {"id": report_id, "municipality": 1, "temperature": 21.5, "humidity": 40, "weather": 1}
    answer = httpx.post(f"{pipeline.api_url}/clima", json=body, timeout=30)
    assert answer.status_code == 202, answer.text
    assert answer.json()["id"] == report_id


def _entries(store: "valkey.Valkey", report_id: str) -> list[dict[str, str]]:
    found = []
    for m in MUNICIPALITIES:
        found += [f for _, f in store.xrange(f"clima:{m.slug}") if f["id"] == report_id]
    return found


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 45) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


def test_resend_either_side_of_an_hour_through_the_api_counts_once(
    pipeline_factory: Callable[[str], LocalPipeline], store: "valkey.Valkey", tmp_path: Path
) -> None:
    """The same id posted with the api's clock at hh:59:58 and again at hh+1:00:01 (and a day
    minus a minute later) is applied once, with the first copy's event time."""
    pipeline = pipeline_factory("both")
    clock = MovedClock(tmp_path / "faketime")
    pipeline.terminate("api")
    pipeline.restart("api", env=clock.env)
    hour = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    # MovedClock.set lands up to 1 s early: the api reads hh:59:57-58 here, hh+1:00:01-02 next
    before = hour - datetime.timedelta(hours=2, seconds=2)
    report_id = f"moved-clock-{time.time_ns()}"
    clock.set(before)
    _post(pipeline, report_id)
    _wait_for(lambda: len(_entries(store, report_id)) == 1)  # a client's resend after its 202
    clock.set(before + datetime.timedelta(seconds=4))
    _post(pipeline, report_id)
    clock.set(before + datetime.timedelta(hours=23, minutes=59))
    _post(pipeline, report_id)

    # six copies reach Valkey (three posts, two consumers in `both`): one applied, five refused
    _wait_for(lambda: int(store.hget("clima:stats", "duplicates") or 0) >= 5)
    time.sleep(1)  # let any stray copy arrive before counting
    assert int(store.hget("clima:stats", "applied") or 0) == 1
    assert int(store.hget("clima:stats", "duplicates") or 0) == 5
    entries = _entries(store, report_id)
    assert len(entries) == 1, entries
    stamped = datetime.datetime.fromisoformat(entries[0]["ts"]).replace(tzinfo=datetime.UTC)
    assert (
        before - datetime.timedelta(seconds=1) <= stamped < before + datetime.timedelta(seconds=2)
    ), f"the applied copy must be the first one, stamped by the moved clock: {stamped}"
