"""Storage: no persistent volume is close to full (kubelet volume statistics in Prometheus)."""

from conformance.check import Finding, check
from conformance.monitoring import prometheus, volumes


@check(
    area="storage",
    requirement="{e}",
    expand=volumes.expand,
    reads=(prometheus.SOURCE,),
    evaluate=volumes.fill,
    severity="normal",
    remediation="Free space or expand the claim: kubectl -n {namespace} get pvc {name}; check its storage class "
    "allows volume expansion",
)
def test_volume_usage(finding: Finding) -> None:
    finding.conforms()
