"""A password with any character works end to end against a real Valkey: the operator's
rendered valkey.conf holds it, and a consumer's settings, given the URL Kubernetes expands
with the raw password, connect and apply with it."""

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from clima_process_support import start_valkey

from clima.contract import Report
from clima.store import Store, StoreSettings
from clima_operator.children import Passwords
from clima_operator.children import valkey as valkey_children

NASTY = 'p@ss/w:rd #1 "quoted" back\\slash 100% ünï\nsecond line'


@pytest.fixture
def nasty_valkey(tmp_path: Path) -> Iterator[int]:
    """A valkey-server on the operator's own valkey.conf, with the password above."""
    assert shutil.which("valkey-server"), "valkey-server is installed by tools/local/infra.sh"
    process, port = start_valkey(valkey_children.config_file(Passwords.single(NASTY)), tmp_path)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_a_password_with_any_character_is_applied_with(
    nasty_valkey: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALKEY_PASSWORD", NASTY)
    monkeypatch.setenv("VALKEY_SERVICE_URL", f"redis://:{NASTY}@127.0.0.1:{nasty_valkey}/0")
    report = Report(id="nasty-1", event_time_ms=1_764_585_600_000, municipality=1,
                    temperature_c=20.5, humidity_pct=40.0, weather=1)  # fmt: skip

    async def apply() -> int:
        store = Store(StoreSettings())
        try:
            return (await store.apply([report])).applied
        finally:
            await store.close()

    assert asyncio.run(apply()) == 1
    wrong = StoreSettings(valkey_url=f"redis://:wrong@127.0.0.1:{nasty_valkey}/0")

    async def refused() -> None:
        store = Store(wrong)
        try:
            await asyncio.wait_for(store.apply([report]), 3)
        finally:
            await store.close()

    with pytest.raises(Exception, match=r"(?i)auth|password|WRONGPASS|timeout"):
        asyncio.run(refused())
