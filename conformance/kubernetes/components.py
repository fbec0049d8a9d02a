"""Platform components found by their pods' labels: the cluster DNS, the ingress controller."""

from __future__ import annotations

from conformance.check import Finding
from conformance.cluster.podstatus import pod_status
from conformance.cluster.resources import PODS
from conformance.cluster.state import ClusterState, name_of
from conformance.errors import CouldNotEvaluate
from conformance.kubernetes.pods import pod_culprit
from conformance.profile.model import Component, Profile


def component_ready(state: ClusterState, expected: Component, _profile: Profile) -> Finding:
    """Every live pod with the component's labels ready, and at least `min_ready` of them."""
    pods = [
        pod
        for pod in state.in_namespace(PODS, expected.namespace)
        if not (pod.get("metadata") or {}).get("deletionTimestamp")
        and all(((pod.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in expected.labels.items())
    ]
    if not pods:
        # Nothing found is not a verdict: the labels may be wrong for this distribution.
        raise CouldNotEvaluate(f"no pods labelled {expected.selector} in namespace {expected.namespace}")
    culprits = []
    ready = 0
    for pod in pods:
        columns = pod_status(pod)
        if columns.status == "Running" and columns.ready == columns.total:
            ready += 1
        else:
            observed = f"{columns.status} READY {columns.ready_column} (restarts {columns.restarts})"
            culprits.append(pod_culprit(pod, f"{expected.namespace}/{name_of(pod)}", observed))
    if ready < expected.min_ready and not culprits:
        culprits.append(
            pod_culprit(pods[0], f"{expected.namespace}/{name_of(pods[0])}", f"{ready} ready of {expected.min_ready}")
        )
    return Finding(
        expected=f"{expected}: at least {expected.min_ready} ready, every one found ready",
        observed=f"{ready}/{len(pods)} pods ready",
        inspected=len(pods),
        culprits=culprits,
        evidence=(PODS.name,),
    )
