"""Names, slugs and codes of municipalities and weather conditions.

The seed's clients send codes 1-4; people send names in any case, with or without accents.
Both resolve here to one entry, whose `slug` names Valkey keys and whose `name` is what
dashboards show (the seed's Spanish names; foggy is "Neblinoso").
"""

import unicodedata
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Municipality:
    """A municipality that reports weather."""

    code: int
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class Weather:
    """A sky condition."""

    code: int
    key: str
    name: str


MUNICIPALITIES: tuple[Municipality, ...] = (
    Municipality(1, "mixco", "Mixco"),
    Municipality(2, "guatemala", "Guatemala"),
    Municipality(3, "amatitlan", "Amatitlán"),
    Municipality(4, "chinautla", "Chinautla"),
)

WEATHERS: tuple[Weather, ...] = (
    Weather(1, "sunny", "Soleado"),
    Weather(2, "cloudy", "Nublado"),
    Weather(3, "rainy", "Lluvioso"),
    Weather(4, "foggy", "Neblinoso"),
)


def _fold(text: str) -> str:
    """Lower-cases and strips accents, so "Amatitlán" and "AMATITLAN" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_MUNICIPALITY_NAMES = {alias: m for m in MUNICIPALITIES for alias in {_fold(m.slug), _fold(m.name)}}
_WEATHER_NAMES = {alias: w for w in WEATHERS for alias in {_fold(w.key), _fold(w.name)}}
_MUNICIPALITY_CODES = {m.code: m for m in MUNICIPALITIES}
_WEATHER_CODES = {w.code: w for w in WEATHERS}


def municipality_by_code(code: int) -> Municipality:
    """Returns the municipality of a protobuf code; KeyError when unknown."""
    return _MUNICIPALITY_CODES[code]


def weather_by_code(code: int) -> Weather:
    """Returns the weather of a protobuf code; KeyError when unknown."""
    return _WEATHER_CODES[code]


def parse_municipality(value: int | str) -> Municipality:
    """Resolves a code or a name; ValueError listing the accepted names when unknown."""
    found = _lookup(value, _MUNICIPALITY_CODES, _MUNICIPALITY_NAMES)
    if found is None:
        raise ValueError(
            f"unknown municipality {value!r}; use 1-4 or one of {_names(MUNICIPALITIES)}"
        )
    return found


def parse_weather(value: int | str) -> Weather:
    """Resolves a code or a name; ValueError listing the accepted names when unknown."""
    found = _lookup(value, _WEATHER_CODES, _WEATHER_NAMES)
    if found is None:
        raise ValueError(f"unknown weather {value!r}; use 1-4 or one of {_names(WEATHERS)}")
    return found


def _lookup(value: int | str, codes: dict[int, T], names: dict[str, T]) -> T | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return codes.get(value)
    return names.get(_fold(value))


def _names(entries: tuple[Municipality, ...] | tuple[Weather, ...]) -> str:
    return ", ".join(e.slug if isinstance(e, Municipality) else e.key for e in entries)
