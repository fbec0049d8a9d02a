"""Cluster networking: DNS answering, the ingress controller and its Ingresses, NetworkPolicies in force."""

from conformance.check import Finding, check
from conformance.cluster.resources import INGRESSES, NETWORK_POLICIES, PODS
from conformance.kubernetes import components, ingresses, networkpolicies, pods


@check(
    area="network",
    requirement="The cluster DNS ({e}) is ready",
    expand=lambda p: [(p.network.dns.id, p.network.dns)] if p.network and p.network.dns else None,
    reads=(PODS,),
    evaluate=components.component_ready,
    severity="critical",
    remediation=pods.POD_REMEDIATION,
)
def test_dns_ready(finding: Finding) -> None:
    finding.conforms()


@check(
    area="network",
    requirement="The ingress controller ({e}) is ready",
    expand=lambda p: (
        [(p.network.ingress_controller.id, p.network.ingress_controller)]
        if p.network and p.network.ingress_controller
        else None
    ),
    reads=(PODS,),
    evaluate=components.component_ready,
    severity="critical",
    remediation=pods.POD_REMEDIATION,
)
def test_ingress_controller_ready(finding: Finding) -> None:
    finding.conforms()


@check(
    area="network",
    requirement="{e} is admitted by its controller, with an address",
    expand=lambda p: [(i.id, i) for i in p.network.ingresses] if p.network else None,
    reads=(INGRESSES,),
    evaluate=ingresses.ingress_admitted,
    severity="normal",
    remediation=("kubectl describe {kind}/{name} -n {namespace}: check its ingressClassName and the controller's logs"),
)
def test_ingress_admitted(finding: Finding) -> None:
    finding.conforms()


@check(
    area="network",
    requirement="{e} keeps its NetworkPolicies",
    expand=lambda p: [(n.id, n) for n in p.network.network_policies] if p.network else None,
    reads=(NETWORK_POLICIES,),
    evaluate=networkpolicies.network_policies,
    allow_empty=True,
    severity="normal",
    remediation="kubectl get networkpolicy -n {namespace}: restore the policies that were removed",
)
def test_network_policies(finding: Finding) -> None:
    finding.conforms()
