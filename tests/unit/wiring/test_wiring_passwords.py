"""A password with any character reaches RabbitMQ and Valkey intact: the URL Kubernetes
expands with the raw password is encoded by the process, which also gets the password on its
own (RABBITMQ_PASSWORD, VALKEY_PASSWORD)."""

from urllib.parse import urlsplit

import pytest
from valkey.connection import parse_url
from yarl import URL

from clima.store import StoreSettings
from clima.wiring import BrokerSettings, quote_password

NASTY = ["p@ss", "a/b:c", "#frag?x=1", "100% sure", "sp ace", "back\\slash", "ünï", "e=mc²&"]


@pytest.mark.parametrize("password", NASTY)
def test_rabbitmq_gets_the_password_as_it_is(
    monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    monkeypatch.setenv("RABBITMQ_PASSWORD", password)
    monkeypatch.setenv("RABBITMQ_URL", f"amqp://clima:{password}@clima-rabbitmq:5672/")
    url = URL(BrokerSettings().rabbitmq_url or "")
    assert (url.user, url.password, url.host, url.port) == (
        "clima",
        password,
        "clima-rabbitmq",
        5672,
    )


@pytest.mark.parametrize("password", NASTY)
def test_valkey_gets_the_password_as_it_is(monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    monkeypatch.setenv("VALKEY_PASSWORD", password)
    monkeypatch.setenv("VALKEY_SERVICE_URL", f"redis://:{password}@clima-valkey:6379/0")
    parsed = parse_url(StoreSettings().valkey_url)
    assert (parsed["password"], parsed["host"], parsed["port"]) == (password, "clima-valkey", 6379)


def test_urls_without_the_raw_password_are_left_alone() -> None:
    """An already encoded URL, one without a password, or no password given: unchanged."""
    encoded = "amqp://clima:p%40ss@h:5672/"
    assert quote_password(encoded, "p@ss") == encoded
    assert quote_password("redis://h:6379/0", "pw") == "redis://h:6379/0"
    assert quote_password("amqp://clima:pw@h/", None) == "amqp://clima:pw@h/"
    assert quote_password(None, "pw") is None
    assert urlsplit(quote_password("amqp://u:a b@h/", "a b") or "").password == "a%20b"
