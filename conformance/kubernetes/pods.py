"""Failing pods, judged by the status string `kubectl get pods` shows, with a grace for pods still starting."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from conformance.check import Culprit, Finding, ObjectRef
from conformance.cluster.containers import container_states, most_telling
from conformance.cluster.podstatus import PodStatus, pod_status
from conformance.cluster.resources import PODS
from conformance.cluster.state import ClusterState, name_of, namespace_of
from conformance.cluster.timing import condition, human_age, timestamp
from conformance.errors import CouldNotEvaluate
from conformance.profile.model import NamespacePods, Pods, Profile

# Waiting and terminated reasons that mean the pod is broken now, whatever its age.
ERROR_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "RegistryUnavailable",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "ContainerCannotRun",
        "PreStartHookError",
        "PostStartHookError",
        "StartError",
        "Error",
        "OOMKilled",
        "ContainerStatusUnknown",
        "DeadlineExceeded",
        "Evicted",
        "NodeLost",
        "NodeAffinity",
        "UnexpectedAdmissionError",
        "Unknown",
    }
)
_INIT_PROGRESS = re.compile(r"Init:\d+/\d+")
# What to do about a failing pod, filled per culprit (conformance.remediation); workload checks use it for theirs.
POD_REMEDIATION = (
    "kubectl describe pod {name} -n {namespace}; kubectl logs {name} -n {namespace}[ -c {container}] --previous; "
    "check events and image pull secrets"
)


@dataclass(frozen=True)
class OtherNamespaces:
    """Every namespace the profile does not list (nor ignore): failing pods there count too."""

    listed: frozenset[str]
    ignored: frozenset[str]
    source: str | None = None
    origin: str | None = None
    basis: str | None = None

    def __str__(self) -> str:
        return "namespaces not listed in the profile"

    def covers(self, namespace: str) -> bool:
        return namespace not in self.listed and namespace not in self.ignored


def is_error_status(status: str) -> bool:
    if status in ERROR_REASONS or status.startswith(("ExitCode:", "Signal:")):
        return True
    return status.startswith("Init:") and not _INIT_PROGRESS.fullmatch(status)


def _describe(columns: PodStatus, extra: str = "") -> str:
    text = f"{columns.status} READY {columns.ready_column} (restarts {columns.restarts})"
    return f"{text} {extra}".rstrip()


def judge_pod(pod: dict[str, Any], now: datetime, rules: Pods) -> str | None:
    """Why the pod counts as failing, in kubectl's words, or None when it does not."""
    owner = f"pod {namespace_of(pod)}/{name_of(pod)}"
    columns = pod_status(pod)
    metadata = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase")
    if metadata.get("deletionTimestamp"):
        # deletionTimestamp is when the kubelet's grace period ends; beyond it plus ours, it is stuck.
        deadline = timestamp(pod, metadata["deletionTimestamp"], "metadata.deletionTimestamp", owner)
        overdue = now - deadline
        if overdue > rules.grace:
            return _describe(columns, f"for {human_age(overdue)} past its deletion deadline")
        return None
    if phase == "Succeeded":
        return None
    if phase == "Failed":
        return _describe(columns) if rules.failed_pods_fail else None
    if is_error_status(columns.status):
        return _describe(columns)
    if columns.status == "Running" and columns.ready == columns.total:
        return None
    # Still starting (Pending, ContainerCreating, Init:0/1, NotReady): failing only beyond the grace.
    since_field = "metadata.creationTimestamp"
    since_text = metadata.get("creationTimestamp")
    ready = condition(pod, "Ready")
    if phase == "Running" and ready is not None and ready.get("lastTransitionTime"):
        since_field, since_text = "Ready.lastTransitionTime", ready["lastTransitionTime"]
    since = timestamp(pod, since_text, since_field, owner)
    waited = now - since
    if waited > rules.grace:
        return _describe(columns, f"for {human_age(waited)}")
    return None


def pod_culprit(pod: dict[str, Any], name: str, observed: str, containers: Collection[str] | None = None) -> Culprit:
    """A pod as a culprit: its object for the remediation hint, and why its failing containers fail (or, given
    `containers`, what those containers are doing)."""
    states = container_states(pod, containers)
    ref = ObjectRef("Pod", name_of(pod), namespace_of(pod), most_telling(states))
    return Culprit(name, observed, ref=ref, containers=states)


def _judge(pods: list[dict[str, Any]], state: ClusterState, rules: Pods) -> list[Culprit]:
    culprits = []
    for pod in pods:
        verdict = judge_pod(pod, state.now, rules)
        if verdict is not None:
            culprits.append(pod_culprit(pod, f"{namespace_of(pod)}/{name_of(pod)}", verdict))
    return culprits


def failing_pods(state: ClusterState, scope: NamespacePods | OtherNamespaces, profile: Profile) -> Finding:
    rules = profile.pods or Pods()
    grace = f"grace {human_age(rules.grace)}"
    if isinstance(scope, OtherNamespaces):
        pods = [p for p in state.objects(PODS) if scope.covers(namespace_of(p))]
        where = "namespaces not listed in the profile"
    else:
        pods = state.in_namespace(PODS, scope.namespace)
        where = f"namespace {scope.namespace}"
        if not pods:
            raise CouldNotEvaluate(f"no pods in {where}: the profile expects it to run some")
    culprits = _judge(pods, state, rules)
    return Finding(
        expected=f"no failing pods in {where} (errors now; Pending, NotReady or Terminating beyond the {grace})",
        observed=f"{len(culprits)} of {len(pods)} pods failing in {where}",
        inspected=len(pods),
        culprits=culprits,
        evidence=(PODS.name,),
    )


def counts_as_present(pod: dict[str, Any]) -> bool:
    """Pods that make up a namespace's population: not Failed leftovers, not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase != "Failed" and not (pod.get("metadata") or {}).get("deletionTimestamp")


def namespace_pod_count(state: ClusterState, expected: NamespacePods, _profile: Profile) -> Finding:
    pods = state.in_namespace(PODS, expected.namespace)
    present = [p for p in pods if counts_as_present(p)]
    bounds = []
    if expected.min is not None:
        bounds.append(f"at least {expected.min}")
    if expected.max is not None:
        bounds.append(f"at most {expected.max}")
    wanted = " and ".join(bounds)
    count = len(present)
    short = expected.min is not None and count < expected.min
    over = expected.max is not None and count > expected.max
    culprits = []
    if short or over:
        ref = ObjectRef("Namespace", expected.namespace, expected.namespace)
        culprits.append(Culprit(expected.namespace, f"has {count} pods, expected {wanted}", ref=ref))
    return Finding(
        expected=f"{wanted} pods (not Failed, not Terminating) in namespace {expected.namespace}",
        observed=f"{count} pods in {expected.namespace} ({len(pods) - count} Failed or Terminating not counted)",
        inspected=len(pods),
        culprits=culprits,
        evidence=(PODS.name,),
    )


def failing_pod_scopes(profile: Profile) -> list[tuple[str, Any]] | None:
    if profile.pods is None:
        return None
    rules = profile.pods
    scopes: list[tuple[str, Any]] = [
        (entry.namespace, entry) for entry in rules.namespaces if entry.namespace not in rules.ignore_namespaces
    ]
    others = OtherNamespaces(
        frozenset(e.namespace for e in rules.namespaces),
        frozenset(rules.ignore_namespaces),
        rules.source,
        rules.origin,
        rules.basis,
    )
    scopes.append(("other-namespaces" if scopes else "all-namespaces", others))
    return scopes


def grace_of(profile: Profile) -> timedelta:
    return (profile.pods or Pods()).grace
