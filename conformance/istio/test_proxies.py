"""Istio proxies: all SYNCED, the expected ones connected, enough sidecars (istioctl proxy-status)."""

from conformance.check import Finding, check
from conformance.istio import proxies


@check(
    area="mesh",
    requirement="Every proxy istiod knows is SYNCED for the configured xDS types",
    expand=lambda p: proxies.mesh_rules(p, "all-proxies"),
    reads=(proxies.SOURCE,),
    evaluate=proxies.proxies_synced,
    severity="critical",
    remediation=(
        "istioctl proxy-status; istioctl proxy-config all {pod}.{namespace}; check istiod logs for rejected config"
    ),
)
def test_proxies_synced(finding: Finding) -> None:
    finding.conforms()


@check(
    area="mesh",
    requirement="{e} are connected to istiod",
    expand=lambda p: [(e.id, e) for e in p.services.istio.proxies] if p.services and p.services.istio else None,
    reads=(proxies.SOURCE,),
    evaluate=proxies.expected_proxies,
    severity="critical",
    remediation=(
        "kubectl get pods -n {namespace} -o wide: is the sidecar injected (2/2)? restart the workload after "
        "labelling the namespace"
    ),
)
def test_expected_proxies(finding: Finding) -> None:
    finding.conforms()


@check(
    area="mesh",
    requirement="At least the expected number of sidecars are injected",
    expand=lambda p: proxies.mesh_rules(p, "sidecars"),
    reads=(proxies.SOURCE,),
    evaluate=proxies.sidecar_count,
    severity="normal",
    remediation="kubectl rollout restart the workloads that should carry sidecars; check istio-injection labels",
)
def test_sidecars(finding: Finding) -> None:
    finding.conforms()
