"""What a refusal says about the reports it refused.

A writer that refuses a batch *before* publishing any of it (a broker of the mode is known to
be down) says so in the call's trailing metadata: `clima-outcome: refused`. Every other
failure (a broker stopped confirming, the connection broke mid-call, a deadline passed) leaves
the outcome unknown: a broker may already hold some of the reports and will deliver them.
The api passes the distinction on in its 503 body, with the ids, so that a client knows when
a resend with the same ids is needed for certainty and that it is always safe.
"""

from collections.abc import Iterable
from typing import Final, Literal

import orjson

Outcome = Literal["refused", "unknown"]
OUTCOME_KEY: Final = "clima-outcome"
REFUSED: Final[Outcome] = "refused"
UNKNOWN: Final[Outcome] = "unknown"


def outcome_of(trailing_metadata: Iterable[tuple[str, str | bytes]] | None) -> Outcome:
    """`refused` only when the writer said so; anything else may have been published."""
    for key, value in trailing_metadata or ():
        if key == OUTCOME_KEY and value in (REFUSED, REFUSED.encode()):
            return REFUSED
    return UNKNOWN


def unavailable_body(detail: str, outcome: Outcome, ids: list[str]) -> bytes:
    """The JSON of a 503: the cause, what became of the reports, and their ids to resend."""
    return orjson.dumps(
        {"detail": f"pipeline unavailable: {detail}", "outcome": outcome, "ids": ids}
    )
