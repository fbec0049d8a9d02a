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
        "kubectl describe pod NAME -n NS; kubectl logs NAME -n NS -c CONTAINER --previous; "
        "kubectl get events -n NS --sort-by=.lastTimestamp"
    ),
)
def test_stable_during_hold(finding: Finding) -> None:
    finding.conforms()
