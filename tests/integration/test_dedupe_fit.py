"""The operator's DedupeWindowFits reading against a real Valkey on the operator's own
rendered configuration: its maxmemory (3/4 of the memory limit) and the applied counter the
consumers' store keeps, read as the operator reads them, judged at the rate they moved."""

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from clima_process_support import start_valkey

from clima.contract import Report
from clima.store import Store, StoreSettings
from clima_operator import dedupe_fit
from clima_operator.children import Passwords
from clima_operator.children import valkey as valkey_children

PASSWORD = "fit-password"
LIMIT = "32Mi"  # maxmemory 24 MiB: 16 MiB of base and room for ~60,000 ids


@pytest.fixture
def bounded_valkey(tmp_path: Path) -> Iterator[int]:
    assert shutil.which("valkey-server"), "valkey-server is installed by tools/local/infra.sh"
    maxmemory = valkey_children.maxmemory_bytes(LIMIT)
    conf = valkey_children.config_file(Passwords.single(PASSWORD), maxmemory)
    process, port = start_valkey(conf, tmp_path)
    try:
        yield port
    finally:
        process.kill()
        process.wait(10)


def _apply(port: int, count: int) -> int:
    reports = [
        Report(
            id=f"fit-{i}",
            event_time_ms=1_764_585_600_000,
            municipality=1,
            temperature_c=20.5,
            humidity_pct=40.0,
            weather=1,
        )
        for i in range(count)
    ]

    async def apply() -> int:
        store = Store(StoreSettings(valkey_url=f"redis://:{PASSWORD}@127.0.0.1:{port}/0"))
        try:
            return (await store.apply(reports)).applied
        finally:
            await store.close()

    return asyncio.run(apply())


def test_the_reading_judges_the_window_at_the_rate_valkey_counted(bounded_valkey: int) -> None:
    target = dedupe_fit.Target(("no-such-host.invalid", "127.0.0.1"), bounded_valkey, PASSWORD,
                               window_s=86400, window="24h", memory_limit=LIMIT)  # fmt: skip
    first = dedupe_fit.read(target)
    assert first is not None, "the operator's reading got no answer from either host"
    assert first.maxmemory == valkey_children.maxmemory_bytes(LIMIT)
    assert first.applied == 0
    assert _apply(bounded_valkey, 600) == 600
    second = dedupe_fit.read(target)
    assert second is not None
    assert second.applied == 600
    # as if the 600 came over a minute: 10 reports/s
    minute_later = replace(second, at=first.at + 60)
    day = dedupe_fit.judge([first, minute_later], target)
    assert day.fits is False, day
    assert "spec.valkey.managed.resources.limits.memory (now 32Mi)" in day.message
    hour = dedupe_fit.judge([first, minute_later], replace(target, window_s=3600, window="1h"))
    assert hour.fits is True, hour
    wrong = dedupe_fit.read(replace(target, password="wrong"))
    assert wrong is None
