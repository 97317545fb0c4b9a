"""CR fields that become a process's settings accept exactly what that process accepts: a
value the CRD lets through must not stop the process at start."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel

from clima.store import StoreSettings
from clima.writer.settings import WriterSettings
from clima_operator.children import Context
from clima_operator.children.writer import environment
from clima_operator.crd import build_crd
from clima_operator.errors import InvalidSpecError
from clima_operator.spec import RetentionSpec, WriterSpec, parse_spec

Build = Callable[..., Context]


def _bounds(model: type[BaseModel], name: str) -> tuple[Any, Any, Any]:
    """(default, minimum, maximum) of a pydantic field."""
    field = model.model_fields[name]
    low = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in field.metadata if isinstance(m, annotated_types.Le)), None)
    return field.default, low, high


def _crd_property(*path: str) -> dict[str, Any]:
    node = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for part in path:
        node = node["properties"][part]
    return dict(node)


def test_stream_max_len_minimum_is_the_consumers_minimum() -> None:
    """retention.streamMaxLen starts where the consumers' CLIMA_STREAM_MAXLEN starts (10), in
    the model and in the CRD."""
    _, consumers_min, _ = _bounds(StoreSettings, "stream_maxlen")
    _, spec_min, _ = _bounds(RetentionSpec, "stream_max_len")
    assert spec_min == consumers_min == 10
    assert _crd_property("retention", "streamMaxLen")["minimum"] == consumers_min


def test_stream_max_len_below_the_minimum_is_refused_naming_the_field() -> None:
    """9 is refused by the operator (and the API server) instead of crash-looping consumers."""
    with pytest.raises(
        InvalidSpecError, match=r"spec\.retention\.streamMaxLen: .*greater than or equal to 10"
    ):
        parse_spec({"retention": {"streamMaxLen": 9}})
    parse_spec({"retention": {"streamMaxLen": 10}})


def test_writer_backlog_bound_matches_the_writer_setting() -> None:
    """writer.maxBacklogMessages has the writer's default and bounds, in the CRD too."""
    assert _bounds(WriterSpec, "max_backlog_messages") == _bounds(
        WriterSettings, "max_backlog_messages"
    )
    crd = _crd_property("writer", "maxBacklogMessages")
    assert (crd["default"], crd["minimum"], crd["maximum"]) == _bounds(
        WriterSettings, "max_backlog_messages"
    )


def test_writer_backlog_bound_reaches_the_writer(
    make_ctx: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CR field becomes the writer's CLIMA_WRITER_MAX_BACKLOG_MESSAGES, which it reads."""
    values = environment(make_ctx({"writer": {"maxBacklogMessages": 2500}}))
    for item in values:
        if "value" in item:  # secrets come from valueFrom
            monkeypatch.setenv(item["name"], item["value"])
    assert WriterSettings().max_backlog_messages == 2500
