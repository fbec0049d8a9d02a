"""Cluster utilization: metrics.k8s.io usage and pod requests against node allocatable.

Usage follows `kubectl top nodes`: working-set memory and CPU from metrics.k8s.io over each node's
allocatable; or, with `capacity.source_of_usage: prometheus`, the kubernetes-mixin ratios of node
capacity from Prometheus. Requests follow `kubectl describe node`: each scheduled, unfinished pod's
effective request (containers plus restartable init containers, or its largest init container if larger).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from conformance.check import Culprit, Derived, Finding
from conformance.cluster.resources import NODE_METRICS, NODES, PODS, Resource
from conformance.cluster.state import ClusterState, name_of, qualified_name
from conformance.errors import CouldNotEvaluate, MalformedObject
from conformance.monitoring import prometheus
from conformance.nodes.health import node_quantity
from conformance.profile.model import Capacity, Profile
from conformance.quantity import format_bytes, format_cores, parse_quantity
from conformance.services.source import ServiceSource

ResourceKind = Literal["cpu", "memory"]


@dataclass(frozen=True)
class Threshold(Derived):
    measure: Literal["usage", "requests"]
    resource: ResourceKind
    ratio: float
    capacity: Capacity

    @property
    def traced(self) -> Capacity:
        return self.capacity

    @property
    def from_prometheus(self) -> bool:
        return self.measure == "usage" and self.capacity.source_of_usage == "prometheus"

    @property
    def denominator(self) -> str:
        """What the usage is a share of: Prometheus' node metrics see capacity, not allocatable."""
        return "node capacity" if self.from_prometheus else "allocatable"

    def __str__(self) -> str:
        text = f"{self.resource} {self.measure} at most {self.ratio:.0%} of {self.denominator}"
        if self.measure == "usage":
            text += " (Prometheus, kubernetes-mixin)" if self.from_prometheus else " (metrics.k8s.io, as kubectl top)"
        return text


def thresholds(profile: Profile, measure: Literal["usage", "requests"]) -> list[tuple[str, Any]] | None:
    capacity = profile.capacity
    if capacity is None or getattr(capacity, measure) is None:
        return None
    limits = getattr(capacity, measure)
    rules: list[tuple[str, Any]] = []
    for resource in ("cpu", "memory"):
        ratio = getattr(limits, resource)
        if ratio is not None:
            rules.append((resource, Threshold(measure, resource, ratio, capacity)))
    return rules


def _fmt(resource: ResourceKind, value: Decimal) -> str:
    return f"{format_cores(value)} cores" if resource == "cpu" else format_bytes(value)


def _verdict(
    rule: Threshold,
    used: Decimal,
    allocatable: Decimal,
    per_node: list[str],
    inspected: int,
    evidence: tuple[str, ...],
) -> Finding:
    if allocatable <= 0:
        raise CouldNotEvaluate(f"nodes report no allocatable {rule.resource}")
    ratio = used / allocatable
    seen = f"{ratio:.1%} ({_fmt(rule.resource, used)} of {_fmt(rule.resource, allocatable)} allocatable)"
    culprits = (
        []
        if ratio <= Decimal(str(rule.ratio))
        else [Culprit(f"cluster {rule.resource}", f"{rule.measure} {seen}, over the {rule.ratio:.0%} threshold")]
    )
    return Finding(
        expected=f"cluster {rule.resource} {rule.measure} at most {rule.ratio:.0%} of allocatable",
        observed=f"{rule.measure} {seen}; per node: {', '.join(per_node)}",
        inspected=inspected,
        culprits=culprits,
        evidence=evidence,
    )


def usage_reads(rule: Threshold | None) -> tuple[Resource | ServiceSource, ...]:
    """What a usage threshold is judged on: node metrics, or Prometheus' query results."""
    if rule is None:
        return ()
    return (prometheus.SOURCE,) if rule.from_prometheus else (NODES, NODE_METRICS)


def usage(state: ClusterState, rule: Threshold, profile: Profile) -> Finding:
    if rule.from_prometheus:
        return prometheus_usage(state, rule, profile)
    nodes = state.objects(NODES)
    metrics = {name_of(m): m for m in state.objects(NODE_METRICS)}
    if not nodes:
        raise CouldNotEvaluate("the cluster lists no nodes")
    used_total = allocatable_total = Decimal(0)
    per_node = []
    for node in nodes:
        name = name_of(node)
        sample = metrics.get(name)
        if sample is None:
            raise CouldNotEvaluate(f"metrics.k8s.io has no usage for node {name} (metrics-server down or lagging?)")
        raw = (sample.get("usage") or {}).get(rule.resource)
        if not isinstance(raw, str):
            raise MalformedObject(f"node metrics {name}: usage.{rule.resource} is missing")
        try:
            used = parse_quantity(raw)
        except ValueError:
            raise MalformedObject(f"node metrics {name}: usage.{rule.resource} {raw!r} is not a quantity") from None
        allocatable = node_quantity(node, "allocatable", rule.resource)
        used_total += used
        allocatable_total += allocatable
        # kubectl top truncates the percentage.
        percent = int(used * 1000 / allocatable * 100 / 1000) if allocatable else 0
        per_node.append(f"{name} {percent}%")
    return _verdict(rule, used_total, allocatable_total, per_node, len(nodes) * 2, (NODES.name, NODE_METRICS.name))


def prometheus_usage(state: ClusterState, rule: Threshold, _profile: Profile) -> Finding:
    """The kubernetes-mixin ratio (CPU: mean busy share per node; memory: 1 - available/total) against the threshold."""
    sample = prometheus.usage_sample(state, rule.resource)
    seen = f"{sample.value:.1%} of node capacity"
    culprits = (
        []
        if Decimal(repr(sample.value)) <= Decimal(str(rule.ratio))
        else [Culprit(f"cluster {rule.resource}", f"usage {seen}, over the {rule.ratio:.0%} threshold")]
    )
    return Finding(
        expected=f"cluster {rule.resource} usage at most {rule.ratio:.0%} of node capacity",
        observed=f"usage {seen} ({sample.describe()})",
        inspected=1,
        culprits=culprits,
        evidence=(f"{prometheus.NAME}/{sample.file}",),
    )


def _container_requests(containers: Any, resource: str, pod: dict[str, Any]) -> list[Decimal]:
    values = []
    for container in containers or ():
        raw = ((container.get("resources") or {}).get("requests") or {}).get(resource)
        if raw is None:
            values.append(Decimal(0))
            continue
        try:
            values.append(parse_quantity(str(raw)))
        except ValueError:
            owner = f"pod {qualified_name(pod)}"
            raise MalformedObject(f"{owner}: request {resource} {raw!r} is not a quantity") from None
    return values


def pod_request(pod: dict[str, Any], resource: str) -> Decimal:
    spec = pod.get("spec") or {}
    regular = sum(_container_requests(spec.get("containers"), resource, pod), Decimal(0))
    init = spec.get("initContainers") or ()
    sidecars = [c for c in init if c.get("restartPolicy") == "Always"]
    regular += sum(_container_requests(sidecars, resource, pod), Decimal(0))
    plain_init = [c for c in init if c.get("restartPolicy") != "Always"]
    largest_init = max(_container_requests(plain_init, resource, pod), default=Decimal(0))
    overhead = (spec.get("overhead") or {}).get(resource)
    try:
        extra = parse_quantity(str(overhead)) if overhead is not None else Decimal(0)
    except ValueError:
        raise MalformedObject(
            f"pod {qualified_name(pod)}: overhead {resource} {overhead!r} is not a quantity"
        ) from None
    return max(regular, largest_init) + extra


def requests(state: ClusterState, rule: Threshold, _profile: Profile) -> Finding:
    nodes = state.objects(NODES)
    pods = state.objects(PODS)
    if not nodes:
        raise CouldNotEvaluate("the cluster lists no nodes")
    requested: dict[str, Decimal] = {name_of(n): Decimal(0) for n in nodes}
    counted = 0
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if node in requested and phase not in ("Succeeded", "Failed"):
            requested[node] += pod_request(pod, rule.resource)
            counted += 1
    allocatable = {name_of(n): node_quantity(n, "allocatable", rule.resource) for n in nodes}
    per_node = [
        f"{name} {int(requested[name] / allocatable[name] * 100) if allocatable[name] else 0}%"
        for name in sorted(requested)
    ]
    return _verdict(
        rule,
        sum(requested.values(), Decimal(0)),
        sum(allocatable.values(), Decimal(0)),
        per_node,
        len(nodes) + counted,
        (NODES.name, PODS.name),
    )
