"""Workloads: what must run runs ready, what was removed stays removed, what was parked stays parked."""

from conformance.check import Finding, check
from conformance.cluster.resources import WORKLOADS
from conformance.kubernetes import pods, workloads

# A DaemonSet's pod missing on a node: why it is not scheduled there is on the node.
NODE_REMEDIATION = (
    "kubectl describe node {name}: check its taints against the DaemonSet's tolerations, and its conditions"
)


@check(
    area="workloads",
    requirement="{e} runs with its expected replicas and containers, all ready",
    expand=lambda p: [(w.id, w) for w in p.workloads.required] if p.workloads else None,
    reads=workloads.reads_for,
    evaluate=workloads.workload_ready,
    severity="critical",
    remediation=(
        "kubectl rollout status {kind}/{name} -n {namespace}; kubectl describe {kind}/{name} -n {namespace} and its "
        "failing pods"
    ),
    remediation_for={"Pod": pods.POD_REMEDIATION, "Node": NODE_REMEDIATION},
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
        "The component was removed on purpose: find who re-created it (kubectl get {kind} {name} -n {namespace} "
        "-o yaml, managedFields) and delete it or update the profile"
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
        "Scale it back to 0 (kubectl scale {kind}/{name} --replicas=0 -n {namespace}) or finish the fix so every "
        "replica is ready"
    ),
    remediation_for={"Pod": pods.POD_REMEDIATION},
)
def test_scaled_down_or_ready(finding: Finding) -> None:
    finding.conforms()
