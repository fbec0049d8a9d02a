"""Jobs that must have run to completion (schema migrations and the like)."""

from __future__ import annotations

from conformance.check import Culprit, Finding, ObjectRef
from conformance.cluster.resources import JOBS
from conformance.cluster.state import ClusterState
from conformance.cluster.timing import condition
from conformance.profile.model import JobRef, Profile


def _culprit(expected: JobRef, observed: str) -> Culprit:
    return Culprit(str(expected), observed, ref=ObjectRef("Job", expected.name, expected.namespace))


def job_completed(state: ClusterState, expected: JobRef, _profile: Profile) -> Finding:
    job = state.get(JOBS, expected.namespace, expected.name)
    peers = state.in_namespace(JOBS, expected.namespace)
    if job is None:
        return Finding(
            expected=f"{expected} completed",
            observed=f"{expected} not found among {len(peers)} jobs",
            inspected=len(peers),
            culprits=[_culprit(expected, "not found")],
            evidence=(JOBS.name,),
        )
    status = job.get("status") or {}
    counts = (
        f"succeeded {status.get('succeeded', 0)}, failed {status.get('failed', 0)}, active {status.get('active', 0)}"
    )
    failed = condition(job, "Failed")
    complete = condition(job, "Complete")
    culprits = []
    if failed is not None and failed.get("status") == "True":
        why = ": ".join(str(x) for x in (failed.get("reason"), failed.get("message")) if x)
        culprits.append(_culprit(expected, f"Failed ({why or 'no reason given'}); {counts}"))
    elif complete is None or complete.get("status") != "True":
        culprits.append(_culprit(expected, f"not complete; {counts}"))
    return Finding(
        expected=f"{expected} has condition Complete=True",
        observed=f"{expected}: {'Complete' if not culprits else 'not complete'} ({counts})",
        inspected=1,
        culprits=culprits,
        evidence=(JOBS.name,),
    )
