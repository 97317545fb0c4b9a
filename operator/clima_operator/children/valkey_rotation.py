"""The steps by which a rotated password reaches a replicated store's members: accept the
old and the new while giving the old; give the new; accept only the new. Each step is
rendered once every member runs the one before, so members on adjacent steps always accept
what the others give (see ``valkey`` and ``kafka_auth``)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from clima_operator.children._meta import Passwords

PASSWORDS_FILE = "passwords.json"
"""Key of the config Secret recording the rotation step it was rendered at (read back by
``recorded_passwords`` on the next pass)."""


def recorded(passwords: Passwords) -> str:
    """The rotation step as the config Secret records it."""
    return json.dumps({"accepted": list(passwords.accepted), "outgoing": passwords.outgoing})


def recorded_passwords(config: Mapping[str, str]) -> Passwords | None:
    """The step a live config Secret (its files, decoded) was rendered at; None when it
    records none, or not in a shape this operator wrote."""
    try:
        step = json.loads(config[PASSWORDS_FILE])
        accepted = tuple(str(item) for item in step["accepted"])
        outgoing = str(step["outgoing"])
    except (KeyError, TypeError, ValueError):
        return None
    return Passwords(accepted, outgoing) if accepted and outgoing in accepted else None


def next_passwords(
    desired: str, previous: Passwords | None, replicas: int, rolled: bool
) -> Passwords:
    """The rotation step to render: the credentials Secret's password (``desired``) against
    the step the live config was rendered at (``previous``), advancing one step only once
    every node runs the previous one (``rolled``). A single node has no peers to keep in
    step and takes the new password at once."""
    target = Passwords.single(desired)
    if previous is None or replicas < 2 or previous == target:
        return target
    if not rolled:
        return previous
    if desired not in previous.accepted:
        return Passwords((previous.outgoing, desired), previous.outgoing)
    if previous.outgoing != desired:
        return Passwords(previous.accepted, desired)
    return target


def step_message(step: Passwords) -> str:
    """What an Event says when a rotation advances to ``step``."""
    if len(step.accepted) == 1:
        return "Valkey password rotation, step 3 of 3: the nodes accept only the new password"
    if step.outgoing == step.accepted[-1]:
        return (
            "Valkey password rotation, step 2 of 3: the nodes give one another the new "
            "password and still accept the old one"
        )
    return (
        "Valkey password rotation, step 1 of 3: the nodes accept the old and the new password "
        "and roll one at a time; the consumers hold until their node accepts the new one"
    )
