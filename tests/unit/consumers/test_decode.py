"""Decoding separates applicable reports from dead letters, with reasons."""

import pytest

from clima.consumers._decode import sort_payloads
from clima.contract import Report, ReportBatch

NOW_MS = 1_764_585_600_000


def _valid(rid: str) -> Report:
    return Report(
        id=rid, event_time_ms=NOW_MS, municipality=1, temperature_c=20, humidity_pct=50, weather=1
    )


def test_valid_batch_is_applied() -> None:
    """A well-formed batch yields its reports and no dead letter."""
    payload = ReportBatch(reports=[_valid("a"), _valid("b")]).SerializeToString()
    out = sort_payloads([payload])
    assert [r.id for r in out.reports] == ["a", "b"]
    assert out.dead == []


def test_garbage_and_json_are_dead_letters() -> None:
    """Bytes that are not a ReportBatch become dead letters naming the contract."""
    out = sort_payloads([b"\xff\xff\xff", b'{"municipio": "mixco"}', b""])
    assert out.reports == []
    assert len(out.dead) == 3
    assert all("clima.v1.ReportBatch" in d.reason for d in out.dead)


def test_one_bad_report_does_not_sink_its_batch() -> None:
    """An out-of-range report is dead-lettered alone; its neighbours are applied."""
    bad = _valid("bad")
    bad.humidity_pct = 140
    out = sort_payloads([ReportBatch(reports=[_valid("ok"), bad]).SerializeToString()])
    assert [r.id for r in out.reports] == ["ok"]
    assert len(out.dead) == 1
    assert "humidity_pct" in out.dead[0].reason
    assert ReportBatch.FromString(out.dead[0].payload).reports[0].id == "bad"


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("event_time_ms", 10**15, "event_time_ms"),  # crashed the store's date formatting
        ("event_time_ms", 1, "event_time_ms"),  # 1970: before 2000-01-01
        ("event_time_ms", -5, "event_time_ms"),
        ("id", "abc\n", "id"),
        ("id", "", "id"),
        ("id", "x" * 65, "id"),
    ],
)
def test_values_the_store_cannot_apply_are_dead_letters(
    field: str, value: object, named: str
) -> None:
    """A report the store could not apply is dead-lettered with a reason naming the field."""
    bad = _valid("bad")
    setattr(bad, field, value)
    out = sort_payloads([ReportBatch(reports=[bad, _valid("ok")]).SerializeToString()])
    assert [r.id for r in out.reports] == ["ok"]
    (dead,) = out.dead
    assert dead.reason.startswith(f"invalid report: {named}")
