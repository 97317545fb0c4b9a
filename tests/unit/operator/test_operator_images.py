"""Third-party images: pinned by exact version in one place, and used from there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from clima_operator import images
from clima_operator.spec import parse_spec

ROOT = Path(__file__).resolve().parents[3]
CRD_FILE = ROOT / "chart" / "files" / "crds" / "climapipelines.clima.io.yaml"
EXACT_TAG = re.compile(r"^\d+\.\d+\.\d+$")


def test_every_default_image_is_an_exact_version() -> None:
    """A moving tag (latest, 3.13, 8.0) would let two installs of one release run different code."""
    for name, image in images.DEFAULT_IMAGES.items():
        assert EXACT_TAG.match(image.tag), f"{name}: {image.tag!r} is not an exact version"
        assert image.digest is None or re.fullmatch(r"sha256:[0-9a-f]{64}", image.digest), name
    assert EXACT_TAG.match(images.REDIS_DATASOURCE_PLUGIN[1])


def test_a_known_digest_pins_the_reference() -> None:
    """With a digest the reference names both, so the kubelet pulls exactly those bytes."""
    pinned = images.PinnedImage("valkey/valkey", "8.0.2", "sha256:" + "a" * 64)
    assert pinned.reference == "valkey/valkey:8.0.2@sha256:" + "a" * 64
    assert images.PinnedImage("valkey/valkey", "8.0.2").reference == "valkey/valkey:8.0.2"


def test_crd_and_spec_defaults_come_from_the_pins() -> None:
    """The CRD writes the pins into each new pipeline; the model's defaults are the same."""
    text = CRD_FILE.read_text(encoding="utf-8")
    for image in images.DEFAULT_IMAGES.values():
        assert f"default: {image.reference}\n" in text, image.reference
    spec = parse_spec(
        yaml.safe_load((ROOT / "samples" / "pipeline.yaml").read_text(encoding="utf-8"))["spec"]
    )
    managed = [spec.kafka.managed, spec.rabbitmq.managed, spec.valkey.managed]
    assert {m.image for m in managed if m is not None} <= {
        images.KAFKA.reference,
        images.RABBITMQ.reference,
        images.VALKEY.reference,
    }


def test_the_node_builds_read_the_same_pins() -> None:
    """tools/node/images.sh sources the module's shell form; no tag is typed there twice."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "operator" / "clima_operator" / "images.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pairs = dict(line.split("=", 1) for line in out.splitlines())
    assert pairs["KAFKA_IMAGE"] == images.KAFKA.reference
    assert pairs["VALKEY_TAG"] == images.VALKEY.tag
    script = (ROOT / "tools" / "node" / "images.sh").read_text(encoding="utf-8")
    for image in images.DEFAULT_IMAGES.values():
        assert f":{image.tag}" not in script, f"{image.tag} typed in tools/node/images.sh"
    assert "clima_operator/images.py" in script
