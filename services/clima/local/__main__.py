"""`python -m clima.local up|down|burst`: the pipeline on this machine, for `make up`."""

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from clima import wiring
from clima.common.logs import configure
from clima.local._burst import burst, summary
from clima.local._pipeline import LocalPipeline

STATE = Path(os.environ.get("CLIMA_STATE_DIR", ".state"))
PIDS = STATE / "run" / "pids.json"


def up(mode: str, reports: int) -> None:
    """Starts the services, sends a burst, prints where to look."""
    if PIDS.exists():
        print(f"pipeline already running (pids in {PIDS}); `make down` first", file=sys.stderr)
        sys.exit(1)
    pipeline = LocalPipeline(mode=mode, env={}, log_dir=STATE / "run" / "logs")
    print(f"==> starting api, proxy, writer ({mode}) and consumers")
    try:
        pipeline.start()
    except (RuntimeError, TimeoutError):
        pipeline.stop()
        raise
    view_port = os.environ.get(f"{wiring.VIEW_PREFIX}PORT", str(wiring.VIEW_PORT))
    view_url = pipeline.start_view(int(view_port))
    PIDS.write_text(json.dumps({n: p.pid for n, p in pipeline.processes.items()}))
    print(f"==> sending {reports} reports to {pipeline.api_url}/clima and /clima/batch")
    result = asyncio.run(burst(pipeline.api_url, reports))
    print(f"    {result}")
    print(asyncio.run(summary()))
    print(f"==> dashboard panels, refreshing every 2 s: {view_url}")


def down() -> None:
    """SIGTERMs the services `up` started and waits for them to exit."""
    if not PIDS.exists():
        print("no pipeline processes running")
        return
    pids: dict[str, int] = json.loads(PIDS.read_text())
    for name in ["api", "proxy", "writer", "kafka-consumer", "rabbit-consumer", "view"]:
        if name in pids:
            _terminate(name, pids[name])
    PIDS.unlink()


def _terminate(name: str, pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"    stopped {name}")
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    print(f"    killed {name} (did not stop in 20 s)")


def main() -> None:
    """Parses the command."""
    parser = argparse.ArgumentParser(prog="python -m clima.local")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up")
    mode = os.environ.get(wiring.MODE_ENV.name, wiring.DEFAULT_MODE)
    start.add_argument("--mode", default=mode, choices=wiring.MODES)
    start.add_argument("--reports", type=int, default=3000)
    sub.add_parser("down")
    args = parser.parse_args()
    configure("WARNING")  # what goes wrong; progress is printed
    if args.command == "up":
        up(args.mode, args.reports)
    else:
        down()


main()
