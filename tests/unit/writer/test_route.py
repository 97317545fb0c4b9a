"""Routing sends each report where the mode says, grouped by municipality."""

import random

from clima.contract import Report, ReportBatch
from clima.writer._route import messages, route


def _reports(n: int) -> list[Report]:
    return [Report(id=str(i), municipality=1 + i % 4, weather=1) for i in range(n)]


def test_both_sends_everything_twice() -> None:
    """In both mode every report goes to Kafka and to RabbitMQ."""
    routed = route("both", _reports(5), random.Random(1))
    assert [len(routed["kafka"]), len(routed["rabbit"])] == [5, 5]


def test_random_sends_each_report_once() -> None:
    """In random mode each report goes to exactly one broker, and both get some."""
    reports = _reports(200)
    routed = route("random", reports, random.Random(7))
    ids = sorted(r.id for batch in routed.values() for r in batch)
    assert ids == sorted(r.id for r in reports)
    assert set(routed) == {"kafka", "rabbit"}


def test_messages_are_keyed_by_municipality_and_keep_order() -> None:
    """Each message carries one municipality's reports, in the order they came."""
    out = dict(messages(_reports(8)))
    assert set(out) == {b"mixco", b"guatemala", b"amatitlan", b"chinautla"}
    assert [r.id for r in ReportBatch.FromString(out[b"mixco"]).reports] == ["0", "4"]
