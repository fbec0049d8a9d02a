"""Workloads: critical ones ready with their replicas and containers; removed ones gone; parked ones parked."""

from __future__ import annotations

from typing import Any

from conformance.check import Culprit, Finding, ObjectRef
from conformance.cluster.podstatus import pod_status
from conformance.cluster.resources import NODES, PODS, WORKLOADS
from conformance.cluster.selectors import selector_matches
from conformance.cluster.state import ClusterState, name_of
from conformance.cluster.timing import condition
from conformance.errors import MalformedObject
from conformance.kubernetes.pods import pod_culprit
from conformance.profile.model import Profile, RequiredWorkload, WorkloadRef


def _culprit(ref: WorkloadRef, observed: str) -> Culprit:
    """The workload itself as a culprit (`Deployment kong/kong`), with its object for the remediation hint."""
    return Culprit(str(ref), observed, ref=ObjectRef(ref.kind, ref.name, ref.namespace))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def workload_pods(state: ClusterState, obj: dict[str, Any], ref: WorkloadRef) -> list[dict[str, Any]]:
    """Live pods the workload's selector selects (pods being deleted belong to the old state)."""
    selector = (obj.get("spec") or {}).get("selector")
    if not isinstance(selector, dict):
        raise MalformedObject(f"{ref}: spec.selector is missing")
    return [
        pod
        for pod in state.in_namespace(PODS, ref.namespace)
        if not (pod.get("metadata") or {}).get("deletionTimestamp")
        and selector_matches(selector, (pod.get("metadata") or {}).get("labels") or {}, str(ref))
    ]


def _pod_culprits(pods: list[dict[str, Any]], containers: int | None) -> list[Culprit]:
    culprits = []
    for pod in pods:
        columns = pod_status(pod)
        problems = []
        if containers is not None and columns.total != containers:
            problems.append(f"has {columns.total} containers, expected {containers}")
        if columns.status != "Running" or columns.ready < columns.total:
            problems.append(f"{columns.status} READY {columns.ready_column} (restarts {columns.restarts})")
        if problems:
            culprits.append(pod_culprit(pod, name_of(pod), "; ".join(problems)))
    return culprits


def _rollout(obj: dict[str, Any]) -> str | None:
    metadata, status = obj.get("metadata") or {}, obj.get("status") or {}
    generation, observed = metadata.get("generation"), status.get("observedGeneration")
    if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
        return f"controller has not observed generation {generation} yet (observed {observed})"
    return None


def _replicated(
    state: ClusterState, obj: dict[str, Any], ref: WorkloadRef, replicas: int, containers: int | None
) -> Finding:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = _int(spec.get("replicas", 1))
    ready = _int(status.get("readyReplicas"))
    updated = _int(status.get("updatedReplicas"))
    pods = workload_pods(state, obj, ref)
    culprits = []
    if desired != replicas:
        culprits.append(_culprit(ref, f"spec.replicas is {desired}, expected {replicas}"))
    if ready < replicas:
        culprits.append(_culprit(ref, f"{ready}/{replicas} replicas ready"))
    if ref.kind == "Deployment" and updated < desired:
        culprits.append(_culprit(ref, f"rollout incomplete: {updated}/{desired} replicas updated"))
    rollout = _rollout(obj)
    if rollout:
        culprits.append(_culprit(ref, rollout))
    culprits += _pod_culprits(pods, containers)
    if len(pods) < replicas and ready >= replicas:
        culprits.append(_culprit(ref, f"only {len(pods)} pods match its selector, expected {replicas}"))
    shape = f", {containers}/{containers} containers each" if containers else ""
    return Finding(
        expected=f"{ref}: {replicas} replicas ready{shape}",
        observed=f"{ref.namespace}/{ref.name}: {ready}/{replicas} ready",
        inspected=1 + len(pods),
        culprits=culprits,
        evidence=(WORKLOADS[ref.kind].name, PODS.name),
    )


def _ready_nodes(state: ClusterState) -> list[str]:
    return sorted(
        name_of(node)
        for node in state.objects(NODES)
        if (condition(node, "Ready") or {}).get("status") == "True"
        and not (node.get("spec") or {}).get("unschedulable")
    )


def _daemonset(state: ClusterState, obj: dict[str, Any], expected: RequiredWorkload) -> Finding:
    status = obj.get("status") or {}
    desired = _int(status.get("desiredNumberScheduled"))
    ready = _int(status.get("numberReady"))
    updated = _int(status.get("updatedNumberScheduled"))
    pods = workload_pods(state, obj, expected)
    culprits = []
    if ready < desired:
        culprits.append(_culprit(expected, f"{ready}/{desired} pods ready"))
    if updated < desired:
        culprits.append(_culprit(expected, f"rollout incomplete: {updated}/{desired} pods updated"))
    if desired == 0:
        culprits.append(_culprit(expected, "schedules no pods (desiredNumberScheduled 0)"))
    rollout = _rollout(obj)
    if rollout:
        culprits.append(_culprit(expected, rollout))
    culprits += _pod_culprits(pods, expected.containers)
    inspected = 1 + len(pods)
    scope = ""
    if expected.every_node:
        nodes = _ready_nodes(state)
        inspected += len(nodes)
        covered = {
            (pod.get("spec") or {}).get("nodeName")
            for pod in pods
            if pod_status(pod).status == "Running" and pod_status(pod).ready == pod_status(pod).total
        }
        for node in nodes:
            if node not in covered:
                culprits.append(Culprit(node, f"has no ready {expected.name} pod", ref=ObjectRef("Node", node)))
        scope = f" on every Ready node ({len(nodes)})"
    return Finding(
        expected=f"{expected}: a ready pod{scope}",
        observed=f"{expected.namespace}/{expected.name}: {ready}/{desired} ready",
        inspected=inspected,
        culprits=culprits,
        evidence=(WORKLOADS["DaemonSet"].name, PODS.name) + ((NODES.name,) if expected.every_node else ()),
    )


def _not_found(state: ClusterState, expected: WorkloadRef, wanted: str, why: str) -> Finding:
    resource = WORKLOADS[expected.kind]
    state.objects(PODS)  # an unreadable pods list is an error, not a finding
    return Finding(
        expected=f"{expected} {wanted}",
        observed=f"{expected} not found",
        inspected=len(state.in_namespace(resource, expected.namespace)),
        culprits=[_culprit(expected, why)],
        evidence=(resource.name,),
    )


def workload_ready(state: ClusterState, expected: RequiredWorkload, _profile: Profile) -> Finding:
    obj = state.get(WORKLOADS[expected.kind], expected.namespace, expected.name)
    if obj is None:
        return _not_found(state, expected, "exists and is ready", "not found")
    if expected.kind == "DaemonSet":
        return _daemonset(state, obj, expected)
    assert expected.replicas is not None  # the model requires it for non-DaemonSets
    return _replicated(state, obj, expected, expected.replicas, expected.containers)


def workload_absent(state: ClusterState, expected: WorkloadRef, _profile: Profile) -> Finding:
    resource = WORKLOADS[expected.kind]
    peers = state.in_namespace(resource, expected.namespace)
    obj = state.get(resource, expected.namespace, expected.name)
    culprits = []
    if obj is not None:
        created = (obj.get("metadata") or {}).get("creationTimestamp", "unknown time")
        culprits.append(_culprit(expected, f"exists again (created {created}); it was removed"))
    return Finding(
        expected=f"{expected} stays removed",
        observed=f"{expected} {'present' if obj is not None else 'absent'} "
        f"among {len(peers)} {resource.name} in {expected.namespace}",
        inspected=len(peers),
        culprits=culprits,
        evidence=(resource.name,),
    )


def workload_parked(state: ClusterState, expected: WorkloadRef, _profile: Profile) -> Finding:
    """Parked at zero replicas until fixed; scaled up again only if fully ready."""
    resource = WORKLOADS[expected.kind]
    obj = state.get(resource, expected.namespace, expected.name)
    if obj is None:
        return _not_found(
            state,
            expected,
            "exists at 0 replicas, or ready if scaled up",
            "not found: expected it parked at 0 replicas",
        )
    if expected.kind == "DaemonSet":
        raise MalformedObject(f"{expected}: a DaemonSet cannot be scaled to zero")
    desired = _int((obj.get("spec") or {}).get("replicas", 1))
    if desired > 0:
        finding = _replicated(state, obj, expected, desired, None)
        return Finding(
            expected=f"{expected} at 0 replicas, or all {desired} ready since it was scaled up",
            observed=f"scaled up to {desired}; {finding.observed}",
            inspected=finding.inspected,
            culprits=finding.culprits,
            evidence=finding.evidence,
        )
    leftovers = workload_pods(state, obj, expected)
    return Finding(
        expected=f"{expected} at 0 replicas, or ready if scaled up",
        observed=f"{expected} at 0 replicas with {len(leftovers)} pods left",
        inspected=1 + len(leftovers),
        culprits=[
            pod_culprit(p, name_of(p), f"{pod_status(p).status}: still running at 0 replicas") for p in leftovers
        ],
        evidence=(resource.name, PODS.name),
    )


def reads_for(expected: WorkloadRef) -> tuple[Any, ...]:
    extra = (NODES,) if isinstance(expected, RequiredWorkload) and expected.every_node else ()
    return (WORKLOADS[expected.kind], PODS, *extra)
