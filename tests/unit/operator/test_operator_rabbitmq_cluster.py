"""spec.rabbitmq.managed.replicas: one node with classic queues as before, or a cluster of
named peers sharing a cookie, whose queues are quorum queues everywhere they are declared."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORDS

from clima_operator.children import Context, credentials, desired, placement, rabbitmq
from clima_operator.errors import InvalidSpecError
from clima_operator.spec import parse_spec

Build = Callable[..., Context]
QUEUE_TYPE = "CLIMA_RABBIT_QUEUE_TYPE"


def _spec(replicas: int, **extra: Any) -> dict[str, Any]:
    return {"mode": "rabbit", "rabbitmq": {"managed": {"replicas": replicas}}, **extra}


def _by_name(ctx: Context, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in desired(ctx) if o["kind"] == kind}


def _env(workload: dict[str, Any]) -> dict[str, Any]:
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container["env"]}


def _config(ctx: Context) -> str:
    secret = _by_name(ctx, "Secret")["demo-rabbitmq-config"]
    return base64.b64decode(secret["data"][rabbitmq.CONFIG_FILE]).decode()


def test_one_node_keeps_classic_queues_and_its_plain_start(make_ctx: Build) -> None:
    ctx = make_ctx(_spec(1))
    sts = _by_name(ctx, "StatefulSet")["demo-rabbitmq"]
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["template"]["spec"]["containers"][0]["command"] == ["rabbitmq-server"]
    assert "RABBITMQ_NODENAME" not in _env(sts)
    assert len(sts["spec"]["template"]["spec"]["containers"]) == 1
    assert "cluster_formation" not in _config(ctx)
    for name in ("demo-writer", "demo-rabbit-consumer"):
        assert QUEUE_TYPE not in _env(_by_name(ctx, "Deployment")[name])


def test_a_cluster_lists_every_peer_by_its_stable_name(make_ctx: Build) -> None:
    """Three nodes, each named by its pod's DNS name, all listed for peer discovery; the
    minority pauses; quorum queues are kept at three members."""
    ctx = make_ctx(_spec(3))
    config = _config(ctx)
    assert "cluster_formation.peer_discovery_backend = classic_config" in config
    for ordinal in range(3):
        node = f"rabbit@demo-rabbitmq-{ordinal}.demo-rabbitmq.ns.svc"
        assert f"cluster_formation.classic_config.nodes.{ordinal + 1} = {node}" in config
    assert "cluster_partition_handling = pause_minority" in config
    assert "membership_reconciliation" not in config  # RabbitMQ 3.13 would refuse to start
    sts = _by_name(ctx, "StatefulSet")["demo-rabbitmq"]
    assert sts["spec"]["replicas"] == 3
    env = _env(sts)
    assert env["RABBITMQ_USE_LONGNAME"] == "true"
    assert env["RABBITMQ_NODENAME"] == "rabbit@$(CLIMA_POD_NAME).demo-rabbitmq.ns.svc"
    members = sts["spec"]["template"]["spec"]["containers"][1]
    assert members["name"] == "members"
    assert 'grow "$RABBITMQ_NODENAME" all' in members["command"][2]
    own = {v["name"]: v.get("value", v.get("valueFrom")) for v in members["env"]}
    assert own["RABBITMQ_NODENAME"] == env["RABBITMQ_NODENAME"]  # the node beside it
    assert {"name": "data", "mountPath": rabbitmq.DATA_DIR} in members["volumeMounts"]
    assert env[rabbitmq.COOKIE_ENV] == {
        "secretKeyRef": {"name": "demo-credentials", "key": credentials.ERLANG_COOKIE}
    }
    names = [v["name"] for v in sts["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert names.index(rabbitmq.POD_NAME_ENV) < names.index("RABBITMQ_NODENAME")  # $(..) order
    service = _by_name(ctx, "Service")["demo-rabbitmq"]
    assert service["spec"]["publishNotReadyAddresses"] is True
    budgets = {b["metadata"]["name"] for b in placement.budgets(ctx, desired(ctx))}
    assert "demo-rabbitmq" in budgets


def test_every_process_of_a_cluster_declares_quorum_queues(make_ctx: Build) -> None:
    """The writer, the consumer and the drain Job built from it all read the same type."""
    ctx = make_ctx(_spec(3))
    deployments = _by_name(ctx, "Deployment")
    for name in ("demo-writer", "demo-rabbit-consumer"):
        assert _env(deployments[name])[QUEUE_TYPE] == "quorum", name


def test_an_external_cluster_may_ask_for_quorum_queues(make_ctx: Build) -> None:
    ctx = make_ctx(
        {"mode": "rabbit", "rabbitmq": {"type": "external", "external": {
            "address": "mq.example:5672", "secretRef": {"name": "mq"}, "queueType": "quorum"}}}
    )  # fmt: skip
    assert _env(_by_name(ctx, "Deployment")["demo-writer"])[QUEUE_TYPE] == "quorum"
    assert "demo-rabbitmq" not in _by_name(ctx, "StatefulSet")


def test_the_cookie_is_written_owner_read_only_then_the_node_runs(
    make_ctx: Build, tmp_path: Path
) -> None:
    """The start script, run by sh with the cookie file in a temporary folder and
    ``rabbitmq-server`` replaced: the cookie has mode 400 and the value of the Secret, also
    when an older cookie (mode 400) is there."""
    ctx = make_ctx(_spec(3))
    sts = _by_name(ctx, "StatefulSet")["demo-rabbitmq"]
    script = sts["spec"]["template"]["spec"]["containers"][0]["command"][2]
    cookie = tmp_path / ".erlang.cookie"
    cookie.write_text("old")
    cookie.chmod(0o400)
    script = script.replace(rabbitmq.COOKIE_FILE, str(cookie))
    script = script.replace("exec rabbitmq-server", "echo started")
    done = subprocess.run(
        ["sh", "-c", script], env={"PATH": "/usr/bin:/bin", rabbitmq.COOKIE_ENV: "s3cr3t-Cookie"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "started"
    assert cookie.read_text() == "s3cr3t-Cookie"
    assert cookie.stat().st_mode & 0o777 == 0o400


def test_a_rotated_cookie_restarts_the_nodes(make_ctx: Build) -> None:
    def digest(cookie: str) -> str:
        secrets = {**_passwords(), credentials.ERLANG_COOKIE: cookie}
        sts = _by_name(make_ctx(_spec(3), credentials=secrets), "StatefulSet")["demo-rabbitmq"]
        annotations: dict[str, str] = sts["spec"]["template"]["metadata"]["annotations"]
        return next(v for k, v in annotations.items() if k.endswith("config-checksum"))

    assert digest("one") != digest("two")


def _passwords() -> dict[str, str]:
    return {key: f"{key}-value" for key in credentials.KEYS}


@pytest.mark.parametrize("replicas", [0, 10])
def test_replicas_out_of_range_are_refused_by_name(replicas: int) -> None:
    with pytest.raises(InvalidSpecError, match=r"spec\.rabbitmq\.managed\.replicas"):
        parse_spec(_spec(replicas))


def _definitions(ctx: Context) -> dict[str, Any]:
    secret = _by_name(ctx, "Secret")["demo-rabbitmq-config"]
    return dict(json.loads(base64.b64decode(secret["data"][rabbitmq.DEFINITIONS_FILE])))


@pytest.mark.parametrize("replicas", [1, 3])
def test_every_start_imports_the_user_with_the_secrets_password(
    make_ctx: Build, replicas: int
) -> None:
    """rabbitmq.conf loads definitions.json, mounted beside it, whose user clima has the
    password of the credentials Secret in RabbitMQ's salted SHA-256 form: a rotated password
    takes effect when the nodes restart, not on a fresh disk only. The file is the same on
    every pass with the same password and changes with it."""
    ctx = make_ctx(_spec(replicas))
    assert f"load_definitions = {rabbitmq.CONFIG_DIR}/{rabbitmq.DEFINITIONS_FILE}\n" in _config(ctx)
    (user,) = _definitions(ctx)["users"]
    assert (user["name"], user["hashing_algorithm"]) == ("clima", "rabbit_password_hashing_sha256")
    stored = base64.b64decode(user["password_hash"])
    salt, digest = stored[:4], stored[4:]
    assert digest == hashlib.sha256(salt + b"rabbit-pw").digest()
    assert _definitions(ctx)["permissions"] == [
        {"user": "clima", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    ]
    assert _definitions(make_ctx(_spec(replicas))) == _definitions(ctx)
    rotated = make_ctx(_spec(replicas), credentials={**PASSWORDS, "rabbitmq-password": "new"})
    assert _definitions(rotated)["users"][0]["password_hash"] != user["password_hash"]
