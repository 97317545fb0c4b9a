"""External stores over TLS: the URLs and Kafka settings the pods get, the CA bundles they
mount, Grafana's data source, and the Secrets a pipeline must be allowed to use."""

from __future__ import annotations

from typing import Any

import yaml

from clima_operator import access
from clima_operator.children import desired, grafana

TLS = {"enabled": True, "caSecretRef": {"name": "store-ca"}}
SPEC = {
    "mode": "both",
    "kafka": {"type": "external", "external": {
        "address": "k1:9093,k2:9093", "tls": TLS,
        "sasl": {"username": "svc", "secretRef": {"name": "kafka-pw"}}}},
    "rabbitmq": {"type": "external", "external": {
        "address": "mq.example", "tls": {"enabled": True}, "secretRef": {"name": "mq-pw"}}},
    "valkey": {"type": "external", "external": {
        "address": "v.example:6380", "tls": TLS, "secretRef": {"name": "v-pw"}}},
}  # fmt: skip


def _container(ctx: Any, name: str) -> dict[str, Any]:
    (deployment,) = [
        o for o in desired(ctx) if o["kind"] == "Deployment" and o["metadata"]["name"] == name
    ]
    pod = deployment["spec"]["template"]["spec"]
    container: dict[str, Any] = pod["containers"][0]
    container["_volumes"] = pod["volumes"]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_consumers_get_tls_urls_and_their_ca_bundles(make_ctx: Any) -> None:
    ctx = make_ctx(SPEC)
    kafka = _env(_container(ctx, "demo-kafka-consumer"))
    assert kafka["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert kafka["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert kafka["KAFKA_USERNAME"] == "svc"
    assert kafka["KAFKA_PASSWORD"] == {"secretKeyRef": {"name": "kafka-pw", "key": "password"}}
    assert kafka["KAFKA_CA_FILE"] == "/etc/clima/tls/kafka/ca.crt"
    assert kafka["VALKEY_SERVICE_URL"] == (
        "rediss://:$(VALKEY_PASSWORD)@v.example:6380/0?ssl_ca_certs=/etc/clima/tls/valkey/ca.crt"
    )
    rabbit = _env(_container(ctx, "demo-rabbit-consumer"))
    assert rabbit["RABBITMQ_URL"] == "amqps://clima:$(RABBITMQ_PASSWORD)@mq.example:5671/"
    container = _container(ctx, "demo-kafka-consumer")
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/etc/clima/tls/kafka", "/etc/clima/tls/valkey"} <= mounts
    volume = next(v for v in container["_volumes"] if v["name"] == "tls-kafka")
    assert volume["secret"] == {"secretName": "store-ca",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}]}  # fmt: skip
    writer = _container(ctx, "demo-writer")
    assert {m["mountPath"] for m in writer["volumeMounts"]} == {"/tmp", "/etc/clima/tls/kafka"}


def test_without_tls_nothing_changes(make_ctx: Any) -> None:
    plain = {**SPEC, "valkey": {"type": "external", "external": {
        "address": "v.example", "secretRef": {"name": "v-pw"}}}}  # fmt: skip
    env = _env(_container(make_ctx(plain), "demo-kafka-consumer"))
    assert env["VALKEY_SERVICE_URL"] == "redis://:$(VALKEY_PASSWORD)@v.example:6379/0"


def test_grafana_verifies_valkey_with_the_bundle(make_ctx: Any) -> None:
    ctx = make_ctx(SPEC)
    source = yaml.safe_load(grafana.datasources(ctx)["clima-valkey.yaml"])["datasources"][0]
    assert source["jsonData"]["tlsAuth"] is True
    assert source["jsonData"]["tlsSkipVerify"] is False
    assert source["secureJsonData"]["tlsCACert"] == "$__file{/etc/clima/tls/valkey/ca.crt}"
    mounts = {m["mountPath"] for m in _container(ctx, "demo-grafana")["volumeMounts"]}
    assert "/etc/clima/tls/valkey" in mounts


def test_every_referenced_secret_must_allow_the_pipeline(make_ctx: Any) -> None:
    fields = [path for path, _ in access.secret_refs(make_ctx(SPEC).spec)]
    assert fields == [
        "spec.kafka.external.sasl.secretRef",
        "spec.rabbitmq.external.secretRef",
        "spec.valkey.external.secretRef",
        "spec.kafka.external.tls.caSecretRef",
        "spec.valkey.external.tls.caSecretRef",
    ]
