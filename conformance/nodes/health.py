"""Node count, readiness, pressure conditions and capacity."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from conformance.check import Culprit, Derived, Finding, ObjectRef
from conformance.cluster.resources import NODES
from conformance.cluster.state import ClusterState, name_of
from conformance.cluster.timing import condition
from conformance.errors import MalformedObject
from conformance.profile.model import Nodes, Profile
from conformance.quantity import format_bytes, format_cores, parse_quantity

PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


@dataclass(frozen=True)
class NodeRule(Derived):
    """One node expectation, expanded from the profile's `nodes` section."""

    rule: str
    nodes: Nodes

    @property
    def traced(self) -> Nodes:
        return self.nodes

    def __str__(self) -> str:
        return self.rule


def node_rules(profile: Profile) -> list[tuple[str, Any]] | None:
    if profile.nodes is None:
        return None
    rules = [
        ("ready", NodeRule("nodes Ready", profile.nodes)),
        ("no-pressure", NodeRule("nodes without pressure", profile.nodes)),
    ]
    if profile.nodes.count is not None:
        rules.insert(0, ("count", NodeRule("node count", profile.nodes)))
    if profile.nodes.min_capacity is not None:
        rules.append(("capacity", NodeRule("cluster capacity", profile.nodes)))
    return rules


def _culprit(node: dict[str, Any], observed: str) -> Culprit:
    return Culprit(name_of(node), observed, ref=ObjectRef("Node", name_of(node)))


def node_count(state: ClusterState, rule: NodeRule, _profile: Profile) -> Finding:
    nodes = state.objects(NODES)
    expected = rule.nodes.count
    names = ", ".join(sorted(name_of(n) for n in nodes))
    culprits = [] if len(nodes) == expected else [Culprit("cluster", f"has {len(nodes)} nodes, expected {expected}")]
    return Finding(
        expected=f"exactly {expected} nodes",
        observed=f"{len(nodes)} nodes: {names}",
        inspected=len(nodes),
        culprits=culprits,
        evidence=(NODES.name,),
    )


def nodes_ready(state: ClusterState, _rule: NodeRule, _profile: Profile) -> Finding:
    nodes = state.objects(NODES)
    culprits = []
    for node in nodes:
        ready = condition(node, "Ready")
        if ready is None:
            culprits.append(_culprit(node, "reports no Ready condition"))
        elif ready.get("status") != "True":
            why = ready.get("reason") or ready.get("message") or ""
            culprits.append(
                _culprit(node, f"NotReady (Ready={' '.join(filter(None, (str(ready.get('status')), why)))})")
            )
        if (node.get("spec") or {}).get("unschedulable"):
            culprits.append(_culprit(node, "SchedulingDisabled (cordoned)"))
    return Finding(
        expected="every node Ready and schedulable",
        observed=f"{len(nodes) - len({c.name for c in culprits})} of {len(nodes)} nodes Ready and schedulable",
        inspected=len(nodes),
        culprits=culprits,
        evidence=(NODES.name,),
    )


def nodes_without_pressure(state: ClusterState, _rule: NodeRule, _profile: Profile) -> Finding:
    nodes = state.objects(NODES)
    culprits = [
        _culprit(node, f"{kind}=True ({(condition(node, kind) or {}).get('reason', '')})")
        for node in nodes
        for kind in PRESSURE
        if (condition(node, kind) or {}).get("status") == "True"
    ]
    return Finding(
        expected=f"no node reports {', '.join(PRESSURE)}",
        observed=f"{len(culprits)} pressure conditions on {len(nodes)} nodes",
        inspected=len(nodes),
        culprits=culprits,
        evidence=(NODES.name,),
    )


def node_quantity(node: dict[str, Any], field: str, resource: str) -> Decimal:
    value = ((node.get("status") or {}).get(field) or {}).get(resource)
    if not isinstance(value, str):
        raise MalformedObject(f"node {name_of(node)}: status.{field}.{resource} is missing")
    try:
        return parse_quantity(value)
    except ValueError:
        raise MalformedObject(f"node {name_of(node)}: status.{field}.{resource} {value!r} is not a quantity") from None


def cluster_capacity(state: ClusterState, rule: NodeRule, _profile: Profile) -> Finding:
    nodes = state.objects(NODES)
    assert rule.nodes.min_capacity is not None
    wanted = rule.nodes.min_capacity
    cpu = sum((node_quantity(n, "capacity", "cpu") for n in nodes), Decimal(0))
    memory = sum((node_quantity(n, "capacity", "memory") for n in nodes), Decimal(0))
    culprits = []
    if wanted.cpu is not None and cpu < wanted.cpu:
        culprits.append(Culprit("cpu", f"{format_cores(cpu)} cores, expected at least {format_cores(wanted.cpu)}"))
    if wanted.memory is not None and memory < wanted.memory:
        culprits.append(Culprit("memory", f"{format_bytes(memory)}, expected at least {format_bytes(wanted.memory)}"))
    want = [
        f"{format_cores(wanted.cpu)} cores" if wanted.cpu is not None else "",
        format_bytes(wanted.memory) if wanted.memory is not None else "",
    ]
    return Finding(
        expected=f"node capacity at least {' and '.join(w for w in want if w)}",
        observed=f"{format_cores(cpu)} cores and {format_bytes(memory)} over {len(nodes)} nodes",
        inspected=len(nodes),
        culprits=culprits,
        evidence=(NODES.name,),
    )
