"""What a component's pods say that its Deployment or StatefulSet does not.

A Deployment whose new pod cannot pull its image or crash-loops only reports "not all pods
available" (for ten minutes, until its progress deadline), and a StatefulSet has no failure
condition at all. The kubelet and the scheduler say more on the pod: a container waiting
for a reason that will not go away by itself, a container killed for its memory, a pod no
node accepts. This module turns those into a reason and a message naming the pod and the
container. A pod that runs but is not ready *yet* is not a failure here; one that was ready
and lost it while its container kept running is (`ReadinessLost`): the process is alive but
cannot do its job (a consumer holding batches Valkey cannot take, a writer whose broker is
away). The kubelet's failure threshold (3 probes) already keeps a blip from counting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Pod = Mapping[str, Any]

#: Container waiting reasons that need a person (or a fixed image, Secret, ConfigMap).
WAITING_FAILURES = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
#: A restarted container that is not ready again counts as crash-looping from this many
#: restarts on, so the condition does not flip back each time the kubelet starts it again.
CRASH_RESTARTS = 2
#: How long a pod may stay unschedulable before it counts as a failure: a claim of an
#: ``Immediate`` StorageClass is unbound for a few seconds after the pod is created.
UNSCHEDULABLE_GRACE = timedelta(seconds=20)


@dataclass(frozen=True)
class PodProblem:
    """Why one of a component's pods cannot serve."""

    reason: str
    message: str


def _status(pod: Pod) -> Mapping[str, Any]:
    return pod.get("status") or {}


def _name(pod: Pod) -> str:
    return str((pod.get("metadata") or {}).get("name", "?"))


def live(pods: Iterable[Pod]) -> list[Pod]:
    """Pods that count: neither being deleted nor finished (an evicted pod is replaced)."""
    return [
        pod
        for pod in pods
        if not (pod.get("metadata") or {}).get("deletionTimestamp")
        and _status(pod).get("phase") not in ("Succeeded", "Failed")
    ]


def selected(pods: Iterable[Pod], selector: Mapping[str, str]) -> list[Pod]:
    """The pods a workload's ``matchLabels`` select, sorted by name."""
    if not selector:
        return []
    chosen = [
        pod
        for pod in pods
        if selector.items() <= ((pod.get("metadata") or {}).get("labels") or {}).items()
    ]
    return sorted(chosen, key=_name)


def _terminated(container: Mapping[str, Any]) -> Mapping[str, Any]:
    state = (container.get("state") or {}).get("terminated")
    return state or (container.get("lastState") or {}).get("terminated") or {}


def _oom_killed(container: Mapping[str, Any]) -> str | None:
    terminated = _terminated(container)
    if terminated.get("reason") != "OOMKilled":
        return None
    restarts = int(container.get("restartCount") or 0)
    return (
        f"OOMKilled: killed for exceeding its memory limit (exit code "
        f"{terminated.get('exitCode', 137)}), restarted {restarts} times; raise its memory "
        "limit in the spec's resources"
    )


def _crash_looping(container: Mapping[str, Any]) -> str | None:
    waiting = (container.get("state") or {}).get("waiting") or {}
    if waiting.get("reason") == "CrashLoopBackOff":
        return f"CrashLoopBackOff: {waiting.get('message') or 'back-off restarting'}"
    last = (container.get("lastState") or {}).get("terminated") or {}
    restarts = int(container.get("restartCount") or 0)
    if restarts >= CRASH_RESTARTS and int(last.get("exitCode") or 0) != 0:
        return (
            f"CrashLoopBackOff: restarted {restarts} times, last exit code "
            f"{last.get('exitCode')} ({last.get('reason') or 'Error'}), not ready again yet"
        )
    return None


def _waiting(container: Mapping[str, Any]) -> tuple[str, str] | None:
    waiting = (container.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason")
    if reason not in WAITING_FAILURES or reason == "CrashLoopBackOff":
        return None
    return reason, f"{reason}: {waiting.get('message') or 'no message from the kubelet'}"


def container_problem(pod_name: str, container: Mapping[str, Any]) -> PodProblem | None:
    """The failure of one container status, if it is not ready for a lasting reason."""
    if container.get("ready"):
        return None
    prefix = f"pod {pod_name} container {container.get('name', '?')}"
    oom = _oom_killed(container)
    if oom is not None:
        return PodProblem("OOMKilled", f"{prefix}: {oom}")
    crash = _crash_looping(container)
    if crash is not None:
        return PodProblem("CrashLoopBackOff", f"{prefix}: {crash}")
    waiting = _waiting(container)
    if waiting is not None:
        return PodProblem(waiting[0], f"{prefix}: {waiting[1]}")
    return None


def _unscheduled(pod: Pod) -> Mapping[str, Any] | None:
    for condition in _status(pod).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return condition if condition.get("reason") == "Unschedulable" else None
    return None


def _since(stamp: Any, now: datetime) -> timedelta:
    try:
        then = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return timedelta.max  # no readable time: judge it on the spot
    return now - then


def scheduling_problem(pod: Pod, now: datetime) -> PodProblem | None:
    """The pod no node accepts, once that has lasted ``UNSCHEDULABLE_GRACE``."""
    condition = _unscheduled(pod)
    if condition is None or _since(condition.get("lastTransitionTime"), now) < UNSCHEDULABLE_GRACE:
        return None
    detail = condition.get("message") or "no node accepts it"
    return PodProblem("Unschedulable", f"pod {_name(pod)}: Unschedulable: {detail}")


def _ready_condition(pod: Pod) -> Mapping[str, Any]:
    conditions = _status(pod).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def _later(first: Any, then: Any) -> bool:
    """Whether timestamp `first` is strictly after `then` (False when either is unreadable)."""
    try:
        a = datetime.fromisoformat(str(first).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(then).replace("Z", "+00:00"))
    except ValueError:
        return False
    return a > b


def _probe_of(pod: Pod, container: str) -> str:
    for spec in (pod.get("spec") or {}).get("containers") or []:
        if spec.get("name") == container:
            probe = spec.get("readinessProbe") or {}
            http = probe.get("httpGet")
            if http:
                return f"GET {http.get('path', '/')} on port {http.get('port')}"
            if "grpc" in probe:
                return f"gRPC health on port {probe['grpc'].get('port')}"
    return "probe"


def readiness_lost(pod: Pod) -> PodProblem | None:
    """A container that runs and was ready, but whose readiness probe has failed since: the
    pod's Ready condition turned False after the container started."""
    condition = _ready_condition(pod)
    if condition.get("status") != "False":
        return None
    lost_at = condition.get("lastTransitionTime")
    for container in _status(pod).get("containerStatuses") or []:
        running = (container.get("state") or {}).get("running")
        if container.get("ready") or not running:
            continue
        if _later(lost_at, running.get("startedAt")):
            name, pod_name = container.get("name", "?"), _name(pod)
            return PodProblem(
                "ReadinessLost",
                f"pod {pod_name} container {name}: running but not ready since {lost_at} (it "
                f"was ready before): its readiness probe ({_probe_of(pod, name)}) fails; its "
                f"answer and kubectl logs {pod_name} -c {name} say why",
            )
    return None


def pod_problem(pod: Pod, now: datetime) -> PodProblem | None:
    """The first lasting failure of one pod: scheduling, then init containers, containers,
    then readiness lost while running."""
    problem = scheduling_problem(pod, now)
    if problem is not None:
        return problem
    status = _status(pod)
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key) or []:
            found = container_problem(_name(pod), container)
            if found is not None:
                return found
    return readiness_lost(pod)


def first_problem(pods: Sequence[Pod], now: datetime) -> PodProblem | None:
    """The first failing pod's problem, noting how many more pods fail."""
    problems = [found for pod in live(pods) if (found := pod_problem(pod, now)) is not None]
    if not problems:
        return None
    first = problems[0]
    more = len(problems) - 1
    if more:
        return PodProblem(first.reason, f"{first.message} (and {more} more failing pods)")
    return first


def signal(pod: Pod) -> tuple[Any, ...]:
    """What of a pod can change its component's condition; a watch compares it to skip the
    many pod updates that change nothing (a new IP, a restart counted, probe results)."""
    status = _status(pod)
    ready = next(
        (c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"),
        None,
    )
    scheduled = _unscheduled(pod)
    containers = [
        found.reason
        for key in ("initContainerStatuses", "containerStatuses")
        for item in status.get(key) or []
        if (found := container_problem(_name(pod), item)) is not None
    ]
    deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    return (status.get("phase"), ready, scheduled is not None, tuple(containers), deleting)
