"""Required, removed and parked workloads (conformance.kubernetes.workloads), one small state per case."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.cluster.resources import NODES, PODS, WORKLOADS
from conformance.cluster.state import ClusterState
from conformance.errors import MalformedObject, SourceError
from conformance.kubernetes import workloads
from conformance.profile.model import RequiredWorkload, WorkloadRef

from .unitstate import PROFILE, Obj, culprits, meta, pod, running, state, waiting

DEPLOYMENTS, STATEFULSETS, DAEMONSETS = (WORKLOADS[k].name for k in ("Deployment", "StatefulSet", "DaemonSet"))
WEB = RequiredWorkload(namespace="apps", kind="Deployment", name="web", replicas=2)
WEB_2C = RequiredWorkload(namespace="apps", kind="Deployment", name="web", replicas=2, containers=2)
DB = RequiredWorkload(namespace="apps", kind="StatefulSet", name="web", replicas=2)
AGENT = RequiredWorkload(namespace="apps", kind="DaemonSet", name="web")
AGENT_EVERYWHERE = RequiredWorkload(namespace="apps", kind="DaemonSet", name="web", every_node=True)
SELECTOR = {"matchLabels": {"app": "web"}}


def replicated(
    replicas: int | None = 2,
    ready: Any = 2,
    updated: int = 2,
    generation: Any = 1,
    observed: int = 1,
    selector: Any = SELECTOR,
    name: str = "web",
) -> Obj:
    spec: Obj = {"selector": selector}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "metadata": meta(name, "apps", generation=generation),
        "spec": spec,
        "status": {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": updated},
    }


def daemonset(desired: int = 2, ready: int = 2, updated: int = 2, generation: int = 4, observed: int = 4) -> Obj:
    return {
        "metadata": meta("web", "apps", generation=generation),
        "spec": {"selector": SELECTOR},
        "status": {
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "updatedNumberScheduled": updated,
            "observedGeneration": observed,
        },
    }


def node(name: str, ready: str = "True", cordoned: bool = False) -> Obj:
    return {
        "metadata": meta(name),
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


TWO_PODS = [pod("web-a"), pod("web-b")]


def cluster(resource: str, obj: Obj | None, pods: list[Obj] | None = None, **more: list[Obj]) -> ClusterState:
    return state({resource: [obj] if obj else [], "pods": TWO_PODS if pods is None else pods, **more})


@pytest.mark.parametrize(
    ("obj", "pods", "expected", "want"),
    [
        pytest.param(replicated(), None, WEB, [], id="ready"),
        pytest.param(replicated(updated=3), None, WEB, [], id="surge-updated"),
        pytest.param(replicated(generation=None), None, WEB, [], id="generation-unknown"),
        pytest.param(replicated(generation=2, observed=3), None, WEB, [], id="observed-ahead"),
        pytest.param(
            replicated(replicas=3, ready=3, updated=3),
            [*TWO_PODS, pod("web-c")],
            WEB,
            [("Deployment apps/web", "spec.replicas is 3, expected 2")],
            id="spec-replicas-differ",
        ),
        pytest.param(
            replicated(replicas=None, ready=1, updated=1),
            TWO_PODS[:1],
            WEB,
            [
                ("Deployment apps/web", "spec.replicas is 1, expected 2"),
                ("Deployment apps/web", "1/2 replicas ready"),
            ],
            id="replicas-default-to-one",
        ),
        pytest.param(
            replicated(ready=1),
            [pod("web-a"), pod("web-b", statuses=[waiting("c0", "CrashLoopBackOff", 7)])],
            WEB,
            [
                ("Deployment apps/web", "1/2 replicas ready"),
                ("web-b", "CrashLoopBackOff READY 0/1 (restarts 7)"),
            ],
            id="replica-not-ready",
        ),
        pytest.param(
            replicated(ready=True),
            None,
            WEB,
            [("Deployment apps/web", "0/2 replicas ready")],
            id="ready-not-a-number",
        ),
        pytest.param(
            replicated(updated=1),
            None,
            WEB,
            [("Deployment apps/web", "rollout incomplete: 1/2 replicas updated")],
            id="rollout-incomplete",
        ),
        pytest.param(replicated(updated=1), None, DB, [], id="statefulset-partitioned-rollout"),
        pytest.param(
            replicated(generation=3, observed=2),
            None,
            WEB,
            [("Deployment apps/web", "controller has not observed generation 3 yet (observed 2)")],
            id="generation-unobserved",
        ),
        pytest.param(
            replicated(),
            [pod("web-a", containers=2), pod("web-b")],
            WEB_2C,
            [("web-b", "has 1 containers, expected 2")],
            id="container-missing",
        ),
        pytest.param(
            replicated(),
            [pod("web-a", containers=2), pod("web-b", statuses=[running("c0"), running("c1", ready=False)])],
            WEB_2C,
            [("web-b", "Running READY 1/2 (restarts 0)")],
            id="container-not-ready",
        ),
        pytest.param(
            replicated(),
            [pod("web-a", containers=2), pod("web-b", phase="Pending", statuses=[], containers=1)],
            WEB_2C,
            [("web-b", "has 1 containers, expected 2; Pending READY 0/1 (restarts 0)")],
            id="both-problems",
        ),
        pytest.param(
            replicated(),
            [pod("web-a"), pod("web-b", deleting="2025-10-22T03:29:00Z"), pod("db-0", labels={"app": "db"})],
            WEB,
            [("Deployment apps/web", "only 1 pods match its selector, expected 2")],
            id="too-few-live-pods",
        ),
        pytest.param(
            replicated(ready=1),
            [pod("web-a")],
            WEB,
            [("Deployment apps/web", "1/2 replicas ready")],
            id="too-few-pods-said-once",
        ),
    ],
)
def test_replicated_workload_ready(
    obj: Obj, pods: list[Obj] | None, expected: RequiredWorkload, want: list[tuple[str, str]]
) -> None:
    resource = WORKLOADS[expected.kind].name
    assert culprits(workloads.workload_ready(cluster(resource, obj, pods), expected, PROFILE)) == want


def test_replicated_workload_says_what_it_saw() -> None:
    finding = workloads.workload_ready(cluster(DEPLOYMENTS, replicated(ready=1)), WEB_2C, PROFILE)
    assert finding.expected == "Deployment apps/web: 2 replicas ready, 2/2 containers each"
    assert finding.observed == "apps/web: 1/2 ready"
    assert finding.inspected == 3
    assert finding.evidence == ("deployments.apps", "pods")
    assert workloads.workload_ready(cluster(STATEFULSETS, replicated()), DB, PROFILE).expected == (
        "StatefulSet apps/web: 2 replicas ready"
    )


def test_missing_workload_is_a_failure() -> None:
    finding = workloads.workload_ready(cluster(DEPLOYMENTS, replicated(name="api")), WEB, PROFILE)
    assert culprits(finding) == [("Deployment apps/web", "not found")]
    assert finding.expected == "Deployment apps/web exists and is ready"
    assert finding.observed == "Deployment apps/web not found"
    assert finding.inspected == 1
    assert finding.evidence == ("deployments.apps",)


@pytest.mark.parametrize(
    ("given", "expected", "error", "reason"),
    [
        pytest.param(
            state({"pods": []}),
            WEB,
            SourceError,
            "deployments.apps: was not collected in this run",
            id="no-deployments",
        ),
        pytest.param(state({DEPLOYMENTS: []}), WEB, SourceError, "pods: was not collected in this run", id="no-pods"),
        pytest.param(
            state({DEPLOYMENTS: [replicated()]}), WEB, SourceError, "pods: was not collected in this run", id="found"
        ),
        pytest.param(
            cluster(DEPLOYMENTS, replicated(selector=None)),
            WEB,
            MalformedObject,
            "Deployment apps/web: spec.selector is missing",
            id="no-selector",
        ),
        pytest.param(
            cluster(DEPLOYMENTS, replicated(selector={"matchExpressions": [{"key": "app", "operator": "Near"}]})),
            WEB,
            MalformedObject,
            "Deployment apps/web: selector operator 'Near' is not one Kubernetes defines",
            id="bad-selector",
        ),
        pytest.param(
            cluster(DAEMONSETS, daemonset()),
            AGENT_EVERYWHERE,
            SourceError,
            "nodes: was not collected in this run",
            id="every-node-without-nodes",
        ),
    ],
)
def test_workload_ready_cannot_be_evaluated(
    given: ClusterState, expected: RequiredWorkload, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error) as raised:
        workloads.workload_ready(given, expected, PROFILE)
    assert str(raised.value) == reason


NODES_AB = [node("a"), node("b")]


@pytest.mark.parametrize(
    ("obj", "pods", "nodes", "want"),
    [
        pytest.param(daemonset(), None, None, [], id="ready"),
        pytest.param(
            daemonset(ready=1),
            None,
            None,
            [("DaemonSet apps/web", "1/2 pods ready")],
            id="pod-not-ready",
        ),
        pytest.param(
            daemonset(updated=1),
            None,
            None,
            [("DaemonSet apps/web", "rollout incomplete: 1/2 pods updated")],
            id="rollout-incomplete",
        ),
        pytest.param(daemonset(ready=3, updated=3), None, None, [], id="more-than-desired"),
        pytest.param(
            daemonset(desired=0, ready=0, updated=0),
            [],
            None,
            [("DaemonSet apps/web", "schedules no pods (desiredNumberScheduled 0)")],
            id="schedules-nothing",
        ),
        pytest.param(
            daemonset(generation=5),
            None,
            None,
            [("DaemonSet apps/web", "controller has not observed generation 5 yet (observed 4)")],
            id="generation-unobserved",
        ),
        pytest.param(
            daemonset(),
            [pod("web-a", node="a"), pod("web-b", node="b")],
            NODES_AB,
            [],
            id="every-node-covered",
        ),
        pytest.param(
            daemonset(),
            [pod("web-a", node="a"), pod("web-b", node="b", statuses=[running("c0", ready=False)])],
            [*NODES_AB, node("cordoned", cordoned=True), node("down", ready="False"), {"metadata": meta("new")}],
            [("web-b", "Running READY 0/1 (restarts 0)"), ("b", "has no ready web pod")],
            id="node-without-ready-pod",
        ),
        pytest.param(
            daemonset(),
            [pod("web-a", node="a"), pod("web-b", node="b", phase="Pending")],
            NODES_AB,
            [("web-b", "Pending READY 1/1 (restarts 0)"), ("b", "has no ready web pod")],
            id="node-with-pending-pod",
        ),
    ],
)
def test_daemonset_ready(
    obj: Obj, pods: list[Obj] | None, nodes: list[Obj] | None, want: list[tuple[str, str]]
) -> None:
    expected = AGENT if nodes is None else AGENT_EVERYWHERE
    extra = {} if nodes is None else {"nodes": nodes}
    assert culprits(workloads.workload_ready(cluster(DAEMONSETS, obj, pods, **extra), expected, PROFILE)) == want


def test_daemonset_pods_carry_the_expected_containers() -> None:
    expected = RequiredWorkload(namespace="apps", kind="DaemonSet", name="web", containers=2)
    given = cluster(DAEMONSETS, daemonset(), [pod("web-a", containers=2), pod("web-b")])
    assert culprits(workloads.workload_ready(given, expected, PROFILE)) == [("web-b", "has 1 containers, expected 2")]


def test_daemonset_says_what_it_saw() -> None:
    finding = workloads.workload_ready(cluster(DAEMONSETS, daemonset(ready=1)), AGENT, PROFILE)
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "DaemonSet apps/web: a ready pod",
        "apps/web: 1/2 ready",
        3,
        ("daemonsets.apps", "pods"),
    )
    finding = workloads.workload_ready(
        cluster(DAEMONSETS, daemonset(), [pod("web-a", node="a")], nodes=[*NODES_AB, node("c", ready="False")]),
        AGENT_EVERYWHERE,
        PROFILE,
    )
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "DaemonSet apps/web: a ready pod on every Ready node (2)",
        "apps/web: 2/2 ready",
        4,
        ("daemonsets.apps", "pods", "nodes"),
    )
    assert culprits(finding) == [("b", "has no ready web pod")]


REMOVED = WorkloadRef(namespace="apps", kind="Deployment", name="old")


@pytest.mark.parametrize(
    ("objects", "want", "observed"),
    [
        pytest.param([], [], "Deployment apps/old absent among 0 deployments.apps in apps", id="gone"),
        pytest.param(
            [replicated(name="web"), {"metadata": meta("old", "other")}],
            [],
            "Deployment apps/old absent among 1 deployments.apps in apps",
            id="gone-from-this-namespace",
        ),
        pytest.param(
            [{"metadata": meta("old", "apps", creationTimestamp="2025-10-21T09:00:00Z")}, replicated(name="web")],
            [("Deployment apps/old", "exists again (created 2025-10-21T09:00:00Z); it was removed")],
            "Deployment apps/old present among 2 deployments.apps in apps",
            id="recreated",
        ),
        pytest.param(
            [{"metadata": meta("old", "apps")}],
            [("Deployment apps/old", "exists again (created unknown time); it was removed")],
            "Deployment apps/old present among 1 deployments.apps in apps",
            id="recreated-at-unknown-time",
        ),
    ],
)
def test_workload_absent(objects: list[Obj], want: list[tuple[str, str]], observed: str) -> None:
    finding = workloads.workload_absent(state({DEPLOYMENTS: objects}), REMOVED, PROFILE)
    assert culprits(finding) == want
    assert finding.observed == observed
    assert finding.expected == "Deployment apps/old stays removed"
    assert finding.inspected == len([o for o in objects if o["metadata"].get("namespace") == "apps"])
    assert finding.evidence == ("deployments.apps",)


def test_workload_absent_needs_its_kind_listed() -> None:
    with pytest.raises(SourceError) as raised:
        workloads.workload_absent(state({"pods": []}), REMOVED, PROFILE)
    assert str(raised.value) == "deployments.apps: was not collected in this run"


PARKED = WorkloadRef(namespace="apps", kind="Deployment", name="web")


@pytest.mark.parametrize(
    ("obj", "pods", "want", "observed"),
    [
        pytest.param(
            replicated(replicas=0, ready=0, updated=0),
            [],
            [],
            "Deployment apps/web at 0 replicas with 0 pods left",
            id="parked",
        ),
        pytest.param(
            replicated(replicas=0, ready=0, updated=0),
            [pod("web-a", deleting="2025-10-22T03:29:00Z"), pod("web-b", statuses=[waiting("c0", "Error")])],
            [("web-b", "Error: still running at 0 replicas")],
            "Deployment apps/web at 0 replicas with 1 pods left",
            id="leftover-pod",
        ),
        pytest.param(replicated(), None, [], "scaled up to 2; apps/web: 2/2 ready", id="scaled-up-ready"),
        pytest.param(
            replicated(replicas=3, ready=2, updated=3),
            None,
            [("Deployment apps/web", "2/3 replicas ready")],
            "scaled up to 3; apps/web: 2/3 ready",
            id="scaled-up-not-ready",
        ),
        pytest.param(
            replicated(replicas=None, ready=0, updated=0),
            [],
            [
                ("Deployment apps/web", "0/1 replicas ready"),
                ("Deployment apps/web", "rollout incomplete: 0/1 replicas updated"),
            ],
            "scaled up to 1; apps/web: 0/1 ready",
            id="replicas-unset-means-one",
        ),
    ],
)
def test_workload_parked(obj: Obj, pods: list[Obj] | None, want: list[tuple[str, str]], observed: str) -> None:
    finding = workloads.workload_parked(cluster(DEPLOYMENTS, obj, pods), PARKED, PROFILE)
    assert culprits(finding) == want
    assert finding.observed == observed


def test_parked_workload_says_what_it_saw() -> None:
    parked = workloads.workload_parked(
        cluster(DEPLOYMENTS, replicated(replicas=0, ready=0, updated=0), [pod("web-a")]), PARKED, PROFILE
    )
    assert (parked.expected, parked.inspected, parked.evidence) == (
        "Deployment apps/web at 0 replicas, or ready if scaled up",
        2,
        ("deployments.apps", "pods"),
    )
    scaled = workloads.workload_parked(cluster(DEPLOYMENTS, replicated(ready=1)), PARKED, PROFILE)
    assert (scaled.expected, scaled.inspected, scaled.evidence) == (
        "Deployment apps/web at 0 replicas, or all 2 ready since it was scaled up",
        3,
        ("deployments.apps", "pods"),
    )
    assert culprits(scaled) == [("Deployment apps/web", "1/2 replicas ready")]
    missing = workloads.workload_parked(cluster(DEPLOYMENTS, None), PARKED, PROFILE)
    assert culprits(missing) == [("Deployment apps/web", "not found: expected it parked at 0 replicas")]
    assert (missing.expected, missing.observed, missing.inspected) == (
        "Deployment apps/web exists at 0 replicas, or ready if scaled up",
        "Deployment apps/web not found",
        0,
    )


@pytest.mark.parametrize(
    ("given", "expected", "error", "reason"),
    [
        pytest.param(
            cluster(DAEMONSETS, daemonset()),
            WorkloadRef(namespace="apps", kind="DaemonSet", name="web"),
            MalformedObject,
            "DaemonSet apps/web: a DaemonSet cannot be scaled to zero",
            id="daemonset",
        ),
        pytest.param(
            state({"pods": []}),
            PARKED,
            SourceError,
            "deployments.apps: was not collected in this run",
            id="no-deployments",
        ),
        pytest.param(
            state({DEPLOYMENTS: [replicated(replicas=0)]}),
            PARKED,
            SourceError,
            "pods: was not collected in this run",
            id="no-pods",
        ),
    ],
)
def test_workload_parked_cannot_be_evaluated(
    given: ClusterState, expected: WorkloadRef, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error) as raised:
        workloads.workload_parked(given, expected, PROFILE)
    assert str(raised.value) == reason


def test_reads_follow_the_kind_and_every_node() -> None:
    assert workloads.reads_for(WEB) == (WORKLOADS["Deployment"], PODS)
    assert workloads.reads_for(AGENT) == (WORKLOADS["DaemonSet"], PODS)
    assert workloads.reads_for(AGENT_EVERYWHERE) == (WORKLOADS["DaemonSet"], PODS, NODES)
    assert workloads.reads_for(PARKED) == (WORKLOADS["Deployment"], PODS)
