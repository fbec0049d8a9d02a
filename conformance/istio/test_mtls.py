"""Effective mTLS: what each namespace and workload ends up with, every PeerAuthentication applied."""

from conformance.check import Finding, check
from conformance.cluster.resources import PEER_AUTHENTICATIONS, WORKLOADS
from conformance.istio import mtls


@check(
    area="mesh",
    requirement="Workloads in {e} get their expected effective mTLS mode",
    expand=lambda p: [(m.id, m) for m in p.mesh.mtls] if p.mesh else None,
    reads=(PEER_AUTHENTICATIONS, *WORKLOADS.values()),
    evaluate=mtls.effective_mtls,
    allow_empty=True,
    severity="critical",
    remediation=(
        "kubectl get peerauthentication -n {namespace} -o yaml: {policy} decides {kind}/{name}; change it or the "
        "profile"
    ),
)
def test_effective_mtls(finding: Finding) -> None:
    finding.conforms()
