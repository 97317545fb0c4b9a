"""Starting a Clima settings class from an environment, and saying which variables it read."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from unittest import mock

from clima_env_support import REFERENCE
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from clima.api.settings import ApiSettings
from clima.consumers.settings import ConsumerSettings
from clima.proxy.settings import ProxySettings
from clima.store import StoreSettings
from clima.writer.settings import WriterSettings

#: The settings classes each `clima <args>` process builds at start-up (its entry point's).
SETTINGS: dict[tuple[str, ...], tuple[type[BaseSettings], ...]] = {
    ("api",): (ApiSettings,),
    ("proxy",): (ProxySettings,),
    ("writer",): (WriterSettings,),
    ("consumer", "kafka"): (ConsumerSettings, StoreSettings),
    ("consumer", "rabbit"): (ConsumerSettings, StoreSettings),
}
#: Which field of a settings class is the port of each named container port.
LISTENS: dict[type[BaseSettings], dict[str, str]] = {
    ApiSettings: {"http": "port"},
    ProxySettings: {"http": "http_port", "grpc": "grpc_port"},
    WriterSettings: {"grpc": "port", "http": "probe_port"},
    ConsumerSettings: {"http": "probe_port"},
}


def names_read(cls: type[BaseSettings]) -> dict[str, str]:
    """Every environment variable `cls` reads (upper case) and the field it fills."""
    prefix = cls.model_config.get("env_prefix", "")
    found: dict[str, str] = {}
    for field, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names = [choice for choice in alias.choices if isinstance(choice, str)]
        elif isinstance(alias, str):
            names = [alias]
        else:
            names = [f"{prefix}{field}"]
        found.update({name.upper(): field for name in names})
    return found


def start(cls: type[BaseSettings], env: Mapping[str, str]) -> BaseSettings:
    """`cls()` as the process builds it, with `env` as the whole environment."""
    with mock.patch.dict(os.environ, dict(env), clear=True):
        return cls()


def referenced(env: Sequence[Mapping[str, Any]]) -> set[str]:
    """The variables a container's literal values expand with `$(VAR)`."""
    return {name for item in env for name in REFERENCE.findall(item.get("value", ""))}


def check_reads(
    where: str,
    classes: Sequence[type[BaseSettings]],
    raw: Sequence[Mapping[str, Any]],
    env: Mapping[str, str],
    own: Collection[str] | None = None,
) -> list[BaseSettings]:
    """Starts each class from `env` and checks that every variable set for this process
    (`own`, default all of `env`) is read by one of them, into a field that now holds its
    value, or only expands into another variable of `raw`."""
    started = [start(cls, env) for cls in classes]
    expanded = referenced(raw)
    for name, value in env.items():
        readers = [(s, names_read(type(s))[name]) for s in started if name in names_read(type(s))]
        if not readers:
            assert (own is not None and name not in own) or name in expanded, (
                f"{where}: no settings class reads {name}"
            )
            continue
        assert "$(" not in value, f"{where}: {name}={value!r} refers to a later variable"
        for settings, field in readers:
            got = getattr(settings, field)
            assert str(got) == value, f"{where}: {type(settings).__name__}.{field} is {got!r}"
    return started
