"""Values are stored as accepted, on the real Valkey: what a report said is what its
municipality's stream and latest hash hold, to the last digit."""

import asyncio

import valkey

from clima.contract import Report, municipality_by_code
from clima.store import Store, StoreSettings, latest_key, stream_key

MEASURES = [(23.4567891, 45.123456789), (-12.000001, 0.30000000000000004), (21.0, 40.0)]


def test_measures_are_stored_to_the_last_digit(infra: dict[str, str], store: valkey.Valkey) -> None:
    """Temperatures and humidities with more than six significant digits come back from
    Valkey as the same floats; whole numbers stay short."""
    reports = [
        Report(
            id=f"exact-{i}",
            event_time_ms=1_764_585_600_000 + i,
            municipality=2,
            temperature_c=temperature,
            humidity_pct=humidity,
            weather=1,
        )
        for i, (temperature, humidity) in enumerate(MEASURES)
    ]

    async def apply() -> None:
        client = Store(StoreSettings(valkey_url=infra["VALKEY_SERVICE_URL"]))
        try:
            await client.apply(reports)
        finally:
            await client.close()

    asyncio.run(apply())
    slug = municipality_by_code(2).slug
    entries = {fields["id"]: fields for _, fields in store.xrange(stream_key(slug))}
    for report in reports:
        stored = entries[report.id]
        assert float(stored["temperature"]) == report.temperature_c, stored
        assert float(stored["humidity"]) == report.humidity_pct, stored
    assert entries["exact-2"]["temperature"] == "21", entries["exact-2"]
    latest = store.hgetall(latest_key(slug))
    assert float(latest["temperature"]) == reports[-1].temperature_c, latest
