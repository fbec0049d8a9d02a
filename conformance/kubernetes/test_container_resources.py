"""Container resources: requests and limits declared where the platform promised them."""

from conformance.check import Finding, check
from conformance.cluster.resources import PODS, WORKLOADS
from conformance.kubernetes import container_resources


@check(
    area="workloads",
    requirement="The {e} declares its resource requests and limits",
    expand=lambda p: [(c.id, c) for c in p.containers.resources] if p.containers else None,
    reads=lambda c: (WORKLOADS[c.kind], PODS),
    evaluate=container_resources.container_resources,
    severity="normal",
    remediation=(
        "kubectl set resources {kind}/{name} -n {namespace}[ -c {container}] --requests=... --limits=... "
        "(or restore them in the chart); pods started before the change need a rollout restart"
    ),
)
def test_container_resources(finding: Finding) -> None:
    finding.conforms()
