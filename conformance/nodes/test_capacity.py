"""Capacity: utilization and requests stay under the profile's thresholds."""

from conformance.check import Finding, check
from conformance.cluster.resources import NODES, PODS
from conformance.nodes import utilization


@check(
    area="capacity",
    requirement="Cluster {e}",
    expand=lambda p: utilization.thresholds(p, "usage"),
    reads=utilization.usage_reads,
    evaluate=utilization.usage,
    severity="normal",
    remediation="kubectl top nodes / pods: find the consumers; add capacity or rebalance",
)
def test_cluster_utilization(finding: Finding) -> None:
    finding.conforms()


@check(
    area="capacity",
    requirement="Pod {e}",
    expand=lambda p: utilization.thresholds(p, "requests"),
    reads=(NODES, PODS),
    evaluate=utilization.requests,
    severity="normal",
    remediation="kubectl describe nodes (Allocated resources): right-size requests or add nodes",
)
def test_requested_resources(finding: Finding) -> None:
    finding.conforms()
