"""`helm test` of the Clima chart: the operator answers and the pipeline accepts a report.

Standard library only; runs in the Clima image. Checked, each when its variable is set:
CLIMA_TEST_METRICS_URL  the operator's /metrics carries clima_operator_ series;
CLIMA_TEST_API_URL      the api's /readyz turns 200, then POST /clima answers 202.
CLIMA_TEST_TIMEOUT      seconds to wait for each to answer (default 120).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid


def fetch(url, body=None):
    """(status, text) of one request; connection failures count as status 0."""
    if not url.startswith(("http://", "https://")):
        sys.exit(f"FAIL {url} is not an http(s) URL")
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except OSError as error:
        return 0, str(error)


def wait_for(url, accept, deadline, body=None):
    """Repeat the request until ``accept(status, text)`` holds; fail at the deadline."""
    while True:
        status, text = fetch(url, body)
        if accept(status, text):
            print(f"ok   {url} -> {status}")
            return text
        if time.monotonic() > deadline:
            sys.exit(f"FAIL {url} -> {status}: {text[:300]}")
        time.sleep(2)


def main():
    timeout = float(os.environ.get("CLIMA_TEST_TIMEOUT", "120"))
    metrics = os.environ.get("CLIMA_TEST_METRICS_URL")
    api = os.environ.get("CLIMA_TEST_API_URL")
    if not (metrics or api):
        sys.exit("FAIL nothing to test: set CLIMA_TEST_METRICS_URL and/or CLIMA_TEST_API_URL")
    if metrics:
        deadline = time.monotonic() + timeout
        wait_for(metrics, lambda s, t: s == 200 and "clima_operator_" in t, deadline)
    if api:
        deadline = time.monotonic() + timeout
        wait_for(f"{api}/readyz", lambda s, _: s == 200, deadline)
        report = {
            "municipality": "guatemala",
            "temperature": 21.5,
            "humidity": 60,
            "weather": "sunny",
            "id": f"helm-test-{uuid.uuid4().hex}",
        }
        # 202 means every broker of the pipeline's mode holds the report durably.
        text = wait_for(f"{api}/clima", lambda s, _: s == 202, deadline, report)
        print(f"accepted {text.strip()}")
    print("PASS")


if __name__ == "__main__":
    main()
