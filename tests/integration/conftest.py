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
# `make test` names its own instance's script (tools/dev/test-infra.sh, which it stops at the
# end); run by hand, the suite starts or reuses `make up`'s.
INFRA_SH = Path(os.environ.get("CLIMA_INFRA_SH", ROOT / "tools/local/infra.sh"))
TEST_DB = 1  # `make up` uses db 0; tests never touch it


def infra_config() -> dict[str, str]:
    """What the instance uses: its state folder, env file and ports (``infra.sh config``)."""
    done = subprocess.run([INFRA_SH, "config"], check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


@pytest.fixture(scope="session")
def infra_sh() -> Path:
    """The script that runs the instance the suite uses (see INFRA_SH)."""
    return INFRA_SH


@pytest.fixture(scope="session")
def infra() -> dict[str, str]:
    """Starts (or reuses) the brokers and Valkey; returns their addresses for the services."""
    subprocess.run([INFRA_SH, "up"], check=True)
    env = read_infra_env(Path(infra_config()["env"]))
    env["VALKEY_SERVICE_URL"] = env["VALKEY_SERVICE_URL"].rsplit("/", 1)[0] + f"/{TEST_DB}"
    return env


@pytest.fixture(scope="session")
def infra_settings(infra: dict[str, str]) -> dict[str, str]:
    """What ``infra.sh config`` says of the running instance: its ports, Kafka's folder and
    Java, the RabbitMQ TLS listener's CA."""
    return infra_config()


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
