"""The local view, opened in headless Chromium, shows the numbers Valkey holds."""

import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import valkey

from clima.contract import MUNICIPALITIES
from clima.local import LocalPipeline, free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
WINDOW = "1400,1800"  # the whole dashboard, top to bottom
PANEL = {"temperature": "2", "humidity": "3", "bars": "4", "totals": "11", "applied": "12"}
TABLES = {m.slug: str(6 + i) for i, m in enumerate(MUNICIPALITIES)}


class _Numbers(HTMLParser):
    """Collects every element carrying data-panel, with the text of the leaf spans."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str]] = []
        self.body: dict[str, str] = {}
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = values
        if "data-panel" in values:
            self.found.append({"tag": tag, "text": "", **values})
            self._open = self.found[-1] if tag == "span" else None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._open = None

    def select(self, panel: str, **attrs: str) -> list[dict[str, str]]:
        """Elements of one panel whose data-* attributes match (keys without `data-`)."""
        return [
            e
            for e in self.found
            if e["data-panel"] == panel and all(e.get(f"data-{k}") == v for k, v in attrs.items())
        ]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of headless Chromium, installed by tools/dev/chromium.sh when missing."""
    done = subprocess.run(
        ["bash", ROOT / "tools/dev/chromium.sh"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _browse(chromium: str, url: str, profile: Path, *action: str) -> str:
    """Loads `url` in headless Chromium, lets its scripts run 6 s of virtual time, then acts."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW}",
        "--hide-scrollbars",
        "--virtual-time-budget=6000",
    ]
    done = subprocess.run(
        [chromium, *flags, *action, url], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def view(infra: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The view process on a free port, reading the tests' Valkey; stopped with SIGTERM after."""
    port = free_port()
    env = {**os.environ, **infra, "CLIMA_VIEW_HOST": "127.0.0.1", "CLIMA_VIEW_PORT": str(port)}
    log = (tmp_path / "view.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from clima.view.server import main; main()"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, (tmp_path / "view.log").read_text()
        try:
            with urllib.request.urlopen(url + "readyz", timeout=2) as answer:
                if answer.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, "view not ready"
        time.sleep(0.2)
    yield url
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0, (tmp_path / "view.log").read_text()
    log.close()


def _send(api: str, count: int, seed: int) -> None:
    """Posts `count` reports, half one by one and half as a batch."""
    rng = random.Random(seed)
    with httpx.Client(base_url=api, timeout=30) as client:
        bodies = [
            {
                "municipality": rng.randint(1, 4),
                "temperature": round(rng.uniform(15, 30), 1),
                "humidity": rng.randint(40, 90),
                "weather": rng.randint(1, 4),
            }
            for _ in range(count)
        ]
        for body in bodies[: count // 2]:
            assert client.post("/clima", json=body).status_code == 202
        assert client.post("/clima/batch", json=bodies[count // 2 :]).status_code == 202


def _wait_applied(store: "valkey.Valkey", count: int) -> None:
    deadline = time.monotonic() + 60
    stats = {"applied": str(count), "duplicates": str(count), "dead_letters": "0"}
    while store.hgetall("clima:stats") != stats:
        assert time.monotonic() < deadline, store.hgetall("clima:stats")
        time.sleep(0.2)


def _latest_per_interval(store: "valkey.Valkey") -> dict[int, dict[str, str]]:
    """The final entry of each interval of clima:averages, read straight from Valkey."""
    final: dict[int, dict[str, str]] = {}
    for _, fields in store.xrange("clima:averages"):
        final[int(fields["interval"]) * 1000] = fields
    return dict(sorted(final.items()))


def _js_number(value: float) -> str:
    """How JavaScript's String() writes the plain numbers of this test."""
    return f"{value:g}"


def test_page_shows_valkey_numbers(
    pipeline_factory: Callable[[str], LocalPipeline],
    store: "valkey.Valkey",
    view: str,
    chromium: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Totals, bars, last-10 tables and average lines rendered by Chromium equal Valkey's data."""
    monkeypatch.setenv("CLIMA_INTERVAL_S", "2")  # several points on the average lines
    pipeline = pipeline_factory("both")
    for wave in range(3):
        if wave:
            time.sleep(2)
        _send(pipeline.api_url, 20, seed=wave)
    _wait_applied(store, 60)

    dom = _browse(chromium, view, tmp_path / "profile", "--dump-dom")
    page = _Numbers()
    page.feed(dom)
    assert page.body.get("data-ready") == "1", "the page never drew the panels"

    for field, name in (("applied", "Reports applied"), ("duplicates", "Duplicates")):
        [shown] = page.select(PANEL["totals"], field=name)
        assert shown["data-value"] == store.hget("clima:stats", field)
        assert shown["text"] == store.hget("clima:stats", field)

    counts = store.hgetall("clima:weather_counts")
    bars = page.select(PANEL["bars"])
    assert {b["data-field"]: b["text"] for b in bars} == counts

    for m in MUNICIPALITIES:
        newest = store.xrevrange(f"clima:{m.slug}", "+", "-", count=10)
        assert newest, m.slug
        for row, (_, fields) in enumerate(newest):
            cells = {c["data-col"]: c["text"] for c in page.select(TABLES[m.slug], row=str(row))}
            assert cells == {
                "Event time (UTC)": fields["ts"],
                "Temperature (°C)": _js_number(float(fields["temperature"])),
                "Humidity (%)": _js_number(float(fields["humidity"])),
                "Weather": fields["weather"],
            }
        assert not page.select(TABLES[m.slug], row=str(len(newest)))

    final = _latest_per_interval(store)
    for key, panel, series in (
        ("temperature", PANEL["temperature"], "Average temperature"),
        ("humidity", PANEL["humidity"], "Average humidity"),
        ("count", PANEL["applied"], "Reports applied"),
    ):
        points = [
            (int(p["data-t"]), float(p["data-v"]))
            for p in page.select(panel, series=series)
            if "data-t" in p
        ]
        assert points == [(t, float(f[key])) for t, f in final.items()], series

    (ROOT / "out").mkdir(exist_ok=True)
    _browse(chromium, view, tmp_path / "profile", f"--screenshot={ROOT / 'out' / 'view.png'}")
    shot = (ROOT / "out" / "view.png").read_bytes()
    assert shot.startswith(b"\x89PNG")
    assert len(shot) > 20_000, "a blank page compresses to almost nothing"
