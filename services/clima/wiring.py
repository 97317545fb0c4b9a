"""The wiring of Clima, stated once: what the processes, the operator, the local runner and the
chart must agree on for a pipeline to connect.

- which brokers each mode writes to (and so which consumers run);
- the port each process listens on, and the brokers' and Valkey's ports;
- the environment variables a deployment sets and the settings classes read;
- the defaults both ends of a broker assume (topic, queue, partitions), and the one
  settings class both ends read them with (``BrokerSettings``).

The settings classes (``clima.<process>.settings``, ``clima.store.StoreSettings``) take their
defaults and variable names from here, the operator's builders (``clima_operator.children``,
``clima_operator.spec``) their ports, variables and mode rules, the local runner
(``clima.local``) its ports and variables, ``clima`` its consumer choices. The chart's
template cannot import Python, so ``tests/unit/wiring/test_wiring_chart.py`` checks its copy
of the mode rule against this module; ``tests/unit/wiring/test_wiring_pods.py`` starts every
settings class from the environment of every pod the operator renders, and
``test_wiring_local.py`` from the environment the local runner gives each process.

Variable names. Broker facts the writer and the consumers must share (a broker's address,
the topic, the queue, the topic's partitions) have one name without a process prefix, so one
variable configures both ends. What belongs to one process (its ports, timeouts, limits) has
that process's prefix (``API_PREFIX`` …) followed by the field's name. Where the seed had a
variable (``WRITER_TARGET``, ``KAFKA_BROKER``, ``RABBITMQ_URL``, ``VALKEY_SERVICE_URL``,
``GRPC_SERVER_URL``) deployments set that name, and the settings accept Clima's own too.

This module imports nothing of Clima, so every process and the operator can read it.
"""

from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import quote

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# --- modes and brokers ------------------------------------------------------------------

Broker = Literal["kafka", "rabbit"]
KAFKA: Broker = "kafka"
RABBIT: Broker = "rabbit"
BROKERS: tuple[Broker, ...] = (KAFKA, RABBIT)

Mode = Literal["kafka", "rabbit", "both", "random"]
MODES: tuple[Mode, ...] = get_args(Mode)
DEFAULT_MODE: Mode = "both"

_BROKERS_OF_MODE: dict[str, tuple[Broker, ...]] = {
    "kafka": (KAFKA,),
    "rabbit": (RABBIT,),
    "both": (KAFKA, RABBIT),  # every report to each
    "random": (KAFKA, RABBIT),  # each report to one of them
}


def brokers_of(mode: str) -> tuple[Broker, ...]:
    """The brokers a mode writes to, hence the consumers it needs (in BROKERS' order)."""
    try:
        return _BROKERS_OF_MODE[mode]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}") from None


def modes_using(broker: Broker) -> tuple[Mode, ...]:
    """The modes that write to `broker` (in MODES' order)."""
    return tuple(mode for mode in MODES if broker in _BROKERS_OF_MODE[mode])


# --- ports --------------------------------------------------------------------------------

API_PORT = 8080  # HTTP: POST /clima, /clima/batch, /healthz, /readyz, /metrics
PROXY_HTTP_PORT = 8081  # HTTP: /tweet, /health, /healthz, /readyz, /metrics
PROXY_GRPC_PORT = 50052  # gRPC pass-through to the writer
WRITER_GRPC_PORT = 50051  # gRPC ReportWriter and grpc.health.v1
WRITER_PROBE_PORT = 9101  # HTTP: /healthz, /readyz, /metrics
CONSUMER_PROBE_PORT = 9102  # HTTP: /healthz, /readyz, /metrics
VIEW_PORT = 8090  # HTTP: the local page of the dashboard's panels
KAFKA_PORT = 9092
RABBITMQ_PORT = 5672
VALKEY_SENTINEL_PORT = 26379
VALKEY_PRIMARY_NAME = "clima"  # the name a replicated Valkey's Sentinels know its primary by
VALKEY_PORT = 6379
RABBITMQ_TLS_PORT = 5671  # amqps

# --- what both ends of a broker assume ----------------------------------------------------

KAFKA_TOPIC = "clima"
KAFKA_PARTITIONS = 4  # whoever creates the topic first (writer or consumer) uses this count
KAFKA_DEAD_PARTITIONS = 1  # of the dead-letter topic `<topic>.dead`
RABBIT_QUEUE = "clima"
# the Kafka consumers' group: the consumers join it, the writer reads its committed offsets
# to measure the backlog
KAFKA_GROUP = "clima-consumer-group"

# --- environment variables ----------------------------------------------------------------

API_PREFIX = "CLIMA_API_"
PROXY_PREFIX = "CLIMA_PROXY_"
WRITER_PREFIX = "CLIMA_WRITER_"
CONSUMER_PREFIX = "CLIMA_CONSUMER_"
STORE_PREFIX = "CLIMA_"
VIEW_PREFIX = "CLIMA_VIEW_"


@dataclass(frozen=True)
class Variable:
    """An environment variable: deployments set `name`; settings also accept `also`."""

    name: str
    also: tuple[str, ...] = ()

    def alias(self, *own: str) -> AliasChoices:
        """A settings field's `validation_alias`: these names, then the process's `own`
        (the first one set wins)."""
        return AliasChoices(self.name, *self.also, *own)


MODE_ENV = Variable("WRITER_TARGET", ("CLIMA_WRITER_MODE",))
UPSTREAM_ENV = Variable("GRPC_SERVER_URL")  # api -> proxy, proxy -> writer (host:port)
KAFKA_BROKER_ENV = Variable("KAFKA_BROKER", ("CLIMA_KAFKA_BROKER",))
# the SASL/PLAIN user and password of a Kafka that requires them (a managed one does)
KAFKA_USERNAME_ENV = Variable("KAFKA_USERNAME")
KAFKA_PASSWORD_ENV = Variable("KAFKA_PASSWORD")
# an external Kafka's security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), SASL
# mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and the PEM CA file its certificate is
# checked against (unset: the system's)
KAFKA_SECURITY_PROTOCOL_ENV = Variable("KAFKA_SECURITY_PROTOCOL")
KAFKA_SASL_MECHANISM_ENV = Variable("KAFKA_SASL_MECHANISM")
KAFKA_CA_FILE_ENV = Variable("KAFKA_CA_FILE")
KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
KAFKA_TOPIC_ENV = Variable("CLIMA_KAFKA_TOPIC")
# the writer's own name came first; the consumers create the topic too, so both read this
KAFKA_PARTITIONS_ENV = Variable("CLIMA_KAFKA_PARTITIONS", ("CLIMA_WRITER_KAFKA_PARTITIONS",))
RABBITMQ_URL_ENV = Variable("RABBITMQ_URL", ("CLIMA_RABBITMQ_URL",))
# the passwords the URLs embed by Kubernetes' dependent expansion, also given on their own
RABBITMQ_PASSWORD_ENV = Variable("RABBITMQ_PASSWORD")
VALKEY_PASSWORD_ENV = Variable("VALKEY_PASSWORD")
RABBIT_QUEUE_ENV = Variable("CLIMA_RABBIT_QUEUE")
# classic, or quorum: replicated over a RabbitMQ cluster (a confirm means a majority has it)
RABBIT_QUEUE_TYPE_ENV = Variable("CLIMA_RABBIT_QUEUE_TYPE")
RabbitQueueType = Literal["classic", "quorum"]
KAFKA_GROUP_ENV = Variable("CLIMA_CONSUMER_KAFKA_GROUP", ("CLIMA_WRITER_KAFKA_GROUP",))
VALKEY_URL_ENV = Variable("VALKEY_SERVICE_URL")
# a replicated Valkey: its Sentinels (host:port,...), the name they know the primary by, and
# how many replicas must confirm an apply before it counts as done
VALKEY_SENTINELS_ENV = Variable("VALKEY_SENTINELS")
VALKEY_PRIMARY_ENV = Variable("VALKEY_PRIMARY_NAME")
VALKEY_WAIT_REPLICAS_ENV = Variable("CLIMA_VALKEY_WAIT_REPLICAS")
STREAM_MAXLEN_ENV = Variable("CLIMA_STREAM_MAXLEN")
# W, the dedupe window in seconds (the first name the store read stays accepted)
DEDUPE_WINDOW_ENV = Variable("CLIMA_DEDUPE_WINDOW_S", ("CLIMA_SEEN_TTL_S",))


def quote_password(url: str | None, password: str | None) -> str | None:
    """``url`` with ``password`` percent-encoded where it appears raw as the URL's password
    (``scheme://user:<password>@host``, as Kubernetes' dependent expansion writes it): a
    password with ``@``, ``/``, ``:``, ``#``, ``%`` or spaces then reaches the broker intact
    instead of breaking the URL. Any other URL is returned as it is."""
    if not url or not password:
        return url
    raw = f":{password}@"
    if raw not in url:
        return url
    return url.replace(raw, f":{quote(password, safe='')}@", 1)


@dataclass(frozen=True)
class KafkaAccess:
    """How a client reaches Kafka: its bootstrap servers, the security protocol (by default
    SASL_PLAINTEXT when a user is named, else PLAINTEXT), the SASL mechanism (PLAIN by
    default), user and password, and for TLS the PEM CA file (unset: the system's)."""

    bootstrap: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: KafkaProtocol | None = None
    mechanism: KafkaMechanism | None = None
    ca_file: str | None = None


class BrokerSettings(BaseSettings):
    """The brokers as the writer and the consumers both read them: the same variables, the
    same defaults (each process's settings class adds its own prefixed fields)."""

    model_config = SettingsConfigDict(extra="ignore")

    kafka_broker: str = Field(
        default=f"127.0.0.1:{KAFKA_PORT}", validation_alias=KAFKA_BROKER_ENV.alias()
    )
    kafka_username: str | None = Field(default=None, validation_alias=KAFKA_USERNAME_ENV.alias())
    kafka_password: str | None = Field(
        default=None, validation_alias=KAFKA_PASSWORD_ENV.alias(), repr=False
    )
    kafka_security_protocol: KafkaProtocol | None = Field(
        default=None, validation_alias=KAFKA_SECURITY_PROTOCOL_ENV.alias()
    )
    kafka_sasl_mechanism: KafkaMechanism | None = Field(
        default=None, validation_alias=KAFKA_SASL_MECHANISM_ENV.alias()
    )
    kafka_ca_file: str | None = Field(default=None, validation_alias=KAFKA_CA_FILE_ENV.alias())
    kafka_topic: str = Field(default=KAFKA_TOPIC, validation_alias=KAFKA_TOPIC_ENV.alias())
    kafka_partitions: int = Field(
        default=KAFKA_PARTITIONS,
        ge=1,
        validation_alias=KAFKA_PARTITIONS_ENV.alias(),
        description="partitions of the topic, for whichever of writer and consumer creates it",
    )
    rabbitmq_url: str | None = Field(default=None, validation_alias=RABBITMQ_URL_ENV.alias())
    rabbitmq_password: str | None = Field(
        default=None,
        validation_alias=RABBITMQ_PASSWORD_ENV.alias(),
        repr=False,
        description="the password in rabbitmq_url, as it is: any character (it is encoded)",
    )
    rabbit_queue: str = Field(default=RABBIT_QUEUE, validation_alias=RABBIT_QUEUE_ENV.alias())
    rabbit_queue_type: RabbitQueueType = Field(
        default="classic",
        validation_alias=RABBIT_QUEUE_TYPE_ENV.alias(),
        description="the type the work queue and its dead-letter queue are declared with",
    )
    kafka_group: str = Field(
        default=KAFKA_GROUP,
        min_length=1,
        validation_alias=KAFKA_GROUP_ENV.alias(),
        description="the Kafka consumers' group (the writer reads its offsets for the backlog)",
    )

    @property
    def kafka(self) -> KafkaAccess:
        """How this process reaches Kafka."""
        return KafkaAccess(
            self.kafka_broker,
            self.kafka_username,
            self.kafka_password,
            self.kafka_security_protocol,
            self.kafka_sasl_mechanism,
            self.kafka_ca_file,
        )

    @model_validator(mode="after")
    def _encoded_password(self) -> "BrokerSettings":
        self.rabbitmq_url = quote_password(self.rabbitmq_url, self.rabbitmq_password)
        return self
