"""Sends seed-shaped reports into a pipeline on the local node and reconciles Valkey's counts.

Reports go to the api Service (``/clima`` and ``/clima/batch``) and to the proxy Service's
``/tweet``, by Service IP, so through kube-proxy as a client inside the cluster would; each
carries its own id and is resent with that id until it is answered 202. Then the applied
count is read from Valkey inside its pod and must have grown by exactly the number of ids.

    python traffic.py --namespace clima --pipeline clima --reports 1000 --tweets 100
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx

BATCH = 50


def kubectl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def service_url(namespace: str, name: str, port: str) -> str:
    svc = json.loads(kubectl("-n", namespace, "get", "service", name, "-o", "json"))
    number = next(p["port"] for p in svc["spec"]["ports"] if p["name"] == port)
    return f"http://{svc['spec']['clusterIP']}:{number}"


def seed_report(rng: random.Random, report_id: str) -> dict[str, Any]:
    return {
        "id": report_id,
        "municipality": rng.randint(1, 4),
        "temperature": rng.randint(18, 28),
        "humidity": rng.randint(40, 80),
        "weather": rng.randint(1, 4),
    }


def valkey_stats(namespace: str, pipeline: str) -> dict[str, int]:
    """``HGETALL clima:stats`` by valkey-cli inside the Valkey pod; the password on stdin."""
    secret = json.loads(
        kubectl("-n", namespace, "get", "secret", f"{pipeline}-credentials", "-o", "json")
    )
    password = base64.b64decode(secret["data"]["valkey-password"]).decode()
    script = 'read -r p; REDISCLI_AUTH="$p" valkey-cli --raw HGETALL clima:stats'
    out = kubectl(
        "-n",
        namespace,
        "exec",
        "-i",
        f"{pipeline}-valkey-0",
        "-c",
        "valkey",
        "--",
        "sh",
        "-c",
        script,
        stdin=password + "\n",
    ).split()
    return {out[i]: int(out[i + 1]) for i in range(0, len(out) - 1, 2)}


def read_stats(namespace: str, pipeline: str, deadline: float) -> dict[str, int]:
    """`valkey_stats`, tried again while the Valkey pod is being replaced (a test may have
    deleted it: its container is briefly not there to exec into), until `deadline`."""
    while True:
        try:
            return valkey_stats(namespace, pipeline)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            if time.monotonic() > deadline:
                raise
            print(f"cannot read Valkey's counts yet, trying again: {exc}", flush=True)
            time.sleep(2)


class Accepts:
    """The longest stretch without any 202, while reports were being sent."""

    last: float | None = None
    longest = 0.0

    @classmethod
    def accepted(cls) -> None:
        now = time.monotonic()
        if cls.last is not None:
            cls.longest = max(cls.longest, now - cls.last)
        cls.last = now


def send(
    client: httpx.Client,
    url: str,
    bodies: list[dict[str, Any]],
    batch: bool,
    deadline: float,
    *,
    pace: float,
) -> int:
    """Posts until every body got 202 (resending 503s with the same ids); returns resends."""
    time.sleep(pace)
    resends = 0
    while True:
        try:
            answer = client.post(url, json=bodies if batch else bodies[0])
        except httpx.HTTPError:
            answer = None
        if answer is not None and answer.status_code == 202:
            Accepts.accepted()
            return resends
        if answer is not None and answer.status_code not in (502, 503, 504):
            raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text[:300]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} still refuses after the deadline")
        resends += 1
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="clima")
    parser.add_argument("--pipeline", default="clima")
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--tweets", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to settle")
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between two requests")
    args = parser.parse_args()
    rng, run = random.Random(), uuid.uuid4().hex[:8]
    api = service_url(args.namespace, f"{args.pipeline}-api", "http")
    proxy = service_url(args.namespace, f"{args.pipeline}-proxy", "http")
    deadline = time.monotonic() + args.timeout
    before = read_stats(args.namespace, args.pipeline, deadline).get("applied", 0)
    started, resends = time.monotonic(), 0
    ids = [f"kube-{run}-{i}" for i in range(args.reports + args.tweets)]
    with httpx.Client(timeout=10) as client:
        singles = ids[: min(100, args.reports)]
        for report_id in singles:
            resends += send(
                client,
                f"{api}/clima",
                [seed_report(rng, report_id)],
                False,
                deadline,
                pace=args.pace,
            )
        rest = ids[len(singles) : args.reports]
        for i in range(0, len(rest), BATCH):
            bodies = [seed_report(rng, r) for r in rest[i : i + BATCH]]
            resends += send(client, f"{api}/clima/batch", bodies, True, deadline, pace=args.pace)
        for report_id in ids[args.reports :]:
            resends += send(
                client,
                f"{proxy}/tweet",
                [seed_report(rng, report_id)],
                False,
                deadline,
                pace=args.pace,
            )
    sent = time.monotonic() - started
    print(
        f"sent {args.reports} reports to {api} ({len(singles)} single, the rest in batches "
        f"of {BATCH}) and {args.tweets} to {proxy}/tweet in {sent:.1f}s; {resends} resends; "
        f"longest time without a 202: {Accepts.longest:.1f}s"
    )
    want = before + len(ids)
    while True:
        stats = read_stats(args.namespace, args.pipeline, deadline)
        if stats.get("applied", 0) >= want or time.monotonic() > deadline:
            break
        time.sleep(1)
    applied = stats.get("applied", 0) - before
    print(f"Valkey (valkey-cli in {args.pipeline}-valkey-0): clima:stats {stats}")
    print(f"applied by this run: {applied} of {len(ids)} ids")
    if applied != len(ids):
        sys.exit(f"expected exactly {len(ids)} applied, Valkey counted {applied}")


if __name__ == "__main__":
    main()
