"""The third-party images a pipeline runs by default, pinned by exact version in one place.

Every default the CRD, the operator's builders, the docs' tables and the local node's image
builds use comes from ``DEFAULT_IMAGES``. A digest is added to a reference where one is known
for the exact tag (``repository:tag@sha256:...``): the kubelet then pulls exactly those
bytes whatever the tag is later moved to. None is recorded yet: the images are not reachable
from where Clima is built, and a digest copied without pulling the image would be a guess.

The CRD writes these defaults into each ClimaPipeline when it is created, so an operator
upgrade that changes a pin never rolls an existing pipeline's stores: a user opts in by
setting the new reference in the pipeline's spec. An air-gapped cluster sets the references
of its own registry in ``spec.<store>.managed.image`` and ``spec.grafana.image`` (or in the
chart's ``pipeline.spec``); docs/install-gke.md shows how to copy the images there.

``python -m clima_operator.images`` prints them as shell assignments
(``KAFKA_IMAGE=apache/kafka:4.1.0`` ...), which the local node's image builds source.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PinnedImage:
    """An image reference at an exact version, optionally with the digest of that version."""

    repository: str
    tag: str
    digest: str | None = None

    @property
    def reference(self) -> str:
        """``repository:tag``, and ``@digest`` when the digest is known."""
        ref = f"{self.repository}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


KAFKA = PinnedImage("apache/kafka", "4.1.0")
RABBITMQ = PinnedImage("rabbitmq", "3.13.7")
VALKEY = PinnedImage("valkey/valkey", "8.0.2")
GRAFANA = PinnedImage("grafana/grafana", "11.5.0")

#: The Grafana plugin that reads Valkey (installed by Grafana's start script at this version).
REDIS_DATASOURCE_PLUGIN = ("redis-datasource", "2.2.0")

DEFAULT_IMAGES: dict[str, PinnedImage] = {
    "kafka": KAFKA,
    "rabbitmq": RABBITMQ,
    "valkey": VALKEY,
    "grafana": GRAFANA,
}


def shell_assignments() -> str:
    """``NAME_IMAGE=ref`` and ``NAME_TAG=tag`` lines for every default image and the plugin."""
    lines = []
    for name, image in DEFAULT_IMAGES.items():
        lines.append(f"{name.upper()}_IMAGE={image.reference}")
        lines.append(f"{name.upper()}_REPOSITORY={image.repository}")
        lines.append(f"{name.upper()}_TAG={image.tag}")
    plugin, version = REDIS_DATASOURCE_PLUGIN
    lines.append(f"GRAFANA_PLUGIN={plugin}")
    lines.append(f"GRAFANA_PLUGIN_VERSION={version}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(shell_assignments())
