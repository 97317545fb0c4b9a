"""The one logging set-up of every Clima process: context as fields, JSON lines or text."""

import io
import json
import logging
from collections.abc import Iterator

import kopf
import pytest

from clima.common import logs


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, restored after the test (configure replaces its handlers)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def _emit(formatter: logging.Formatter, logger: logging.Logger | logging.LoggerAdapter) -> str:
    """What `formatter` writes for one warning carrying context, logged through `logger`."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    base = logger.logger if isinstance(logger, logging.LoggerAdapter) else logger
    base.addHandler(handler)
    try:
        logger.warning("Cannot list pods (%s)", "forbidden", extra={"reason": "Forbidden"})
    finally:
        base.removeHandler(handler)
    return stream.getvalue()


def _logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.propagate = False
    return logger


def test_json_line_has_context_as_keys_not_in_message() -> None:
    """Fields passed with extra= become keys of the JSON object; the message stays plain."""
    line = _emit(logs.JsonFormatter(), logs.with_context(_logger("t.json"), pipeline="demo"))
    entry = json.loads(line)
    assert entry["message"] == "Cannot list pods (forbidden)"
    assert entry["pipeline"] == "demo"
    assert entry["reason"] == "Forbidden"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "t.json"
    assert entry["time"].endswith("+00:00")


def test_text_line_appends_context_as_key_value() -> None:
    """In text the message reads as before and the fields follow as key=value."""
    line = _emit(logs.TextFormatter(), logs.with_context(_logger("t.text"), pipeline="a b"))
    assert "WARNING t.text: Cannot list pods (forbidden) " in line
    assert line.rstrip().endswith('pipeline="a b" reason=Forbidden')


def test_call_fields_and_adapter_fields_are_both_kept() -> None:
    """An adapter's fields and the call's own extra= both reach the record."""
    adapter = logs.with_context(_logger("t.merge"), namespace="ns", reason="adapter")
    entry = json.loads(_emit(logs.JsonFormatter(), adapter))
    assert entry["namespace"] == "ns"
    assert entry["reason"] == "Forbidden"  # the call's value wins over the adapter's


def test_fields_never_replace_the_line_s_own_keys() -> None:
    """A field named like a base key is kept under another name instead of replacing it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = _logger("t.clash")
    logger.addHandler(handler)
    logger.warning("hello", extra={"time": "yesterday", "level": object()})
    logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["field.time"] == "yesterday"
    assert entry["level"] == "WARNING"
    assert entry["field.level"].startswith("<object object")


def test_exceptions_are_one_json_field() -> None:
    """A logged exception's traceback is one field of the same JSON line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = _logger("t.exc")
    logger.addHandler(handler)
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("failed", extra={"pipeline": "demo"})
    logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert "ValueError: bad" in entry["exception"]
    assert entry["pipeline"] == "demo"


def test_kopf_object_logger_gives_the_object_as_a_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf's per-object logger works through the formatters: its object becomes a field and
    its settings, which are no log content, are left out."""
    body = kopf.Body(
        {
            "apiVersion": "clima.io/v1alpha1",
            "kind": "ClimaPipeline",
            "metadata": {"namespace": "ns", "name": "demo", "uid": "u1"},
        }
    )
    objects = kopf.ObjectLogger(body=body, settings=kopf.OperatorSettings())
    monkeypatch.setattr(objects.logger, "propagate", False)
    entry = json.loads(_emit(logs.JsonFormatter(), objects))
    assert entry["object"] == {
        "apiVersion": "clima.io/v1alpha1",
        "kind": "ClimaPipeline",
        "name": "demo",
        "uid": "u1",
        "namespace": "ns",
    }
    assert "settings" not in entry
    assert "k8s_skip" not in entry
    text = _emit(logs.TextFormatter(), objects)
    assert "object=ClimaPipeline/ns/demo reason=Forbidden" in text


def test_configure_keeps_kopf_s_event_poster(root: logging.Logger) -> None:
    """Configuring the root logger leaves kopf's Event poster on its object logger, and the
    quiet loggers are held at WARNING unless the level is DEBUG."""
    logs.configure("INFO", json_lines=True, quiet=["kopf.objects"])
    objects = logging.getLogger("kopf.objects")
    assert any(type(h).__name__ == "K8sPoster" for h in objects.handlers)
    assert objects.level == logging.WARNING
    assert isinstance(root.handlers[0].formatter, logs.JsonFormatter)
    logs.configure("DEBUG", json_lines=False, quiet=["kopf.objects"])
    assert objects.level == logging.NOTSET
    assert isinstance(root.handlers[0].formatter, logs.TextFormatter)
    assert root.level == logging.DEBUG


def test_every_entry_point_uses_the_one_set_up() -> None:
    """Each process's main configures logging through clima.common.logs, the operator too."""
    from clima_operator import main as operator_main  # noqa: PLC0415

    assert operator_main.logs is logs
    import clima.api.server  # noqa: PLC0415
    import clima.consumers.run  # noqa: PLC0415
    import clima.proxy.server  # noqa: PLC0415
    import clima.view.server  # noqa: PLC0415
    import clima.writer.server  # noqa: PLC0415

    for module in (
        clima.api.server,
        clima.consumers.run,
        clima.proxy.server,
        clima.view.server,
        clima.writer.server,
    ):
        assert module.configure is logs.configure, module.__name__


def test_library_formatting_attributes_are_no_fields() -> None:
    """uvicorn's coloured copy of its message is not repeated as a field."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.TextFormatter())
    logger = _logger("t.uvicorn")
    logger.addHandler(handler)
    logger.warning("Started server process [%d]", 7, extra={"color_message": "\x1b[36m%d\x1b[0m"})
    logger.removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("t.uvicorn: Started server process [7]")
