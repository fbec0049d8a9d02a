"""Cluster utilization and requested resources (conformance.nodes.utilization) against node allocatable."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from conformance.cluster.resources import NODE_METRICS, NODES
from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.monitoring import prometheus
from conformance.nodes import utilization
from conformance.nodes.utilization import Threshold

from .unitstate import PROFILE, Obj, culprits, meta, pod, present, profile, state

Measure = Literal["usage", "requests"]


def threshold(measure: Measure, resource: str, ratio: float, source: str = "metrics") -> Threshold:
    capacity = {"source_of_usage": source, measure: {resource: ratio}}
    [(name, found)] = present(utilization.thresholds(profile(capacity=capacity), measure))
    assert name == resource
    assert isinstance(found, Threshold)
    return found


def node(name: str, cpu: str | None = "4", memory: str = "16Gi") -> Obj:
    allocatable = {"memory": memory} | ({} if cpu is None else {"cpu": cpu})
    return {"metadata": meta(name), "status": {"allocatable": allocatable, "capacity": allocatable}}


def metrics(name: str, cpu: Any = "2", memory: Any = "8Gi") -> Obj:
    return {"metadata": meta(name), "usage": {"cpu": cpu, "memory": memory}}


def measured(nodes: list[Obj], samples: list[Obj]) -> ClusterState:
    return state({NODES.name: nodes, NODE_METRICS.name: samples})


CPU_80 = threshold("usage", "cpu", 0.8)


@pytest.mark.parametrize(
    ("rule", "samples", "want", "observed"),
    [
        pytest.param(
            CPU_80,
            [metrics("a", "2"), metrics("b", "1500m")],
            [],
            "usage 43.8% (3.5 cores of 8.0 cores allocatable); per node: a 50%, b 37%",
            id="under",
        ),
        pytest.param(
            threshold("usage", "cpu", 0.4),
            [metrics("a", "2"), metrics("b", "1500m")],
            [("cluster cpu", "usage 43.8% (3.5 cores of 8.0 cores allocatable), over the 40% threshold")],
            "usage 43.8% (3.5 cores of 8.0 cores allocatable); per node: a 50%, b 37%",
            id="over",
        ),
        pytest.param(
            threshold("usage", "cpu", 0.5),
            [metrics("a", "2"), metrics("b", "2000000000n")],
            [],
            "usage 50.0% (4.0 cores of 8.0 cores allocatable); per node: a 50%, b 50%",
            id="at-threshold",
        ),
        pytest.param(
            threshold("usage", "memory", 0.5),
            [metrics("a", memory="12Gi"), metrics("b", memory="6Gi")],
            [("cluster memory", "usage 56.2% (18.0Gi of 32.0Gi allocatable), over the 50% threshold")],
            "usage 56.2% (18.0Gi of 32.0Gi allocatable); per node: a 75%, b 37%",
            id="memory",
        ),
    ],
)
def test_usage_from_metrics_k8s_io(
    rule: Threshold, samples: list[Obj], want: list[tuple[str, str]], observed: str
) -> None:
    finding = utilization.usage(measured([node("a"), node("b")], samples), rule, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        f"cluster {rule.resource} usage at most {rule.ratio:.0%} of allocatable",
        observed,
        4,
        ("nodes", "nodes.metrics.k8s.io"),
    )


def test_per_node_percentages_are_truncated_like_kubectl_top() -> None:
    # 1999m of 4 cores is 49.975%: kubectl top shows 49%, never 50%.
    finding = utilization.usage(measured([node("a")], [metrics("a", "1999m")]), CPU_80, PROFILE)
    assert finding.observed.endswith("; per node: a 49%")


def test_fractional_allocatable_is_judged() -> None:
    finding = utilization.usage(measured([node("a", "500m")], [metrics("a", "100m")]), CPU_80, PROFILE)
    assert finding.observed == "usage 20.0% (0.1 cores of 0.5 cores allocatable); per node: a 20%"


def test_a_node_without_allocatable_shows_zero_percent() -> None:
    finding = utilization.usage(
        measured([node("a"), node("b", "0")], [metrics("a"), metrics("b", "1")]), CPU_80, PROFILE
    )
    assert finding.observed == "usage 75.0% (3.0 cores of 4.0 cores allocatable); per node: a 50%, b 0%"


@pytest.mark.parametrize(
    ("given", "error", "reason"),
    [
        pytest.param(measured([], []), CouldNotEvaluate, "the cluster lists no nodes", id="no-nodes"),
        pytest.param(
            measured([node("a"), node("b")], [metrics("a")]),
            CouldNotEvaluate,
            "metrics.k8s.io has no usage for node b (metrics-server down or lagging?)",
            id="node-without-metrics",
        ),
        pytest.param(
            measured([node("a")], [metrics("a", cpu=None)]),
            MalformedObject,
            "node metrics a: usage.cpu is missing",
            id="no-usage",
        ),
        pytest.param(
            measured([node("a")], [metrics("a", cpu="2 cores")]),
            MalformedObject,
            "node metrics a: usage.cpu '2 cores' is not a quantity",
            id="bad-usage",
        ),
        pytest.param(
            measured([node("a", cpu=None)], [metrics("a")]),
            MalformedObject,
            "node a: status.allocatable.cpu is missing",
            id="no-allocatable",
        ),
        pytest.param(
            measured([node("a", cpu="0")], [metrics("a")]), CouldNotEvaluate, "nodes report no allocatable cpu"
        ),
        pytest.param(
            state({NODES.name: [node("a")]}),
            SourceError,
            "nodes.metrics.k8s.io: was not collected in this run",
            id="metrics-not-collected",
        ),
        pytest.param(
            state({NODE_METRICS.name: []}),
            SourceError,
            "nodes: was not collected in this run",
            id="nodes-not-collected",
        ),
    ],
)
def test_usage_cannot_be_evaluated(given: ClusterState, error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as raised:
        utilization.usage(given, CPU_80, PROFILE)
    assert str(raised.value) == reason


PROM_CPU = threshold("usage", "cpu", 0.8, source="prometheus")


def prometheus_query(value: str) -> ClusterState:
    result = [{"metric": {}, "value": [1761103800, value]}]
    response = {"status": "success", "data": {"resultType": "vector", "result": result}}
    document = {"expression": "cluster:node_cpu:ratio_rate5m", "response": response}
    return state(documents={"prometheus/cpu-utilization.json": document})


@pytest.mark.parametrize(
    ("value", "want"),
    [
        pytest.param("0.45", [], id="under"),
        pytest.param("0.8", [], id="at-threshold"),
        pytest.param("0.85", [("cluster cpu", "usage 85.0% of node capacity, over the 80% threshold")], id="over"),
    ],
)
def test_usage_from_prometheus(value: str, want: list[tuple[str, str]]) -> None:
    finding = utilization.usage(prometheus_query(value), PROM_CPU, PROFILE)
    assert culprits(finding) == want
    shown = f"{float(value):.1%}"
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "cluster cpu usage at most 80% of node capacity",
        f"usage {shown} of node capacity (Prometheus: cluster:node_cpu:ratio_rate5m at 2025-10-22T03:30:00Z)",
        1,
        ("prometheus/cpu-utilization.json",),
    )


def test_usage_from_prometheus_cannot_be_evaluated_without_its_query() -> None:
    with pytest.raises(SourceError) as raised:
        utilization.usage(measured([node("a")], [metrics("a")]), PROM_CPU, PROFILE)
    assert str(raised.value) == "prometheus: snapshot has no prometheus/cpu-utilization.json"


def test_thresholds_follow_the_profile() -> None:
    both = profile(capacity={"usage": {"cpu": 0.8, "memory": 0.9}, "requests": {"memory": 0.7}})
    assert [(n, t.measure, t.resource, t.ratio) for n, t in utilization.thresholds(both, "usage") or []] == [
        ("cpu", "usage", "cpu", 0.8),
        ("memory", "usage", "memory", 0.9),
    ]
    assert [(n, t.resource) for n, t in utilization.thresholds(both, "requests") or []] == [("memory", "memory")]
    assert present(utilization.thresholds(both, "usage"))[0][1].traced is both.capacity
    assert utilization.thresholds(profile(capacity={"usage": {"cpu": 0.8}}), "requests") is None
    assert utilization.thresholds(PROFILE, "usage") is None


@pytest.mark.parametrize(
    ("rule", "text", "basis", "reads"),
    [
        (CPU_80, "cpu usage at most 80% of allocatable (metrics.k8s.io, as kubectl top)", "allocatable", "nodes"),
        (PROM_CPU, "cpu usage at most 80% of node capacity (Prometheus, kubernetes-mixin)", "node capacity", "prom"),
        (threshold("requests", "memory", 0.75), "memory requests at most 75% of allocatable", "allocatable", "nodes"),
        (threshold("requests", "cpu", 0.5, "prometheus"), "cpu requests at most 50% of allocatable", "allocatable", ""),
    ],
)
def test_threshold_reads_as_its_requirement(rule: Threshold, text: str, basis: str, reads: str) -> None:
    assert (str(rule), rule.denominator) == (text, basis)
    if reads:
        want = (prometheus.SOURCE,) if reads == "prom" else (NODES, NODE_METRICS)
        assert utilization.usage_reads(rule) == want
    assert utilization.usage_reads(None) == ()


CPU_REQUESTS = threshold("requests", "cpu", 0.6)


def requesting(name: str, node_name: str | None, *cpu: str | None, phase: str = "Running", **spec: Any) -> Obj:
    found = pod(name, node=node_name, phase=phase)
    containers = [
        {"name": f"c{i}", "resources": {} if c is None else {"requests": {"cpu": c}}} for i, c in enumerate(cpu)
    ]
    found["spec"] |= {"containers": containers, **spec}
    return found


SCHEDULED = [
    requesting("web", "a", "500m", "500m"),
    requesting("batch", "b", "1", initContainers=[{"name": "i", "resources": {"requests": {"cpu": "3"}}}]),
    requesting("mesh", "b", None, "250m", overhead={"cpu": "250m"}),
    requesting(
        "sidecar",
        "a",
        "1",
        initContainers=[
            {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
            {"name": "setup", "resources": {"requests": {"cpu": "1"}}},
        ],
    ),
    requesting("done", "a", "4", phase="Succeeded"),
    requesting("failed", "b", "4", phase="Failed"),
    requesting("pending", None, "4"),
    requesting("elsewhere", "gone", "4"),
]


BAD_INIT = {"name": "init", "resources": {"requests": {"cpu": "x"}}}
BAD_SIDECAR = BAD_INIT | {"restartPolicy": "Always"}


def test_requests_sum_what_each_node_runs() -> None:
    finding = utilization.requests(state({"nodes": [node("b"), node("a")], "pods": SCHEDULED}), CPU_REQUESTS, PROFILE)
    # a: 1 (web) + 1.5 (sidecar: 1 + its 500m proxy, more than the 1-core init) = 2.5 of 4;
    # b: 3 (batch: its init container outweighs 1) + 0.5 (mesh: 250m + 250m overhead) = 3.5 of 4.
    assert culprits(finding) == [
        ("cluster cpu", "requests 75.0% (6.0 cores of 8.0 cores allocatable), over the 60% threshold")
    ]
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "cluster cpu requests at most 60% of allocatable",
        "requests 75.0% (6.0 cores of 8.0 cores allocatable); per node: a 62%, b 87%",
        6,
        ("nodes", "pods"),
    )


@pytest.mark.parametrize(
    ("ratio", "want"),
    [
        (0.75, []),
        (0.76, []),
        (0.74, [("cluster cpu", "requests 75.0% (6.0 cores of 8.0 cores allocatable), over the 74% threshold")]),
    ],
)
def test_requests_threshold_boundary(ratio: float, want: list[tuple[str, str]]) -> None:
    given = state({"nodes": [node("a"), node("b")], "pods": SCHEDULED})
    assert culprits(utilization.requests(given, threshold("requests", "cpu", ratio), PROFILE)) == want


def test_requests_on_a_node_without_allocatable() -> None:
    given = state(
        {"nodes": [node("a"), node("b", "0")], "pods": [requesting("web", "a", "1"), requesting("x", "b", "1")]}
    )
    assert utilization.requests(given, CPU_REQUESTS, PROFILE).observed == (
        "requests 50.0% (2.0 cores of 4.0 cores allocatable); per node: a 25%, b 0%"
    )


@pytest.mark.parametrize(
    ("given", "error", "reason"),
    [
        pytest.param(state({"nodes": [], "pods": []}), CouldNotEvaluate, "the cluster lists no nodes", id="no-nodes"),
        pytest.param(state({"nodes": [node("a")]}), SourceError, "pods: was not collected in this run", id="no-pods"),
        pytest.param(
            state({"pods": []}), SourceError, "nodes: was not collected in this run", id="nodes-not-collected"
        ),
        pytest.param(
            state({"nodes": [node("a")], "pods": [requesting("web", "a", "lots")]}),
            MalformedObject,
            "pod apps/web: request cpu 'lots' is not a quantity",
            id="bad-request",
        ),
        pytest.param(
            state({"nodes": [node("a")], "pods": [requesting("web", "a", "1", initContainers=[BAD_SIDECAR])]}),
            MalformedObject,
            "pod apps/web: request cpu 'x' is not a quantity",
            id="bad-sidecar-request",
        ),
        pytest.param(
            state({"nodes": [node("a")], "pods": [requesting("web", "a", "1", initContainers=[BAD_INIT])]}),
            MalformedObject,
            "pod apps/web: request cpu 'x' is not a quantity",
            id="bad-init-request",
        ),
        pytest.param(
            state({"nodes": [node("a", cpu=None)], "pods": []}),
            MalformedObject,
            "node a: status.allocatable.cpu is missing",
            id="no-allocatable",
        ),
        pytest.param(
            state({"nodes": [node("a", cpu="0")], "pods": []}), CouldNotEvaluate, "nodes report no allocatable cpu"
        ),
    ],
)
def test_requests_cannot_be_evaluated(given: ClusterState, error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as raised:
        utilization.requests(given, CPU_REQUESTS, PROFILE)
    assert str(raised.value) == reason


def test_a_bad_pod_overhead_cannot_be_evaluated() -> None:
    given = state({"nodes": [node("a")], "pods": [requesting("web", "a", "1", overhead={"cpu": "lots"})]})
    with pytest.raises(MalformedObject, match="pod apps/web"):
        utilization.requests(given, CPU_REQUESTS, PROFILE)
