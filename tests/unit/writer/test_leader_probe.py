"""The writer's leader probe never waits on a metadata call that does not return (F8)."""

import threading
import time

import pytest

from clima.writer import _leaders
from clima.writer._leaders import LeaderProbe


def test_a_call_that_never_returns_is_abandoned_with_its_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The probe answers None after its timeout and asks a new client next time."""
    release = threading.Event()
    asked: list[object] = []

    def wedged(client: object, _topic: str) -> tuple[bool | None, bool]:
        asked.append(client)
        if len(asked) == 1:
            release.wait(10)  # as librdkafka's metadata call did, past its own timeout
        return True, False

    monkeypatch.setattr(_leaders, "PROBE_TIMEOUT_S", 0.5)  # room for a busy machine
    monkeypatch.setattr(_leaders, "_leads_every_partition", wedged)
    probe = LeaderProbe("127.0.0.1:9", "clima-probe")
    began = time.monotonic()
    assert probe.probe() is None
    # far below the 10 s the call is wedged for, with room for a loaded machine
    assert time.monotonic() - began < 5.0
    # the new client answers at once; a loaded machine may take over 0.5 s to run the thread
    monkeypatch.setattr(_leaders, "PROBE_TIMEOUT_S", 5.0)
    assert probe.probe() is True
    assert asked[0] is not asked[1]
    release.set()
