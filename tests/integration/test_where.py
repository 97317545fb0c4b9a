"""The Valkey commands `make up` prints work as printed, against the real Valkey: the env file
they source authenticates valkey-cli (8.0 answers NOAUTH to a `redis://:password@` URL)."""

import os
import subprocess
from pathlib import Path

import pytest
import valkey

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _printed(infra_sh: Path) -> list[str]:
    """The Valkey lines of tools/dev/where.sh: the env file to source, then the commands."""
    done = subprocess.run(
        ["bash", str(ROOT / "tools/dev/where.sh"), "both"],
        env={**os.environ, "CLIMA_INFRA_SH": str(infra_sh)},
        check=True,
        capture_output=True,
        text=True,
    )
    lines = done.stdout.splitlines()
    source = next(line for line in lines if "set -a;" in line)
    commands = [line.strip() for line in lines if line.strip().startswith("valkey-cli ")]
    assert len(commands) == 2, done.stdout
    return [source[source.index("set -a;") :], *commands]


def _run_as_printed(source: str, command: str, db: int) -> str:
    """Runs a printed command in a fresh shell from the checkout's root, as a reader would,
    with nothing of this process's environment but PATH and HOME."""
    # the tests' own database, not `make up`'s db 0 the lines name
    command = command.replace(" -n 0 ", f" -n {db} ")
    done = subprocess.run(
        ["bash", "-c", f"{source}\n{command}"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")},
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = done.stdout + done.stderr
    for refusal in ("NOAUTH", "WRONGPASS", "ERR"):
        assert refusal not in output, f"{command!r} answered: {output}"
    return done.stdout


def test_printed_valkey_commands_read_the_data(infra_sh: Path, store: valkey.Valkey) -> None:
    """Each printed valkey-cli line authenticates and reads what the consumers wrote."""
    store.hset("clima:weather_counts", mapping={"sunny": 3, "rainy": 1})
    store.xadd("clima:mixco", {"temperature": "21", "weather": "sunny"})
    db = store.connection_pool.connection_kwargs["db"]
    source, streams, counts = _printed(infra_sh)
    assert "21" in _run_as_printed(source, streams, db).split()
    assert _run_as_printed(source, counts, db).split() == ["sunny", "3", "rainy", "1"]
