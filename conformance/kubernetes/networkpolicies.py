"""NetworkPolicies in force per namespace: at least as many as the platform deployed."""

from __future__ import annotations

from conformance.check import Culprit, Finding, ObjectRef
from conformance.cluster.resources import NETWORK_POLICIES
from conformance.cluster.state import ClusterState, name_of, qualified_name
from conformance.errors import MalformedObject
from conformance.profile.model import NetworkPolicyCount, Profile


def network_policies(state: ClusterState, expected: NetworkPolicyCount, _profile: Profile) -> Finding:
    policies = state.in_namespace(NETWORK_POLICIES, expected.namespace)
    for policy in policies:
        # The API server requires podSelector (`{}` selects every pod): without it the object is not one it served.
        if not isinstance((policy.get("spec") or {}).get("podSelector"), dict):
            raise MalformedObject(f"NetworkPolicy {qualified_name(policy)}: spec.podSelector is missing")
    names = sorted(name_of(p) for p in policies)
    culprits = (
        [
            Culprit(
                expected.namespace,
                f"{len(policies)} NetworkPolicies, expected at least {expected.min}",
                ref=ObjectRef("Namespace", expected.namespace, expected.namespace),
            )
        ]
        if len(policies) < expected.min
        else []
    )
    return Finding(
        expected=f"at least {expected.min} NetworkPolicies in {expected.namespace}",
        observed=f"{len(policies)} in {expected.namespace}: {', '.join(names) or 'none'}",
        inspected=len(policies),
        culprits=culprits,
        evidence=(NETWORK_POLICIES.name,),
    )
