"""Jobs: the one-off jobs the platform depends on completed."""

from conformance.check import Finding, check
from conformance.cluster.resources import JOBS
from conformance.kubernetes import jobs


@check(
    area="jobs",
    requirement="{e} ran to completion",
    expand=lambda p: [(j.id, j) for j in p.jobs.completed] if p.jobs else None,
    reads=(JOBS,),
    evaluate=jobs.job_completed,
    severity="critical",
    remediation=(
        "kubectl describe job {name} -n {namespace}; kubectl logs job/{name} -n {namespace}; re-run the job after "
        "fixing its cause"
    ),
)
def test_job_completed(finding: Finding) -> None:
    finding.conforms()
