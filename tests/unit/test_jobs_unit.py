"""Jobs that must have completed (conformance.kubernetes.jobs)."""

from __future__ import annotations

import pytest

from conformance.errors import SourceError
from conformance.kubernetes import jobs
from conformance.profile.model import JobRef

from .unitstate import PROFILE, Obj, culprits, meta, state

MIGRATE = JobRef(namespace="apps", name="migrate")


def job(name: str = "migrate", namespace: str = "apps", conditions: list[Obj] | None = None, **counts: int) -> Obj:
    return {"metadata": meta(name, namespace), "status": {"conditions": conditions or [], **counts}}


def cond(kind: str, status: str = "True", **extra: str) -> Obj:
    return {"type": kind, "status": status, **extra}


@pytest.mark.parametrize(
    ("given", "want", "observed"),
    [
        pytest.param(
            job(conditions=[cond("Complete")], succeeded=1),
            [],
            "Job apps/migrate: Complete (succeeded 1, failed 0, active 0)",
            id="complete",
        ),
        pytest.param(
            job(conditions=[cond("Failed", "False"), cond("Complete")], succeeded=1, failed=2),
            [],
            "Job apps/migrate: Complete (succeeded 1, failed 2, active 0)",
            id="complete-after-retries",
        ),
        pytest.param(
            job(
                conditions=[cond("Failed", reason="BackoffLimitExceeded", message="Job has reached the backoff limit")],
                failed=6,
            ),
            [
                (
                    "Job apps/migrate",
                    "Failed (BackoffLimitExceeded: Job has reached the backoff limit); succeeded 0, failed 6, active 0",
                )
            ],
            "Job apps/migrate: not complete (succeeded 0, failed 6, active 0)",
            id="failed",
        ),
        pytest.param(
            job(conditions=[cond("Failed", message="deadline"), cond("Complete")]),
            [("Job apps/migrate", "Failed (deadline); succeeded 0, failed 0, active 0")],
            "Job apps/migrate: not complete (succeeded 0, failed 0, active 0)",
            id="failed-wins",
        ),
        pytest.param(
            job(conditions=[cond("Failed")]),
            [("Job apps/migrate", "Failed (no reason given); succeeded 0, failed 0, active 0")],
            "Job apps/migrate: not complete (succeeded 0, failed 0, active 0)",
            id="failed-without-reason",
        ),
        pytest.param(
            job(active=1),
            [("Job apps/migrate", "not complete; succeeded 0, failed 0, active 1")],
            "Job apps/migrate: not complete (succeeded 0, failed 0, active 1)",
            id="running",
        ),
        pytest.param(
            job(conditions=[cond("Complete", "False")]),
            [("Job apps/migrate", "not complete; succeeded 0, failed 0, active 0")],
            "Job apps/migrate: not complete (succeeded 0, failed 0, active 0)",
            id="complete-false",
        ),
        pytest.param(
            {"metadata": meta("migrate", "apps")},
            [("Job apps/migrate", "not complete; succeeded 0, failed 0, active 0")],
            "Job apps/migrate: not complete (succeeded 0, failed 0, active 0)",
            id="no-status",
        ),
    ],
)
def test_job_completed(given: Obj, want: list[tuple[str, str]], observed: str) -> None:
    finding = jobs.job_completed(
        state({"jobs.batch": [given, job("other", conditions=[cond("Failed")])]}), MIGRATE, PROFILE
    )
    assert culprits(finding) == want
    assert finding.observed == observed
    assert (finding.expected, finding.inspected, finding.evidence) == (
        "Job apps/migrate has condition Complete=True",
        1,
        ("jobs.batch",),
    )


def test_missing_job_is_a_failure() -> None:
    finding = jobs.job_completed(state({"jobs.batch": [job("other"), job("migrate", "elsewhere")]}), MIGRATE, PROFILE)
    assert culprits(finding) == [("Job apps/migrate", "not found")]
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "Job apps/migrate completed",
        "Job apps/migrate not found among 1 jobs",
        1,
        ("jobs.batch",),
    )


def test_job_completed_needs_the_jobs_list() -> None:
    with pytest.raises(SourceError) as raised:
        jobs.job_completed(state({"pods": []}), MIGRATE, PROFILE)
    assert str(raised.value) == "jobs.batch: was not collected in this run"
