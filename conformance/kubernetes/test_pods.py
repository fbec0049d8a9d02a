"""Pods: none failing anywhere, and each namespace runs the pods the platform report counts."""

from conformance.check import Finding, check
from conformance.cluster.resources import PODS
from conformance.kubernetes import pods


@check(
    area="pods",
    requirement="No failing pods (kubectl STATUS errors, or starting beyond the grace) in {e}",
    expand=pods.failing_pod_scopes,
    reads=(PODS,),
    evaluate=pods.failing_pods,
    allow_empty=True,
    severity="critical",
    remediation=pods.POD_REMEDIATION,
)
def test_no_failing_pods(finding: Finding) -> None:
    finding.conforms()


@check(
    area="pods",
    requirement="Namespace runs the expected number of pods: {e}",
    expand=lambda p: (
        [(n.namespace, n) for n in p.pods.namespaces if n.min is not None or n.max is not None] if p.pods else None
    ),
    reads=(PODS,),
    evaluate=pods.namespace_pod_count,
    severity="normal",
    remediation=(
        "kubectl get pods -n {namespace}; compare with the workloads expected there (a missing or scaled-down workload)"
    ),
)
def test_namespace_pod_count(finding: Finding) -> None:
    finding.conforms()
