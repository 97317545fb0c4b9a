"""Reports posted through the real api reach real Valkey exactly once, in every mode."""

import random
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
import valkey

from clima.contract import MUNICIPALITIES, WEATHERS
from clima.local import LocalPipeline

pytestmark = pytest.mark.integration
NAMES_M = [m.name for m in MUNICIPALITIES]
NAMES_W = [w.key.upper() for w in WEATHERS]


def _body(rng: random.Random, named: bool) -> dict[str, object]:
    m, w = rng.randint(1, 4), rng.randint(1, 4)
    return {
        "municipality": NAMES_M[m - 1] if named else m,
        "temperature": round(rng.uniform(-50, 60), 1),
        "humidity": rng.randint(0, 100),
        "weather": NAMES_W[w - 1] if named else w,
    }


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 45) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def _applied(store: "valkey.Valkey") -> int:
    return int(store.hget("clima:stats", "applied") or 0)


def _send(api: str, rng: random.Random) -> dict[str, dict[str, object]]:
    """Posts 120 single reports (both body shapes) and 3 batches of 40; returns id -> body."""
    sent: dict[str, dict[str, object]] = {}
    with httpx.Client(base_url=api, timeout=30) as client:
        for i in range(120):
            body = _body(rng, named=i % 2 == 1)
            answer = client.post("/clima", json=body)
            assert answer.status_code == 202, answer.text
            sent[answer.json()["id"]] = body
        for _ in range(3):
            bodies = [_body(rng, named=rng.random() < 0.5) for _ in range(40)]
            answer = client.post("/clima/batch", json=bodies)
            assert answer.status_code == 202, answer.text
            assert answer.json()["accepted"] == 40
            sent.update(zip(answer.json()["ids"], bodies, strict=True))
    return sent


@pytest.mark.parametrize("mode", ["kafka", "rabbit", "both", "random"])
def test_reports_land_exactly_once(
    mode: str, pipeline_factory: Callable[[str], LocalPipeline], store: "valkey.Valkey"
) -> None:
    """Every accepted report is in Valkey once, with the seed's keys and the right counts."""
    pipeline = pipeline_factory(mode)
    sent = _send(pipeline.api_url, random.Random(mode))
    _wait_for(lambda: _applied(store) >= len(sent))
    if mode == "both":
        _wait_for(lambda: int(store.hget("clima:stats", "duplicates") or 0) >= len(sent))
    time.sleep(1)  # let any stray duplicate arrive before counting
    assert _applied(store) == len(sent)

    seen: list[str] = []
    for m in MUNICIPALITIES:
        for _, fields in store.xrange(f"clima:{m.slug}"):
            seen.append(fields["id"])
            body = sent[fields["id"]]
            assert float(fields["temperature"]) == float(body["temperature"])  # type: ignore[arg-type]
            assert set(fields) >= {"ts", "temperature", "humidity", "weather"}
    assert sorted(seen) == sorted(sent), "streams must hold each accepted report exactly once"

    expected = Counter(WEATHERS[_code(b["weather"], NAMES_W) - 1].name for b in sent.values())
    assert {k: int(v) for k, v in store.hgetall("clima:weather_counts").items()} == expected

    for m in MUNICIPALITIES:
        latest = store.hgetall(f"municipality:{m.slug}")
        assert latest["name"] == m.name
        assert set(latest) == {"name", "temperature", "humidity", "weather", "last_update"}
    assert set(store.smembers("clima:municipalities")) == {m.slug for m in MUNICIPALITIES}


def _code(value: object, names: list[str]) -> int:
    return names.index(value) + 1 if isinstance(value, str) else int(value)  # type: ignore[call-overload]


BAD_BODIES = [
    (b'{"municipality": 1, "temperature": 99, "humidity": 50, "weather": 1}', "temperature"),
    (b'{"municipality": 1, "temperature": 20, "humidity": -1, "weather": 1}', "humidity"),
    (b'{"municipality": "lima", "temperature": 20, "humidity": 5, "weather": 1}', "municipality"),
    (b'{"municipality": 1, "temperature": 20, "humidity": 5, "weather": "windy"}', "weather"),
    (b'{"municipality": 1, "temperature": "hot", "humidity": 5, "weather": 1}', "temperature"),
    (b'{"municipality": 1, "temperature": 20, "humidity": 5}', "weather"),
    (b'{"municipality": 1, "temperature": 20,', "json"),
    (b"[]", "body"),
    (b'{"municipality": 1, "temperature": NaN, "humidity": 5, "weather": 1}', "temperature"),
    (b'{"municipality": 1, "temperature": 1e309, "humidity": 5, "weather": 1}', "temperature"),
]


def test_invalid_input_is_refused_and_changes_nothing(
    pipeline_factory: Callable[[str], LocalPipeline], store: "valkey.Valkey"
) -> None:
    """Bad bodies get 422 naming the field (413 when too large), and Valkey stays empty."""
    pipeline = pipeline_factory("both")
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=pipeline.api_url, timeout=30) as client:
        for raw, field in BAD_BODIES:
            answer = client.post("/clima", content=raw, headers=headers)
            assert answer.status_code == 422, raw
            assert field in answer.text, (raw, answer.text)
        plain = {"content-type": "text/plain"}
        seed = b'{"municipality": 1, "temperature": 20, "humidity": 5, "weather": 1}'
        assert client.post("/clima", content=seed, headers=plain).status_code == 422
        bad_batch = [_body(random.Random(1), named=False)] * 3 + [{"municipality": 9}]
        answer = client.post("/clima/batch", json=bad_batch)
        assert answer.status_code == 422
        assert '"body",3,"municipality"' in answer.text.replace(" ", "")
        too_many = [_body(random.Random(2), named=False)] * 1001
        assert client.post("/clima/batch", json=too_many).status_code == 422
        huge = b'{"municipality": 1, "pad": "' + b"x" * 2_000_000 + b'"}'
        assert client.post("/clima", content=huge, headers=headers).status_code == 413
    time.sleep(1)
    assert store.dbsize() == 0
