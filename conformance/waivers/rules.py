"""Applying waivers to findings, and knowing which waivers were used.

A waiver covers the culprits of one check (all, or the ones it names) until its `expires` date,
judged against the collection time, as grace periods are: re-evaluating old evidence gives the
verdicts of that day. A waived failure is reported as waived, never as passed; an expired waiver
leaves the failure standing and says since when; a waiver that covers nothing is itself a finding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from conformance.check import Culprit, Finding
from conformance.cluster.state import Attachment, ClusterState
from conformance.errors import CouldNotEvaluate
from conformance.profile.model import Waiver


@dataclass
class Ledger:
    """One cluster's bookkeeping for its waivers: culprits covered per ticket, and which checks were
    selected, deselected or could not be evaluated (their waivers cannot be judged either).

    Names are the checks' names within the cluster (`test_x[kong/Deployment/kong]`), as waivers match them.
    """

    usage: dict[str, int] = field(default_factory=dict)
    selected: set[str] = field(default_factory=set)
    deselected: set[str] = field(default_factory=set)
    errored: set[str] = field(default_factory=set)
    judged: set[str] = field(default_factory=set)  # evaluated so far (a waiver is judged after its checks)


# The run keeps one ledger per cluster and attaches it to that cluster's state. A cluster's checks all run in
# one process (conformance.run.scheduling), so its ledger is complete where its waivers are judged.
LEDGER = Attachment[Ledger]("waiver ledger")


def ledger_of(state: ClusterState) -> Ledger:
    """The waiver ledger the run attached to this cluster's state."""
    found = state.attached(LEDGER)
    if found is None:
        raise CouldNotEvaluate("no waiver ledger: waivers are judged within a run, after the checks they cover")
    return found


@dataclass(frozen=True)
class Applied:
    """A waiver that covered culprits of a finding: each covered object named once, whatever it was seen doing."""

    waiver: Waiver
    culprits: tuple[str, ...]
    expired: bool
    covered: tuple[Culprit, ...] = ()  # the culprits themselves (the first of each name), for their hints

    def describe(self) -> str:
        w = self.waiver
        state = f"expired on {w.expires}" if self.expired else f"until {w.expires}"
        return f"{w.ticket} ({w.owner}, {state}): {w.reason}; covers {', '.join(self.culprits)}"


def apply(finding: Finding, waivers: Sequence[Waiver], test_name: str, today: date, used: Ledger) -> Finding:
    """The finding with waived culprits set aside: `culprits` keeps only what still fails."""
    candidates = [w for w in waivers if w.matches(test_name)]
    if not candidates or not finding.culprits:
        return finding
    remaining: list[Culprit] = []
    # A waiver covers objects: a workload seen failing several ways (not ready, rollout incomplete) is several
    # culprits of one name, and is covered, counted and listed once.
    covered: dict[str, dict[str, Culprit]] = {}
    for culprit in finding.culprits:
        covering = [w for w in candidates if not w.culprits or culprit.name in w.culprits]
        valid = [w for w in covering if w.expires >= today]
        if valid:
            covered.setdefault(valid[0].ticket, {}).setdefault(culprit.name, culprit)
            continue
        if covering:
            lapsed = covering[0]
            covered.setdefault(lapsed.ticket, {}).setdefault(culprit.name, culprit)
            days = (today - lapsed.expires).days
            culprit = dataclasses.replace(
                culprit,
                observed=f"{culprit.observed} (waiver {lapsed.ticket} expired on {lapsed.expires}, {days} days "
                "before the collection)",
            )
        remaining.append(culprit)
    by_ticket = {w.ticket: w for w in candidates}
    applied = tuple(
        Applied(by_ticket[ticket], tuple(names), by_ticket[ticket].expires < today, tuple(names.values()))
        for ticket, names in covered.items()
    )
    for item in applied:
        used.usage[item.waiver.ticket] = used.usage.get(item.waiver.ticket, 0) + len(item.culprits)
    return dataclasses.replace(finding, culprits=remaining, applied=applied)
