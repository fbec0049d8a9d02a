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
)
def test_cluster_utilization(finding: Finding) -> None:
    finding.conforms()


@check(
    area="capacity",
    requirement="Pod {e}",
    expand=lambda p: utilization.thresholds(p, "requests"),
    reads=(NODES, PODS),
    evaluate=utilization.requests,
)
def test_requested_resources(finding: Finding) -> None:
    finding.conforms()
