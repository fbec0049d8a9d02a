"""Istio proxies: all SYNCED, the expected ones connected, enough sidecars (istioctl proxy-status)."""

from conformance.check import Finding, check
from conformance.istio import proxies


@check(
    area="mesh",
    requirement="Every proxy istiod knows is SYNCED for the configured xDS types",
    expand=lambda p: proxies.mesh_rules(p, "all-proxies"),
    reads=(proxies.SOURCE,),
    evaluate=proxies.proxies_synced,
)
def test_proxies_synced(finding: Finding) -> None:
    finding.conforms()


@check(
    area="mesh",
    requirement="{e} are connected to istiod",
    expand=lambda p: [(e.id, e) for e in p.services.istio.proxies] if p.services and p.services.istio else None,
    reads=(proxies.SOURCE,),
    evaluate=proxies.expected_proxies,
)
def test_expected_proxies(finding: Finding) -> None:
    finding.conforms()


@check(
    area="mesh",
    requirement="At least the expected number of sidecars are injected",
    expand=lambda p: proxies.mesh_rules(p, "sidecars"),
    reads=(proxies.SOURCE,),
    evaluate=proxies.sidecar_count,
)
def test_sidecars(finding: Finding) -> None:
    finding.conforms()
