"""One record per check of a run: what was required, by whom, what was seen, the verdict and any waiver.

Records are what reports, the integrity manifest and summaries are built from, so they all say the
same thing. The run collects them as each check finishes and publishes them in its RunResult.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from conformance.check import Culprit

Verdict = Literal["passed", "failed", "error", "waived", "skipped"]


@dataclass(frozen=True)
class WaiverNote:
    """The waiver that applied to a check, with every field an auditor needs."""

    reason: str
    owner: str
    ticket: str
    expires: str
    culprits: tuple[str, ...] = ()


@dataclass
class CheckRecord:
    nodeid: str
    name: str  # test function and id: test_workload_ready[kong/Deployment/kong]
    area: str
    requirement: str
    severity: str
    source: str | None = None
    note: str | None = None
    origin: str | None = None  # profile file:line
    basis: str | None = None  # what the expected values rest on: report, assumed, observed; None: unmarked
    remediation: str = ""  # the hints filled for its culprits, one a line; the generic hint when none is known
    verdict: Verdict = "passed"
    expected: str | None = None
    observed: str | None = None
    inspected: int | None = None
    culprits: list[Culprit] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    message: str = ""  # the failure or error text as the terminal shows it
    waiver: WaiverNote | None = None
    duration: float = 0.0
    cluster: str = ""  # the fleet cluster judged; "" in a single-cluster run

    @property
    def check(self) -> str:
        """The check's name within its cluster: what a fleet's cluster × check matrix has as rows."""
        return within_cluster(self.name, self.cluster)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "culprits"}
        data["culprits"] = [c.as_dict() for c in self.culprits]
        data["waiver"] = {**self.waiver.__dict__, "culprits": list(self.waiver.culprits)} if self.waiver else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckRecord:
        """The inverse of as_dict: how a record made on a pytest-xdist worker is rebuilt by the controller."""
        fields = dict(data)
        fields["culprits"] = [Culprit.from_dict(c) for c in data["culprits"]]
        waiver = data.get("waiver")
        fields["waiver"] = WaiverNote(**{**waiver, "culprits": tuple(waiver.get("culprits") or ())}) if waiver else None
        fields["evidence"] = list(data.get("evidence") or [])
        return cls(**fields)


def within_cluster(name: str, cluster: str) -> str:
    """A test name without its fleet cluster: `test_x[prod-eu:kong/kong]` is `test_x[kong/kong]` in prod-eu."""
    return name.replace(f"[{cluster}:", "[", 1) if cluster else name


# The run's own account of its collection: when, from where, and why each missing source is missing.
META = "meta.json"


def evidence_path(name: str, cluster: str = "") -> str:
    """Where a check's evidence is, relative to the run directory.

    Resources are named `pods`, `deployments.apps`; service bodies by their path, `kong/status.json`;
    a fleet keeps each cluster's evidence under its name.
    """
    root = f"evidence/{cluster}" if cluster else "evidence"
    return f"{root}/{name}" if "/" in name or name == META else f"{root}/kubernetes/{name}.json"
