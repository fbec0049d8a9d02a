"""Grafana: the dashboards the platform report added are there."""

from conformance.check import Finding, check
from conformance.monitoring import grafana


@check(
    area="monitoring",
    requirement="Grafana has the dashboards the profile names",
    expand=lambda p: [("dashboards", p.services.grafana)] if p.services and p.services.grafana else None,
    reads=(grafana.SOURCE,),
    evaluate=grafana.dashboards,
    severity="minor",
    remediation="Re-provision the dashboards (ConfigMap or Grafana API)",
)
def test_grafana_dashboards(finding: Finding) -> None:
    finding.conforms()
