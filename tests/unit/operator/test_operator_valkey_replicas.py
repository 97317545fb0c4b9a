"""spec.valkey.managed.replicas: one node as before, or a primary with replicas and a
Sentinel in every pod. The start script's choice (replica of whom, primary, or wait) is run
by sh against stand-ins for valkey-cli and valkey-server."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from clima_operator.children import Context, Passwords, desired, grafana, network, valkey
from clima_operator.errors import InvalidSpecError
from clima_operator.spec import parse_spec

Build = Callable[..., Context]
HOST = "demo-valkey-{}.demo-valkey.ns.svc"
FAKE_CLI = """#!/bin/sh
host=""; port=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h) host=$2; shift 2;; -p) port=$2; shift 2;; -t) shift 2;; --no-auth-warning) shift;;
    *) break;;
  esac
done
[ -f "$FAKE/$port/$host" ] && cat "$FAKE/$port/$host" && exit 0
exit 1
"""
FAKE_SERVER = '#!/bin/sh\necho "serve $*"\n'
NOAUTH = "NOAUTH Authentication required."


def _spec(replicas: int) -> dict[str, Any]:
    return {"mode": "kafka", "valkey": {"managed": {"replicas": replicas}}}


def _by_name(ctx: Context, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in desired(ctx) if o["kind"] == kind}


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container["env"]}


def test_one_node_runs_as_before_and_the_consumers_go_straight_to_it(make_ctx: Build) -> None:
    ctx = make_ctx(_spec(1))
    sts = _by_name(ctx, "StatefulSet")["demo-valkey"]
    containers = sts["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["valkey"]
    assert containers[0]["command"] == valkey.COMMAND
    consumer = _by_name(ctx, "Deployment")["demo-kafka-consumer"]
    env = _env(consumer["spec"]["template"]["spec"]["containers"][0])
    assert "VALKEY_SENTINELS" not in env
    assert "CLIMA_VALKEY_WAIT_REPLICAS" not in env


def test_a_replicated_valkey_has_a_sentinel_per_pod_and_consumers_use_them(
    make_ctx: Build,
) -> None:
    """Three pods, each a node and a Sentinel; the consumers (and a drain Job built from
    them) ask the Sentinels for the primary and need one replica to confirm an apply."""
    ctx = make_ctx(_spec(3))
    sts = _by_name(ctx, "StatefulSet")["demo-valkey"]
    assert sts["spec"]["replicas"] == 3
    containers = sts["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["valkey", "sentinel"]
    secret = _by_name(ctx, "Secret")["demo-valkey-config"]
    files = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert "masterauth" in files[valkey.CONFIG_FILE]
    sentinel = files[valkey.SENTINEL_FILE]
    assert f"sentinel monitor clima {HOST.format(0)} 6379 2" in sentinel
    assert "requirepass" in sentinel
    assert "sentinel auth-pass clima" in sentinel
    consumer = _by_name(ctx, "Deployment")["demo-kafka-consumer"]
    env = _env(consumer["spec"]["template"]["spec"]["containers"][0])
    assert env["VALKEY_SENTINELS"] == ",".join(f"{HOST.format(i)}:26379" for i in range(3))
    assert env["VALKEY_PRIMARY_NAME"] == "clima"
    assert env["CLIMA_VALKEY_WAIT_REPLICAS"] == "1"
    service = _by_name(ctx, "Service")["demo-valkey"]
    assert {p["port"] for p in service["spec"]["ports"]} == {6379, 26379}
    assert service["spec"]["publishNotReadyAddresses"] is True


def test_network_policies_admit_the_peers_of_every_replicated_store(make_ctx: Build) -> None:
    spec = {"mode": "both", **{k: {"managed": {"replicas": 3}} for k in
                               ("kafka", "rabbitmq", "valkey")}}  # fmt: skip
    admitted = network.admissions(make_ctx(spec))

    def sources(component: str, port: int) -> set[str]:
        return {s for a in admitted[component] if a.port == port for s in a.sources or ()}

    assert "kafka" in sources("kafka", 9092)
    assert "kafka" in sources("kafka", 9093)
    assert "rabbitmq" in sources("rabbitmq", 4369)
    assert "rabbitmq" in sources("rabbitmq", 25672)
    assert "valkey" in sources("valkey", 6379)
    assert {"valkey", "kafka-consumer", "rabbit-consumer"} <= sources("valkey", 26379)
    single = network.admissions(make_ctx({"mode": "both"}))
    assert all(s != c for c, rules in single.items() for a in rules for s in a.sources or ())


def _run(ctx: Context, tmp: Path, pod: int, answers: dict[int, str], keys: dict[int, int | str],
         has_data: bool) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """The server script as pod ``pod`` runs it: ``answers`` per Sentinel (by pod), the key
    count per node, and whether this pod's disk has data."""
    fake, bin_dir, data = tmp / "fake", tmp / "bin", tmp / "data"
    for folder in (fake / "26379", fake / "6379", bin_dir, data):
        folder.mkdir(parents=True, exist_ok=True)
    for ordinal, answer in answers.items():
        (fake / "26379" / HOST.format(ordinal)).write_text(f"{answer}\n6379\n")
    for ordinal, count in keys.items():
        (fake / "6379" / HOST.format(ordinal)).write_text(f"{count}\n")
    if has_data:
        (data / "appendonlydir").mkdir(exist_ok=True)
    for name, text in (("valkey-cli", FAKE_CLI), ("valkey-server", FAKE_SERVER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    script = valkey.server_script(ctx).replace(f"{valkey.DATA_DIR}/", f"{data}/")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE": str(fake),
           valkey.POD_NAME_ENV: f"demo-valkey-{pod}"}  # fmt: skip
    try:
        return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                              timeout=3, check=True)  # fmt: skip
    except subprocess.TimeoutExpired as waited:
        out = waited.stdout.decode() if isinstance(waited.stdout, bytes) else waited.stdout
        return subprocess.CompletedProcess([], -1, out or "", "")


@pytest.mark.parametrize(
    ("pod", "answers", "keys", "has_data", "expected"),
    [
        # the Sentinels name another node: replicate it
        (0, {1: HOST.format(2), 2: HOST.format(2)}, {}, True, f"--replicaof {HOST.format(2)}"),
        # a majority decides when the Sentinels disagree
        (
            1,
            {0: HOST.format(0), 1: HOST.format(2), 2: HOST.format(2)},
            {},
            False,
            f"--replicaof {HOST.format(2)}",
        ),
        # no Sentinel answers yet (a new cluster): pod 0 leads, the others replicate it
        (2, {}, {}, False, f"--replicaof {HOST.format(0)}"),
        (0, {}, {}, False, "PRIMARY"),
        # named primary with its data on disk (a restart): primary again
        (0, {1: HOST.format(0), 2: HOST.format(0)}, {1: 50}, True, "PRIMARY"),
        # named primary on an empty disk while a peer has the data: never serve, wait
        (0, {1: HOST.format(0), 2: HOST.format(0)}, {1: 50, 2: 50}, False, "WAIT"),
        # named primary on an empty disk and no peer has data either: nothing to lose
        (0, {1: HOST.format(0)}, {1: 0, 2: 0}, False, "PRIMARY"),
        # Sentinels on another password answer errors: no answer, never a primary's name
        (1, {0: NOAUTH, 2: NOAUTH}, {}, False, f"--replicaof {HOST.format(0)}"),
        (1, {0: NOAUTH, 2: HOST.format(2)}, {}, False, f"--replicaof {HOST.format(2)}"),
        # a peer that answers DBSIZE with an error may hold data: an empty disk waits
        (0, {1: HOST.format(0)}, {1: NOAUTH, 2: 0}, False, "WAIT"),
    ],
)
def test_a_starting_node_replicates_the_named_primary_and_never_serves_an_empty_disk(
    make_ctx: Build, tmp_path: Path, pod: int, answers: dict[int, str],
    keys: dict[int, int | str], has_data: bool, expected: str,
) -> None:  # fmt: skip
    done = _run(make_ctx(_spec(3)), tmp_path, pod, answers, keys, has_data)
    served = [line for line in done.stdout.splitlines() if line.startswith("serve ")]
    me = f"--replica-announce-ip {HOST.format(pod)}"
    if expected == "WAIT":
        assert served == [], done.stdout
        assert "waiting for the Sentinels" in done.stdout
        return
    assert len(served) == 1, done.stdout
    assert me in served[0]
    if expected == "PRIMARY":
        assert "--replicaof" not in served[0], served
    else:
        assert served[0].endswith(f"{expected} 6379"), served


def test_the_sentinel_keeps_its_own_copy_with_its_own_name(make_ctx: Build, tmp_path: Path) -> None:
    """First start: the shared file plus this pod's announce name; later starts keep the
    copy the Sentinel has rewritten, all but its password lines, which come from the shared
    file again (a rotated password reaches a Sentinel whose state lives on)."""
    ctx = make_ctx(_spec(3))
    shared = tmp_path / "config"
    shared.mkdir()
    (shared / valkey.SENTINEL_FILE).write_text(valkey.sentinel_file(ctx, Passwords.single("pw")))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "valkey-server").write_text(FAKE_SERVER)
    (bin_dir / "valkey-server").chmod(0o755)
    own_dir = tmp_path / "data" / "sentinel"
    script = valkey.sentinel_script(ctx).replace(valkey.SENTINEL_DIR, str(own_dir))
    script = script.replace(valkey.CONFIG_DIR, str(shared))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", valkey.POD_NAME_ENV: "demo-valkey-1"}
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    own = own_dir / valkey.SENTINEL_FILE
    assert done.stdout.strip() == f"serve {own} --sentinel"
    assert f"sentinel announce-ip {HOST.format(1)}\n" in own.read_text()
    assert 'requirepass "pw"\n' in own.read_text()
    own.write_text(
        "sentinel monitor clima demo-valkey-2 6379 2\n"
        'requirepass "old"\n'
        "user default on sanitize-payload #0123abcd ~* &* +@all\n"
        "sentinel auth-pass clima old\n"
    )
    (shared / valkey.SENTINEL_FILE).write_text(valkey.sentinel_file(ctx, Passwords.single("new")))
    subprocess.run(["sh", "-c", script], env=env, capture_output=True, check=True)
    assert own.read_text() == (
        "sentinel monitor clima demo-valkey-2 6379 2\n"
        'requirepass "new"\n'
        'sentinel auth-pass clima "new"\n'
    )


@pytest.mark.parametrize("replicas", [0, 10])
def test_replicas_out_of_range_are_refused_by_name(replicas: int) -> None:
    with pytest.raises(InvalidSpecError, match=r"spec\.valkey\.managed\.replicas"):
        parse_spec(_spec(replicas))


def test_grafana_asks_the_sentinels_for_the_primary(make_ctx: Build) -> None:
    replicated = yaml.safe_load(grafana.datasources(make_ctx(_spec(3)))["clima-valkey.yaml"])
    source = replicated["datasources"][0]
    assert source["jsonData"] == {"client": "sentinel", "sentinelName": "clima"}
    assert source["url"] == ",".join(f"{HOST.format(i)}:26379" for i in range(3))
    assert set(source["secureJsonData"]) == {"password", "sentinelPassword"}
    single = yaml.safe_load(grafana.datasources(make_ctx(_spec(1)))["clima-valkey.yaml"])
    assert single["datasources"][0]["jsonData"] == {"client": "standalone"}
