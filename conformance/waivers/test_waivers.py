"""Waivers: every exception the profile grants still covers a failure; a stale exception is a finding."""

from typing import Any

from conformance.check import Culprit, Finding, check
from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate
from conformance.profile.model import Profile, Waiver
from conformance.waivers import rules


def waiver_in_use(state: ClusterState, waiver: Waiver, _profile: Profile) -> Finding:
    used = rules.ledger_of(state)
    targets = sorted(
        name for name in used.selected if waiver.matches(name) and name != f"test_waiver_in_use[{waiver.ticket}]"
    )
    uses = used.usage.get(waiver.ticket, 0)
    if not targets:
        if any(waiver.matches(name) for name in used.deselected):
            raise CouldNotEvaluate(f"{waiver}: the checks it names were not selected in this run")
        culprits = [Culprit(waiver.ticket, "names no check of this profile; remove or correct the waiver")]
    elif not uses and any(name not in used.judged for name in targets):
        # Only when checks were reordered (the suite runs waivers last): judging now would call it stale.
        pending = ", ".join(name for name in targets if name not in used.judged)
        raise CouldNotEvaluate(f"{waiver}: judged before the checks it covers ({pending}); run waivers last")
    elif not uses and any(name in used.errored for name in targets):
        raise CouldNotEvaluate(f"{waiver}: its checks could not be evaluated, so neither can the waiver")
    else:
        culprits = [] if uses else [Culprit(waiver.ticket, "covers nothing: its checks pass; remove the waiver")]
    return Finding(
        expected=f"{waiver} covers a failure (reason: {waiver.reason}; expires {waiver.expires})",
        observed=f"covered {uses} culprits of {', '.join(targets)}",
        inspected=len(targets),
        culprits=culprits,
    )


def _expand(profile: Profile) -> list[tuple[str, Any]] | None:
    return [(w.ticket, w) for w in profile.waivers] or None


@check(
    area="waivers",
    requirement="Granted exception {e} still covers a failure (stale exceptions are findings)",
    expand=_expand,
    reads=(),
    evaluate=waiver_in_use,
    severity="minor",
    remediation="Remove the waiver from the profile, or correct its check pattern or culprits",
)
def test_waiver_in_use(finding: Finding) -> None:
    finding.conforms()
