"""ServiceMonitors are active: Prometheus scrapes a target of each one."""

from conformance.check import Finding, check
from conformance.monitoring import prometheus, servicemonitors


@check(
    area="monitoring",
    requirement="{e}",
    expand=servicemonitors.expand,
    reads=(servicemonitors.SERVICE_MONITORS, prometheus.SOURCE),
    evaluate=servicemonitors.scraped,
    severity="normal",
    remediation="kubectl -n {namespace} get servicemonitor {name} -o yaml: check its selector matches a Service "
    "with endpoints, and that Prometheus' serviceMonitorSelector selects it",
)
def test_service_monitors_scraped(finding: Finding) -> None:
    finding.conforms()
