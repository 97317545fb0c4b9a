"""The fault suite's own Kafka, RabbitMQ and Valkey, and the real pipeline on top of them."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from clima_faults_support import INFRA, ROWS, STATE, Pipelines, table


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Prints the scenario table and keeps it in the suite's state folder."""
    if not ROWS:
        return
    text = table(ROWS)
    terminalreporter.write_sep("=", "Clima fault scenarios")
    terminalreporter.write_line(text)
    (STATE / "faults-table.md").write_text(text + "\n")


@pytest.fixture(scope="session")
def infra() -> Iterator[dict[str, str]]:
    """Starts the private instance (once for faults and fuzz) and stops it at the end."""
    env = INFRA.acquire()
    yield env
    INFRA.release()


@pytest.fixture
def heal(infra: dict[str, str]) -> Iterator[set[str]]:
    """Components a test stops; whatever is still stopped when it ends is started again."""
    stopped: set[str] = set()
    yield stopped
    for component in sorted(stopped):
        INFRA.start(component)


@pytest.fixture
def log_dir(request: pytest.FixtureRequest) -> Path:
    """Where a test's service logs and load outcomes go: .state/faults/logs/<test>/ (emptied)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
    path = STATE / "logs" / safe
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture
def pipelines(
    infra: dict[str, str], log_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Pipelines]:
    """Starts real pipelines for a test; stops them after it, checking every exit code."""
    tag = request.node.name.split("[")[0].removeprefix("test_")[:20].replace("_", "-")
    started = Pipelines(infra, log_dir, tag)
    yield started
    codes = started.stop()
    assert all(code == 0 for c in codes for code in c.values()), f"unclean exit: {codes}"
