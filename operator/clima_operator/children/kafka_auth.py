"""Who may talk to the managed Kafka: SASL/PLAIN users, required on every listener.

A pod without the pipeline's Kafka password cannot connect at all, so it can neither commit
the consumers' group offsets nor delete the topic, whether or not the cluster enforces
NetworkPolicies. The brokers know their users from the rendered configuration (the config
Secret ``<pipeline>-kafka-config``); they use one of them to reach one another and the
controllers, and the writer, the consumers and a drain Job use the same one, read from that
Secret's ``client-password``.

The password is the credentials Secret's ``kafka-password``. Each password gets a user of
its own (``clima1``, ``clima2``, ...), so a rotation can accept two at once: like Valkey's
(see ``valkey_rotation.next_passwords``) it takes three rolls of Kafka, each once the last
completed, and the clients move to the new user in the second, when every broker already
accepts it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from clima_operator.children import credentials
from clima_operator.children._meta import Context, KafkaUsers
from clima_operator.children.valkey_rotation import next_passwords

USER_PREFIX = "clima"
USERS_FILE = "users.json"  # the config Secret's record of the rotation step
CLIENT_PASSWORD = "client-password"  # noqa: S105 - the config Secret's key the clients read
CLIENT_PROPERTIES = "client.properties"  # for Kafka's own tools in the pods
MECHANISM = "PLAIN"
PROTOCOL = "SASL_PLAINTEXT"
LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"


FIRST_USER = f"{USER_PREFIX}1"


def single(password: str) -> KafkaUsers:
    """No rotation under way: one user."""
    return KafkaUsers(((FIRST_USER, password),), FIRST_USER)


def current(ctx: Context) -> KafkaUsers | None:
    """The users to render: the reconcile's step, else the credentials Secret's password
    alone; None when Kafka is not managed or its password is not known."""
    if ctx.spec.kafka.type != "managed":
        return None
    if ctx.kafka_users is not None:
        return ctx.kafka_users
    password = ctx.credentials.get(credentials.KAFKA_PASSWORD)
    return None if password is None else single(password)


def next_users(
    desired: str, previous: KafkaUsers | None, replicas: int, rolled: bool
) -> KafkaUsers:
    """The step to render (see ``valkey_rotation.next_passwords``), each password keeping its user;
    a new password gets the next user."""
    if previous is None:
        return single(desired)
    step = next_passwords(desired, previous.passwords(), replicas, rolled)
    names = {password: name for name, password in previous.users}
    serial = max(int(name.removeprefix(USER_PREFIX)) for name, _ in previous.users)
    for password in step.accepted:
        if password not in names:
            serial += 1
            names[password] = f"{USER_PREFIX}{serial}"
    users = tuple((names[password], password) for password in step.accepted)
    return KafkaUsers(users, names[step.outgoing])


def recorded(users: KafkaUsers) -> str:
    """The step as the config Secret records it."""
    return json.dumps({"users": [list(user) for user in users.users], "outgoing": users.outgoing})


def recorded_users(files: Mapping[str, str]) -> KafkaUsers | None:
    """The step a live config Secret (its files, decoded) was rendered at; None when it
    records none, or not in a shape this operator wrote."""
    try:
        step = json.loads(files[USERS_FILE])
        users = tuple((str(name), str(password)) for name, password in step["users"])
        outgoing = str(step["outgoing"])
    except (KeyError, TypeError, ValueError):
        return None
    names = [name for name, _ in users]
    valid = all(n.removeprefix(USER_PREFIX).isdigit() and n.startswith(USER_PREFIX) for n in names)
    return KafkaUsers(users, outgoing) if valid and outgoing in names else None


def _jaas_string(value: str) -> str:
    """A value in double quotes as Kafka's JAAS parser reads it (a Java StreamTokenizer:
    backslash escapes, and a line break would end the string)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


def jaas(users: KafkaUsers, server: bool) -> str:
    """``sasl.jaas.config``: the user this side gives and, for a listener, every user it
    accepts."""
    parts = [LOGIN_MODULE, "required",
             f"username={_jaas_string(users.outgoing)}",
             f"password={_jaas_string(users.password)}"]  # fmt: skip
    if server:
        parts += [f"user_{name}={_jaas_string(password)}" for name, password in users.users]
    return " ".join(parts) + ";"


def property_value(value: str) -> str:
    """A value as ``java.util.Properties`` reads it back from a file (ISO-8859-1: backslash
    escapes, anything else outside printable ASCII as \\uXXXX, leading spaces kept)."""
    out = []
    for index, char in enumerate(value):
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == " " and index == 0:
            out.append("\\ ")
        elif 0x20 <= code < 0x7F:
            out.append(char)
        else:
            for unit in char.encode("utf-16-be").hex(" ", 2).split():
                out.append(f"\\u{unit}")
    return "".join(out)


def settings(users: KafkaUsers, listeners: tuple[str, ...]) -> dict[str, str]:
    """Broker settings: SASL/PLAIN on every listener, the users each accepts, and the user
    the broker gives the others and the controllers."""
    config = {
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "sasl.mechanism.controller.protocol": MECHANISM,
    }
    for listener in listeners:
        key = f"listener.name.{listener.lower()}.{MECHANISM.lower()}.sasl.jaas.config"
        config[key] = jaas(users, server=True)
    return config


def client_properties(users: KafkaUsers, bootstrap: str) -> str:
    """``client.properties`` for Kafka's own tools inside a broker's pod
    (``--command-config``)."""
    return (
        "# Rendered by the Clima operator: the pipeline's Kafka user.\n"
        f"bootstrap.servers={bootstrap}\n"
        f"security.protocol={PROTOCOL}\n"
        f"sasl.mechanism={MECHANISM}\n"
        f"sasl.jaas.config={property_value(jaas(users, server=False))}\n"
    )


def step_message(step: KafkaUsers) -> str:
    """What an Event says when a rotation advances to ``step``."""
    if len(step.users) == 1:
        return "Kafka password rotation, step 3 of 3: the brokers accept only the new user"
    if step.outgoing == step.users[-1][0]:
        return (
            "Kafka password rotation, step 2 of 3: the brokers, the writer and the Kafka "
            "consumer give the new user; the brokers still accept the old one"
        )
    return (
        "Kafka password rotation, step 1 of 3: the brokers accept the old and the new user "
        "and roll one at a time; everything still gives the old one"
    )
