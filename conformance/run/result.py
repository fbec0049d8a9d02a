"""What a finished run publishes once, and every output reads: records, counts, the verdict, drift, timings.

Immutable: report.html, junit, Allure, results.json, drift.json, manifest.json and the terminal's last line are
renderings of one RunResult (through the `pytest_conformance_result` hook), so none of them can disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from conformance.cluster.identity import ClusterIdentity, RunIdentity
from conformance.cluster.live import CollectionReport
from conformance.drift import Drift
from conformance.gate import Verdict
from conformance.records import CheckRecord

OUTCOMES = ("passed", "failed", "error", "waived", "skipped")


def count_outcomes(records: tuple[CheckRecord, ...]) -> dict[str, int]:
    return {outcome: sum(1 for r in records if r.verdict == outcome) for outcome in OUTCOMES}


def counts_text(counts: Mapping[str, int]) -> str:
    """`87 passed, 0 failed, 0 could not evaluate, 3 waived`: how the terminal and the banner count."""
    return (
        f"{counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
        f"{counts.get('error', 0)} could not evaluate, {counts.get('waived', 0)} waived"
    )


@dataclass(frozen=True)
class MemberResult:
    """One cluster of the run: its name in a fleet ("" alone), profile and source, and its own counts."""

    name: str
    profile: str
    profile_sha256: str
    source: str
    counts: Mapping[str, int]


@dataclass(frozen=True)
class Identity:
    """Which cluster a member was and who the run was, or why that could not be found out."""

    cluster: ClusterIdentity | None
    identity: RunIdentity | None
    error: str | None = None


@dataclass(frozen=True)
class StabilityNote:
    """The outcome of settling or holding, one line each, as the terminal and the banner show it."""

    kind: str  # "settle" or "hold"
    ok: bool
    summary: str


@dataclass(frozen=True)
class RunResult:
    name: str  # the profile's name, or the fleet's
    several: bool  # a fleet run (several clusters, or a fleet file)
    run_dir: Path
    records: tuple[CheckRecord, ...]
    verdict: Verdict
    members: tuple[MemberResult, ...]
    profile_sha256: str
    started_at: datetime
    finished_at: datetime
    collection_seconds: float | None = None
    drift: Drift | None = None
    new_failures: frozenset[str] | None = None  # with --gate=new: the checks failing anew, the only ones that gate
    stability: tuple[StabilityNote, ...] = ()
    not_configured: tuple[str, ...] = ()  # checks the profile does not configure (not run, not counted)
    deselected: tuple[str, ...] = ()  # checks of the profile left out by -k, -m or --deselect
    counts: Mapping[str, int] = field(default_factory=dict)
    identities: Mapping[str, Identity] = field(default_factory=dict)  # by member ("" in a single-cluster run)
    collections: tuple[tuple[str, CollectionReport], ...] = ()  # live collections' budget reports, by member
    git: Mapping[str, object] | None = None  # the suite's checkout: commit and whether it was dirty

    @property
    def exit_code(self) -> int:
        return self.verdict.code

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.html"

    def last_line(self) -> str:
        """The line a CI log reader sees first: verdict, counts, the gate when it set failures aside, the report."""
        name = f"fleet {self.name}" if self.several else self.name
        below = f", {self.verdict.below_gate} below the gate" if self.verdict.below_gate else ""
        reason = f" ({self.verdict.reason})" if self.verdict.reason else ""
        return (
            f"conformance {name}: {self.verdict.word}{reason} — {counts_text(self.counts)}{below} — "
            f"report {self.report_path}"
        )
