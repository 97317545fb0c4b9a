"""Key names, in one place so writers, dashboards and tests agree."""

WEATHER_COUNTS_HASH = "clima:weather_counts"
MUNICIPALITIES_SET = "clima:municipalities"
AVERAGES_STREAM = "clima:averages"
STATS_HASH = "clima:stats"


def latest_key(slug: str) -> str:
    """The seed's HASH holding a municipality's latest report."""
    return f"municipality:{slug}"


def stream_key(slug: str) -> str:
    """The seed's STREAM holding a municipality's reports."""
    return f"clima:{slug}"


def weather_counts_key(slug: str) -> str:
    """Reports per weather name for one municipality."""
    return f"{WEATHER_COUNTS_HASH}:{slug}"


def interval_key(start_s: int) -> str:
    """Sums and count of the interval starting at `start_s` (Unix seconds)."""
    return f"clima:interval:{start_s}"


def seen_key(report_id: str) -> str:
    """Marks an id as applied for the dedupe window (one key per id, expires)."""
    return f"clima:seen:{report_id}"
