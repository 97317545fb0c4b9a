"""A rotated password reaches a replicated Valkey without a replica ever losing its
primary: real valkey-server processes on the operator's rendered configuration, at every
step of ``valkey_rotation.next_passwords`` and with the members split between two adjacent steps (as
a rolling restart leaves them), keep replicating and accept the clients' password; a
Sentinel on a two-password step finds the primary and its replica. Rendering the new
password at once, as a single step, leaves the replica unable to reach its primary."""

import itertools
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clima_process_support import free_port, wait_listening

from clima_operator.children import Context, Owner, Passwords, valkey_rotation
from clima_operator.children import valkey as valkey_children
from clima_operator.spec import parse_spec

OLD = "old-password"
NEW = 'n3w p@ss "quoted" \\ 100% ünï\nsecond line'  # any character must survive the ACL line


def _cli(port: int, password: str, *command: str) -> str:
    done = subprocess.run(
        ["valkey-cli", "--no-auth-warning", "-p", str(port), *command],
        env={"PATH": "/usr/bin:/bin", "REDISCLI_AUTH": password},
        capture_output=True, text=True, timeout=5, check=False,
    )  # fmt: skip
    return done.stdout.strip()


Start = Callable[..., int]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Starts a valkey-server (or Sentinel) on a rendered file; stops them all at the end."""
    assert shutil.which("valkey-server"), "valkey-server is installed by tools/local/infra.sh"
    processes: list[subprocess.Popen[bytes]] = []

    def run(conf: str, *extra: str, sentinel: bool = False) -> int:
        port = free_port()
        folder = tmp_path / f"n{port}"
        folder.mkdir()
        conf = conf.replace(f"port {valkey_children.SENTINEL_PORT}\n", f"port {port}\n")
        conf = conf.replace(f"port {valkey_children.VALKEY_PORT}\n", f"port {port}\n")
        conf = conf.replace("bind * -::*", "bind 127.0.0.1")
        conf = conf.replace(f"dir {valkey_children.DATA_DIR}", f"dir {folder}")
        conf = conf.replace("dir /tmp\n", f"dir {folder}\n")
        (folder / "node.conf").write_text(conf)
        args = ["valkey-server", str(folder / "node.conf"), *extra]
        if sentinel:
            args.append("--sentinel")
        process = subprocess.Popen(args, cwd=folder, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.STDOUT)  # fmt: skip
        processes.append(process)
        wait_listening(port, process, 20)
        return port

    yield run
    for process in processes:  # a primary's shutdown waits for its replicas: no need here
        process.kill()
    for process in processes:
        process.wait(10)


def _steps() -> list[Passwords]:
    """Every step from OLD to NEW, as the operator walks them once each roll completes."""
    steps = [Passwords.single(OLD)]
    while steps[-1] != Passwords.single(NEW):
        steps.append(valkey_rotation.next_passwords(NEW, steps[-1], replicas=3, rolled=True))
    return steps


def _node(steps: Passwords) -> str:
    return valkey_children.config_file(steps, replicated=True)


def _replicates(start: Start, primary: Passwords, replica: Passwords, wait: float = 30) -> bool:
    """Whether a replica rendered at one step syncs from a primary rendered at another: the
    replica's link is up and it has the key written on the primary (which may reach it just
    after the link comes up)."""
    primary_port = start(_node(primary), "--repl-diskless-sync-delay", "0")
    replica_port = start(_node(replica), "--replicaof", "127.0.0.1", str(primary_port))
    assert _cli(primary_port, primary.accepted[-1], "SET", "k", "v") == "OK"
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        info = _cli(replica_port, replica.accepted[-1], "INFO", "replication")
        if "master_link_status:up" in info and (
            _cli(replica_port, replica.accepted[-1], "GET", "k") == "v"
        ):
            return True
        time.sleep(0.1)
    return False


def test_the_rotation_takes_three_steps_each_accepting_what_the_last_gave() -> None:
    steps = _steps()
    assert len(steps) == 4
    for before, after in itertools.pairwise(steps):
        assert before.outgoing in after.accepted
        assert after.outgoing in before.accepted


@pytest.mark.parametrize("step", range(3))
@pytest.mark.parametrize("first", ["replica", "primary"])
def test_members_on_adjacent_steps_keep_replicating(start: Start, step: int, first: str) -> None:
    """The member that rolled first runs the later step; the other still the earlier."""
    steps = _steps()
    earlier, later = steps[step], steps[step + 1]
    primary, replica = (earlier, later) if first == "replica" else (later, earlier)
    assert _replicates(start, primary, replica), (primary, replica)


def test_every_step_accepts_the_new_password_from_its_first_roll(start: Start) -> None:
    """The consumers have the new password as soon as the Secret changes."""
    for step in _steps()[1:]:
        port = start(_node(step))
        assert _cli(port, NEW, "PING") == "PONG"
    assert _cli(start(_node(_steps()[-1])), OLD, "PING") != "PONG"


def test_a_sentinel_accepts_both_and_reaches_the_nodes_with_the_one_given(
    start: Start,
) -> None:
    steps = _steps()
    primary_port = start(_node(steps[1]))
    start(_node(steps[2]), "--replicaof", "127.0.0.1", str(primary_port))
    ctx_conf = valkey_children.sentinel_file(_sentinel_ctx(), steps[1])
    ctx_conf = ctx_conf.replace(
        f"{valkey_children.hosts(_sentinel_ctx())[0]} {valkey_children.VALKEY_PORT}",
        f"127.0.0.1 {primary_port}",
    )
    sentinel = start(ctx_conf, sentinel=True)
    name = valkey_children.PRIMARY_NAME
    for password in (OLD, NEW):
        answer = _cli(sentinel, password, "SENTINEL", "get-master-addr-by-name", name)
        assert answer.splitlines() == ["127.0.0.1", str(primary_port)]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        replicas = _cli(sentinel, NEW, "SENTINEL", "replicas", name)
        if "slave" in replicas and "s_down" not in replicas:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the Sentinel did not find the replica: {replicas}")
    master = _cli(sentinel, NEW, "SENTINEL", "master", name)
    assert "s_down" not in master, master
    assert "disconnected" not in master, master


def test_the_new_password_at_once_leaves_a_replica_without_its_primary(start: Start) -> None:
    """What a rolling restart did before the steps: the replica that restarts first gives the
    new password to a primary that knows only the old one."""
    assert not _replicates(start, Passwords.single(OLD), Passwords.single(NEW), wait=10)


def _sentinel_ctx() -> Context:
    spec = parse_spec({"mode": "kafka", "valkey": {"managed": {"replicas": 3}}})
    return Context(Owner("demo", "ns", "uid-1"), spec)
