"""Per-node CPU and memory usage over allocatable, read from the run's ClusterState for the report's chart."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from conformance.cluster.resources import NODE_METRICS, NODES
from conformance.cluster.state import ClusterState, name_of
from conformance.errors import MalformedObject
from conformance.nodes.health import node_quantity
from conformance.quantity import parse_quantity


@dataclass(frozen=True)
class NodeUsage:
    name: str
    cpu_used: Decimal
    cpu_allocatable: Decimal
    memory_used: Decimal
    memory_allocatable: Decimal


@dataclass(frozen=True)
class UsageReading:
    """The nodes that could be charted, or why none could; `gaps` names nodes left out and why."""

    nodes: list[NodeUsage]
    missing: str | None = None
    gaps: tuple[str, ...] = ()


def _usage(sample: dict[str, Any], resource: str) -> Decimal:
    usage = sample.get("usage")
    raw = usage.get(resource) if isinstance(usage, dict) else None
    if not isinstance(raw, str):
        raise MalformedObject(f"node metrics {name_of(sample)}: usage.{resource} is missing")
    try:
        return parse_quantity(raw)
    except ValueError:
        raise MalformedObject(f"node metrics {name_of(sample)}: usage.{resource} {raw!r} is not a quantity") from None


def node_usage(state: ClusterState | None) -> UsageReading:
    """Usage as `kubectl top nodes` shows it: metrics.k8s.io working set and CPU over each node's allocatable."""
    if state is None:
        return UsageReading([], "the cluster state was not collected in this run")
    for resource in (NODES, NODE_METRICS):
        if resource.name in state.errors:
            return UsageReading([], f"{resource.name} could not be read: {state.errors[resource.name]}")
        if resource.name not in state.lists:
            return UsageReading([], f"{resource.name} was not collected in this run (no selected check reads it)")
    metrics = {name_of(m): m for m in state.lists[NODE_METRICS.name]}
    nodes: list[NodeUsage] = []
    gaps: list[str] = []
    for node in state.lists[NODES.name]:
        name = name_of(node)
        sample = metrics.get(name)
        if sample is None:
            gaps.append(f"{name}: metrics.k8s.io has no usage for it")
            continue
        try:
            nodes.append(
                NodeUsage(
                    name,
                    _usage(sample, "cpu"),
                    node_quantity(node, "allocatable", "cpu"),
                    _usage(sample, "memory"),
                    node_quantity(node, "allocatable", "memory"),
                )
            )
        except MalformedObject as exc:
            gaps.append(f"{name}: {exc}")
    if not nodes:
        return UsageReading([], "no node has both allocatable and metrics.k8s.io usage", tuple(gaps))
    return UsageReading(nodes, None, tuple(gaps))
