"""Pre-delete hook of the Clima chart: delete the chart's ClimaPipeline while the operator runs.

Helm deletes custom resources after everything else, so without this the operator and its
permissions would be gone before the pipeline, leaving it stuck on the operator's finalizer.
Runs in the Clima image (the kubernetes client is installed there). Environment:
PIPELINE_NAMESPACE, PIPELINE_NAME, TIMEOUT_SECONDS (default 120).
Exits 0 when the pipeline is gone, or with a warning when it outlived the timeout (the
uninstall goes on); exits 1 on an API error (e.g. missing permissions), which stops it.
"""

import os
import sys
import time

from kubernetes import client, config

GROUP, VERSION, PLURAL = "clima.io", "v1alpha1", "climapipelines"


def main():
    namespace, name = os.environ["PIPELINE_NAMESPACE"], os.environ["PIPELINE_NAME"]
    timeout = float(os.environ.get("TIMEOUT_SECONDS", "120"))
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    api = client.CustomObjectsApi()
    target = f"climapipeline {namespace}/{name}"
    try:
        api.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, propagation_policy="Background"
        )
        print(f"deleting {target}")
        deadline = time.monotonic() + timeout
        while True:  # until the GET answers 404
            body = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            if time.monotonic() > deadline:
                break
            time.sleep(2)
    except client.ApiException as error:
        if error.status == 404:
            print(f"{target} is gone")
            return
        sys.exit(f"cannot delete {target}: {error.status} {error.reason}: {error.body}")
    finalizers = body.get("metadata", {}).get("finalizers")
    print(
        f"WARNING: {target} still exists after {timeout:.0f}s (finalizers {finalizers});"
        " is the operator running?",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
