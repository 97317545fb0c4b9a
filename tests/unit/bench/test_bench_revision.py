"""What a benchmark result says about the code it measured: the revision, never the checkout's
path on the machine that ran it."""

import subprocess
from pathlib import Path

import pytest

from bench.report import markdown
from bench.system import describe, revision


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return done.stdout.decode().strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with one commit, in a folder whose name must never reach a result."""
    root = tmp_path / "somebody-s-checkout"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "app.py").write_text("x = 1\n")
    _git(root, "add", "app.py")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    return root


def test_revision_of_a_clean_checkout_is_its_commit(repo: Path) -> None:
    """A clean checkout is recorded as its short commit, not dirty."""
    commit = _git(repo, "rev-parse", "--short", "HEAD")
    assert revision(repo) == {"git_commit": commit, "git_describe": commit, "dirty": False}


def test_revision_flags_uncommitted_changes(repo: Path) -> None:
    """A changed tracked file makes the revision dirty, in the flag and in git describe."""
    (repo / "app.py").write_text("x = 2\n")
    found = revision(repo)
    assert found["dirty"] is True
    assert found["git_describe"] == f"{found['git_commit']}-dirty"


def test_result_names_the_revision_and_no_path(repo: Path) -> None:
    """The Markdown result and the machine record carry the revision, not the checkout path."""
    (repo / "app.py").write_text("x = 3\n")
    machine = {**describe(repo), "loadavg_start": [1.0], "loadavg_end": [1.0], "duration_s": 1}
    settings = {"runs": 1, "seconds": 1.0, "services_trial_copy": False}
    text = markdown(machine, "python -m bench.run --quick", settings, [])
    commit = _git(repo, "rev-parse", "--short", "HEAD")
    assert f"code {commit}-dirty (uncommitted changes)." in text
    assert str(repo.parent) not in text
    assert not any(str(repo.parent) in str(value) for value in machine.values())
