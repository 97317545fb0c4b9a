"""What Grafana's Redis data source (redis-datasource 2.2) does with one query.

Each target names a command, a key and arguments; the plugin sends exactly one Valkey command
and turns the reply into a data frame. This module sends the same command with valkey-py and
builds the same frame, so a test or the local view sees what a Grafana panel receives:

- HGETALL: one row, one field per hash field (a number when the value parses as one);
- XRANGE / XREVRANGE: `$streamId`, `$time` (ms part of the entry id), then one field per entry
  key, typed by its first value; an entry without that key gets 0 or "" as the plugin fills;
- HGET, HMGET and single-value commands (GET, TTL, TYPE, HLEN, XLEN, LLEN, SCARD): one row;
- HKEYS, SMEMBERS: one `Value` column.
Empty `start`/`end` of a stream range follow the dashboard time range; `-`/`+` take all.
"""

import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import valkey

from clima.view._dashboard import Target
from clima.view._frames import Field, Frame, Kind, Value, parse_float
from clima.view.errors import UnsupportedQueryError

_ONE_VALUE = frozenset({"get", "ttl", "type", "hlen", "xlen", "llen", "scard"})


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The dashboard time range, in Unix milliseconds."""

    from_ms: int
    to_ms: int

    @classmethod
    def last(cls, span_s: int, now_ms: int | None = None) -> "TimeRange":
        """The `span_s` seconds up to now, like Grafana's `now-15m` to `now`."""
        end = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        return cls(end - span_s * 1000, end)


def command_of(target: Target, time_range: TimeRange | None) -> list[str]:
    """The command the plugin sends, as words (`XREVRANGE clima:mixco + - COUNT 10`).

    Without a time range, empty stream bounds mean the whole stream.
    """
    name = target.command
    if name in ("xrange", "xrevrange"):
        start = target.start or (f"{time_range.from_ms}-0" if time_range else "-")
        end = target.end or (f"{time_range.to_ms}-0" if time_range else "+")
        bounds = [start, end] if name == "xrange" else [end, start]
        count = ["COUNT", str(target.count)] if target.count > 0 else []
        return [name.upper(), target.key, *bounds, *count]
    if name == "hget":
        return ["HGET", target.key, target.field]
    if name == "hmget":
        return ["HMGET", target.key, *shlex.split(target.field)]
    if name in _ONE_VALUE or name in ("hgetall", "hkeys", "smembers"):
        return [name.upper(), target.key]
    raise UnsupportedQueryError(f"the runner does not reproduce command {name!r}")


def run_target(
    client: "valkey.Valkey", target: Target, time_range: TimeRange | None = None
) -> Frame:
    """Sends the target's command to Valkey and builds the frame the plugin would build."""
    words = command_of(target, time_range)
    reply = client.execute_command(*words)
    name = target.command
    if name in ("xrange", "xrevrange"):
        return stream_frame(reply)
    if name == "hgetall":
        return wide_frame(_pairs(reply))
    if name == "hget":
        return wide_frame([(target.field, reply)])
    if name == "hmget":
        return wide_frame(list(zip(words[2:], reply, strict=True)))
    if name in ("hkeys", "smembers"):
        return Frame([Field("Value", "string", [_text(v) for v in reply])])
    return wide_frame([("Value", reply)])


def wide_frame(pairs: Sequence[tuple[str, Any]]) -> Frame:
    """One row; a field per pair, a number when its value parses as one (nil reads as "")."""
    frame = Frame()
    for name, raw in pairs:
        text = _text(raw)
        number = parse_float(text)
        if number is None:
            frame.fields.append(Field(name, "string", [text]))
        else:
            frame.fields.append(Field(name, "number", [number]))
    return frame


def stream_frame(entries: Sequence[tuple[Any, Mapping[Any, Any]]]) -> Frame:
    """The frame of an XRANGE/XREVRANGE reply, entry order kept."""
    ids = Field("$streamId", "string")
    times = Field("$time", "time")
    frame = Frame([ids, times])
    by_name: dict[str, Field] = {}
    for row, (entry_id, values) in enumerate(entries):
        text_id = _text(entry_id)
        ids.values.append(text_id)
        times.values.append(int(text_id.split("-")[0]))
        seen = set()
        for raw_key, raw_value in values.items():
            key, text = _text(raw_key), _text(raw_value)
            number = parse_float(text)
            if key not in by_name:
                kind: Kind = "string" if number is None else "number"
                by_name[key] = Field(key, kind, [_blank(kind)] * row)
                frame.fields.append(by_name[key])
            column = by_name[key]
            column.values.append(text if column.kind == "string" else (number or 0.0))
            seen.add(key)
        for key, column in by_name.items():
            if key not in seen:
                column.values.append(_blank(column.kind))
    return frame


def _blank(kind: str) -> Value:
    return "" if kind == "string" else 0.0


def _pairs(reply: Any) -> list[tuple[str, Any]]:
    if isinstance(reply, Mapping):
        return [(_text(k), v) for k, v in reply.items()]
    flat = list(reply)
    return [(_text(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)]


def _text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return str(raw)
