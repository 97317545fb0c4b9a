"""Schemathesis against the real api and pipeline: no 5xx, every refusal names its problem,
and Valkey holds exactly the reports answered 202 (nothing from refused input).

The cases come from the api's own /openapi.json, positive and negative, ≥ 10,000 in all,
with Hypothesis derandomized so every run sends the same ones; a few hand-written bodies
cover what generators rarely reach (NaN, huge numbers, accents, size limits).
"""

import asyncio
import json
import ssl
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import valkey
from clima_faults_support import STATE, stream_ids
from clima_fuzz_cases import cases_for

from clima.contract import MUNICIPALITIES
from clima.local import LocalPipeline

pytestmark = pytest.mark.fuzz
MIN_CASES = 10_000
_JSON = {"content-type": "application/json"}


def _report(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {"municipality": 1, "temperature": 20, "humidity": 50, "weather": 1}
    body.update(changes)
    return body


def _raw(text: str) -> bytes:
    return text.encode()


# (path, body, content type, expected status, text the answer must contain)
HANDWRITTEN: list[tuple[str, bytes, str, int, str]] = [
    (
        "/clima",
        _raw('{"municipality":1,"temperature":NaN,"humidity":5,"weather":1}'),
        "application/json",
        422,
        "temperature",
    ),
    (
        "/clima",
        _raw('{"municipality":1,"temperature":Infinity,"humidity":5,"weather":1}'),
        "application/json",
        422,
        "temperature",
    ),
    (
        "/clima",
        _raw('{"municipality":1,"temperature":1e309,"humidity":5,"weather":1}'),
        "application/json",
        422,
        "temperature",
    ),
    (
        "/clima",
        json.dumps(_report(temperature=10**40)).encode(),
        "application/json",
        422,
        "temperature",
    ),
    (
        "/clima",
        json.dumps(_report(municipality=10**40)).encode(),
        "application/json",
        422,
        "municipality",
    ),
    ("/clima", json.dumps(_report(humidity=True)).encode(), "application/json", 422, "humidity"),
    ("/clima", json.dumps(_report(weather=None)).encode(), "application/json", 422, "weather"),
    ("/clima", json.dumps(_report(weather=[1])).encode(), "application/json", 422, "weather"),
    (
        "/clima",
        json.dumps(_report(municipality="")).encode(),
        "application/json",
        422,
        "municipality",
    ),
    ("/clima", json.dumps(_report(id="x" * 65)).encode(), "application/json", 422, "id"),
    ("/clima", json.dumps(_report(id="a b")).encode(), "application/json", 422, "id"),
    ("/clima", json.dumps(_report(extra=1)).encode(), "application/json", 422, "extra"),
    (
        "/clima",
        _raw('{"municipality":1,"municipality":2,"temperature":1,"humidity":5}'),
        "application/json",
        422,
        "weather",
    ),
    ("/clima", b"\xff\xfe\x00", "application/json", 400, "parsing the body"),  # not UTF-8
    ("/clima", b"", "application/json", 422, "body"),
    ("/clima", json.dumps(_report()).encode(), "text/plain", 422, "body"),
    (
        "/clima",
        b'{"municipality": 1, "pad": "' + b"x" * 1_100_000 + b'"}',
        "application/json",
        413,
        "body",
    ),
    ("/clima/batch", b"[]", "application/json", 422, "body"),
    ("/clima/batch", json.dumps([_report()] * 1001).encode(), "application/json", 422, "body"),
    (
        "/clima/batch",
        json.dumps([_report(), _report(humidity=101)]).encode(),
        "application/json",
        422,
        "humidity",
    ),
    # valid, and unusual: names with accents and case, Spanish weather names, bounds, -0.0
    (
        "/clima",
        json.dumps(_report(municipality="AMATITLÁN", weather="Neblinoso")).encode(),
        "application/json",
        202,
        "id",
    ),
    (
        "/clima",
        json.dumps(_report(municipality=" chinautla ", weather="LLUVIOSO")).encode(),
        "application/json",
        202,
        "id",
    ),
    (
        "/clima",
        json.dumps(_report(temperature=-50, humidity=0)).encode(),
        "application/json",
        202,
        "id",
    ),
    (
        "/clima",
        json.dumps(_report(temperature=60.0, humidity=100.0)).encode(),
        "application/json",
        202,
        "id",
    ),
    (
        "/clima",
        _raw('{"municipality":2,"temperature":-0.0,"humidity":5,"weather":2}'),
        "application/json",
        202,
        "id",
    ),
    (
        "/clima/batch",
        json.dumps([_report(id=f"hand-{i}") for i in range(1000)]).encode(),
        "application/json",
        202,
        "ids",
    ),
]


@dataclass
class Answer:
    """One request the fuzzer sent and what came back."""

    request: dict[str, Any]
    status: int
    body: bytes


async def _send_all(api_url: str, cases: list[dict[str, Any]], workers: int = 24) -> list[Answer]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)
    answers: list[Answer] = []
    tls = ssl.create_default_context()

    async def sender() -> None:
        # idle connections close before the api's 5 s keep-alive timeout (no close race)
        limits = httpx.Limits(max_connections=1, keepalive_expiry=3)
        async with httpx.AsyncClient(
            base_url=api_url, timeout=30, limits=limits, verify=tls
        ) as client:
            while not queue.empty():
                case = queue.get_nowait()
                try:
                    answer = await client.request(
                        case["method"],
                        case["path"],
                        headers=case["headers"],
                        params=case["params"],
                        content=case["body"],
                    )
                except httpx.LocalProtocolError:
                    continue  # a header httpx will not send (e.g. non-ASCII): not a case
                except httpx.TransportError as exc:  # the api dropped the connection
                    answers.append(Answer(case, 599, repr(exc).encode()))
                    continue
                answers.append(Answer(case, answer.status_code, answer.content))

    await asyncio.gather(*(sender() for _ in range(workers)))
    return answers


def _summarize(answers: list[Answer], path: Path) -> None:
    """Counts per (path, status, first words of the problem) and one example each."""
    groups: dict[str, dict[str, Any]] = {}
    for a in answers:
        text = a.body[:300].decode(errors="replace")
        key = f"{a.request['method']} {a.request['path']} {a.status} {text[:60]}"
        group = groups.setdefault(key, {"count": 0, "example": repr(a.request)[:500]})
        group["count"] += 1
    ordered = dict(sorted(groups.items(), key=lambda kv: -kv[1]["count"]))
    path.write_text(json.dumps(ordered, indent=1, ensure_ascii=False))


def _problem_named(answer: Answer) -> str | None:
    """Why a 4xx answer does not name its problem, or None when it does."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        return "body is not JSON"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str) and detail.strip():
        return None
    if isinstance(detail, list) and detail:
        if all(isinstance(d, dict) and d.get("loc") and d.get("msg") for d in detail):
            return None
        return "a detail entry lacks loc or msg"
    return "no detail"


def _accepted_ids(answer: Answer) -> list[str]:
    body = json.loads(answer.body)
    ids: list[str] = body["ids"] if "ids" in body else [body["id"]]
    sent = json.loads(answer.request["body"])
    sent = sent if isinstance(sent, list) else [sent]
    assert len(ids) == len(sent), answer
    for report, ident in zip(sent, ids, strict=True):
        if report.get("id") is not None:
            assert ident == report["id"], (report, ident)
    return ids


def _applied_by_id(store: "valkey.Valkey") -> Counter[str]:
    """How often each id is in the streams: once, whatever the hour (ids dedup for W)."""
    seen: Counter[str] = Counter()
    for m in MUNICIPALITIES:
        for _, fields in store.xrange(f"clima:{m.slug}"):
            seen[fields["id"]] += 1
    return seen


async def test_generated_and_handwritten_input(
    pipeline: LocalPipeline, store: "valkey.Valkey"
) -> None:
    """≥ 10,000 cases: no 5xx, every 4xx names the problem, Valkey holds only what got 202."""
    store.flushdb()  # the pipeline is idle; other fuzz tests may have written before
    async with httpx.AsyncClient(base_url=pipeline.api_url, timeout=30) as client:
        schema = (await client.get("/openapi.json")).json()
    started = time.monotonic()
    cases, cached = await asyncio.to_thread(cases_for, schema)
    generated_s = time.monotonic() - started
    handwritten = [
        {
            "method": "POST",
            "path": path,
            "headers": {"content-type": ctype},
            "params": {},
            "body": body,
        }
        for path, body, ctype, _, _ in HANDWRITTEN
    ]
    answers = await _send_all(pipeline.api_url, cases + handwritten)
    sent_s = time.monotonic() - started - generated_s
    print(
        f"\nfuzz: {len(cases)} cases {'from the cache' if cached else 'generated'} in "
        f"{generated_s:.0f}s, {len(answers)} sent in {sent_s:.0f}s; "
        f"statuses {Counter(a.status for a in answers)}"
    )

    _summarize(answers, STATE / "logs" / "fuzz" / "answers.json")
    assert len(answers) >= MIN_CASES, f"only {len(answers)} cases were sent"
    server_errors = [a for a in answers if a.status >= 500]  # 599: connection dropped
    assert not server_errors, f"{len(server_errors)} 5xx, first: {server_errors[0]}"
    unnamed = [(a, why) for a in answers if 400 <= a.status < 500 if (why := _problem_named(a))]
    assert not unnamed, f"{len(unnamed)} 4xx without a named problem, first: {unnamed[0]}"
    by_body = {a.request["body"]: a for a in answers if a.request in handwritten}
    for _, body, _, status, text in HANDWRITTEN:
        answer = by_body[body]
        assert answer.status == status, answer
        assert text in answer.body.decode(), answer
    unexpected = [
        a for a in answers if a.status < 400 and a.status != 202 and a.request["method"] == "POST"
    ]
    assert not unexpected, f"a POST answered {unexpected[0].status}: {unexpected[0]}"

    accepted = [i for a in answers if a.status == 202 for i in _accepted_ids(a)]
    assert accepted, "no generated case was valid: the generator is not reaching the pipeline"
    await asyncio.to_thread(_check_valkey, store, set(accepted))


def _check_valkey(store: "valkey.Valkey", accepted: set[str], timeout_s: float = 60) -> None:
    """Valkey has every accepted id, once, and nothing else."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not accepted <= set(stream_ids(store)):
        time.sleep(0.3)
    time.sleep(1.0)
    seen = _applied_by_id(store)
    ids = set(seen)
    stats = store.hgetall("clima:stats")
    assert ids == accepted, (
        f"missing {sorted(accepted - ids)[:5]}, never accepted {sorted(ids - accepted)[:5]}"
    )
    assert all(n == 1 for n in seen.values()), "an id was applied twice"
    assert int(stats.get("applied", 0)) == sum(seen.values())
    assert int(stats.get("dead_letters", 0)) == 0, "accepted input was dead-lettered downstream"
