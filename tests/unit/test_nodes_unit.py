"""Node count, readiness, pressure and capacity (conformance.nodes.health)."""

from __future__ import annotations

import pytest

from conformance.cluster.state import ClusterState
from conformance.errors import MalformedObject, SourceError
from conformance.nodes import health
from conformance.nodes.health import NodeRule
from conformance.profile.model import Nodes

from .unitstate import PROFILE, Obj, culprits, meta, profile, state

NODES = Nodes(count=2, min_capacity={"cpu": "8", "memory": "32Gi"}, source="report")


def node(
    name: str,
    ready: str | None = "True",
    cordoned: bool = False,
    cpu: str | None = "4",
    memory: str | None = "16Gi",
    reason: str | None = None,
    message: str | None = None,
    **pressure: str,
) -> Obj:
    conditions: list[Obj] = [
        {"type": kind, "status": status, "reason": f"Kubelet{kind}"} for kind, status in pressure.items()
    ]
    if ready is not None:
        entry: Obj = {"type": "Ready", "status": ready}
        entry |= {k: v for k, v in (("reason", reason), ("message", message)) if v is not None}
        conditions.append(entry)
    capacity = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {
        "metadata": meta(name),
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {"conditions": conditions, "capacity": capacity},
    }


def nodes(*given: Obj) -> ClusterState:
    return state({"nodes": list(given)})


def test_node_rules_follow_the_profile() -> None:
    full = profile(nodes={"count": 2, "min_capacity": {"cpu": "8"}, "source": "report", "severity": "critical"})
    rules = health.node_rules(full) or []
    assert [(key, str(rule)) for key, rule in rules] == [
        ("count", "node count"),
        ("ready", "nodes Ready"),
        ("no-pressure", "nodes without pressure"),
        ("capacity", "cluster capacity"),
    ]
    assert all(rule.nodes is full.nodes for _, rule in rules)
    assert (rules[0][1].source, rules[0][1].severity) == ("report", "critical")
    assert [key for key, _ in health.node_rules(profile(nodes={})) or []] == ["ready", "no-pressure"]
    assert health.node_rules(PROFILE) is None


@pytest.mark.parametrize(
    ("given", "want"),
    [
        pytest.param([node("b"), node("a")], [], id="exact"),
        pytest.param([node("a")], [("cluster", "has 1 nodes, expected 2")], id="fewer"),
        pytest.param([node("a"), node("b"), node("c")], [("cluster", "has 3 nodes, expected 2")], id="more"),
    ],
)
def test_node_count(given: list[Obj], want: list[tuple[str, str]]) -> None:
    finding = health.node_count(nodes(*given), NodeRule("node count", NODES), PROFILE)
    assert culprits(finding) == want
    names = ", ".join(sorted(n["metadata"]["name"] for n in given))
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "exactly 2 nodes",
        f"{len(given)} nodes: {names}",
        len(given),
        ("nodes",),
    )


@pytest.mark.parametrize(
    ("given", "want", "observed"),
    [
        pytest.param([node("a"), node("b")], [], "2 of 2 nodes Ready and schedulable", id="ready"),
        pytest.param(
            [node("a", ready="False", reason="KubeletNotReady", message="PLEG is not healthy"), node("b")],
            [("a", "NotReady (Ready=False KubeletNotReady)")],
            "1 of 2 nodes Ready and schedulable",
            id="not-ready-reason",
        ),
        pytest.param(
            [node("a", ready="Unknown", message="Kubelet stopped posting node status.")],
            [("a", "NotReady (Ready=Unknown Kubelet stopped posting node status.)")],
            "0 of 1 nodes Ready and schedulable",
            id="not-ready-message",
        ),
        pytest.param(
            [node("a", ready=None)],
            [("a", "reports no Ready condition")],
            "0 of 1 nodes Ready and schedulable",
            id="no-ready-condition",
        ),
        pytest.param(
            [node("a", cordoned=True), node("b", ready="False", reason="NodeStatusUnknown", cordoned=True)],
            [
                ("a", "SchedulingDisabled (cordoned)"),
                ("b", "NotReady (Ready=False NodeStatusUnknown)"),
                ("b", "SchedulingDisabled (cordoned)"),
            ],
            "0 of 2 nodes Ready and schedulable",
            id="cordoned",
        ),
    ],
)
def test_nodes_ready(given: list[Obj], want: list[tuple[str, str]], observed: str) -> None:
    finding = health.nodes_ready(nodes(*given), NodeRule("nodes Ready", NODES), PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "every node Ready and schedulable",
        observed,
        len(given),
        ("nodes",),
    )


def test_not_ready_without_reason_or_message_says_only_the_status() -> None:
    # Nothing but the condition's status is reported.
    finding = health.nodes_ready(nodes(node("a", ready="False")), NodeRule("nodes Ready", NODES), PROFILE)
    assert [(name, text.replace(" ", "")) for name, text in culprits(finding)] == [("a", "NotReady(Ready=False)")]


def test_not_ready_without_reason_or_message() -> None:
    finding = health.nodes_ready(nodes(node("a", ready="False")), NodeRule("nodes Ready", NODES), PROFILE)
    assert culprits(finding) == [("a", "NotReady (Ready=False)")]


@pytest.mark.parametrize(
    ("given", "want"),
    [
        pytest.param([node("a", MemoryPressure="False", DiskPressure="False")], [], id="none"),
        pytest.param(
            [node("a", DiskPressure="True", PIDPressure="True"), node("b", NetworkUnavailable="True")],
            [
                ("a", "DiskPressure=True (KubeletDiskPressure)"),
                ("a", "PIDPressure=True (KubeletPIDPressure)"),
                ("b", "NetworkUnavailable=True (KubeletNetworkUnavailable)"),
            ],
            id="pressure",
        ),
        pytest.param(
            [{"metadata": meta("a"), "status": {"conditions": [{"type": "MemoryPressure", "status": "True"}]}}],
            [("a", "MemoryPressure=True ()")],
            id="no-reason",
        ),
    ],
)
def test_nodes_without_pressure(given: list[Obj], want: list[tuple[str, str]]) -> None:
    finding = health.nodes_without_pressure(
        nodes(*given, node("c")), NodeRule("nodes without pressure", NODES), PROFILE
    )
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "no node reports MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable",
        f"{len(want)} pressure conditions on {len(given) + 1} nodes",
        len(given) + 1,
        ("nodes",),
    )


@pytest.mark.parametrize(
    ("given", "wanted", "want", "observed"),
    [
        pytest.param([node("a"), node("b")], NODES, [], "8.0 cores and 32.0Gi over 2 nodes", id="exactly"),
        pytest.param(
            [node("a", cpu="3500m", memory="16Gi"), node("b", memory="15Gi")],
            NODES,
            [("cpu", "7.5 cores, expected at least 8.0"), ("memory", "31.0Gi, expected at least 32.0Gi")],
            "7.5 cores and 31.0Gi over 2 nodes",
            id="short",
        ),
        pytest.param(
            [node("a", cpu="8", memory=str(32 * 2**30 - 1))],
            NODES,
            [("memory", "32.0Gi, expected at least 32.0Gi")],
            "8.0 cores and 32.0Gi over 1 nodes",
            id="one-byte-short",
        ),
        pytest.param(
            [node("a", cpu="1", memory="1Gi")],
            Nodes(min_capacity={"cpu": "1"}),
            [],
            "1.0 cores and 1.0Gi over 1 nodes",
            id="cpu-only",
        ),
        pytest.param(
            [node("a", cpu="1", memory="1Gi")],
            Nodes(min_capacity={"memory": "2Gi"}),
            [("memory", "1.0Gi, expected at least 2.0Gi")],
            "1.0 cores and 1.0Gi over 1 nodes",
            id="memory-only",
        ),
    ],
)
def test_cluster_capacity(given: list[Obj], wanted: Nodes, want: list[tuple[str, str]], observed: str) -> None:
    finding = health.cluster_capacity(nodes(*given), NodeRule("cluster capacity", wanted), PROFILE)
    assert culprits(finding) == want
    assert (finding.observed, finding.inspected, finding.evidence) == (observed, len(given), ("nodes",))


def test_capacity_expectation_names_what_is_set() -> None:
    def expected(**minimum: str) -> str:
        finding = health.cluster_capacity(
            nodes(node("a")), NodeRule("cluster capacity", Nodes(min_capacity=minimum)), PROFILE
        )
        return finding.expected

    assert expected(cpu="8", memory="32Gi") == "node capacity at least 8.0 cores and 32.0Gi"
    assert expected(cpu="500m") == "node capacity at least 0.5 cores"
    assert expected(memory="512Mi") == "node capacity at least 512.0Mi"


@pytest.mark.parametrize(
    ("given", "error", "reason"),
    [
        pytest.param(state({}), SourceError, "nodes: was not collected in this run", id="not-collected"),
        pytest.param(
            nodes(node("a", cpu=None)), MalformedObject, "node a: status.capacity.cpu is missing", id="no-cpu"
        ),
        pytest.param(
            nodes(node("a"), node("b", memory="lots")),
            MalformedObject,
            "node b: status.capacity.memory 'lots' is not a quantity",
            id="bad-memory",
        ),
    ],
)
def test_node_checks_cannot_be_evaluated(given: ClusterState, error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as raised:
        health.cluster_capacity(given, NodeRule("cluster capacity", NODES), PROFILE)
    assert str(raised.value) == reason
    if error is SourceError:
        for evaluate in (health.node_count, health.nodes_ready, health.nodes_without_pressure):
            with pytest.raises(SourceError, match=reason):
                evaluate(given, NodeRule("x", NODES), PROFILE)
