"""Jaeger: traces are being collected from the services that should send them."""

from conformance.check import Finding, check
from conformance.monitoring import jaeger


@check(
    area="monitoring",
    requirement="Jaeger lists traced services",
    expand=lambda p: [("services", p.services.jaeger)] if p.services and p.services.jaeger else None,
    reads=(jaeger.SOURCE,),
    evaluate=jaeger.services,
    allow_empty=True,
    severity="minor",
    remediation="Check that services send spans (Istio tracing config, sampling) and Jaeger's collector",
)
def test_jaeger_services(finding: Finding) -> None:
    finding.conforms()
