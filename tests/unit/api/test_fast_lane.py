"""The api's fast lane accepts exactly what ReportIn accepts and builds the same reports."""

import json
import random

import orjson
from pydantic import ValidationError

from clima.contract.http import ReportIn, plain_report

ODD = [True, None, "", " ", "MIXCO ", "Amatitlán", "Soleado", "x", 0, 5, -1, 1.0, 2.5, "1"]
ODD += [[], {}, -50, 60, 60.5, -50.5, 100, 100.1, 1e-9, -0.0, 10**19]
IDS = ["abc", "a b", "", "x" * 64, "x" * 65, "ok:1.2_-", None, 5, "ü", "abc\n", "\nabc"]


def _body(rng: random.Random) -> dict[str, object]:
    body: dict[str, object] = {
        "municipality": rng.choice([1, 2, 3, 4, "mixco", "Amatitlán", "GUATEMALA"]),
        "temperature": rng.choice([rng.randint(18, 28), round(rng.uniform(-50, 60), 2)]),
        "humidity": rng.randint(0, 100),
        "weather": rng.choice([1, 2, 3, 4, "sunny", "Neblinoso", "RAINY"]),
    }
    roll = rng.random()
    if roll < 0.3:
        body[rng.choice(list(body))] = rng.choice(ODD)
    elif roll < 0.4:
        body["id"] = rng.choice(IDS)
    elif roll < 0.45:
        del body[rng.choice(list(body))]
    elif roll < 0.5:
        body["extra"] = 1
    return body


def test_fast_lane_agrees_with_report_in() -> None:
    """On 20,000 odd and ordinary bodies the fast lane never accepts what ReportIn refuses."""
    rng = random.Random(3)
    taken = 0
    for _ in range(20_000):
        body = _body(rng)
        raw = json.dumps(body).encode()
        fast = plain_report(orjson.loads(raw), 1)
        try:
            slow = ReportIn.model_validate(json.loads(raw)).to_report(1)
        except ValidationError:
            slow = None
        if fast is None:
            continue
        assert slow is not None, f"fast lane accepts what ReportIn refuses: {body}"
        if body.get("id") is None:
            slow.id = fast.id
        assert fast.SerializeToString() == slow.SerializeToString(), body
        taken += 1
    assert taken > 10_000, "the fast lane should take the plainly valid bodies"


def test_id_with_a_trailing_newline_is_refused_by_both_lanes() -> None:
    """ "abc\\n" passed the fast lane's `$` (which matches before a newline) though ReportIn
    refuses it; now both refuse it."""
    body = {"municipality": 1, "temperature": 20, "humidity": 50, "weather": 1, "id": "abc\n"}
    assert plain_report(body, 1) is None
    try:
        ReportIn.model_validate(body)
    except ValidationError:
        return
    raise AssertionError("ReportIn accepted an id ending in a newline")
