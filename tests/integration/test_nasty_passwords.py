"""A password with any character works end to end against a real Valkey: the operator's
rendered valkey.conf holds it, and a consumer's settings, given the URL Kubernetes expands
with the raw password, connect and apply with it."""

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clima.contract import Report
from clima.store import Store, StoreSettings
from clima_operator.children import Passwords
from clima_operator.children import valkey as valkey_children

NASTY = 'p@ss/w:rd #1 "quoted" back\\slash 100% ünï\nsecond line'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def nasty_valkey(tmp_path: Path) -> Iterator[int]:
    """A valkey-server on the operator's own valkey.conf, with the password above."""
    server = shutil.which("valkey-server")
    assert server is not None, "valkey-server is installed by tools/local/infra.sh"
    port = _free_port()
    conf = valkey_children.config_file(Passwords.single(NASTY))
    conf = conf.replace(f"port {valkey_children.VALKEY_PORT}", f"port {port}")
    conf = conf.replace("bind * -::*", "bind 127.0.0.1")
    conf = conf.replace(f"dir {valkey_children.DATA_DIR}", f"dir {tmp_path}")
    (tmp_path / "valkey.conf").write_text(conf)
    process = subprocess.Popen([server, str(tmp_path / "valkey.conf")], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, "valkey-server refused the rendered configuration"
            time.sleep(0.1)
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
