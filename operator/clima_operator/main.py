"""Entry point of ``clima-operator``: settings, logging, metrics, handlers, then kopf."""

from __future__ import annotations

import logging
from pathlib import Path

import kopf
import kubernetes

from clima.common import logs
from clima_operator import dedupe_fit, kube, metrics
from clima_operator.crd import GROUP
from clima_operator.handlers import children, pipeline
from clima_operator.reconciler import Reconciler
from clima_operator.resync import Resync
from clima_operator.settings import OperatorSettings

logger = logging.getLogger(__name__)
# kopf reports every successful handler run and aiohttp every liveness probe; the reconciler
# logs what actually changed. DEBUG shows them again.
QUIET_LOGGERS = ("kopf.objects", "aiohttp.access")


def load_dashboards(folder: Path | None) -> dict[str, str]:
    """Every ``*.json`` file of the folder, by file name (empty when no folder is set)."""
    if folder is None:
        return {}
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.json"))}


def kopf_settings() -> kopf.OperatorSettings:
    """kopf's own settings: our annotations, no log-derived Events, bounded watches."""
    settings = kopf.OperatorSettings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.loggers = False
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    children.select_server_side(settings)
    return settings


def build_registry(reconciler: Reconciler) -> kopf.OperatorRegistry:
    """All handlers of the operator."""
    registry = kopf.OperatorRegistry()
    # A fresh registry has no login handler: authenticate as the kubernetes client does
    # (in-cluster service account first, then the kubeconfig).
    kopf.on.login(registry=registry)(kopf.login_via_client)
    pipeline.register(registry, reconciler)
    children.register(registry, reconciler)
    return registry


def build_resync(
    client: kube.KubeClient, reconciler: Reconciler, settings: OperatorSettings
) -> Resync:
    """The periodic pass over the pipelines the operator serves."""

    scopes: list[str | None] = [None] if settings.clusterwide else [*settings.namespaces]

    def pipelines() -> list[tuple[str, str]]:
        found = [item for scope in scopes for item in client.list(kube.PIPELINE, scope)]
        return [(item["metadata"]["namespace"], item["metadata"]["name"]) for item in found]

    def reconcile(namespace: str, name: str) -> None:
        with metrics.measured("timer") as outcome:
            outcome.value = reconciler.reconcile(namespace, name).value

    return Resync(pipelines, reconcile, settings.reconcile_interval)


def main() -> None:
    """Run the operator until SIGINT/SIGTERM."""
    settings = OperatorSettings()
    logs.configure(
        settings.log_level, json_lines=settings.log_format == "json", quiet=QUIET_LOGGERS
    )
    kube.load_configuration()
    client = kube.KubeClient(kubernetes.client.ApiClient(), settings.request_timeout)
    fit = dedupe_fit.Watch()
    reconciler = Reconciler(
        client,
        client.post_event,
        load_dashboards(settings.dashboards_dir),
        default_image=settings.default_image,
        operator_namespace=settings.pod_namespace,
        fit=fit,
    )
    metrics.serve(settings.bind_address, settings.metrics_port)
    resync = build_resync(client, reconciler, settings)
    scope = ", ".join(settings.namespaces) or "all namespaces"
    logger.info("Clima operator started", extra={"namespaces": scope})
    resync.start()
    fit.start()
    try:
        kopf.run(
            registry=build_registry(reconciler),
            settings=kopf_settings(),
            standalone=True,
            clusterwide=settings.clusterwide,
            namespaces=settings.namespaces,
            liveness_endpoint=settings.liveness_endpoint,
        )
    finally:
        resync.stop()
        fit.stop()


if __name__ == "__main__":
    main()
