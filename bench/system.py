"""CPU accounting from /proc and a description of the machine, for `make bench`."""

import os
import platform
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads included; 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


def machine_busy_seconds() -> float:
    """CPU seconds every core spent busy since boot (all processes, ours and others')."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / _TICK


class CpuMeter:
    """Samples named processes and the whole machine; differences give CPU per interval."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def sample(self) -> dict[str, float]:
        """CPU seconds so far per process, plus `_machine` and `_wall`."""
        values = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        values["_machine"] = machine_busy_seconds()
        values["_wall"] = time.monotonic()
        return values

    @staticmethod
    def between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """CPU seconds per process in the interval, `other` (everyone else) and `wall`."""
        spent = {k: after[k] - before[k] for k in before if not k.startswith("_")}
        machine = after["_machine"] - before["_machine"]
        spent["other"] = max(0.0, machine - sum(spent.values()))
        spent["wall"] = after["_wall"] - before["_wall"]
        return spent


def infra_pids(state_dir: Path) -> dict[str, int]:
    """Pids of the Kafka, RabbitMQ and Valkey started by tools/local/infra.sh in `state_dir`."""
    pids = {}
    for name in ("kafka", "rabbit", "valkey"):
        f = state_dir / "infra" / name / f"{name}.pid"
        if f.is_file() and f.read_text().strip().isdigit():
            pids[name] = int(f.read_text().strip())
    return pids


def _run(*cmd: str) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def revision(repo: Path) -> dict[str, object]:
    """The code a result belongs to, and never where the checkout lies on this machine.

    ``describe`` is ``git describe --always --dirty`` (a tag if there is one, else the short
    commit; ``-dirty`` when tracked files differ from it); ``dirty`` says the same as a flag.
    """
    git = shutil.which("git") or "git"
    changes = _run(git, "-C", str(repo), "status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _run(git, "-C", str(repo), "rev-parse", "--short", "HEAD"),
        "git_describe": _run(git, "-C", str(repo), "describe", "--always", "--dirty"),
        "dirty": bool(changes),
    }


def describe(repo: Path) -> dict[str, object]:
    """The machine, the software and the code revision a result belongs to."""
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    kafka = sorted(p.name for p in (Path.home() / ".cache" / "clima").glob("kafka-*"))
    valkey = _run(shutil.which("valkey-server") or "valkey-server", "--version")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **revision(repo),
        "kafka": kafka[-1] if kafka else "",
        "rabbitmq": _run("dpkg-query", "-W", "-f", "${Version}", "rabbitmq-server"),
        "valkey": next((w for w in valkey.split() if w.startswith("v=")), valkey)[2:],
    }
