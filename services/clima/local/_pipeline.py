"""Starts api, proxy, writer and consumers as child processes and stops them cleanly."""

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from clima import wiring

logger = logging.getLogger(__name__)


def read_infra_env(path: Path) -> dict[str, str]:
    """The addresses tools/local/infra.sh writes (`export KEY='value'` lines) as a dict."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            found[key] = value.strip("'\"")
    return found


_HANDED_OUT: set[int] = set()
_PORTS_LOCK = threading.Lock()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` loopback ports that nothing listens on now and that this process never handed
    out before: pipelines started side by side cannot draw the same port (gRPC servers bind
    with SO_REUSEPORT by default, so a second one on a port used to share it silently)."""
    with _PORTS_LOCK:
        held: list[socket.socket] = []
        ports: list[int] = []
        try:
            while len(ports) < count:
                sock = socket.socket()
                held.append(sock)  # kept bound until all are drawn: no repeats within a call
                sock.bind(("127.0.0.1", 0))
                port: int = sock.getsockname()[1]
                if port not in _HANDED_OUT:
                    _HANDED_OUT.add(port)
                    ports.append(port)
        finally:
            for sock in held:
                sock.close()
        return ports


@dataclass(frozen=True)
class Ports:
    """Where each process listens (clima.wiring's ports; both consumers share one host, so
    the second one's probe takes the next port)."""

    api: int = wiring.API_PORT
    proxy_http: int = wiring.PROXY_HTTP_PORT
    proxy_grpc: int = wiring.PROXY_GRPC_PORT
    writer: int = wiring.WRITER_GRPC_PORT
    writer_probe: int = wiring.WRITER_PROBE_PORT
    kafka_consumer_probe: int = wiring.CONSUMER_PROBE_PORT
    rabbit_consumer_probe: int = wiring.CONSUMER_PROBE_PORT + 1

    @classmethod
    def free(cls) -> "Ports":
        """Fresh free ports for every process (tests run beside `make up`)."""
        return cls(*free_ports(7))


@dataclass(frozen=True)
class Process:
    """One process to start: `clima <args>` with `env` on top of the pipeline's, ready once
    `ready_url` answers 200."""

    name: str
    args: list[str]
    env: dict[str, str]
    ready_url: str


def _loopback(prefix: str, **ports: int) -> dict[str, str]:
    """A process's own variables binding it to loopback on the given ports."""
    named = {f"{prefix}{setting.upper()}": str(number) for setting, number in ports.items()}
    return {f"{prefix}HOST": "127.0.0.1", **named}


@dataclass
class LocalPipeline:
    """The five processes of the data plane, wired to brokers and Valkey given in `env`."""

    mode: str
    env: dict[str, str]
    log_dir: Path
    ports: Ports = field(default_factory=Ports)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _specs: dict[str, tuple[list[str], dict[str, str], str]] = field(default_factory=dict)

    def consumers(self) -> list[wiring.Broker]:
        """The consumers this mode needs (one per broker it writes to)."""
        return list(wiring.brokers_of(self.mode))

    def plan(self) -> list[Process]:
        """The processes of this mode and the variables that wire them to each other."""
        p = self.ports
        upstream = wiring.UPSTREAM_ENV.name
        planned = [
            Process(
                "writer",
                ["writer"],
                {
                    wiring.MODE_ENV.name: self.mode,
                    **_loopback(wiring.WRITER_PREFIX, port=p.writer, probe_port=p.writer_probe),
                },
                f"http://127.0.0.1:{p.writer_probe}/readyz",
            ),
            Process(
                "proxy",
                ["proxy"],
                {
                    upstream: f"127.0.0.1:{p.writer}",
                    **_loopback(
                        wiring.PROXY_PREFIX, http_port=p.proxy_http, grpc_port=p.proxy_grpc
                    ),
                },
                f"http://127.0.0.1:{p.proxy_http}/health",
            ),
            Process(
                "api",
                ["api"],
                {upstream: f"127.0.0.1:{p.proxy_grpc}", **_loopback(wiring.API_PREFIX, port=p.api)},
                f"http://127.0.0.1:{p.api}/readyz",
            ),
        ]
        probes = {wiring.KAFKA: p.kafka_consumer_probe, wiring.RABBIT: p.rabbit_consumer_probe}
        for source in self.consumers():
            planned.append(
                Process(
                    f"{source}-consumer",
                    ["consumer", source],
                    _loopback(wiring.CONSUMER_PREFIX, probe_port=probes[source]),
                    f"http://127.0.0.1:{probes[source]}/readyz",
                )
            )
        return planned

    def start(self, timeout_s: float = 60) -> None:
        """Starts every process and waits until each reports ready."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for process in self.plan():
            self._spawn(process.name, process.args, process.env, process.ready_url)
        for name in list(self.processes):
            self._wait_ready(name, timeout_s)

    def view(self, port: int) -> Process:
        """The local page of the dashboard's panels (on loopback, the view's default)."""
        url = f"http://127.0.0.1:{port}/"
        return Process("view", ["view"], {f"{wiring.VIEW_PREFIX}PORT": str(port)}, url)

    def start_view(self, port: int, timeout_s: float = 30) -> str:
        """Starts the local page of the dashboard's panels; returns its URL."""
        view = self.view(port)
        self._spawn(view.name, view.args, view.env, view.ready_url)
        self._wait_ready(view.name, timeout_s)
        return view.ready_url

    @property
    def api_url(self) -> str:
        """Base URL of the api."""
        return f"http://127.0.0.1:{self.ports.api}"

    def restart(self, name: str, timeout_s: float = 60, env: dict[str, str] | None = None) -> None:
        """Starts a stopped or killed process again as `start()` did, and waits until ready.

        `env` adds variables to this start only (a test moving one process's clock)."""
        process = self.processes.get(name)
        if process is not None and process.poll() is None:
            raise RuntimeError(f"{name} is still running (pid {process.pid})")
        args, extra, url = self._specs[name]
        self._spawn(name, args, {**extra, **(env or {})}, url)
        self._specs[name] = (args, extra, url)
        self._wait_ready(name, timeout_s)

    def _spawn(self, name: str, args: list[str], extra: dict[str, str], ready_url: str) -> None:
        self._specs[name] = (args, extra, ready_url)
        env = {**os.environ, **self.env, **extra}
        cmd = [sys.executable, "-m", "clima", *args]
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own program
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        logger.info("started", extra={"service": name, "pid": self.processes[name].pid})

    def _wait_ready(self, name: str, timeout_s: float) -> None:
        url = self._specs[name][2]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}; see {self.log_dir}/{name}.log"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback only
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise TimeoutError(
            f"{name} not ready after {timeout_s}s ({url}); see {self.log_dir}/{name}.log"
        )

    def kill(self, name: str) -> None:
        """SIGKILLs one process (fault tests)."""
        self.processes[name].kill()
        self.processes[name].wait()

    def terminate(self, name: str, timeout_s: float = 20) -> int:
        """SIGTERMs one process, SIGKILLs it after `timeout_s`, and returns its exit code."""
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                logger.error(
                    "ignored SIGTERM for %ss; killing it", timeout_s, extra={"service": name}
                )
                process.kill()
                process.wait()
        return process.returncode

    def stop(self, timeout_s: float = 20) -> dict[str, int]:
        """SIGTERMs every process (api first, consumers last) and returns their exit codes."""
        order = ["api", "proxy", "writer", "kafka-consumer", "rabbit-consumer", "view"]
        names = [n for n in order if n in self.processes]
        codes = {name: self.terminate(name, timeout_s) for name in names}
        self.processes.clear()
        return codes
