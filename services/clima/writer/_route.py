"""Plain routing rules: which broker gets which report, and how reports become messages."""

import random
from collections.abc import Sequence

from clima.contract import Report, ReportBatch, municipality_by_code
from clima.writer.settings import Mode

KAFKA = "kafka"
RABBIT = "rabbit"


def route(mode: Mode, reports: Sequence[Report], rng: random.Random) -> dict[str, list[Report]]:
    """Splits reports by broker: all to one, all to both, or each to one at random."""
    if mode == "kafka":
        return {KAFKA: list(reports)}
    if mode == "rabbit":
        return {RABBIT: list(reports)}
    if mode == "both":
        return {KAFKA: list(reports), RABBIT: list(reports)}
    routed: dict[str, list[Report]] = {}
    for report in reports:
        routed.setdefault(rng.choice((KAFKA, RABBIT)), []).append(report)
    return routed


def brokers_of(mode: Mode) -> tuple[str, ...]:
    """The brokers a mode can write to."""
    if mode == "kafka":
        return (KAFKA,)
    if mode == "rabbit":
        return (RABBIT,)
    return (KAFKA, RABBIT)


def messages(reports: Sequence[Report]) -> list[tuple[bytes, bytes]]:
    """Groups reports by municipality into (key, encoded ReportBatch) messages, keeping order."""
    groups: dict[int, list[Report]] = {}
    for report in reports:
        groups.setdefault(report.municipality, []).append(report)
    return [
        (municipality_by_code(code).slug.encode(), ReportBatch(reports=group).SerializeToString())
        for code, group in groups.items()
    ]
