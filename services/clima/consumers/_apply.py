"""Applies a decoded batch so that no message can stop a consumer.

Valkey's state (unreachable, full, loading, busy, read-only) holds the batch and retries it,
counted by reason; what Valkey will never take is found report by report and set aside as a
dead letter with the reason, so its neighbours are still applied.
"""

import asyncio
import logging

from clima.consumers._decode import DeadLetter
from clima.consumers._holding import HOLD
from clima.consumers._metrics import STORE_WAITS
from clima.contract import Report, ReportBatch
from clima.store import ApplyResult, Store, StoreRejectedError, StoreUnavailableError

logger = logging.getLogger(__name__)


async def apply_batch(
    store: Store, reports: list[Report], dead: list[DeadLetter], stop: asyncio.Event
) -> tuple[ApplyResult, list[DeadLetter]]:
    """Applies `reports` and counts `dead`; returns what was applied and every dead letter
    (those given and those Valkey refused), to publish after this decision."""
    try:
        result = await store.apply_until_done(reports, len(dead), stop, _waiting)
    except StoreRejectedError as exc:
        HOLD.applied()  # Valkey answered: whatever it refuses, it is not holding us up
        logger.warning("valkey refused a batch of %d (%s); applying one by one", len(reports), exc)
    else:
        HOLD.applied()
        return result, dead
    applied = duplicates = 0
    letters = list(dead)
    for report in reports:
        try:
            result = await store.apply_until_done([report], 0, stop, _waiting)
        except StoreRejectedError as exc:
            payload = ReportBatch(reports=[report]).SerializeToString()
            letters.append(DeadLetter(payload, f"store refused the report: {exc}"))
            continue
        applied += result.applied
        duplicates += result.duplicates
    try:
        await store.apply_until_done([], len(letters), stop, _waiting)
    except StoreRejectedError as exc:
        # the counter itself is what Valkey refuses (clima:stats altered by hand): the dead
        # letters still go out; only their count in Valkey is missing
        logger.error("valkey refused to count %d dead letters (%s)", len(letters), exc)
    HOLD.applied()
    return ApplyResult(applied, duplicates), letters


def _waiting(exc: StoreUnavailableError) -> None:
    STORE_WAITS.labels(exc.reason).inc()
    HOLD.waiting(exc.reason)
