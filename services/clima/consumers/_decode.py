"""Turns broker payloads into reports to apply and dead letters to set aside."""

from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from clima.contract import Report, ReportBatch
from clima.contract.rules import report_problem

MAX_PAYLOAD_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A payload that can never be applied, and why."""

    payload: bytes
    reason: str


@dataclass(slots=True)
class Sorted:
    """The outcome of decoding many payloads."""

    reports: list[Report] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def sort_payloads(payloads: list[bytes]) -> Sorted:
    """Decodes every payload; valid reports go to `reports`, everything else to `dead`."""
    out = Sorted()
    for payload in payloads:
        _sort_one(payload, out)
    return out


def _sort_one(payload: bytes, out: Sorted) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        out.dead.append(DeadLetter(payload[:1024], f"payload of {len(payload)} bytes is too large"))
        return
    batch = ReportBatch()
    try:
        batch.ParseFromString(payload)
    except DecodeError as exc:
        out.dead.append(DeadLetter(payload, f"not a clima.v1.ReportBatch: {exc}"))
        return
    if not batch.reports:
        out.dead.append(DeadLetter(payload, "not a clima.v1.ReportBatch: no reports in it"))
        return
    for report in batch.reports:
        problem = report_problem(report)
        if problem is None:
            out.reports.append(report)
        else:
            single = ReportBatch(reports=[report]).SerializeToString()
            out.dead.append(DeadLetter(single, f"invalid report: {problem}"))
