"""Grafana with the Valkey data source and the Clima dashboards provisioned from ConfigMaps.

Two ConfigMaps feed it: ``<pipeline>-grafana-datasources`` (the ``redis-datasource`` with
uid ``clima-valkey``) and ``<pipeline>-grafana-dashboards`` (a file provider plus every
dashboard JSON file in ``Context.dashboards``, which the operator reads at start-up from
``CLIMA_OPERATOR_DASHBOARDS_DIR``; the chart fills that folder from ``dashboards/``). The
pod-template checksum digests both, so Grafana restarts when a dashboard changes.
"""

from __future__ import annotations

from typing import Any

import yaml

from clima_operator import images
from clima_operator.children import credentials, valkey
from clima_operator.children._connections import (
    VALKEY_PASSWORD_ENV,
    ca_file,
    tls_volumes,
    valkey_address,
    valkey_password,
    valkey_replicated,
)
from clima_operator.children._meta import Context, Manifest, metadata
from clima_operator.children._pods import (
    TMP_MOUNT,
    container_security,
    deployment,
    env,
    env_from_secret,
    http_probe,
    pod_template,
    port,
    resources,
    service,
)

COMPONENT = "grafana"
UID = 472  # "grafana" of the official image
HTTP_PORT = 3000
DATASOURCE_UID = "clima-valkey"
#: The Redis data source and the version the dashboards are written against (docs/dashboards.md).
PLUGIN_ID, PLUGIN_VERSION = images.REDIS_DATASOURCE_PLUGIN
PROVIDER_KEY = "clima-provider.yaml"
DASHBOARDS_PATH = "/etc/clima/dashboards"


def datasources(ctx: Context) -> dict[str, str]:
    """The data-source provisioning file; the password is expanded from the environment."""
    host, number = valkey_address(ctx)
    password = f"$__env{{{VALKEY_PASSWORD_ENV}}}"
    url = f"redis://{host}:{number}"
    settings: dict[str, Any] = {"client": "standalone"}
    secure = {"password": password}
    if valkey_replicated(ctx):  # the primary, wherever the Sentinels say it is now
        url = valkey.sentinels(ctx)
        settings = {"client": "sentinel", "sentinelName": valkey.PRIMARY_NAME}
        secure["sentinelPassword"] = password
    tls = ctx.spec.valkey.external.tls if ctx.spec.valkey.type == "external" else None
    if tls is not None and tls.enabled:  # the plugin's TLS, verifying the server
        settings |= {"tlsAuth": True, "tlsSkipVerify": False}
        if tls.ca_secret_ref is not None:
            settings["tlsAuthWithCACert"] = True
            secure["tlsCACert"] = f"$__file{{{ca_file('valkey')}}}"
    source = {
        "name": "Valkey",
        "uid": DATASOURCE_UID,
        "type": "redis-datasource",
        "access": "proxy",
        "url": url,
        "isDefault": True,
        "editable": False,
        "jsonData": settings,
        "secureJsonData": secure,
    }
    document = {"apiVersion": 1, "datasources": [source]}
    return {"clima-valkey.yaml": yaml.safe_dump(document, sort_keys=False)}


def dashboards(ctx: Context) -> dict[str, str]:
    """The dashboard provider file and the dashboard JSON files."""
    provider = {
        "name": "clima",
        "folder": "Clima",
        "type": "file",
        "disableDeletion": True,
        "allowUiUpdates": False,
        "options": {"path": DASHBOARDS_PATH},
    }
    document = {"apiVersion": 1, "providers": [provider]}
    return {PROVIDER_KEY: yaml.safe_dump(document, sort_keys=False), **ctx.dashboards}


def configmap(ctx: Context, suffix: str, data: dict[str, str]) -> Manifest:
    """A ConfigMap ``<pipeline>-<suffix>`` belonging to Grafana."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(ctx.owner, COMPONENT, ctx.owner.child(suffix)),
        "data": data,
    }


def _volumes(ctx: Context) -> list[dict[str, Any]]:
    board_map = ctx.owner.child("grafana-dashboards")
    provider_items = [{"key": PROVIDER_KEY, "path": PROVIDER_KEY}]
    return [
        {"name": "data", "emptyDir": {}},
        {"name": "datasources", "configMap": {"name": ctx.owner.child("grafana-datasources")}},
        {"name": "dashboards", "configMap": {"name": board_map}},
        {"name": "providers", "configMap": {"name": board_map, "items": provider_items}},
    ]


_MOUNTS = [
    {"name": "data", "mountPath": "/var/lib/grafana"},
    {"name": "datasources", "mountPath": "/etc/grafana/provisioning/datasources"},
    {"name": "dashboards", "mountPath": DASHBOARDS_PATH},
    {"name": "providers", "mountPath": "/etc/grafana/provisioning/dashboards"},
    TMP_MOUNT,
]


def plugin_install(ctx: Context) -> list[dict[str, Any]]:
    """Install the Redis data source before Grafana starts (docs/dashboards.md).

    The pinned Grafana 11.5 does not read ``GF_PLUGINS_PREINSTALL_SYNC`` (added in 12.1) and
    its ``GF_PLUGINS_PREINSTALL`` installs in the background after start-up, with no URL.
    The image's start script installs every ``GF_INSTALL_PLUGINS`` entry with ``grafana
    cli`` first: ``<id> <version>`` from grafana.com, or ``<zip url>;<id>`` from anywhere.
    Grafana 12's script does so only with ``GF_INSTALL_PLUGINS_FORCE=true``.
    """
    url = ctx.spec.grafana.plugin_url
    plugins = f"{url};{PLUGIN_ID}" if url else f"{PLUGIN_ID} {PLUGIN_VERSION}"
    return [env("GF_INSTALL_PLUGINS", plugins), env("GF_INSTALL_PLUGINS_FORCE", "true")]


def environment(ctx: Context) -> list[dict[str, Any]]:
    """Admin login from the credentials Secret, the Valkey password, plugin and paths."""
    secret = credentials.secret_name(ctx.owner)
    return [
        env("GF_SECURITY_ADMIN_USER", "admin"),
        env_from_secret("GF_SECURITY_ADMIN_PASSWORD", secret, credentials.GRAFANA_ADMIN_PASSWORD),
        valkey_password(ctx),
        *plugin_install(ctx),
        env("GF_PATHS_DATA", "/var/lib/grafana"),
        env("GF_LOG_MODE", "console"),
        env("GF_USERS_ALLOW_SIGN_UP", "false"),
        env("GF_ANALYTICS_REPORTING_ENABLED", "false"),
    ]


def grafana_deployment(ctx: Context, inputs: dict[str, Any]) -> Manifest:
    """The Grafana Deployment (one replica: its state lives in an emptyDir)."""
    spec = ctx.spec.grafana
    main = {
        "name": COMPONENT,
        "image": spec.image,
        "imagePullPolicy": ctx.spec.image_pull_policy,
        "env": inputs["env"],
        "ports": [port("http", HTTP_PORT)],
        "readinessProbe": http_probe("/api/health", "http", period=5),
        "livenessProbe": http_probe("/api/health", "http", delay=60),
        "resources": resources(spec.resources),
        "securityContext": container_security(),
        "volumeMounts": _MOUNTS,
    }
    tls = tls_volumes(ctx, ("valkey",))
    main["volumeMounts"] = [*_MOUNTS, *(mount for _, mount in tls)]
    volumes = [*_volumes(ctx), *(volume for volume, _ in tls)]
    template = pod_template(ctx.owner, COMPONENT, [main], inputs=inputs, uid=UID, volumes=volumes)
    return deployment(ctx.owner, COMPONENT, ctx.owner.child(COMPONENT), 1, template)


def build(ctx: Context) -> list[Manifest]:
    """ConfigMaps, Deployment and Service of Grafana, when enabled."""
    if not ctx.spec.grafana.enabled:
        return []
    sources, boards = datasources(ctx), dashboards(ctx)
    inputs = {"env": environment(ctx), "datasources": sources, "dashboards": boards}
    ports = [{"name": "http", "port": 80, "targetPort": "http"}]
    return [
        configmap(ctx, "grafana-datasources", sources),
        configmap(ctx, "grafana-dashboards", boards),
        grafana_deployment(ctx, inputs),
        service(ctx.owner, COMPONENT, ctx.owner.child(COMPONENT), ports),
    ]
