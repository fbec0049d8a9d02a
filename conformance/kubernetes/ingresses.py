"""Ingresses admitted by their controller: an address written into status.loadBalancer.ingress."""

from __future__ import annotations

from conformance.check import Culprit, Finding, ObjectRef
from conformance.cluster.resources import INGRESSES
from conformance.cluster.state import ClusterState
from conformance.errors import MalformedObject
from conformance.profile.model import IngressRef, Profile


def ingress_admitted(state: ClusterState, expected: IngressRef, _profile: Profile) -> Finding:
    ref = ObjectRef("Ingress", expected.name, expected.namespace)
    obj = state.get(INGRESSES, expected.namespace, expected.name)
    wanted = f"{expected} admitted with an address"
    if obj is None:
        return Finding(
            expected=wanted,
            observed=f"{expected} not found",
            inspected=len(state.in_namespace(INGRESSES, expected.namespace)),
            culprits=[Culprit(str(expected), "not found", ref=ref)],
            evidence=(INGRESSES.name,),
        )
    # A new Ingress has no status, or an empty loadBalancer, until its controller admits it.
    balancer = (obj.get("status") or {}).get("loadBalancer") or {}
    entries = balancer.get("ingress") if isinstance(balancer, dict) else None
    if entries is not None and not isinstance(entries, list):
        raise MalformedObject(f"{expected}: status.loadBalancer.ingress is not a list")
    addresses = [
        str(e.get("ip") or e.get("hostname"))
        for e in entries or ()
        if isinstance(e, dict) and (e.get("ip") or e.get("hostname"))
    ]
    culprits = (
        []
        if addresses
        else [Culprit(str(expected), "not admitted: no address in status.loadBalancer.ingress", ref=ref)]
    )
    return Finding(
        expected=wanted,
        observed=f"{expected} at {', '.join(addresses)}" if addresses else f"{expected} has no address",
        inspected=1,
        culprits=culprits,
        evidence=(INGRESSES.name,),
    )
