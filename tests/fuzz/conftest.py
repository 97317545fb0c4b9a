"""The fuzz suites share the fault suite's private infra instance and its helpers."""

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
from clima_faults_support import INFRA, STATE, names

from clima.local import LocalPipeline, Ports


@pytest.fixture(scope="session")
def infra() -> Iterator[dict[str, str]]:
    """Starts the private instance (once for faults and fuzz) and stops it at the end."""
    env = INFRA.acquire()
    yield env
    INFRA.release()


@pytest.fixture(scope="session")
def pipeline(infra: dict[str, str]) -> Iterator[LocalPipeline]:
    """The real services in `both` mode, shared by the fuzz tests, on Valkey database 2."""
    env = {**infra, **names("fuzz")}
    env["VALKEY_SERVICE_URL"] = env["VALKEY_SERVICE_URL"].rsplit("/", 1)[0] + "/2"
    valkey.Valkey.from_url(env["VALKEY_SERVICE_URL"]).flushdb()
    logs = STATE / "logs" / "fuzz"
    shutil.rmtree(logs, ignore_errors=True)
    pipeline = LocalPipeline("both", env, logs, Ports.free())
    pipeline.start()
    yield pipeline
    codes = pipeline.stop()
    assert all(code == 0 for code in codes.values()), f"unclean exit: {codes}"


@pytest.fixture(scope="session")
def store(pipeline: LocalPipeline) -> Iterator["valkey.Valkey"]:
    """A client on the fuzz pipeline's Valkey database."""
    client = valkey.Valkey.from_url(pipeline.env["VALKEY_SERVICE_URL"], decode_responses=True)
    yield client
    client.close()
