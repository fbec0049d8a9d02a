"""Namespace labels that switch platform behaviour: sidecar injection, pod security levels."""

from __future__ import annotations

from conformance.check import Culprit, Finding, ObjectRef
from conformance.cluster.resources import NAMESPACES
from conformance.cluster.state import ClusterState
from conformance.profile.model import NamespaceLabels, Profile


def namespace_labels(state: ClusterState, expected: NamespaceLabels, _profile: Profile) -> Finding:
    namespace = state.get(NAMESPACES, "", expected.namespace)
    wanted = ", ".join(f"{k}={v}" for k, v in sorted(expected.labels.items()))
    if namespace is None:
        return Finding(
            expected=f"namespace {expected.namespace} labelled {wanted}",
            observed=f"namespace {expected.namespace} not found",
            inspected=len(state.objects(NAMESPACES)),
            culprits=[
                Culprit(
                    expected.namespace,
                    "namespace not found",
                    ref=ObjectRef("Namespace", expected.namespace, expected.namespace),
                )
            ],
            evidence=(NAMESPACES.name,),
        )
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    ref = ObjectRef("Namespace", expected.namespace, expected.namespace)
    culprits = [
        Culprit(
            f"{expected.namespace} label {key}",
            f"is {labels[key]!r}, expected {value!r}" if key in labels else f"is not set, expected {value!r}",
            {"label": key, "value": value},  # what the remediation hint sets
            ref=ref,
        )
        for key, value in sorted(expected.labels.items())
        if labels.get(key) != value
    ]
    seen = ", ".join(f"{k}={labels[k]}" for k in sorted(expected.labels) if k in labels) or "none of them"
    return Finding(
        expected=f"namespace {expected.namespace} labelled {wanted}",
        observed=f"namespace {expected.namespace} has {seen}",
        inspected=1,
        culprits=culprits,
        evidence=(NAMESPACES.name,),
    )
