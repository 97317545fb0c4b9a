"""A replicated Valkey, for real: the store finds the primary through a real Sentinel, and
an apply counts as done only once a real replica confirms it (WAIT on the script's own
connection). Without a replica the apply is refused as unavailable and nothing is lost: the
retry, once a replica is attached, finds the reports applied and confirms them."""

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import valkey
from valkey.connection import parse_url

from clima.contract import Report
from clima.store import Store, StoreSettings, StoreUnavailableError

pytestmark = pytest.mark.integration
SERVER = shutil.which("valkey-server") or "valkey-server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _reports(count: int) -> list[Report]:
    now = int(time.time() * 1000)
    return [
        Report(
            id=f"wait-{i}",
            municipality=1 + i % 4,
            temperature_c=21.0,
            humidity_pct=50.0,
            weather=1,
            event_time_ms=now,
        )
        for i in range(count)
    ]


def _eventually(check: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@contextmanager
def _process(args: list[str], tmp: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp / f"{name}.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    try:
        yield process
    finally:
        process.kill()
        process.wait(10)
        log.close()


def _primary(infra: dict[str, str]) -> tuple[str, int, str, int]:
    """Host, port, password and database of the tests' Valkey."""
    url = parse_url(infra["VALKEY_SERVICE_URL"])
    host, port = str(url.get("host", "127.0.0.1")), int(url.get("port", 6379))
    return host, port, str(url["password"]), int(url.get("db") or 0)


def test_an_apply_waits_for_a_replica_and_is_retried_until_one_confirms(
    infra: dict[str, str], store: "valkey.Valkey", tmp_path: Path
) -> None:
    host, port, password, db = _primary(infra)
    settings = StoreSettings(
        valkey_url=infra["VALKEY_SERVICE_URL"], wait_replicas=1, wait_timeout_ms=300
    )
    reports = _reports(5)

    async def apply() -> tuple[int, int]:
        handle = Store(settings)
        try:
            result = await handle.apply(reports)
            return result.applied, result.duplicates
        finally:
            await handle.close()

    with pytest.raises(StoreUnavailableError) as refused:
        asyncio.run(apply())
    assert refused.value.reason == "replicas"
    assert "0 of 1 replicas confirmed" in str(refused.value)
    replica_port = _free_port()
    args = [SERVER, "--port", str(replica_port), "--bind", "127.0.0.1", "--replicaof", host,
            str(port), "--masterauth", password, "--requirepass", password, "--save", "",
            "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
    with _process(args, tmp_path, "replica"):
        replica = valkey.Valkey(port=replica_port, password=password, db=db, decode_responses=True)
        _eventually(lambda: _link_up(replica))
        # the primary counts the replica for WAIT only once it acknowledged the sync (until
        # then WAIT answers 0, as it did under load in CI right after the link came up)
        _eventually(lambda: _online(store))
        # the first attempt's writes are there: the retry is a duplicate, now confirmed
        assert asyncio.run(apply()) == (0, 5)
        _eventually(lambda: replica.hget("clima:stats", "applied") == "5")
        replica.close()
    assert store.hget("clima:stats", "applied") == "5"


def _online(primary: "valkey.Valkey") -> bool:
    """Whether the primary lists a replica that is online (streaming, acknowledging)."""
    first = primary.info("replication").get("slave0")
    return isinstance(first, dict) and first.get("state") == "online"


def _link_up(replica: "valkey.Valkey") -> bool:
    try:
        return bool(replica.info("replication").get("master_link_status") == "up")
    except valkey.exceptions.ConnectionError:
        return False


def test_the_primary_is_found_through_a_sentinel(
    infra: dict[str, str], store: "valkey.Valkey", tmp_path: Path
) -> None:
    """The store's URL names no reachable host; only the Sentinel knows the primary."""
    host, port, password, db = _primary(infra)
    sentinel_port = _free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\nrequirepass {password}\n"
        f"sentinel monitor clima-test {host} {port} 1\n"
        f"sentinel auth-pass clima-test {password}\n"
    )
    with _process([SERVER, str(config), "--sentinel"], tmp_path, "sentinel"):
        sentinel = valkey.Valkey(port=sentinel_port, password=password, decode_responses=True)
        _eventually(lambda: _answers(sentinel))
        sentinel.close()
        settings = StoreSettings(
            valkey_url=f"redis://:{password}@nowhere.invalid:1/{db}",
            sentinels=f"127.0.0.1:{sentinel_port}",
            primary_name="clima-test",
        )

        async def apply() -> int:
            handle = Store(settings)
            try:
                return (await handle.apply(_reports(3))).applied
            finally:
                await handle.close()

        assert asyncio.run(apply()) == 3
    assert store.hget("clima:stats", "applied") == "3"


def _answers(sentinel: "valkey.Valkey") -> bool:
    try:
        return sentinel.execute_command("SENTINEL", "get-master-addr-by-name", "clima-test")
    except valkey.exceptions.ConnectionError:
        return False
