"""Prometheus: it scrapes its targets, and every job the platform relies on has a target up."""

from conformance.check import Finding, check
from conformance.monitoring import prometheus


@check(
    area="monitoring",
    requirement="{e}",
    expand=prometheus.expand,
    reads=(prometheus.SOURCE,),
    evaluate=prometheus.targets,
    severity="normal",
    remediation="Open Prometheus /targets: check lastError of the down targets and their ServiceMonitors",
)
def test_prometheus_targets(finding: Finding) -> None:
    finding.conforms()
