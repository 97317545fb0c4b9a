"""One level-based reconcile of a ClimaPipeline: observe, apply, prune, report.

Every trigger (create, update, resume, the periodic pass, a child changing) runs the same
pass against a freshly read pipeline, one pass at a time per pipeline; a trigger arriving
while another pass already waits is dropped, because the waiting pass will see it anyway.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from clima.wiring import VALKEY_PORT
from clima_operator import access, dedupe_fit, drain, kube, rollout, rotation
from clima_operator.children import (
    IMAGE_ANNOTATION,
    PIPELINE_LABEL,
    Context,
    KafkaUsers,
    Manifest,
    Owner,
    Passwords,
    credentials,
    kafka_problem,
    kept_volumes,
    refused_change,
    valkey,
)
from clima_operator.errors import ClusterError, ConflictError, InvalidSpecError, RejectedError
from clima_operator.spec import PipelineSpec, parse_spec, validate_name
from clima_operator.status import Observation, invalid_status, pipeline_status

logger = logging.getLogger(__name__)

ChildKey = tuple[str, str]
PipelineKey = rollout.PipelineKey
FORBIDDEN = 403


class Cluster(Protocol):
    """The API calls a reconcile needs (``kube.KubeClient`` in production, a fake in tests)."""

    def get(self, kind: kube.Kind, namespace: str, name: str) -> Manifest | None: ...
    def list(
        self, kind: kube.Kind, namespace: str | None, selector: str = ""
    ) -> list[Manifest]: ...
    def apply(self, manifest: Manifest, sub: str | None = None) -> Manifest: ...
    def create(self, manifest: Manifest) -> Manifest: ...
    def merge_patch(
        self, kind: kube.Kind, namespace: str, name: str, patch: Manifest
    ) -> Manifest: ...
    def delete(self, kind: kube.Kind, namespace: str, name: str, uid: str) -> None: ...


class EventSink(Protocol):
    """Posts a Kubernetes Event about a pipeline."""

    def __call__(self, body: Mapping[str, Any], kind: str, reason: str, message: str) -> None: ...


class Outcome(enum.Enum):
    """How a reconcile ended."""

    RECONCILED = "reconciled"
    SUSPENDED = "suspended"
    INVALID = "invalid"
    SKIPPED = "skipped"
    GONE = "gone"


def utc_now() -> str:
    """The current time as Kubernetes writes it (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def owner_of(body: Mapping[str, Any]) -> Owner:
    """The owner identity of a pipeline object."""
    meta = body["metadata"]
    return Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


def _key(manifest: Mapping[str, Any]) -> ChildKey:
    return manifest["kind"], manifest["metadata"]["name"]


def _controlled_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether an apply changed the object (status-only writes by controllers don't count)."""
    old, new = before.get("metadata", {}), after.get("metadata", {})
    if "generation" in old and "generation" in new:
        return bool(old["generation"] != new["generation"])
    return bool(old.get("resourceVersion") != new.get("resourceVersion"))


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    queued: bool = False


class _Gate:
    """One pass at a time per pipeline, and at most one more waiting."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._slots: dict[PipelineKey, _Slot] = {}

    @contextmanager
    def turn(self, key: PipelineKey) -> Iterator[bool]:
        with self._guard:
            slot = self._slots.setdefault(key, _Slot())
            redundant = slot.queued
            slot.queued = True
        if redundant:
            yield False
            return
        with slot.lock:
            with self._guard:
                slot.queued = False
            yield True


@dataclass
class Reconciler:
    """Drives pipelines towards their spec; safe to call from many threads."""

    cluster: Cluster
    events: EventSink
    dashboards: Mapping[str, str] = field(default_factory=dict)
    default_image: str | None = None
    now: Callable[[], str] = utc_now
    _gate: _Gate = field(default_factory=_Gate)
    upgrades: rollout.Rollout = field(default_factory=rollout.Rollout)
    _queued: dict[PipelineKey, str] = field(default_factory=dict)
    _rejections: dict[PipelineKey, dict[ChildKey, str]] = field(default_factory=dict)
    #: the namespace the operator runs in (Valkey admits it), when in the cluster
    operator_namespace: str | None = None
    #: samples each managed Valkey for DedupeWindowFits; None: no such condition
    fit: dedupe_fit.Watch | None = None

    def reconcile(self, namespace: str, name: str) -> Outcome:
        """Read the pipeline afresh and reconcile it; a no-op when it is gone or deleting."""
        with self._gate.turn((namespace, name)) as mine:
            if not mine:
                return Outcome.SKIPPED
            body = self.cluster.get(kube.PIPELINE, namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                self.upgrades.forget((namespace, name))
                if self.fit is not None:
                    self.fit.track((namespace, name), None)
                return Outcome.GONE
            return self.reconcile_body(body)

    def reconcile_body(self, body: Mapping[str, Any]) -> Outcome:
        """Reconcile one pipeline object as read from the API."""
        owner = owner_of(body)
        try:
            validate_name(owner.name)
            spec = parse_spec(body.get("spec") or {})
            if spec.image is None:
                spec = spec.model_copy(update={"image": self._pinned_image(body)})
            if spec.image is None:
                raise InvalidSpecError(
                    "spec.image",
                    "is empty and this operator has no default image "
                    "(CLIMA_OPERATOR_DEFAULT_IMAGE, which the Helm chart sets): "
                    "name the Clima image",
                )
            self._check_secret_refs(owner, spec)
            problem = kafka_problem(spec)
            if problem is not None:
                raise InvalidSpecError(*problem)
        except InvalidSpecError as error:
            self._report_invalid(body, error)
            return Outcome.INVALID
        ctx = Context(owner, spec, self.dashboards, operator_namespace=self.operator_namespace)
        live = self._observe(owner)
        pods = self._pods(owner)
        generation = int(body["metadata"].get("generation") or 0)
        if spec.suspend:
            self._report(body, Observation(ctx, generation, live, suspended=True, pods=pods))
            return Outcome.SUSPENDED
        try:
            rejected, drains = self._converge(body, ctx, live, pods)
        except ClusterError as error:
            failure = f"Could not reconcile ({error}); retrying"
            self._report(body, Observation(ctx, generation, live, False, failure, pods=pods))
            raise
        observation = Observation(
            ctx, generation, live, False, rejected=rejected, pods=pods, drains=drains,
            dedupe=self._dedupe_verdict(ctx),
        )  # fmt: skip
        self._report(body, observation)
        return Outcome.RECONCILED

    def _converge(
        self,
        body: Mapping[str, Any],
        ctx: Context,
        live: dict[ChildKey, Manifest],
        pods: list[Manifest],
    ) -> tuple[dict[ChildKey, str], list[drain.Drain]]:
        """Apply what the spec (and any drain of a broker the mode left) wants, delete the
        rest; the drains still under way."""
        secrets = self._ensure_credentials(body, ctx.owner)
        rendering = replace(ctx, credentials=secrets)
        self._watch_dedupe(rendering)
        rendering = replace(
            rendering,
            valkey_passwords=self._valkey_step(body, rendering, live),
            kafka_users=self._kafka_step(body, rendering, live),
        )
        full, refused = drain.as_built(rendering, live)
        drains = drain.plan(full, live, pods)
        manifests = drain.manifests(full, drains, live)
        rollout.stamp(manifests)
        if self._held_back(body, manifests, live):
            return {}, [item for item in drains if item.stage is not drain.Stage.DRAINED]
        self._observe_secrets(ctx.owner, manifests, live)
        rejected = {**refused, **self._apply_all(body, manifests, live)}
        self._prune(body, ctx.owner, {_key(item) for item in manifests}, live)
        self._note_rejections(body, ctx.owner, rejected)
        self._note_drains(body, drains)
        return rejected, [item for item in drains if item.stage is not drain.Stage.DRAINED]

    def _held_back(
        self, body: Mapping[str, Any], manifests: list[Manifest], live: dict[ChildKey, Manifest]
    ) -> bool:
        """Whether this pass must wait: it would re-render workloads of an unchanged spec
        (an operator upgrade) while another pipeline is rolling for the same reason."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        observed = (body.get("status") or {}).get("observedGeneration")
        changed = rollout.rerendered(manifests, live)
        unchanged_spec = observed is not None and observed == meta.get("generation")
        holder = self.upgrades.admit(key, bool(changed) and unchanged_spec, rollout.is_ready(body))
        if holder is None:
            self._queued.pop(key, None)
            return False
        message = rollout.waiting_message(holder, changed)
        if self._queued.get(key) != message:
            self._queued[key] = message
            self._event(body, "Normal", "UpgradeQueued", message)
        return True

    def _check_secret_refs(self, owner: Owner, spec: PipelineSpec) -> None:
        """Raises InvalidSpecError naming the field of a referenced Secret that is missing
        or does not allow this pipeline (see :mod:`clima_operator.access`)."""
        for path, ref in access.secret_refs(spec):
            secret = self.cluster.get(kube.SECRET, owner.namespace, ref.name)
            problem = access.refusal(ref, secret, owner.name)
            if problem is not None:
                raise InvalidSpecError(path, problem)

    def _pinned_image(self, body: Mapping[str, Any]) -> str | None:
        """The Clima image of a pipeline whose ``spec.image`` is empty: the one recorded in
        its ``clima.io/image`` annotation, else this operator's own, recorded there now. An
        operator upgrade so never rolls a pipeline; removing the annotation (or setting
        ``spec.image``) opts it in to the running operator's image."""
        meta = body["metadata"]
        pinned = (meta.get("annotations") or {}).get(IMAGE_ANNOTATION)
        if pinned is not None:
            if not pinned.strip() or any(char.isspace() for char in pinned):
                raise InvalidSpecError(
                    f"metadata.annotations[{IMAGE_ANNOTATION}]",
                    f"{pinned!r} is not an image reference: set one, or remove the annotation "
                    "to run this operator's image",
                )
            return str(pinned)
        if not self.default_image:
            return None
        self.cluster.merge_patch(
            kube.PIPELINE,
            meta["namespace"],
            meta["name"],
            {"metadata": {"annotations": {IMAGE_ANNOTATION: self.default_image}}},
        )
        self._event(
            body,
            "Normal",
            "ImagePinned",
            f"Runs {self.default_image}, the operator's image, and stays on it when the "
            f"operator is upgraded; remove the annotation {IMAGE_ANNOTATION} to move to the "
            "operator's image of that time",
        )
        return self.default_image

    def _observe(self, owner: Owner) -> dict[ChildKey, Manifest]:
        selector = f"{PIPELINE_LABEL}={owner.name}"
        live: dict[ChildKey, Manifest] = {}
        for kind in kube.APPLIED_KINDS:
            for obj in self.cluster.list(kind, owner.namespace, selector):
                if _controlled_by(obj, owner.uid):
                    live[_key(obj)] = obj
        return live

    def _pods(self, owner: Owner) -> list[Manifest]:
        """The pipeline's pods; none (status from the controllers alone) when the operator
        may not list pods, e.g. a newer operator still bound to an older Role."""
        try:
            return self.cluster.list(kube.POD, owner.namespace, f"{PIPELINE_LABEL}={owner.name}")
        except ClusterError as error:
            if error.status != FORBIDDEN:
                raise
            logger.warning("Cannot list pods (%s); status from controllers only", error.message,
                           extra=_context(owner.namespace, owner.name))  # fmt: skip
            return []

    def _event(self, body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        meta = body["metadata"]
        context = {**_context(meta["namespace"], meta["name"]), "reason": reason}
        logger.info("%s", message, extra=context)
        try:
            self.events(body, kind, reason, message)
        except ClusterError as error:  # an Event is a courtesy; never fail a pass for one
            logger.warning("Could not post the Event: %s", error, extra=context)

    def _observe_secrets(
        self, owner: Owner, manifests: list[Manifest], live: dict[ChildKey, Manifest]
    ) -> None:
        """Read the rendered Secrets by name: the operator may not list Secrets (nor delete
        them, so one the spec no longer wants stays until the pipeline goes)."""
        for manifest in manifests:
            if manifest["kind"] == kube.SECRET.kind:
                name = manifest["metadata"]["name"]
                found = self.cluster.get(kube.SECRET, owner.namespace, name)
                if found is not None and _controlled_by(found, owner.uid):
                    live[(kube.SECRET.kind, name)] = found

    def _watch_dedupe(self, ctx: Context) -> None:
        """Have the fit watch sample this pipeline's managed Valkey (or stop)."""
        if self.fit is None:
            return
        key = (ctx.owner.namespace, ctx.owner.name)
        password = ctx.credentials.get(credentials.VALKEY_PASSWORD)
        if ctx.spec.valkey.type != "managed" or password is None:
            self.fit.track(key, None)
            return
        limits = ctx.spec.valkey.managed.resources.limits
        target = dedupe_fit.Target(
            hosts=tuple(valkey.hosts(ctx)),
            port=VALKEY_PORT,
            password=password,
            window_s=ctx.spec.retention.dedupe_window_s,
            window=ctx.spec.retention.dedupe_window,
            memory_limit=limits.memory if limits is not None else None,
        )
        self.fit.track(key, target)

    def _dedupe_verdict(self, ctx: Context) -> dedupe_fit.Verdict | None:
        if self.fit is None:
            return None
        return self.fit.verdict((ctx.owner.namespace, ctx.owner.name))

    def _valkey_step(
        self, body: Mapping[str, Any], ctx: Context, live: Mapping[ChildKey, Manifest]
    ) -> Passwords | None:
        """The managed Valkey's step of a password rotation; an Event when it advances."""
        step, advanced = rotation.valkey_step(self.cluster, ctx, live)
        if advanced is not None:
            self._event(body, "Normal", "ValkeyPasswordRotation", advanced)
        return step

    def _kafka_step(
        self, body: Mapping[str, Any], ctx: Context, live: Mapping[ChildKey, Manifest]
    ) -> KafkaUsers | None:
        """The managed Kafka's step of a password rotation; an Event when it advances."""
        users, advanced = rotation.kafka_step(self.cluster, ctx, live)
        if advanced is not None:
            self._event(body, "Normal", "KafkaPasswordRotation", advanced)
        return users

    def _ensure_credentials(self, body: Mapping[str, Any], owner: Owner) -> dict[str, str]:
        """Create or complete the credentials Secret; its values, decoded."""
        name = credentials.secret_name(owner)
        secret = self.cluster.get(kube.SECRET, owner.namespace, name)
        if secret is None:
            try:
                secret = self.cluster.create(credentials.new_secret(owner))
            except ConflictError:  # created meanwhile by a concurrent pass; its values stand
                secret = self.cluster.get(kube.SECRET, owner.namespace, name) or {}
                return credentials.decoded(secret)
            self._event(body, "Normal", "Created", f"Secret {name} with generated passwords")
            return credentials.decoded(secret)
        missing = credentials.missing_keys(secret)
        if missing:
            patch = credentials.completion_patch(missing)
            secret = self.cluster.merge_patch(kube.SECRET, owner.namespace, name, patch)
            self._event(body, "Normal", "Updated", f"Secret {name}: added {', '.join(missing)}")
        return credentials.decoded(secret)

    def _apply_all(
        self, body: Mapping[str, Any], manifests: list[Manifest], live: dict[ChildKey, Manifest]
    ) -> dict[ChildKey, str]:
        rejected: dict[ChildKey, str] = {}
        for manifest in manifests:
            key = _key(manifest)
            before = live.get(key)
            refusal = refused_change(manifest, before)
            if refusal is not None:
                rejected[key] = refusal
                continue
            kept = kept_volumes(manifest, before)  # the rest of the StatefulSet still applies
            if kept is not None:
                rejected[key] = kept
            try:
                applied = self._apply_owned(manifest, before)
            except ConflictError:
                rejected[key] = (
                    "exists already and is not this pipeline's; the operator leaves it as it "
                    "is: delete or rename it, or give the pipeline another name"
                )
                continue
            except RejectedError as error:
                rejected[key] = f"the API server refused it: {error.message}"
                continue
            live[key] = applied
            if before is None:
                self._event(body, "Normal", "Created", f"{key[0]} {key[1]}")
            elif _changed(before, applied):
                self._event(body, "Normal", "Updated", f"{key[0]} {key[1]}")
        return rejected

    def _apply_owned(self, manifest: Manifest, before: Manifest | None) -> Manifest:
        """Applies a child the pipeline owns; creates one it does not own yet, never applies
        it (an apply would take over an object of that name made by someone else). Raises
        ConflictError when such an object exists and is not the pipeline's (one that is, but
        lost its labels, is applied again)."""
        if before is not None:
            return self.cluster.apply(manifest)
        try:
            return self.cluster.create(manifest)
        except ConflictError:
            meta = manifest["metadata"]
            owner_uid = meta["ownerReferences"][0]["uid"]
            found = self.cluster.get(kube.kind_of(manifest), meta["namespace"], meta["name"])
            if found is None or not _controlled_by(found, owner_uid):
                raise
            return self.cluster.apply(manifest)

    def _prune(
        self,
        body: Mapping[str, Any],
        owner: Owner,
        wanted: set[ChildKey],
        live: dict[ChildKey, Manifest],
    ) -> None:
        for key in [key for key in live if key not in wanted]:
            obj = live.pop(key)
            kind = kube.KINDS[key[0]]
            self.cluster.delete(kind, owner.namespace, key[1], obj["metadata"]["uid"])
            self._event(body, "Normal", "Deleted", f"{key[0]} {key[1]}: no longer in the spec")

    def _note_drains(self, body: Mapping[str, Any], drains: list[drain.Drain]) -> None:
        """An Event when a drain ends (its broker and consumer were just deleted) or its
        Job failed (it was just deleted, and the next pass starts another)."""
        for item in drains:
            if item.stage is drain.Stage.DRAINED:
                message = f"{item.message}; {item.broker.title} and its consumer are removed"
                self._event(body, "Normal", "DrainCompleted", message)
            elif item.stage is drain.Stage.FAILED:
                self._event(body, "Warning", "DrainJobFailed", item.message)

    def _note_rejections(
        self, body: Mapping[str, Any], owner: Owner, rejected: dict[ChildKey, str]
    ) -> None:
        seen = self._rejections.get((owner.namespace, owner.name), {})
        for (kind, name), message in rejected.items():
            if seen.get((kind, name)) != message:
                self._event(body, "Warning", "ApplyFailed", f"{kind} {name}: {message}")
        self._rejections[(owner.namespace, owner.name)] = rejected

    def _report_invalid(self, body: Mapping[str, Any], error: InvalidSpecError) -> None:
        previous = body.get("status") or {}
        generation = int(body["metadata"].get("generation") or 0)
        self._publish(body, invalid_status(str(error), generation, previous, self.now()))

    def _report(self, body: Mapping[str, Any], observation: Observation) -> None:
        previous = body.get("status") or {}
        self._publish(body, pipeline_status(observation, previous, self.now()))

    def _publish(self, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        previous = body.get("status") or {}
        if status == previous:
            return
        meta = body["metadata"]
        self.cluster.apply(
            {
                "apiVersion": body["apiVersion"],
                "kind": body["kind"],
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "status": status,
            },
            sub="status",
        )
        self._announce(body, _ready_of(previous), _ready_of(status))

    def _announce(
        self, body: Mapping[str, Any], before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> None:
        """Post an Event when the Ready condition changes status or reason."""
        if (before.get("status"), before.get("reason")) == (
            after.get("status"),
            after.get("reason"),
        ):
            return
        kind = (
            "Normal" if after.get("status") == "True" or after.get("reason") in _CALM else "Warning"
        )
        self._event(body, kind, str(after.get("reason")), str(after.get("message")))


_CALM = {"Suspended", "ComponentsNotReady", "Draining"}


def _context(namespace: str, name: str) -> dict[str, str]:
    """The log fields naming a pipeline (see ``clima.common.logs``)."""
    return {"namespace": namespace, "pipeline": name}


def _ready_of(status: Mapping[str, Any]) -> Mapping[str, Any]:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return dict(condition)
    return {}
