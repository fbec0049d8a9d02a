"""Namespaces: the labels that turn on sidecar injection and set pod security levels."""

from conformance.check import Finding, check
from conformance.cluster.resources import NAMESPACES
from conformance.kubernetes import namespaces


@check(
    area="namespaces",
    requirement="{e} carries the labels the platform relies on",
    expand=lambda p: [(n.id, n) for n in p.namespaces.labels] if p.namespaces else None,
    reads=(NAMESPACES,),
    evaluate=namespaces.namespace_labels,
    severity="normal",
    remediation=(
        "kubectl label namespace {namespace} {label}={value} --overwrite (and restart pods that need sidecar injection)"
    ),
)
def test_namespace_labels(finding: Finding) -> None:
    finding.conforms()
