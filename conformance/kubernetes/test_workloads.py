"""Workloads: what must run runs ready, what was removed stays removed, what was parked stays parked."""

from conformance.check import Finding, check
from conformance.cluster.resources import WORKLOADS
from conformance.kubernetes import workloads


@check(
    area="workloads",
    requirement="{e} runs with its expected replicas and containers, all ready",
    expand=lambda p: [(w.id, w) for w in p.workloads.required] if p.workloads else None,
    reads=workloads.reads_for,
    evaluate=workloads.workload_ready,
    severity="critical",
    remediation="kubectl rollout status KIND/NAME -n NS; kubectl describe KIND/NAME -n NS and its failing pods",
)
def test_workload_ready(finding: Finding) -> None:
    finding.conforms()


@check(
    area="workloads",
    requirement="Removed component {e} stays removed",
    expand=lambda p: [(w.id, w) for w in p.workloads.absent] if p.workloads else None,
    reads=lambda w: (WORKLOADS[w.kind],),
    evaluate=workloads.workload_absent,
    allow_empty=True,
    severity="normal",
    remediation=(
        "The component was removed on purpose: find who re-created it (kubectl get KIND NAME -n NS -o yaml, "
        "managedFields) and delete it or update the profile"
    ),
)
def test_component_absent(finding: Finding) -> None:
    finding.conforms()


@check(
    area="workloads",
    requirement="{e} stays at zero replicas until fixed, or runs fully ready if scaled up",
    expand=lambda p: [(w.id, w) for w in p.workloads.scaled_down] if p.workloads else None,
    reads=workloads.reads_for,
    evaluate=workloads.workload_parked,
    severity="normal",
    remediation=(
        "Scale it back to 0 (kubectl scale KIND/NAME --replicas=0 -n NS) or finish the fix so every replica is ready"
    ),
)
def test_scaled_down_or_ready(finding: Finding) -> None:
    finding.conforms()
