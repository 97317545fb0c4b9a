"""The commands the install documents give, checked against the code and run where they can.

Every fenced shell block of README.md, chart/README.md, docs/install-gke.md and
docs/operator.md is read as a user would paste it: `make` targets must exist, repository
paths must exist, and every `helm install`/`helm upgrade` of the Clima chart is rendered
with real helm (`helm template` of this chart with the very `--set` flags of the line), so a
documented flag the schema refuses fails here, and an install line that leaves the image on
the loopback default (which no real cluster can pull) fails too.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass

import pytest
from chart_e2e_support import CHART, ROOT, Helm, find

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def helm(env: dict[str, str]) -> Helm:
    """helm as the cluster's tools install it; `template` needs no namespace of its own."""
    return Helm(env, "default")


DOCUMENTS = ["README.md", "chart/README.md", "docs/install-gke.md", "docs/operator.md"]
SHELL_FENCES = {"", "sh", "bash", "shell"}
# what a reader would have exported by the time the line runs (docs/install-gke.md, section 1)
VARIABLES = {
    "REGISTRY": "registry.example.com",
    "REPOSITORY": "my-project/clima/clima",
    "AR_HOST": "europe-west1-docker.pkg.dev",
    "PROJECT": "my-project",
    "REGION": "europe-west1",
    "DOMAIN": "example.com",
}
MAKEFILE_TARGET = re.compile(r"^([a-z][a-z-]*):", re.MULTILINE)


@dataclass(frozen=True)
class Command:
    document: str
    words: list[str]

    def __str__(self) -> str:
        return f"{self.document}: {shlex.join(self.words)}"


def _expand(line: str) -> str:
    for name, value in VARIABLES.items():
        line = line.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return line.replace("$(gcloud config get-value project)", VARIABLES["PROJECT"])


def _shell_blocks(text: str) -> list[str]:
    """The bodies of the fenced blocks whose language is a shell's (or unnamed)."""
    blocks, body, language = [], [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, body = line[3:].strip(), []
            else:
                if language in SHELL_FENCES:
                    blocks.append("\n".join(body))
                language = None
        elif language is not None:
            body.append(line)
    return blocks


def documented_commands() -> list[Command]:
    """Each shell command of the documents' fenced blocks, continuation lines joined."""
    commands = []
    for document in DOCUMENTS:
        text = (ROOT / document).read_text(encoding="utf-8")
        for block in _shell_blocks(text):
            for line in block.replace("\\\n", " ").splitlines():
                try:
                    words = shlex.split(_expand(line), comments=True)
                except ValueError:
                    continue  # a heredoc body or YAML, not a command
                if words:
                    commands.append(Command(document, words))
    return commands


COMMANDS = documented_commands()


def _chart_lines() -> list[Command]:
    return [
        c
        for c in COMMANDS
        if c.words[:2] in (["helm", "install"], ["helm", "upgrade"])
        and any(w.startswith("oci://") and w.rstrip("/").endswith("/clima") for w in c.words)
    ]


def _sets(words: list[str]) -> dict[str, str]:
    found = {}
    for flag, value in itertools.pairwise(words):
        if flag == "--set":
            key, _, val = value.partition("=")
            found[key] = val
    return found


def test_the_documents_have_commands_to_check() -> None:
    """The parse finds the install lines (a change of fence style must not empty this suite)."""
    assert len(_chart_lines()) >= 5, [str(c) for c in _chart_lines()]
    assert sum(c.words[0] == "make" for c in COMMANDS) >= 3


def test_every_make_target_exists() -> None:
    """`make <target>` in the docs names a task the Makefile has."""
    targets = set(MAKEFILE_TARGET.findall((ROOT / "Makefile").read_text(encoding="utf-8")))
    for command in COMMANDS:
        if command.words[0] == "make":
            named = [w for w in command.words[1:] if "=" not in w and not w.startswith("-")]
            assert set(named) <= targets, f"{command}: no such make target"


def test_every_repository_path_exists() -> None:
    """Scripts and files the docs run or apply by relative path are in the repository."""
    for command in COMMANDS:
        for word in command.words:
            if re.match(r"^(tools|samples|chart|bench|loadtest)/[\w./-]+$", word):
                assert (ROOT / word).exists(), f"{command}: {word} does not exist"


@pytest.mark.parametrize("command", _chart_lines(), ids=str)
def test_chart_lines_render_with_their_flags(command: Command, helm: Helm) -> None:
    """The documented flags pass the chart's schema, and the operator's image is the one the
    line names: never the loopback default on a real cluster."""
    values = _sets(command.words)
    if "--reuse-values" not in command.words:
        assert "image.registry" in values, f"{command}: set image.registry for a real cluster"
    args = [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]
    objects = helm.template(*args, chart=CHART)
    deployment = find(objects, "Deployment", "clima-operator")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    registry = values.get("image.registry")
    if registry:
        repository = values.get("image.repository", "clima/clima")
        assert image.startswith(f"{registry}/{repository}:"), (str(command), image)
