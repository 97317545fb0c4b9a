"""Thin kopf adapters: they turn kopf's callbacks into calls of the plain reconciler."""

from __future__ import annotations

import kopf

from clima_operator import metrics
from clima_operator.errors import ClusterError
from clima_operator.reconciler import Reconciler

RETRY_DELAY = 10.0


def run(reconciler: Reconciler, namespace: str, name: str, trigger: str) -> None:
    """One measured reconcile; API failures become kopf retries."""
    with metrics.measured(trigger) as outcome:
        try:
            outcome.value = reconciler.reconcile(namespace, name).value
        except ClusterError as error:
            raise kopf.TemporaryError(str(error), delay=RETRY_DELAY) from error
