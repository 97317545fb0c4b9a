"""The dedupe window W is a setting of the consumers' store, under its name and the old one."""

import pytest

from clima.store import DEDUPE_WINDOW_S, StoreSettings


def test_default_window_is_a_day() -> None:
    """W defaults to 24 h (docs/guarantees.md says why)."""
    assert StoreSettings().dedupe_window_s == DEDUPE_WINDOW_S == 86_400


@pytest.mark.parametrize("name", ["CLIMA_DEDUPE_WINDOW_S", "CLIMA_SEEN_TTL_S"])
def test_window_is_read_from_the_environment(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLIMA_DEDUPE_WINDOW_S sets W; the old CLIMA_SEEN_TTL_S is still read."""
    monkeypatch.setenv(name, "7200")
    assert StoreSettings().dedupe_window_s == 7200


def test_window_below_an_hour_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window shorter than client retries and redeliveries is refused at start-up."""
    monkeypatch.setenv("CLIMA_DEDUPE_WINDOW_S", "60")
    with pytest.raises(ValueError, match=r"dedupe_window_s|CLIMA_DEDUPE_WINDOW_S"):
        StoreSettings()
