"""PersistentVolumeClaims: every claim Bound, so no workload waits on storage."""

from __future__ import annotations

from conformance.check import Culprit, Finding, ObjectRef
from conformance.cluster.resources import PVCS
from conformance.cluster.state import ClusterState, name_of, namespace_of, qualified_name
from conformance.errors import CouldNotEvaluate
from conformance.profile.model import Profile, Storage


def pvcs_bound(state: ClusterState, expected: Storage, _profile: Profile) -> Finding:
    claims = state.objects(PVCS)
    if len(claims) < expected.min_pvcs:
        raise CouldNotEvaluate(
            f"found {len(claims)} PersistentVolumeClaims, fewer than the {expected.min_pvcs} the profile expects"
        )
    culprits = [
        Culprit(
            qualified_name(c),
            f"{(c.get('status') or {}).get('phase', 'no phase')}",
            ref=ObjectRef("PersistentVolumeClaim", name_of(c), namespace_of(c)),
        )
        for c in claims
        if (c.get("status") or {}).get("phase") != "Bound"
    ]
    return Finding(
        expected="every PersistentVolumeClaim Bound",
        observed=f"{len(claims) - len(culprits)} of {len(claims)} claims Bound",
        inspected=len(claims),
        culprits=culprits,
        evidence=(PVCS.name,),
    )
