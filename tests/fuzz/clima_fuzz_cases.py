"""Schemathesis cases for the api's OpenAPI, generated in worker processes and cached.

Generation costs 4-20 ms of CPU per case, so the suite generates each (operation, mode) in a
process of its own, with Hypothesis `derandomize=True`: the same cases on every run. Being
the same, they are kept in the Clima cache (like other heavy builds), keyed by the schema,
the plan, this file and the Schemathesis and Hypothesis versions; a change to any of them
generates afresh. A case is a plain dict: method, path, headers, query, body.
"""

import base64
import concurrent.futures
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

CACHE = Path(os.environ.get("CLIMA_CACHE_DIR", Path.home() / ".cache" / "clima")) / "fuzz"

# (path, method, generation mode, max_examples): 10,000 cases in all, plus the GETs
PLAN: list[tuple[str, str, str, int]] = [
    ("/clima", "POST", "positive", 4000),
    ("/clima/batch", "POST", "negative", 1500),
    ("/clima", "POST", "negative", 3000),
    ("/clima/batch", "POST", "positive", 1500),
    ("/healthz", "GET", "positive", 10),
    ("/readyz", "GET", "positive", 10),
    ("/metrics", "GET", "positive", 10),
]


def generate(
    schema: dict[str, Any], path: str, method: str, mode: str, count: int
) -> list[dict[str, Any]]:
    """Up to `count` requests for one operation (fewer when its inputs are fewer)."""
    operation = schemathesis.openapi.from_dict(schema)[path][method]
    found: list[dict[str, Any]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    def collect(case: schemathesis.Case) -> None:
        found.append(_plain(case.as_transport_kwargs(base_url="http://api")))

    collect()
    return found


def _plain(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request as data: no live objects, so it crosses process boundaries."""
    headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items()}
    headers.pop("X-Schemathesis-TestCaseId", None)
    if "json" in kwargs:
        body: bytes | None = json.dumps(kwargs["json"]).encode()
    elif "data" in kwargs:
        data = kwargs["data"]
        if isinstance(data, bytes):
            body = data
        elif isinstance(data, dict):
            body = urlencode(data, doseq=True).encode()
        else:
            body = str(data).encode()
    else:
        body = None
    return {
        "method": kwargs["method"],
        "path": kwargs["url"].removeprefix("http://api"),
        "headers": headers,
        "params": kwargs.get("params") or {},
        "body": body,
    }


def cases_for(schema: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """Every planned case, from the cache when it has them; True when they were cached."""
    key = hashlib.sha256(
        json.dumps(
            [
                schema,
                PLAN,
                Path(__file__).read_text(),
                importlib.metadata.version("schemathesis"),
                importlib.metadata.version("hypothesis"),
            ],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    path = CACHE / f"cases-{key}.json"
    if path.exists():
        return [_decode(c) for c in json.loads(path.read_text())], True
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = [pool.submit(generate, schema, *plan) for plan in PLAN]
        cases = [case for future in futures for case in future.result()]
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps([_encode(c) for c in cases]))
    partial.replace(path)
    return cases, False


def _encode(case: dict[str, Any]) -> dict[str, Any]:
    body = case["body"]
    return {**case, "body": None if body is None else base64.b64encode(body).decode()}


def _decode(case: dict[str, Any]) -> dict[str, Any]:
    body = case["body"]
    return {**case, "body": None if body is None else base64.b64decode(body)}
