"""Servers a test starts itself (a Valkey or Kafka on a rendered configuration): a free port,
and waiting until one listens."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from clima_operator.children import valkey as valkey_children


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(
    port: int, process: subprocess.Popen[bytes], seconds: float, log: Path | None = None
) -> None:
    """Returns once `port` accepts connections; fails when `process` exits first (with the
    end of `log`) or after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
            raise AssertionError(
                f"the server exited ({process.returncode}) before listening\n{tail}"
            )
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} after {seconds:.0f}s")


def start_valkey(conf: str, folder: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    """A valkey-server on an operator-rendered ``valkey.conf``, moved to a free loopback port
    and `folder`; the process and its port."""
    port = free_port()
    conf = conf.replace(f"port {valkey_children.VALKEY_PORT}\n", f"port {port}\n")
    conf = conf.replace("bind * -::*", "bind 127.0.0.1")
    conf = conf.replace(f"dir {valkey_children.DATA_DIR}", f"dir {folder}")
    path = folder / f"valkey-{port}.conf"
    path.write_text(conf)
    process = subprocess.Popen(["valkey-server", str(path), *extra], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_listening(port, process, 20)
    except AssertionError:
        process.kill()
        raise
    return process, port


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Returns once `predicate()` holds, asking every 0.5 s; fails naming `what` after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout_s:.0f}s")
        time.sleep(0.5)
