"""Effective mTLS mode, as istiod computes it from every PeerAuthentication.

Precedence (Istio's security model): the mesh-wide policy (root namespace, no selector) < the namespace-wide
policy (no selector) < a workload's policy (a selector matching its pods) < that policy's `portLevelMtls`.
UNSET, or no mode, inherits from the level above; with nothing set the mode is PERMISSIVE. Among policies
at one level the oldest wins (creation time, then name). A selector policy in the root namespace applies to
the root namespace's own workloads only; `portLevelMtls` counts only with a selector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.check import Culprit, Finding, ObjectRef
from conformance.cluster.resources import PEER_AUTHENTICATIONS, WORKLOADS
from conformance.cluster.state import ClusterState, name_of, qualified_name
from conformance.errors import MalformedObject
from conformance.profile.model import NamespaceMtls, Profile

MODES = ("STRICT", "PERMISSIVE", "DISABLE", "UNSET")
DEFAULT = "PERMISSIVE"  # Istio's mode where no policy says otherwise


@dataclass(frozen=True)
class Decided:
    mode: str
    by: str  # the policy that set it, or "Istio's default"


def _mode(policy: dict[str, Any], mtls: Any) -> str:
    mode = (mtls or {}).get("mode", "UNSET") if isinstance(mtls, dict | None) else None
    if mode not in MODES:
        raise MalformedObject(
            f"PeerAuthentication {qualified_name(policy)}: mTLS mode {mode!r} is not one Istio defines"
        )
    return str(mode)


def _labels(policy: dict[str, Any]) -> dict[str, Any] | None:
    """The selector's matchLabels; None for a policy without one (or an empty one, which Istio treats alike)."""
    selector = (policy.get("spec") or {}).get("selector")
    if selector is None:
        return None
    labels = selector.get("matchLabels") if isinstance(selector, dict) else ()
    if not isinstance(labels, dict | None):
        raise MalformedObject(f"PeerAuthentication {qualified_name(policy)}: selector.matchLabels is not a mapping")
    return labels or None


def _oldest(policies: list[dict[str, Any]]) -> dict[str, Any] | None:
    return min(
        policies,
        key=lambda p: (str((p.get("metadata") or {}).get("creationTimestamp") or ""), name_of(p)),
        default=None,
    )


def _apply(parent: Decided, policy: dict[str, Any] | None) -> Decided:
    if policy is None:
        return parent
    mode = _mode(policy, (policy.get("spec") or {}).get("mtls"))
    return parent if mode == "UNSET" else Decided(mode, f"PeerAuthentication {qualified_name(policy)}")


def namespace_mode(policies: list[dict[str, Any]], namespace: str, root: str) -> Decided:
    """The mode of a namespace's workloads that no selector policy picks."""
    mesh = _oldest([p for p in policies if _namespace(p) == root and _labels(p) is None])
    local = _oldest([p for p in policies if _namespace(p) == namespace and _labels(p) is None])
    decided = _apply(Decided(DEFAULT, "Istio's default"), mesh)
    return decided if namespace == root else _apply(decided, local)


def _namespace(policy: dict[str, Any]) -> str:
    return str((policy.get("metadata") or {}).get("namespace") or "")


def workload_modes(policy: dict[str, Any] | None, parent: Decided) -> tuple[Decided, dict[str, Decided]]:
    """A workload's own mode and its ports' modes, under its namespace's."""
    own = _apply(parent, policy)
    ports: dict[str, Decided] = {}
    if policy is not None:
        levels = (policy.get("spec") or {}).get("portLevelMtls") or {}
        if not isinstance(levels, dict):
            raise MalformedObject(f"PeerAuthentication {qualified_name(policy)}: portLevelMtls is not a mapping")
        for port, mtls in sorted(levels.items(), key=lambda item: str(item[0])):
            mode = _mode(policy, mtls)
            ports[str(port)] = own if mode == "UNSET" else Decided(mode, f"PeerAuthentication {qualified_name(policy)}")
    return own, ports


def effective_mtls(state: ClusterState, expected: NamespaceMtls, profile: Profile) -> Finding:
    root = profile.mesh.root_namespace if profile.mesh else "istio-system"
    policies = state.objects(PEER_AUTHENTICATIONS)
    namespace = namespace_mode(policies, expected.namespace, root)
    culprits = []
    if namespace.mode != expected.mode:
        culprits.append(
            Culprit(
                expected.namespace,
                f"namespace-wide {namespace.mode} (set by {namespace.by}), expected {expected.mode}",
                {"policy": namespace.by},
                ref=ObjectRef("Namespace", expected.namespace, expected.namespace),
            )
        )
    selecting = [p for p in policies if _namespace(p) == expected.namespace and _labels(p) is not None]
    inspected = len(policies)
    for kind, resource in WORKLOADS.items():
        for workload in state.in_namespace(resource, expected.namespace) if selecting else ():
            inspected += 1
            labels = (((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
            if not isinstance(labels, dict):
                raise MalformedObject(f"{kind} {expected.namespace}/{name_of(workload)}: pod template has no labels")
            matching = [p for p in selecting if all(labels.get(k) == v for k, v in (_labels(p) or {}).items())]
            own, ports = workload_modes(_oldest(matching), namespace)
            wrong = [] if own.mode == expected.mode else [f"{own.mode} (set by {own.by})"]
            wrong += [f"port {port} {d.mode} (set by {d.by})" for port, d in ports.items() if d.mode != expected.mode]
            if wrong:
                culprits.append(
                    Culprit(
                        f"{kind} {expected.namespace}/{name_of(workload)}",
                        f"{'; '.join(wrong)}, expected {expected.mode}",
                        {"policy": own.by},
                        ref=ObjectRef(kind, name_of(workload), expected.namespace),
                    )
                )
    return Finding(
        expected=f"every workload in {expected.namespace} at mTLS {expected.mode}",
        observed=f"{expected.namespace}: namespace-wide {namespace.mode} (set by {namespace.by}); "
        f"{len(selecting)} workload policies",
        inspected=inspected,
        culprits=culprits,
        evidence=(PEER_AUTHENTICATIONS.name, *(r.name for r in WORKLOADS.values()))
        if selecting
        else (PEER_AUTHENTICATIONS.name,),
    )
