"""Stability: nothing regressed while the run held after a deploy (--hold, or the profile's collection.hold)."""

from conformance.check import Finding, check
from conformance.cluster.resources import PODS
from conformance.stability import hold


@check(
    area="stability",
    requirement="No pod restarted, turned failing, disappeared or was replaced: {e}",
    expand=hold.expand,
    reads=(PODS,),
    evaluate=hold.stable_during_hold,
    severity="critical",
    remediation=(
        "kubectl describe pod {name} -n {namespace}; kubectl logs {name} -n {namespace} -c {container} --previous; "
        "kubectl get events -n {namespace} --sort-by=.lastTimestamp"
    ),
)
def test_stable_during_hold(finding: Finding) -> None:
    finding.conforms()
