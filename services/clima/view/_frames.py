"""Data frames: the column tables Grafana passes from a data source through transformations.

A field is a named column of one kind; a frame is a list of fields of equal length. Times are
Unix milliseconds, as Grafana keeps them.
"""

import math
import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["number", "string", "time"]
Value = float | int | str
# What Go's strconv.ParseFloat accepts in decimal form (the plugin decides number columns by it).
_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE
)


@dataclass(slots=True)
class Field:
    """One column."""

    name: str
    kind: Kind
    values: list[Value] = field(default_factory=list)


@dataclass(slots=True)
class Frame:
    """Columns of equal length."""

    fields: list[Field] = field(default_factory=list)

    @property
    def length(self) -> int:
        """Number of rows."""
        return len(self.fields[0].values) if self.fields else 0

    def get(self, name: str) -> Field | None:
        """The first field with this name, if any."""
        return next((f for f in self.fields if f.name == name), None)

    def rows(self) -> list[list[Value]]:
        """The frame row by row."""
        return [list(row) for row in zip(*(f.values for f in self.fields), strict=True)]


def parse_float(text: str) -> float | None:
    """The number in `text` when Go's ParseFloat would accept it, else None."""
    if not _GO_FLOAT.fullmatch(text):
        return None
    number = float(text)
    if math.isinf(number) and "inf" not in text.lower():
        return None  # Go reports overflow ("1e999") as an error
    return number
