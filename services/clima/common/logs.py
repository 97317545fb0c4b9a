"""The one logging set-up of every Clima process, the operator included.

Each entry point calls :func:`configure` once. Records go to stderr as text or as one JSON
object per line. Context (which pipeline, which broker, which process) travels as fields,
not inside the message: ``logger.info("connected", extra={"broker": "kafka"})``, or a
:func:`with_context` adapter that adds the same fields to every call. In JSON each field is
a key of the object; in text it follows the message as ``key=value``, so a line stays
readable and a collector can still filter on ``pipeline`` without parsing sentences.

kopf's per-object logger (the ``logger`` its handlers receive) attaches the object's
reference and its own settings to each record; the reference becomes the ``object`` field,
the settings are kopf's business and are left out.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

# Every attribute a bare LogRecord has, plus those formatting adds: the rest came as fields.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
}
# Attributes libraries attach for their own formatters, which are no context: kopf's object
# logger its OperatorSettings and whether to post the record as an Event, uvicorn a copy of
# the message with terminal colours.
_PRIVATE = frozenset({"settings", "k8s_skip", "color_message"})
_KOPF_REF = "k8s_ref"
# Keys of every JSON line; a field of the same name never replaces them.
_BASE_KEYS = ("time", "level", "logger", "message")


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context fields a record carries (``extra=``, an adapter's, kopf's object)."""
    found: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _RECORD_ATTRIBUTES or key in _PRIVATE or key.startswith("_"):
            continue
        if key == _KOPF_REF and isinstance(value, Mapping):
            found["object"] = {k: v for k, v in value.items() if v is not None}
        else:
            found[key] = value
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields(record).items():
            entry[key if key not in _BASE_KEYS else f"field.{key}"] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a field's value that JSON cannot hold is written as its text
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value …`` for a person reading a terminal or a file."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - stdlib's name
        line = super().formatMessage(record)
        context = " ".join(f"{key}={_text(value)}" for key, value in fields(record).items())
        return f"{line} {context}" if context else line


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        if "kind" in value and "name" in value:  # kopf's object: Kind/namespace/name
            return "/".join(str(value[k]) for k in ("kind", "namespace", "name") if value.get(k))
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    text = str(value)
    # quoted when a reader could not tell where the value ends
    needs_quotes = not text or any(c.isspace() or c in "\"'=" for c in text)
    return json.dumps(text, ensure_ascii=False) if needs_quotes else text


class _ContextAdapter(logging.LoggerAdapter[logging.Logger]):
    """Adds fixed fields to every record, keeping the call's own ``extra`` as well."""

    def process(
        self, msg: str, kwargs: MutableMapping[str, Any]
    ) -> tuple[str, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs


def with_context(logger: logging.Logger, **context: Any) -> logging.LoggerAdapter[logging.Logger]:
    """A logger that adds these fields to every record it writes."""
    return _ContextAdapter(logger, context)


def configure(level: str = "INFO", json_lines: bool = False, quiet: Iterable[str] = ()) -> None:
    """Sends every record to stderr, as text or as JSON lines; done once, at start-up.

    ``quiet`` names loggers held at WARNING unless ``level`` is DEBUG (a framework's line
    per request or per successful handler run).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in quiet:
        logging.getLogger(name).setLevel(logging.NOTSET if level.upper() == "DEBUG" else "WARNING")
