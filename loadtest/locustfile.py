"""Clima traffic for Locust: single reports and batches, seed-shaped and named.

    locust -f loadtest/locustfile.py                          # web UI, against `make up`
    locust -f loadtest/locustfile.py --headless -u 50 -r 50 -t 60s --json-file out/load
    locust -f loadtest/locustfile.py --host http://clima.example ReportUser   # one kind only

Users (pick by class name, default both by weight 9:1):
- ReportUser: POST /clima, one report per request, as the seed's Locust did;
- BatchUser:  POST /clima/batch, `--batch-size` reports per request (default 100).

Bodies mix the seed's codes (1-4) with names ("Amatitlán", "sunny"), `--named-share` of
them named (default 0.2). A request counts as a success only when the api answered 202
with the ids of every report it carried. Works against `make up` (the default host) and a
cluster ingress (`--host`).
"""

import random
import time
from typing import Any

from locust import FastHttpUser, events, task
from locust.env import Environment
from traffic import batch, report  # loadtest/ is on sys.path: Locust adds its file's folder

DEFAULT_HOST = "http://127.0.0.1:8080"


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument(
        "--batch-size",
        type=int,
        default=100,
        env_var="CLIMA_LOAD_BATCH_SIZE",
        help="reports per POST /clima/batch (BatchUser)",
    )
    parser.add_argument(
        "--named-share",
        type=float,
        default=0.2,
        env_var="CLIMA_LOAD_NAMED_SHARE",
        help="share of reports sent with names instead of codes, 0-1",
    )
    parser.add_argument(
        "--user-rate",
        type=float,
        default=0.0,
        env_var="CLIMA_LOAD_USER_RATE",
        help="requests per second per user (0: as fast as the api answers)",
    )


class _ClimaUser(FastHttpUser):
    """What both kinds share: the default host, pacing and the options."""

    abstract = True
    host = DEFAULT_HOST

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        self.batch_size: int = getattr(options, "batch_size", 100)
        self.named_share: float = getattr(options, "named_share", 0.2)
        self.user_rate: float = getattr(options, "user_rate", 0.0)
        self.rng = random.Random()
        self._next_at: float | None = None

    def wait_time(self) -> float:
        """No wait by default; with --user-rate, a steady pace per user (phases spread)."""
        if self.user_rate <= 0:
            return 0.0
        interval = 1.0 / self.user_rate
        now = time.monotonic()
        if self._next_at is None:
            self._next_at = now + self.rng.uniform(0, interval)
        else:
            self._next_at = max(self._next_at + interval, now)
        return max(0.0, self._next_at - now)


class ReportUser(_ClimaUser):
    """One report per request (POST /clima)."""

    weight = 9

    @task
    def post_report(self) -> None:
        with self.client.post(
            "/clima", json=report(self.rng, self.named_share), catch_response=True
        ) as answer:
            if answer.status_code != 202:
                answer.failure(f"{answer.status_code}: {(answer.text or '')[:200]}")
            elif '"id"' not in (answer.text or ""):
                answer.failure("202 without an id")


class BatchUser(_ClimaUser):
    """`--batch-size` reports per request (POST /clima/batch); all or none are accepted."""

    weight = 1

    @task
    def post_batch(self) -> None:
        size = self.batch_size
        with self.client.post(
            "/clima/batch",
            json=batch(self.rng, size, self.named_share),
            name=f"/clima/batch [{size}]",
            catch_response=True,
        ) as answer:
            if answer.status_code != 202:
                answer.failure(f"{answer.status_code}: {(answer.text or '')[:200]}")
                return
            body = answer.json()
            if body.get("accepted") != size or len(body.get("ids", ())) != size:
                answer.failure(f"202 for {body.get('accepted')} of {size} reports")
