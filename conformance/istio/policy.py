"""Mesh-wide mTLS mode as set by the PeerAuthentication the platform relies on."""

from __future__ import annotations

from conformance.check import Culprit, Finding
from conformance.cluster.resources import PEER_AUTHENTICATIONS
from conformance.cluster.state import ClusterState, qualified_name
from conformance.profile.model import PeerAuthentication, Profile


def mtls_mode(state: ClusterState, expected: PeerAuthentication, _profile: Profile) -> Finding:
    policies = state.objects(PEER_AUTHENTICATIONS)
    policy = state.get(PEER_AUTHENTICATIONS, expected.namespace, expected.name)
    modes = ", ".join(
        f"{qualified_name(p)}={((p.get('spec') or {}).get('mtls') or {}).get('mode', 'UNSET')}" for p in policies
    )
    if policy is None:
        culprits = [Culprit(str(expected), "not found")]
        seen = f"{expected} not found; present: {modes or 'none'}"
    else:
        mode = ((policy.get("spec") or {}).get("mtls") or {}).get("mode", "UNSET")
        culprits = [] if mode == expected.mode else [Culprit(str(expected), f"mode {mode}, expected {expected.mode}")]
        seen = f"mTLS modes: {modes}"
    return Finding(
        expected=f"{expected} sets mTLS mode {expected.mode}",
        observed=seen,
        inspected=len(policies),
        culprits=culprits,
        evidence=(PEER_AUTHENTICATIONS.name,),
    )
