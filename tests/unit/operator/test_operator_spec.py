"""The spec model: defaults, bounds and cross-field rules, with errors naming the field."""

from __future__ import annotations

import pytest

from clima_operator.errors import InvalidSpecError
from clima_operator.spec import parse_spec, validate_name


def test_empty_spec_gets_every_default() -> None:
    """An empty spec is complete: mode both, managed brokers, Grafana on, one replica each."""
    spec = parse_spec({})
    assert spec.mode == "both"
    assert spec.image is None  # the operator fills in its own image
    assert (spec.kafka.type, spec.rabbitmq.type, spec.valkey.type) == ("managed",) * 3
    assert spec.grafana.enabled
    assert not spec.ingress.enabled
    assert not spec.suspend
    assert spec.writer.replicas == 1
    assert spec.kafka.managed.storage.size == "5Gi"
    assert spec.retention.stream_max_len == 10000


def test_camel_case_fields_are_read() -> None:
    """Fields arrive camelCase from the API server and land in the model."""
    spec = parse_spec(
        {
            "kafkaConsumer": {"replicas": 3},
            "api": {"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": 55}},
            "retention": {"streamMaxLen": 500},
        }
    )
    assert spec.kafka_consumer.replicas == 3
    assert spec.api.autoscaling.target_cpu_utilization_percentage == 55
    assert spec.retention.stream_max_len == 500


def test_integer_quantities_are_accepted() -> None:
    """``cpu: 1`` is as valid as ``cpu: "1"``, as in any pod spec."""
    spec = parse_spec({"writer": {"resources": {"requests": {"cpu": 1, "memory": "1Gi"}}}})
    assert spec.writer.resources.requests is not None
    assert spec.writer.resources.requests.cpu == "1"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"mode": "carrier-pigeon"}, "spec.mode"),
        ({"writer": {"replicas": -1}}, "spec.writer.replicas"),
        ({"proxy": {"replicas": 101}}, "spec.proxy.replicas"),
        ({"kafka": {"type": "external"}}, "spec.kafka"),
        ({"rabbitmq": {"type": "external", "external": {"address": "mq:5672"}}}, "spec.rabbitmq"),
        ({"valkey": {"type": "external", "external": {"address": "kv"}}}, "spec.valkey"),
        ({"api": {"autoscaling": {"minReplicas": 6, "maxReplicas": 2}}}, "spec.api.autoscaling"),
        ({"writer": {"resources": {"limits": {"memory": "lots"}}}}, "spec.writer.resources"),
        ({"ingress": {"tlsSecretName": "tls"}}, "spec.ingress"),
        ({"kafka": {"external": {"address": "no port"}}}, "spec.kafka.external.address"),
        ({"grafana": {"pluginUrl": "ftp://x/p.zip"}}, "spec.grafana.pluginUrl"),
        ({"grafana": {"pluginUrl": "http://x/a.zip;other"}}, "spec.grafana.pluginUrl"),
    ],
)
def test_invalid_spec_names_the_field(raw: dict[str, object], field: str) -> None:
    """Each invalid spec is refused with an error whose field points at the culprit."""
    with pytest.raises(InvalidSpecError) as caught:
        parse_spec(raw)
    assert caught.value.field.startswith(field)
    assert str(caught.value).startswith(caught.value.field + ": ")


@pytest.mark.parametrize(("mode", "broker"), [("kafka", "kafka"), ("random", "rabbitmq")])
def test_mode_needs_its_broker(mode: str, broker: str) -> None:
    """A mode that sends to a broker refuses that broker being disabled, saying which."""
    with pytest.raises(InvalidSpecError, match=f"{broker}.type must not be disabled"):
        parse_spec({"mode": mode, broker: {"type": "disabled"}})


def test_unused_broker_may_be_disabled() -> None:
    """Mode kafka runs without RabbitMQ at all."""
    spec = parse_spec({"mode": "kafka", "rabbitmq": {"type": "disabled"}})
    assert spec.uses_kafka
    assert not spec.uses_rabbit


@pytest.mark.parametrize("name", ["x" * 41, "1abc", "has.dot", "Upper"])
def test_unusable_names_are_refused(name: str) -> None:
    """Names that would make invalid child Service names are refused, naming metadata.name."""
    with pytest.raises(InvalidSpecError) as caught:
        validate_name(name)
    assert caught.value.field == "metadata.name"


def test_usable_name_passes() -> None:
    """A DNS-1035 label of 40 characters is fine."""
    validate_name("a" * 39 + "b")


def test_empty_image_becomes_the_operators_own() -> None:
    """A pipeline without spec.image runs the image the operator was given, and only then."""
    assert parse_spec({}, "r.example/clima/clima:9").image == "r.example/clima/clima:9"
    assert parse_spec({"image": "mine:1"}, "r.example/clima/clima:9").image == "mine:1"
