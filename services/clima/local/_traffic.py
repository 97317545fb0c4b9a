"""The seed's report body, shared by `make up`'s burst, the Locust file and `make bench`."""

import random


def seed_body(rng: random.Random) -> dict[str, int]:
    """The seed's Locust body: codes 1-4, 18-28 °C, 40-80 %."""
    return {
        "municipality": rng.randint(1, 4),
        "temperature": rng.randint(18, 28),
        "humidity": rng.randint(40, 80),
        "weather": rng.randint(1, 4),
    }
