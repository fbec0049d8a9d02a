"""Mesh policy: the mTLS mode the platform report set."""

from conformance.check import Finding, check
from conformance.cluster.resources import PEER_AUTHENTICATIONS
from conformance.istio import policy


@check(
    area="mesh",
    requirement="{e} keeps the mesh's mTLS mode",
    expand=lambda p: (
        [(p.mesh.peer_authentication.id, p.mesh.peer_authentication)] if p.mesh and p.mesh.peer_authentication else None
    ),
    reads=(PEER_AUTHENTICATIONS,),
    evaluate=policy.mtls_mode,
    severity="critical",
    remediation="kubectl get peerauthentication -A -o yaml; restore the mode the platform expects",
)
def test_peer_authentication_mode(finding: Finding) -> None:
    finding.conforms()
