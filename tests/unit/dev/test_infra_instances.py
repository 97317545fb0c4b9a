"""The local Kafka/RabbitMQ/Valkey instances never share a port or a state folder: `make up`'s,
`make test`'s, the fault and fuzz suites' and the benchmarks'. Each set is what its script
reports it would use (``infra.sh config``), not a copy of its numbers."""

import os
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
INFRA_SH = ROOT / "tools" / "local" / "infra.sh"
TEST_INFRA_SH = ROOT / "tools" / "dev" / "test-infra.sh"
PORT_KEYS = ("kafka", "kafka-controller", "rabbit", "rabbit-dist", "epmd", "valkey")
NODE_PORTS_START = 30000  # Kubernetes NodePorts (30000-32767), then the ephemeral range


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any instance setting, plus `extra`."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("CLIMA_")}
    return {**kept, **extra}


def _config(script: Path, env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        ["bash", str(script), "config"], env=env, check=True, capture_output=True, text=True
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


def _faults_env() -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "tests" / "faults"))
    try:
        import clima_faults_support as faults  # noqa: PLC0415
    finally:
        sys.path.pop(0)
    return {"CLIMA_STATE_DIR": str(faults.STATE), **faults.PORTS}


def _bench_env() -> dict[str, str]:
    from bench.run import INFRA_ENV  # noqa: PLC0415

    return dict(INFRA_ENV)


@pytest.fixture(scope="module")
def instances() -> dict[str, dict[str, str]]:
    """Every instance's state folder and ports, as its script would use them."""
    return {
        "make up": _config(INFRA_SH, _clean_env()),
        "make test": _config(TEST_INFRA_SH, _clean_env()),
        "faults and fuzz": _config(INFRA_SH, _clean_env(**_faults_env())),
        "bench": _config(INFRA_SH, _clean_env(**_bench_env())),
    }


def test_no_two_instances_share_a_port(instances: dict[str, dict[str, str]]) -> None:
    """A port of one instance is never a port of another, nor twice in one."""
    for name, config in instances.items():
        ports = [config[k] for k in PORT_KEYS]
        assert len(set(ports)) == len(ports), f"{name} uses a port twice: {config}"
    for (a, one), (b, other) in combinations(instances.items(), 2):
        shared = {one[k] for k in PORT_KEYS} & {other[k] for k in PORT_KEYS}
        assert not shared, f"{a} and {b} both use {sorted(shared)}"


def test_no_two_instances_share_a_state_folder(instances: dict[str, dict[str, str]]) -> None:
    """Each instance keeps its data, pid files and credentials in a folder of its own."""
    folders = [Path(c["state"]).resolve() for c in instances.values()]
    assert len(set(folders)) == len(folders), folders


def test_ports_lie_below_node_ports_and_ephemeral_ones(
    instances: dict[str, dict[str, str]],
) -> None:
    """No port can be held by an outgoing connection or a Kubernetes NodePort on restart."""
    for name, config in instances.items():
        for key in PORT_KEYS:
            assert int(config[key]) < NODE_PORTS_START, f"{name}: {key}={config[key]}"


def test_make_up_s_port_settings_do_not_move_the_test_run_s(tmp_path: Path) -> None:
    """Ports and state folder exported for `make up` leave `make test`'s instance where it is;
    its own CLIMA_TEST_* settings move it."""
    make_up = _clean_env(CLIMA_KAFKA_PORT="9092", CLIMA_STATE_DIR=str(tmp_path))
    assert _config(TEST_INFRA_SH, make_up) == _config(TEST_INFRA_SH, _clean_env())
    moved = _config(TEST_INFRA_SH, _clean_env(CLIMA_TEST_VALKEY_PORT="27999"))
    assert moved["valkey"] == "27999"
