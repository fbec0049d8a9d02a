"""Policy objects: at least as many as the platform report says are active."""

from conformance.check import Finding, check
from conformance.cluster.resources import resource
from conformance.kubernetes import objects


@check(
    area="objects",
    requirement="At least the expected number of {e} objects exist",
    expand=lambda p: [(o.id, o) for o in p.objects.minimum] if p.objects else None,
    reads=lambda o: tuple(resource(name) for name in o.resources),
    evaluate=objects.object_count,
    allow_empty=True,
    severity="normal",
    remediation="Re-apply the missing policy objects from the platform's manifests (kubectl get {resource} -A)",
)
def test_minimum_objects(finding: Finding) -> None:
    finding.conforms()
