"""Storage: claims are bound."""

from conformance.check import Finding, check
from conformance.cluster.resources import PVCS
from conformance.kubernetes import storage


@check(
    area="storage",
    requirement="Every PersistentVolumeClaim is Bound",
    expand=lambda p: [("pvcs", p.storage)] if p.storage and p.storage.pvcs_bound else None,
    reads=(PVCS,),
    evaluate=storage.pvcs_bound,
    severity="critical",
    remediation="kubectl describe pvc {name} -n {namespace}: check the storage class, provisioner and node affinity",
)
def test_pvcs_bound(finding: Finding) -> None:
    finding.conforms()
