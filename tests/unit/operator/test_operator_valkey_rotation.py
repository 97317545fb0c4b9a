"""A rotated Valkey password walks a replicated Valkey through three renders, one per
completed roll: accept both and give the old, give the new, accept only the new."""

from __future__ import annotations

import base64
from typing import Any

from clima_operator.children import Passwords, valkey, valkey_rotation
from clima_operator.reconciler import Reconciler

REPLICATED = {"mode": "kafka", "valkey": {"managed": {"replicas": 3}}}


def test_the_steps_from_an_old_password_to_a_new_one() -> None:
    old = Passwords.single("old")
    first = valkey_rotation.next_passwords("new", old, replicas=3, rolled=True)
    assert first == Passwords(("old", "new"), "old")
    second = valkey_rotation.next_passwords("new", first, replicas=3, rolled=True)
    assert second == Passwords(("old", "new"), "new")
    assert valkey_rotation.next_passwords(
        "new", second, replicas=3, rolled=True
    ) == Passwords.single("new")


def test_a_step_waits_for_the_roll_of_the_one_before() -> None:
    first = Passwords(("old", "new"), "old")
    assert valkey_rotation.next_passwords("new", first, replicas=3, rolled=False) == first
    assert valkey_rotation.next_passwords("new", Passwords.single("old"), 3, rolled=False) == (
        Passwords.single("old")
    )


def test_a_second_rotation_mid_way_keeps_the_password_the_members_give() -> None:
    """Edited again before the first rotation ended: the members still give ``new``."""
    second = Passwords(("old", "new"), "new")
    assert valkey_rotation.next_passwords("newer", second, 3, rolled=True) == (
        Passwords(("new", "newer"), "new")
    )


def test_a_single_node_or_a_first_render_takes_the_password_at_once() -> None:
    assert valkey_rotation.next_passwords("new", Passwords.single("old"), 1, rolled=False) == (
        Passwords.single("new")
    )
    assert valkey_rotation.next_passwords("new", None, 3, rolled=False) == Passwords.single("new")


def test_the_recorded_step_is_read_back_and_a_foreign_one_ignored() -> None:
    step = Passwords(('a "b"', "c\nd"), "c\nd")
    assert (
        valkey_rotation.recorded_passwords(
            {valkey_rotation.PASSWORDS_FILE: valkey_rotation.recorded(step)}
        )
        == step
    )
    assert valkey_rotation.recorded_passwords({}) is None
    assert valkey_rotation.recorded_passwords({valkey_rotation.PASSWORDS_FILE: "not json"}) is None
    odd = '{"accepted": ["a"], "outgoing": "b"}'
    assert valkey_rotation.recorded_passwords({valkey_rotation.PASSWORDS_FILE: odd}) is None


def test_two_accepted_passwords_render_the_default_user_and_the_peers_password(
    make_ctx: Any,
) -> None:
    step = Passwords(("old", 'n"ew'), "old")
    node = valkey.config_file(step, replicated=True)
    assert 'user default on ">old" ">n\\"ew" ~* &* +@all\n' in node
    assert "requirepass" not in node
    assert 'masterauth "old"\n' in node
    sentinel = valkey.sentinel_file(make_ctx(REPLICATED), step)
    assert 'sentinel sentinel-pass "old"\n' in sentinel
    assert 'sentinel auth-pass clima "old"\n' in sentinel
    single = valkey.sentinel_file(make_ctx(REPLICATED), Passwords.single("old"))
    assert "sentinel-pass" not in single


def _files(cluster: Any) -> dict[str, str]:
    data = cluster.child("Secret", "demo-valkey-config")["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def _rotate(cluster: Any, password: str) -> None:
    secret = cluster.child("Secret", "demo-credentials")
    secret["data"]["valkey-password"] = base64.b64encode(password.encode()).decode()


def test_the_reconciler_advances_a_step_per_completed_roll(cluster: Any, events: Any) -> None:
    cluster.add_pipeline(spec={**REPLICATED, "image": "r.example/clima:1"})
    reconciler = Reconciler(cluster, events, now=lambda: "2025-01-01T00:00:00Z")
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    before = _files(cluster)[valkey_rotation.PASSWORDS_FILE]
    old = valkey_rotation.recorded_passwords(_files(cluster))
    assert old is not None
    assert len(old.accepted) == 1
    _rotate(cluster, "rotated")
    seen: list[Passwords | None] = []
    for _ in range(3):
        reconciler.reconcile("ns", "demo")
        seen.append(valkey_rotation.recorded_passwords(_files(cluster)))
        reconciler.reconcile("ns", "demo")  # the StatefulSet has not rolled yet: no step
        assert valkey_rotation.recorded_passwords(_files(cluster)) == seen[-1]
        cluster.mark_ready()
    assert seen == [
        Passwords((old.outgoing, "rotated"), old.outgoing),
        Passwords((old.outgoing, "rotated"), "rotated"),
        Passwords.single("rotated"),
    ]
    assert _files(cluster)[valkey_rotation.PASSWORDS_FILE] != before
    steps = [m for kind, reason, m in events.posted if reason == "ValkeyPasswordRotation"]
    assert [m.split(":")[0] for m in steps] == [
        f"Valkey password rotation, step {n} of 3" for n in (1, 2, 3)
    ]
    reconciler.reconcile("ns", "demo")
    assert valkey_rotation.recorded_passwords(_files(cluster)) == Passwords.single("rotated")
