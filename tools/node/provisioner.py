"""The local node's volume provisioner: binds every claim of the ``clima-local`` StorageClass.

A claim waits for its first pod (``WaitForFirstConsumer``); once the scheduler has chosen
this node, the provisioner makes a folder under ``--root`` and a ``local`` PersistentVolume
for it, pinned to the node and bound to the claim. ``local`` (not ``hostPath``) because the
kubelet applies the pod's ``fsGroup`` to it, so non-root pods can write. When a claim is
deleted its volume is Released; the provisioner then deletes the folder and the volume.
Sizes are recorded, not enforced: every volume shares the node's disk.

Run by ``tools/node/node.sh`` on the host, beside the kubelet, with the admin kubeconfig:
    python provisioner.py --kubeconfig K --node NAME --root DIR
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

PROVISIONER = "clima.io/local-volume"
STORAGE_CLASS = "clima-local"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
log = logging.getLogger("clima-node-provisioner")


def volume_name(claim: Any) -> str:
    """The PersistentVolume's name, derived from the claim's uid as external provisioners do."""
    return f"pvc-{claim.metadata.uid}"


def volume_manifest(claim: Any, node: str, path: Path) -> dict[str, Any]:
    """A ``local`` volume on ``node`` at ``path``, pre-bound to ``claim``."""
    meta = claim.metadata
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": volume_name(claim),
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
            "labels": {"clima.io/node": node},
        },
        "spec": {
            "capacity": {"storage": claim.spec.resources.requests["storage"]},
            "accessModes": claim.spec.access_modes,
            "volumeMode": claim.spec.volume_mode or "Filesystem",
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": STORAGE_CLASS,
            "local": {"path": str(path)},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta.namespace,
                "name": meta.name,
                "uid": meta.uid,
            },
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [node],
                                }
                            ]
                        }
                    ]
                }
            },
        },
    }


def wants_volume(claim: Any, node: str) -> bool:
    """True for a pending claim of our class that the scheduler placed on ``node``."""
    annotations = claim.metadata.annotations or {}
    return (
        claim.status.phase == "Pending"
        and claim.spec.storage_class_name == STORAGE_CLASS
        and not claim.spec.volume_name
        and annotations.get(SELECTED_NODE) == node
    )


def provision(core: client.CoreV1Api, claim: Any, node: str, root: Path) -> None:
    """Makes the folder and the volume of one claim (idempotent: a second call is a no-op)."""
    meta = claim.metadata
    path = root / f"{meta.namespace}_{meta.name}_{meta.uid[:8]}"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o770)  # the kubelet gives it to the pod's fsGroup
    try:
        core.create_persistent_volume(volume_manifest(claim, node, path))
    except ApiException as error:
        if error.status != 409:
            raise
        return
    log.info("provisioned %s for %s/%s at %s", volume_name(claim), meta.namespace, meta.name, path)


def reclaim(core: client.CoreV1Api, volume: Any, root: Path) -> None:
    """Deletes a Released volume of ours and its folder (only folders under ``root``)."""
    path = Path(volume.spec.local.path)
    if root in path.parents:
        shutil.rmtree(path, ignore_errors=True)
    try:
        core.delete_persistent_volume(volume.metadata.name)
    except ApiException as error:
        if error.status != 404:
            raise
    log.info("deleted %s and %s", volume.metadata.name, path)


def ours(volume: Any) -> bool:
    annotations = volume.metadata.annotations or {}
    return annotations.get("pv.kubernetes.io/provisioned-by") == PROVISIONER


def one_pass(core: client.CoreV1Api, node: str, root: Path) -> None:
    """Provisions every waiting claim and reclaims every released volume."""
    for claim in core.list_persistent_volume_claim_for_all_namespaces().items:
        if wants_volume(claim, node):
            provision(core, claim, node, root)
    for volume in core.list_persistent_volume().items:
        if ours(volume) and volume.status.phase == "Released":
            reclaim(core, volume, root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config.load_kube_config(args.kubeconfig)
    core = client.CoreV1Api()
    args.root.mkdir(parents=True, exist_ok=True)
    log.info(
        "binding claims of StorageClass %s on node %s under %s", STORAGE_CLASS, args.node, args.root
    )
    while True:
        try:
            one_pass(core, args.node, args.root)
        except Exception:  # a pass that fails is retried on the next one
            log.exception("pass failed; retrying")
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
