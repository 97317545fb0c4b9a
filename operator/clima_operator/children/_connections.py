"""How Clima processes reach Kafka, RabbitMQ and Valkey, managed or external.

Passwords never appear in a manifest: they come from a Secret into an environment variable,
and URLs embed them with Kubernetes' dependent expansion ``$(VAR)``, so the password
variable is always listed before the URL that uses it.
"""

from __future__ import annotations

from typing import Any

from clima import wiring
from clima.wiring import KAFKA_PORT, RABBITMQ_PORT, RABBITMQ_TLS_PORT, VALKEY_PORT
from clima_operator.children import credentials, kafka_auth, valkey
from clima_operator.children._meta import Context
from clima_operator.children._pods import env, env_from_secret

RABBITMQ_USER = "clima"
# Read by no Clima process: the URLs below expand them, Grafana's data source reads Valkey's.
RABBITMQ_PASSWORD_ENV = "RABBITMQ_PASSWORD"  # noqa: S105 - a variable's name
VALKEY_PASSWORD_ENV = "VALKEY_PASSWORD"  # noqa: S105 - a variable's name


def _split(address: str, default_port: int) -> tuple[str, int]:
    host, _, number = address.partition(":")
    return host, int(number) if number else default_port


def kafka_bootstrap(ctx: Context) -> str:
    """``host:port`` list of the Kafka brokers."""
    if ctx.spec.kafka.type == "external" and ctx.spec.kafka.external.address:
        return ctx.spec.kafka.external.address
    return f"{ctx.owner.child('kafka')}:{KAFKA_PORT}"


TLS_DIR = "/etc/clima/tls"
CA_FILE = "ca.crt"


def ca_file(store: str) -> str:
    """Where a pod finds the CA bundle of an external store's TLS."""
    return f"{TLS_DIR}/{store}/{CA_FILE}"


def _external(ctx: Context, store: str) -> Any:
    spec = getattr(ctx.spec, store)
    return spec.external if spec.type == "external" else None


def tls_volumes(
    ctx: Context, stores: tuple[str, ...]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The volume and mount of each CA bundle the given stores' TLS names (external stores
    with ``tls.caSecretRef``)."""
    found = []
    for store in stores:
        external = _external(ctx, store)
        ref = external.tls.ca_secret_ref if external is not None and external.tls.enabled else None
        if ref is None:
            continue
        name = f"tls-{store}"
        items = [{"key": ref.key, "path": CA_FILE}]
        volume = {"name": name, "secret": {"secretName": ref.name, "items": items}}
        mount = {"name": name, "mountPath": f"{TLS_DIR}/{store}", "readOnly": True}
        found.append((volume, mount))
    return found


def _ca_query(external: Any, store: str, parameter: str) -> str:
    """``?<parameter>=<CA file>`` when the store's TLS names a CA bundle."""
    return f"?{parameter}={ca_file(store)}" if external.tls.ca_secret_ref is not None else ""


def _external_kafka_env(ctx: Context, external: Any) -> list[dict[str, Any]]:
    """An external Kafka's protocol, SASL user and CA file."""
    tls, sasl = external.tls.enabled, external.sasl
    protocol = ("SASL_" if sasl is not None else "") + ("SSL" if tls else "PLAINTEXT")
    variables = [env(wiring.KAFKA_SECURITY_PROTOCOL_ENV.name, protocol)]
    if sasl is not None:
        variables += [
            env(wiring.KAFKA_SASL_MECHANISM_ENV.name, sasl.mechanism),
            env(wiring.KAFKA_USERNAME_ENV.name, sasl.username),
            env_from_secret(
                wiring.KAFKA_PASSWORD_ENV.name, sasl.secret_ref.name, sasl.secret_ref.key
            ),
        ]
    if tls and external.tls.ca_secret_ref is not None:
        variables.append(env(wiring.KAFKA_CA_FILE_ENV.name, ca_file("kafka")))
    return variables


def kafka_env(ctx: Context) -> list[dict[str, Any]]:
    """``KAFKA_BROKER``; for the managed Kafka also its user and password (the password from
    the Kafka config Secret, which holds the user every broker accepts at each step of a
    rotation); for an external one its protocol, SASL user and CA file."""
    variables = [env(wiring.KAFKA_BROKER_ENV.name, kafka_bootstrap(ctx))]
    external = _external(ctx, "kafka")
    if external is not None:
        return variables + _external_kafka_env(ctx, external)
    if ctx.spec.kafka.type == "managed":
        users = kafka_auth.current(ctx)
        name = users.outgoing if users is not None else kafka_auth.FIRST_USER
        secret = ctx.owner.child("kafka-config")
        variables += [
            env(wiring.KAFKA_USERNAME_ENV.name, name),
            env_from_secret(wiring.KAFKA_PASSWORD_ENV.name, secret, kafka_auth.CLIENT_PASSWORD),
        ]
    return variables


def _password(ctx: Context, variable: str, external: Any, managed_key: str) -> dict[str, Any]:
    if external is not None:
        return env_from_secret(variable, external.name, external.key)
    return env_from_secret(variable, credentials.secret_name(ctx.owner), managed_key)


def rabbitmq_env(ctx: Context) -> list[dict[str, Any]]:
    """``RABBITMQ_PASSWORD`` and the ``RABBITMQ_URL`` built from it."""
    rabbit = ctx.spec.rabbitmq
    scheme, query = "amqp", ""
    if rabbit.type == "external" and rabbit.external.address:
        external = rabbit.external
        default = RABBITMQ_TLS_PORT if external.tls.enabled else RABBITMQ_PORT
        host, number = _split(str(external.address), default)
        user, ref = external.username, external.secret_ref
        if external.tls.enabled:
            scheme, query = "amqps", _ca_query(external, "rabbitmq", "cafile")
    else:
        host, number = ctx.owner.child("rabbitmq"), RABBITMQ_PORT
        user, ref = RABBITMQ_USER, None
    variables = [
        _password(ctx, RABBITMQ_PASSWORD_ENV, ref, credentials.RABBITMQ_PASSWORD),
        env(
            wiring.RABBITMQ_URL_ENV.name,
            f"{scheme}://{user}:$({RABBITMQ_PASSWORD_ENV})@{host}:{number}/{query}",
        ),
    ]
    if rabbit.queue_type != "classic":  # classic is the processes' default
        variables.append(env(wiring.RABBIT_QUEUE_TYPE_ENV.name, rabbit.queue_type))
    return variables


def valkey_address(ctx: Context) -> tuple[str, int]:
    """Host and port of Valkey."""
    valkey = ctx.spec.valkey
    if valkey.type == "external" and valkey.external.address:
        return _split(valkey.external.address, VALKEY_PORT)
    return ctx.owner.child("valkey"), VALKEY_PORT


def valkey_password(ctx: Context) -> dict[str, Any]:
    """``VALKEY_PASSWORD`` from the managed credentials or the external secretRef."""
    valkey = ctx.spec.valkey
    ref = valkey.external.secret_ref if valkey.type == "external" else None
    return _password(ctx, VALKEY_PASSWORD_ENV, ref, credentials.VALKEY_PASSWORD)


def valkey_replicated(ctx: Context) -> bool:
    """Whether Valkey is the operator's, with replicas and Sentinels."""
    return ctx.spec.valkey.type == "managed" and ctx.spec.valkey.managed.replicas > 1


def valkey_env(ctx: Context) -> list[dict[str, Any]]:
    """``VALKEY_PASSWORD`` and the ``VALKEY_SERVICE_URL`` built from it; for a replicated
    Valkey also its Sentinels, and one replica to confirm every apply."""
    host, number = valkey_address(ctx)
    scheme, query = "redis", ""
    external = _external(ctx, "valkey")
    if external is not None and external.tls.enabled:
        scheme, query = "rediss", _ca_query(external, "valkey", "ssl_ca_certs")
    url = f"{scheme}://:$({VALKEY_PASSWORD_ENV})@{host}:{number}/0{query}"
    variables = [valkey_password(ctx), env(wiring.VALKEY_URL_ENV.name, url)]
    if valkey_replicated(ctx):
        variables += [
            env(wiring.VALKEY_SENTINELS_ENV.name, valkey.sentinels(ctx)),
            env(wiring.VALKEY_PRIMARY_ENV.name, valkey.PRIMARY_NAME),
            env(wiring.VALKEY_WAIT_REPLICAS_ENV.name, "1"),
        ]
    return variables
