"""A consumer that starts onto a large backlog of large messages stays within its memory:
what clients posting 1,000-report batches of one municipality leave behind when the
consumers were away. Its batches are bounded in bytes (and Kafka's fetching ahead), so its
peak does not grow with the backlog; before, 500 messages per apply decoded half a million
reports at once and the peak passed the pod's default 256Mi limit (an OOM-kill loop)."""

import pytest

from bench.backlog_memory import measure

pytestmark = pytest.mark.integration

MESSAGES = 700  # 700,000 reports, 43 MiB of backlog
#: 3/4 of the consumer's default memory limit (256Mi): room for what the pod adds
PEAK_MIB = 192


@pytest.mark.parametrize("source", ["kafka", "rabbit"])
def test_a_large_backlog_is_applied_within_the_memory_limit(
    infra: dict[str, str], source: str
) -> None:
    """Every report of the backlog is applied by one consumer process whose peak resident
    memory stays under PEAK_MIB."""
    figures = measure(infra, source, MESSAGES, 1000, {})
    assert figures["applied"] == MESSAGES * 1000
    peak = figures["peak_rss_mib"]
    assert isinstance(peak, float)
    assert peak < PEAK_MIB, f"peak {peak} MiB: {figures}"
