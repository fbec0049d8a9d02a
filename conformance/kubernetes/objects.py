"""Minimum counts of policy objects (traffic rules, authorization policies, scrape configs)."""

from __future__ import annotations

from conformance.check import Culprit, Finding
from conformance.cluster.resources import resource
from conformance.cluster.state import ClusterState
from conformance.profile.model import ObjectCount, Profile


def object_count(state: ClusterState, expected: ObjectCount, _profile: Profile) -> Finding:
    counts = {name: len(state.objects(resource(name))) for name in expected.resources}
    total = sum(counts.values())
    breakdown = ", ".join(f"{n} {name}" for name, n in counts.items())
    # kubectl lists several kinds at once (`kubectl get a,b -A`): the hint names them all.
    kinds = {"resource": ",".join(expected.resources)}
    culprits = (
        []
        if total >= expected.min
        else [Culprit(expected.name, f"{total} objects, expected at least {expected.min}", kinds)]
    )
    return Finding(
        expected=f"at least {expected.min} objects of {' + '.join(expected.resources)}",
        observed=f"{total} ({breakdown})",
        inspected=total,
        culprits=culprits,
        evidence=tuple(expected.resources),
    )
