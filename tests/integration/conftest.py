"""Real Kafka, RabbitMQ and Valkey, started by tools/local/infra.sh, and the real services."""

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import valkey

from clima.local import LocalPipeline, Ports, read_infra_env

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("CLIMA_STATE_DIR", ROOT / ".state"))
TEST_DB = 1  # `make up` uses db 0; tests never touch it


@pytest.fixture(scope="session")
def infra() -> dict[str, str]:
    """Starts (or reuses) the brokers and Valkey; returns their addresses for the services."""
    subprocess.run([ROOT / "tools/local/infra.sh", "up"], check=True)
    env = read_infra_env(STATE / "infra" / "env")
    env["VALKEY_SERVICE_URL"] = env["VALKEY_SERVICE_URL"].rsplit("/", 1)[0] + f"/{TEST_DB}"
    return env


@pytest.fixture
def store(infra: dict[str, str]) -> Iterator["valkey.Valkey"]:
    """A client on the tests' Valkey database, emptied before each test."""
    client = valkey.Valkey.from_url(infra["VALKEY_SERVICE_URL"], decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def names() -> dict[str, str]:
    """Topic, queue and group names of this test alone, so tests never see each other's data."""
    uid = uuid.uuid4().hex[:8]
    return {
        "CLIMA_KAFKA_TOPIC": f"clima-{uid}",
        "CLIMA_RABBIT_QUEUE": f"clima-{uid}",
        "CLIMA_CONSUMER_KAFKA_GROUP": f"clima-{uid}",
    }


@pytest.fixture
def pipeline_factory(
    infra: dict[str, str], names: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[str], LocalPipeline]]:
    """Starts the real api, proxy, writer and consumers in a mode; stops them after the test."""
    started: list[LocalPipeline] = []

    def start(mode: str) -> LocalPipeline:
        pipeline = LocalPipeline(mode, {**infra, **names}, tmp_path / "logs", Ports.free())
        started.append(pipeline)
        pipeline.start()
        return pipeline

    yield start
    for pipeline in started:
        codes = pipeline.stop()
        assert all(code == 0 for code in codes.values()), f"unclean exit: {codes}"
