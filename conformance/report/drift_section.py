"""The report's drift section: the failures new, resolved and unchanged against a baseline run.

Laid out by drift.html.j2; check names, culprits and observations come from profiles, clusters and the
baseline's results.json, so they pass autoescape like every other value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from markupsafe import Markup

from conformance.report import templating

if TYPE_CHECKING:  # conformance.drift may render through this module; no import cycle at run time
    from conformance.drift import Change, Drift

# The kinds of change in the order the section lists them, with their headings.
GROUPS = (("new", "New failures"), ("resolved", "Resolved"), ("unchanged", "Unchanged failures"))


@dataclass(frozen=True)
class Row:
    id: str
    check: str
    culprit: str
    transition: str
    observed: str


@dataclass(frozen=True)
class Group:
    kind: str
    title: str
    seen: str  # the last column's heading: a resolved failure was seen in the baseline
    rows: Sequence[Row]

    @property
    def count(self) -> int:
        return len(self.rows)


def transition(change: Change) -> str:
    return f"{change.before or 'absent'} → {change.now or 'not run'}"


def _row(change: Change) -> Row:
    return Row(change.id, change.check, change.culprit or "", transition(change), change.observed)


def render(drift: Drift, profile: str | None) -> str:
    """The section's HTML as text (the redaction layer edits text with str methods)."""
    return str(section(drift, profile))


def section(drift: Drift, profile: str | None) -> Markup:
    """The section, placed with the summary in report.html after the failures (and linked from the banner)."""
    groups = [
        Group(kind, title, "seen then" if kind == "resolved" else "seen", [_row(c) for c in getattr(drift, kind)])
        for kind, title in GROUPS
    ]
    count = len(drift.not_compared)
    return templating.render(
        "drift.html.j2",
        baseline=drift.baseline.name,
        headline=drift.headline(),
        notes=drift.notes(profile),
        groups=groups,
        not_compared=[_row(c) for c in drift.not_compared],
        not_compared_title=f"{count} failing in the baseline, not compared (not run now)",
    )


def counts(drift: Drift) -> str:
    """`1 new, 3 resolved, 0 unchanged`: what the banner links to the section with."""
    return f"{len(drift.new)} new, {len(drift.resolved)} resolved, {len(drift.unchanged)} unchanged"
