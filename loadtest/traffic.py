"""Report bodies as Clima's clients send them, shared by the Locust file and `make bench`.

Two forms reach POST /clima and POST /clima/batch:
- the seed's Locust body: municipality and weather as codes 1-4, whole degrees 18-28 and
  whole percent 40-80;
- the named form people type: municipality and weather as names in any case, with or without
  accents ("Amatitlán", "AMATITLAN", "sunny", "Nublado"), one decimal place.

No Locust import here: `make bench` drives the api from asyncio with the same bodies. The
seed's body is `clima.local.seed_body`, which `make up`'s burst sends too.
"""

import random

from clima.local import seed_body

MUNICIPALITY_NAMES = (
    ("Mixco", "mixco", "MIXCO"),
    ("Guatemala", "guatemala", "GUATEMALA"),
    ("Amatitlán", "amatitlan", "AMATITLAN", "Amatitlan"),
    ("Chinautla", "chinautla", "CHINAUTLA"),
)
WEATHER_NAMES = (
    ("sunny", "Sunny", "Soleado"),
    ("cloudy", "CLOUDY", "Nublado"),
    ("rainy", "Rainy", "Lluvioso"),
    ("foggy", "Foggy", "Neblinoso"),
)


def named_report(rng: random.Random) -> dict[str, str | float]:
    """The same report with names instead of codes and one decimal place."""
    return {
        "municipality": rng.choice(rng.choice(MUNICIPALITY_NAMES)),
        "temperature": round(rng.uniform(18, 28), 1),
        "humidity": round(rng.uniform(40, 80), 1),
        "weather": rng.choice(rng.choice(WEATHER_NAMES)),
    }


def report(rng: random.Random, named_share: float) -> dict[str, int] | dict[str, str | float]:
    """One body: the named form with probability `named_share`, else the seed's."""
    return named_report(rng) if rng.random() < named_share else seed_body(rng)


def batch(
    rng: random.Random, size: int, named_share: float
) -> list[dict[str, int] | dict[str, str | float]]:
    """A body for POST /clima/batch: `size` reports."""
    return [report(rng, named_share) for _ in range(size)]
