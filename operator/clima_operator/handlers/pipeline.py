"""Handlers of ClimaPipeline objects: create, update and resume share one reconcile.

There is no kopf timer here (see ``clima_operator.resync``), and no deletion handler:
deleting a pipeline is plain garbage collection, so kopf adds no finalizer.
"""

from __future__ import annotations

from typing import Any

import kopf

from clima_operator.crd import GROUP, PLURAL, VERSION
from clima_operator.handlers import run
from clima_operator.reconciler import Reconciler


def register(registry: kopf.OperatorRegistry, reconciler: Reconciler) -> None:
    """Route every change of a pipeline, and the operator's start, to the reconcile."""

    def on_change(*, name: str, namespace: str | None, reason: str, **_: Any) -> None:
        run(reconciler, namespace or "", name, str(reason))

    for decorator in (kopf.on.create, kopf.on.update, kopf.on.resume):
        decorator(GROUP, VERSION, PLURAL, id="reconcile", registry=registry)(on_change)
