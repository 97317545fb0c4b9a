"""The local runner (`make up`, the integration, fault and fuzz suites, the bench) wires its
processes as the operator does: each settings class starts from the environment the runner
gives it, reads every variable, listens on the runner's ports and reaches its neighbour."""

from __future__ import annotations

from pathlib import Path

import pytest
from wiring_support import LISTENS, SETTINGS, check_reads

from clima import wiring
from clima.local._pipeline import LocalPipeline, Ports
from clima.view.settings import ViewSettings

#: What tools/local/infra.sh writes, as the suites hand it to the runner.
INFRA = {
    wiring.KAFKA_BROKER_ENV.name: "127.0.0.1:39092",
    wiring.RABBITMQ_URL_ENV.name: "amqp://clima:pw@127.0.0.1:35672/",
    wiring.VALKEY_URL_ENV.name: "redis://:pw@127.0.0.1:36379/0",
}


@pytest.mark.parametrize("mode", wiring.MODES)
@pytest.mark.parametrize("ports", [Ports(), Ports(*range(41000, 41007))], ids=["default", "free"])
def test_every_local_process_starts_its_settings_from_the_runner(mode: str, ports: Ports) -> None:
    """Each process's settings validate from the runner's environment, read every variable,
    listen on the runner's ports (which it also polls), and point at the next process."""
    pipeline = LocalPipeline(mode, dict(INFRA), Path("unused"), ports)
    listening: dict[str, dict[str, int]] = {}
    started = {}
    for process in pipeline.plan():
        env = {**pipeline.env, **process.env}
        classes = SETTINGS[tuple(process.args)]
        (main, *_) = started[process.name] = check_reads(
            process.name, classes, [], env, own=process.env
        )
        fields = LISTENS[type(main)]
        listening[process.name] = {name: getattr(main, field) for name, field in fields.items()}
        assert main.host == "127.0.0.1", f"{process.name} would listen beyond loopback"
        assert f":{listening[process.name]['http']}/" in process.ready_url, process.name
    consumers = [f"{broker}-consumer" for broker in wiring.brokers_of(mode)]
    assert list(started) == ["writer", "proxy", "api", *consumers]
    api, proxy, writer = started["api"][0], started["proxy"][0], started["writer"][0]
    assert api.upstream == f"127.0.0.1:{listening['proxy']['grpc']}"
    assert proxy.writer == f"127.0.0.1:{listening['writer']['grpc']}"
    assert writer.mode == mode
    probes = [listening[name]["http"] for name in listening]
    assert len(set(probes)) == len(probes), "two processes share an HTTP port"
    for name in consumers:
        consumer, store = started[name]
        assert consumer.kafka_topic == writer.kafka_topic
        assert consumer.rabbit_queue == writer.rabbit_queue
        assert consumer.kafka_partitions == writer.kafka_partitions
        assert store.valkey_url == INFRA[wiring.VALKEY_URL_ENV.name]


def test_the_local_view_reads_the_runners_port_and_valkey() -> None:
    """The view listens where the runner polls it and reads the Valkey the consumers write."""
    pipeline = LocalPipeline("both", dict(INFRA), Path("unused"))
    view = pipeline.view(41234)
    (settings,) = check_reads("view", [ViewSettings], [], {**INFRA, **view.env}, own=view.env)
    assert view.ready_url == f"http://{settings.host}:{settings.port}/"
    assert settings.valkey_url == INFRA[wiring.VALKEY_URL_ENV.name]
    assert ViewSettings.model_fields["port"].default == wiring.VIEW_PORT


def test_the_default_ports_are_the_ones_pods_use() -> None:
    """`make up` listens where a pod does (one host: the second consumer takes the next)."""
    ports = Ports()
    assert (ports.api, ports.proxy_http, ports.proxy_grpc) == (
        wiring.API_PORT,
        wiring.PROXY_HTTP_PORT,
        wiring.PROXY_GRPC_PORT,
    )
    assert (ports.writer, ports.writer_probe) == (wiring.WRITER_GRPC_PORT, wiring.WRITER_PROBE_PORT)
    assert ports.kafka_consumer_probe == wiring.CONSUMER_PROBE_PORT


def test_an_unknown_mode_is_refused_naming_the_modes() -> None:
    """A mode the writer does not know fails before any process starts."""
    with pytest.raises(ValueError, match="unknown mode 'fast': one of kafka, rabbit, both"):
        LocalPipeline("fast", {}, Path("unused")).plan()
