"""The Grafana transformations the Clima dashboard uses, done the way Grafana does them.

Only this subset exists; a dashboard asking for another one fails loudly rather than showing
something Grafana would not. The rules followed:

- `groupBy`: one row per distinct value of the `groupby` fields, in order of first appearance;
  group fields first, then `<field> (<calc>)` for each aggregation;
- `calculateField` (binary): `left <op> right`, right a field or a number, appended as `alias`;
- `convertFieldType`: number to time (milliseconds), to number, to string;
- `organize`: order by `indexByName` (unlisted fields after), drop `excludeByName`, then
  rename by `renameByName`;
- `sortBy`: rows ordered by one field, ascending unless `desc`.
"""

import operator
from collections.abc import Callable
from typing import Any

from clima.view._frames import Field, Frame, Value, parse_float
from clima.view.errors import UnsupportedQueryError

Json = dict[str, Any]
_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def transform(frame: Frame, steps: tuple[Json, ...]) -> Frame:
    """Applies the panel's transformations in order."""
    for step in steps:
        kind = step.get("id", "")
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise UnsupportedQueryError(f"transformation {kind!r} is not reproduced")
        frame = handler(frame, step.get("options") or {})
    return frame


def reduce_field(values: list[Value], calc: str) -> Value | None:
    """One Grafana reducer (lastNotNull, last, first, firstNotNull, sum, mean, max, min, count)."""
    present = [v for v in values if v is not None]
    if calc == "count":
        return len(values)
    if not present:
        return None
    simple: dict[str, Callable[[], Value]] = {
        "last": lambda: values[-1],
        "lastNotNull": lambda: present[-1],
        "first": lambda: values[0],
        "firstNotNull": lambda: present[0],
        "sum": lambda: sum(float(v) for v in present),
        "mean": lambda: sum(float(v) for v in present) / len(present),
        "max": lambda: max(float(v) for v in present),
        "min": lambda: min(float(v) for v in present),
    }
    if calc not in simple:
        raise UnsupportedQueryError(f"reducer {calc!r} is not reproduced")
    return simple[calc]()


def _group_by(frame: Frame, options: Json) -> Frame:
    rules: dict[str, Json] = options.get("fields") or {}
    keys = [f for f in frame.fields if rules.get(f.name, {}).get("operation") == "groupby"]
    aggregated = [f for f in frame.fields if rules.get(f.name, {}).get("operation") == "aggregate"]
    if not keys:
        return frame  # Grafana leaves data without the group-by field as it is
    groups: dict[tuple[Value, ...], list[int]] = {}
    for row in range(frame.length):
        groups.setdefault(tuple(f.values[row] for f in keys), []).append(row)
    out = Frame([Field(f.name, f.kind, [k[i] for k in groups]) for i, f in enumerate(keys)])
    for source in aggregated:
        for calc in rules[source.name].get("aggregations") or []:
            kind = (
                source.kind
                if calc in ("last", "lastNotNull", "first", "firstNotNull")
                else "number"
            )
            reduced = [
                reduce_field([source.values[r] for r in rows], calc) for rows in groups.values()
            ]
            name = f"{source.name} ({calc})"
            out.fields.append(Field(name, kind, ["" if v is None else v for v in reduced]))
    return out


def _calculate(frame: Frame, options: Json) -> Frame:
    if options.get("mode") != "binary":
        raise UnsupportedQueryError("calculateField is reproduced in binary mode only")
    binary: Json = options.get("binary") or {}
    left, right, op = str(binary.get("left")), str(binary.get("right")), str(binary.get("operator"))
    if op not in _BINARY:
        raise UnsupportedQueryError(f"calculateField operator {op!r} is not reproduced")
    lhs, rhs = _operand(frame, left), _operand(frame, right)
    if lhs is None or rhs is None:
        return frame  # Grafana adds nothing while an operand field is absent (no data yet)
    values: list[Value] = [_BINARY[op](lhs(r), rhs(r)) for r in range(frame.length)]
    name = str(options.get("alias") or f"{left} {op} {right}")
    new = Field(name, "number", values)
    if options.get("replaceFields"):
        return Frame([new])
    return Frame([*frame.fields, new])


def _operand(frame: Frame, text: str) -> Callable[[int], float] | None:
    column = frame.get(text)
    if column is not None:
        return lambda row: float(column.values[row])
    number = parse_float(text)
    if number is None:
        return None
    return lambda _row: number


def _convert(frame: Frame, options: Json) -> Frame:
    for conversion in options.get("conversions") or []:
        column = frame.get(str(conversion.get("targetField")))
        target = conversion.get("destinationType")
        if column is None:
            continue
        if target == "time" and column.kind in ("number", "time"):
            column.kind, column.values = "time", [int(float(v)) for v in column.values]
        elif target == "number":
            column.kind = "number"
            column.values = [parse_float(str(v)) or 0.0 for v in column.values]
        elif target == "string":
            column.kind, column.values = "string", [str(v) for v in column.values]
        else:
            raise UnsupportedQueryError(f"conversion of {column.kind} to {target!r}")
    return frame


def _organize(frame: Frame, options: Json) -> Frame:
    index: dict[str, int] = options.get("indexByName") or {}
    excluded: dict[str, bool] = options.get("excludeByName") or {}
    renamed: dict[str, str] = options.get("renameByName") or {}
    last = len(index) + len(frame.fields)
    ordered = sorted(frame.fields, key=lambda f: index.get(f.name, last))
    kept = [f for f in ordered if not excluded.get(f.name)]
    return Frame([Field(renamed.get(f.name) or f.name, f.kind, f.values) for f in kept])


def _sort_by(frame: Frame, options: Json) -> Frame:
    rules = options.get("sort") or []
    if not rules:
        return frame
    column = frame.get(str(rules[0].get("field")))
    if column is None:
        return frame
    order = sorted(
        range(frame.length), key=lambda r: column.values[r], reverse=bool(rules[0].get("desc"))
    )
    return Frame([Field(f.name, f.kind, [f.values[r] for r in order]) for f in frame.fields])


_HANDLERS: dict[str, Callable[[Frame, Json], Frame]] = {
    "groupBy": _group_by,
    "calculateField": _calculate,
    "convertFieldType": _convert,
    "organize": _organize,
    "sortBy": _sort_by,
}
