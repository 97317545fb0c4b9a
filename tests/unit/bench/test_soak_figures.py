"""The soak's arithmetic: bytes per report between readings, and a missing id counted."""

from typing import Any

from bench.soak import Sample, missing_ids, per_report_bytes


def _sample(t_s: float, used: int, applied: int) -> Sample:
    return Sample(t_s, used, applied + 4, applied, applied)


def test_bytes_per_report_skip_the_first_readings_and_idle_intervals() -> None:
    """Growth over newly applied reports, after `skip_s`; an interval with nothing applied
    says nothing about the cost of a report."""
    samples = [
        _sample(0, 1_000_000, 0),
        _sample(30, 9_000_000, 30_000),  # streams filling: skipped
        _sample(60, 12_390_000, 60_000),  # 113 B each
        _sample(90, 12_390_000, 60_000),  # idle
        _sample(120, 16_740_000, 90_000),  # 145 B each (a hash-table doubling)
    ]
    assert per_report_bytes(samples, skip_s=30) == [113.0, 145.0]
    assert per_report_bytes(samples, skip_s=200) == []


class _Pipe:
    def __init__(self, present: set[str]) -> None:
        self.present, self.asked = present, []

    def __enter__(self) -> "_Pipe":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def exists(self, key: str) -> None:
        self.asked.append(key)

    def execute(self) -> list[int]:
        found = [int(key in self.present) for key in self.asked]
        self.asked = []
        return found


class _Client:
    def __init__(self, present: set[str]) -> None:
        self._pipe = _Pipe(present)

    def pipeline(self, transaction: bool) -> _Pipe:
        return self._pipe


def test_an_accepted_id_without_its_dedupe_key_is_lost() -> None:
    """Every id is looked up by its dedupe key, page after page."""
    ids = [f"id-{n}" for n in range(25_000)]
    present = {f"clima:seen:{i}" for i in ids} - {"clima:seen:id-7", "clima:seen:id-24999"}
    assert missing_ids(_Client(present), ids) == 2  # type: ignore[arg-type]
