"""Nodes: the expected count, all Ready, no pressure, the promised capacity."""

from conformance.check import Finding, check
from conformance.cluster.resources import NODES
from conformance.nodes import health

_EVALUATORS = {
    "node count": health.node_count,
    "nodes Ready": health.nodes_ready,
    "nodes without pressure": health.nodes_without_pressure,
    "cluster capacity": health.cluster_capacity,
}


@check(
    area="nodes",
    requirement="{e} as the profile expects",
    expand=health.node_rules,
    reads=(NODES,),
    evaluate=lambda state, rule, profile: _EVALUATORS[rule.rule](state, rule, profile),
    severity="blocker",
    remediation="kubectl describe node {name}: check kubelet, conditions and recent events",
)
def test_nodes(finding: Finding) -> None:
    finding.conforms()
