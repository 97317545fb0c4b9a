"""Plain routing rules: which broker gets which report, and how reports become messages."""

import random
from collections.abc import Sequence

from clima.contract import Report, ReportBatch, municipality_by_code
from clima.wiring import KAFKA, RABBIT, Mode, brokers_of

__all__ = ["KAFKA", "RABBIT", "brokers_of", "messages", "route"]


def route(mode: Mode, reports: Sequence[Report], rng: random.Random) -> dict[str, list[Report]]:
    """Splits reports by broker: all to each broker of the mode, or in mode random each to
    one of them at random."""
    brokers = brokers_of(mode)
    if mode != "random":
        return {broker: list(reports) for broker in brokers}
    routed: dict[str, list[Report]] = {}
    for report in reports:
        routed.setdefault(rng.choice(brokers), []).append(report)
    return routed


def messages(reports: Sequence[Report]) -> list[tuple[bytes, bytes]]:
    """Groups reports by municipality into (key, encoded ReportBatch) messages, keeping order."""
    groups: dict[int, list[Report]] = {}
    for report in reports:
        groups.setdefault(report.municipality, []).append(report)
    return [
        (municipality_by_code(code).slug.encode(), ReportBatch(reports=group).SerializeToString())
        for code, group in groups.items()
    ]
