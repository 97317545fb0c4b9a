"""Which Secrets a pipeline may hand to its pods: only those that say so.

An external broker or Valkey is named by address, with its password in a Secret of the
pipeline's namespace (``spec.rabbitmq.external.secretRef``, ``spec.valkey.external.secretRef``,
``spec.kafka.external.sasl.secretRef``), and its TLS CA bundle in another
(``spec.<store>.external.tls.caSecretRef``).
The operator builds pods that read that Secret and send its value to that address. Whoever
may write ClimaPipelines, but not read Secrets, could otherwise name any Secret of the
namespace and an address of their own, and receive its value. So a referenced Secret must
allow the pipeline itself: its annotation ``clima.io/allowed-pipelines`` lists the
pipelines that may use it (comma-separated names, or ``*`` for every pipeline of the
namespace). A pipeline referencing a Secret that does not is Invalid, and the operator
changes none of its children. Only someone who may write that Secret can grant it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clima_operator.crd import GROUP
from clima_operator.spec import CaSecretRef, PipelineSpec, SecretKeyRef

ALLOWED_ANNOTATION = f"{GROUP}/allowed-pipelines"


def secret_refs(spec: PipelineSpec) -> list[tuple[str, SecretKeyRef | CaSecretRef]]:
    """The Secrets the spec has its pods read, with the field that names each."""
    refs: list[tuple[str, SecretKeyRef | CaSecretRef]] = []
    kafka, rabbit, valkey = spec.kafka, spec.rabbitmq, spec.valkey
    used = {"kafka": spec.uses_kafka and kafka.type == "external",
            "rabbitmq": spec.uses_rabbit and rabbit.type == "external",
            "valkey": valkey.type == "external"}  # fmt: skip
    if used["kafka"] and kafka.external.sasl is not None:
        refs.append(("spec.kafka.external.sasl.secretRef", kafka.external.sasl.secret_ref))
    if used["rabbitmq"] and rabbit.external.secret_ref:
        refs.append(("spec.rabbitmq.external.secretRef", rabbit.external.secret_ref))
    if used["valkey"] and valkey.external.secret_ref:
        refs.append(("spec.valkey.external.secretRef", valkey.external.secret_ref))
    for store, external in (("kafka", kafka.external), ("rabbitmq", rabbit.external),
                            ("valkey", valkey.external)):  # fmt: skip
        if used[store] and external.tls.enabled and external.tls.ca_secret_ref is not None:
            refs.append((f"spec.{store}.external.tls.caSecretRef", external.tls.ca_secret_ref))
    return refs


def allows(secret: Mapping[str, Any], pipeline: str) -> bool:
    """Whether the Secret's ``clima.io/allowed-pipelines`` names the pipeline (or is ``*``)."""
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    names = {name.strip() for name in str(annotations.get(ALLOWED_ANNOTATION, "")).split(",")}
    return "*" in names or pipeline in names


def refusal(
    ref: SecretKeyRef | CaSecretRef, secret: Mapping[str, Any] | None, pipeline: str
) -> str | None:
    """Why the pipeline may not use the Secret ``ref`` names; None when it may."""
    if secret is None:
        return f"Secret {ref.name} does not exist in the pipeline's namespace"
    if not allows(secret, pipeline):
        return (
            f"Secret {ref.name} does not allow pipeline {pipeline}: a Secret is handed to a "
            f"pipeline's pods only when its annotation {ALLOWED_ANNOTATION} names the pipeline "
            f"(kubectl annotate secret {ref.name} {ALLOWED_ANNOTATION}={pipeline}, or * for "
            "every pipeline of the namespace)"
        )
    if ref.key not in {**(secret.get("data") or {}), **(secret.get("stringData") or {})}:
        return f"Secret {ref.name} has no key {ref.key}"
    return None
