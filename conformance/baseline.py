"""A profile made from a known-good cluster: `python -m conformance baseline` records what it sees that a profile can
express, every value `basis: observed` with the collection time, and keeps only what the suite's own checks pass
on that same state (so a run with the baseline on it passes, and any later change fails naming its culprit).

This is how a team adopts the suite for a platform that has no report: baseline a good day, review, commit, gate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

from conformance import registry
from conformance.cluster.podstatus import pod_status
from conformance.cluster.resources import (
    JOBS,
    KNOWN,
    NAMESPACES,
    NODES,
    PEER_AUTHENTICATIONS,
    PODS,
    PVCS,
    WORKLOADS,
    Resource,
)
from conformance.cluster.state import ClusterState, name_of, namespace_of
from conformance.cluster.timing import condition
from conformance.errors import ConformanceError
from conformance.kubernetes.pods import counts_as_present
from conformance.profile.model import API_VERSION, Profile

# Labels Kubernetes sets on every namespace itself: not the platform's choice, so not an expectation.
AUTOMATIC_LABELS = frozenset({"kubernetes.io/metadata.name"})
# Policy and mesh objects whose counts a profile can require (objects.minimum).
POLICY_RESOURCES = (
    "peerauthentications.security.istio.io",
    "authorizationpolicies.security.istio.io",
    "virtualservices.networking.istio.io",
    "destinationrules.networking.istio.io",
    "servicemonitors.monitoring.coreos.com",
)
SYSTEM_NAMESPACES = frozenset({"kube-node-lease", "kube-public"})


def baseline_reads() -> list[Resource]:
    """What a baseline reads: the kinds it turns into expectations (Secrets never)."""
    names = ["pods", "nodes", "namespaces", "persistentvolumeclaims", "jobs.batch", *POLICY_RESOURCES]
    names.append(PEER_AUTHENTICATIONS.name)
    names += [resource.name for resource in WORKLOADS.values()]
    return [KNOWN[name] for name in dict.fromkeys(names) if name in KNOWN]


@dataclass
class Baseline:
    """The profile document as built, and what was seen but left out (with why), for the operator to review."""

    document: dict[str, Any]
    left_out: list[str] = field(default_factory=list)
    copied_from: str | None = None

    def yaml(self) -> str:
        basis = (
            "# Values marked basis: observed were read off the cluster; the service settings, and what no service\n"
            f"# answers (each with its own basis), are profile {self.copied_from}'s. Review them before gating.\n"
            if self.copied_from
            else "# Every value was read off the cluster (basis: observed): review it before gating on it.\n"
        )
        header = f"# yaml-language-server: $schema=schema.json\n# {self.document['metadata']['description']}\n{basis}"
        if self.left_out:
            header += "# Seen but left out (they did not pass on the observed state):\n"
            header += "".join(f"#   {line}\n" for line in self.left_out)
        return header + yaml.safe_dump(self.document, sort_keys=False, allow_unicode=True, width=118)


def _observed(when: str, **entry: Any) -> dict[str, Any]:
    return {**entry, "basis": "observed", "observed_at": when}


def _objects(state: ClusterState, resource: Resource) -> list[dict[str, Any]]:
    try:
        return state.objects(resource)
    except ConformanceError:
        return []


def _workloads(state: ClusterState, when: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every Deployment, StatefulSet and DaemonSet: required with its replicas and containers, or parked at zero."""
    from conformance.kubernetes.workloads import workload_pods
    from conformance.profile.model import WorkloadRef

    required, parked = [], []
    for kind, resource in sorted(WORKLOADS.items()):
        for obj in sorted(_objects(state, resource), key=lambda o: (namespace_of(o), name_of(o))):
            namespace, name = namespace_of(obj), name_of(obj)
            ref = {"namespace": namespace, "kind": kind, "name": name}
            replicas = (obj.get("spec") or {}).get("replicas", 1)
            if kind != "DaemonSet" and replicas == 0:
                parked.append(_observed(when, **ref))
                continue
            try:
                pods = workload_pods(state, obj, WorkloadRef(namespace=namespace, kind=kind, name=name))
            except ConformanceError:
                pods = []
            totals = Counter(pod_status(pod).total for pod in pods)
            entry: dict[str, Any] = dict(ref)
            if kind == "DaemonSet":
                entry["every_node"] = True
            else:
                entry["replicas"] = replicas
            if len(totals) == 1:  # every pod has the same containers, sidecars included: say how many
                entry["containers"] = next(iter(totals))
            required.append(_observed(when, **entry))
    return required, parked


def _pods(state: ClusterState, when: str) -> dict[str, Any]:
    counts = Counter(namespace_of(p) for p in _objects(state, PODS) if counts_as_present(p))
    return _observed(
        when,
        namespaces=[_observed(when, namespace=ns, min=n) for ns, n in sorted(counts.items()) if n],
    )


def _jobs(state: ClusterState, when: str) -> list[dict[str, Any]]:
    done = []
    for job in _objects(state, JOBS):
        complete = condition(job, "Complete")
        if complete is not None and complete.get("status") == "True":
            done.append(_observed(when, namespace=namespace_of(job), name=name_of(job)))
    return sorted(done, key=lambda j: (j["namespace"], j["name"]))


def _namespace_labels(state: ClusterState, when: str) -> list[dict[str, Any]]:
    entries = []
    for namespace in sorted(_objects(state, NAMESPACES), key=name_of):
        labels = {
            str(k): str(v)
            for k, v in sorted(((namespace.get("metadata") or {}).get("labels") or {}).items())
            if k not in AUTOMATIC_LABELS
        }
        if labels and name_of(namespace) not in SYSTEM_NAMESPACES:
            entries.append(_observed(when, namespace=name_of(namespace), labels=labels))
    return entries


def _policy_counts(state: ClusterState, when: str) -> list[dict[str, Any]]:
    counts = []
    for name in POLICY_RESOURCES:
        if state.lists.get(name):
            short = name.split(".", 1)[0]
            counts.append(_observed(when, name=short, resources=[name], min=len(state.lists[name])))
    return counts


def _mtls(state: ClusterState, when: str) -> list[dict[str, Any]]:
    """The mTLS mode each namespace's workloads end up with, every PeerAuthentication applied (Istio's precedence)."""
    from conformance.istio.mtls import namespace_mode

    if PEER_AUTHENTICATIONS.name not in state.lists:
        return []
    policies = state.lists[PEER_AUTHENTICATIONS.name]
    entries = []
    for namespace in sorted(name_of(n) for n in _objects(state, NAMESPACES)):
        if namespace in SYSTEM_NAMESPACES:
            continue
        decided = namespace_mode(policies, namespace, "istio-system")
        entries.append(_observed(when, namespace=namespace, mode=decided.mode))
    return entries


def _nodes(state: ClusterState, when: str) -> dict[str, Any] | None:
    nodes = _objects(state, NODES)
    if not nodes:
        return None

    from conformance.nodes.health import node_quantity

    try:
        cpu = sum((node_quantity(n, "capacity", "cpu") for n in nodes), Decimal(0))
        memory = sum((node_quantity(n, "capacity", "memory") for n in nodes), Decimal(0))
    except ConformanceError:  # a node without a readable capacity: the count still holds, the capacity is unknown
        return _observed(when, count=len(nodes))
    # Exact quantities as Kubernetes writes them (cores, bytes): the check asks for at least this much.
    capacity = {"cpu": f"{cpu.normalize():f}", "memory": f"{int(memory)}"}
    return _observed(when, count=len(nodes), min_capacity=capacity)


def _storage(state: ClusterState, when: str) -> dict[str, Any] | None:
    claims = _objects(state, PVCS)
    bound = [c for c in claims if (c.get("status") or {}).get("phase") == "Bound"]
    if not claims or len(bound) != len(claims):
        return None
    return _observed(when, pvcs_bound=True, min_pvcs=len(bound))


def build(state: ClusterState, name: str, profile: Profile | None = None) -> Baseline:
    """The observed profile of `state`, with only what the suite's checks pass on it; with `profile`, the services
    it configures too (conformance.baseline_services)."""
    from conformance.baseline_services import observe, settings_of

    when = state.now.isoformat().replace("+00:00", "Z")
    where = state.provenance.location
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Profile",
        "metadata": {"name": name, "description": f"Observed from {state.provenance.mode} {where} at {when}"},
    }
    required, parked = _workloads(state, when)
    sections: dict[str, Any] = {
        "pods": _pods(state, when),
        "workloads": {"required": required, "scaled_down": parked},
        "jobs": {"completed": _jobs(state, when)},
        "namespaces": {"labels": _namespace_labels(state, when)},
        "objects": {"minimum": _policy_counts(state, when)},
        "mesh": {"mtls": _mtls(state, when)},
        "nodes": _nodes(state, when),
        "storage": _storage(state, when),
    }
    services, unread = observe(state, profile, when) if profile is not None else ({}, [])
    if services:
        sections["services"] = services
    document.update({key: value for key, value in sections.items() if value and any(_filled(value))})
    collection = settings_of(profile.collection) if profile is not None else {}
    if collection:  # how the given profile reads the cluster (page size, timeouts) is how the baseline's will
        document["collection"] = collection
    baseline = Baseline(document, unread, profile.metadata.name if services and profile else None)
    _keep_what_passes(baseline, state)
    return baseline


def _filled(section: Any) -> list[bool]:
    """Whether a section says anything: a mapping of only empty lists is no section at all."""
    if isinstance(section, dict):
        return [bool(v) for k, v in section.items() if k not in ("basis", "observed_at")] or [True]
    return [bool(section)]


def _keep_what_passes(baseline: Baseline, state: ClusterState) -> None:
    """Drop every entry one of the suite's checks does not pass on the observed state, listing it as left out:
    a baseline states the good day as the checks judge it, never a value they would fail."""
    document = baseline.document
    for section, key in (
        ("pods", "namespaces"),
        ("workloads", "required"),
        ("workloads", "scaled_down"),
        ("jobs", "completed"),
        ("namespaces", "labels"),
        ("objects", "minimum"),
        ("mesh", "mtls"),
    ):
        entries = (document.get(section) or {}).get(key)
        if not entries:
            continue
        kept = []
        for entry in entries:
            trial = {**document, section: {**document[section], key: [entry]}}

            def concerns(expectation: Any, entry: dict[str, Any] = entry) -> bool:
                return _same(expectation, entry)

            failing = _failing_checks(trial, state, concerns, _AREAS[section])
            if failing:
                baseline.left_out.append(f"{section}.{key}: {_label(entry)}: {failing[0]}")
            else:
                kept.append(entry)
        document[section][key] = kept
    services = document.get("services") or {}
    for name in list(services):
        trial = {**document, "services": {name: services[name]}}
        failing = _failing_checks(trial, state, lambda _e: True, reading=name)
        if failing:
            baseline.left_out.append(f"services.{name}: {failing[0]}")
            del services[name]
    if "services" in document and not services:
        del document["services"]
    for section, areas in (("nodes", {"nodes"}), ("storage", {"storage"})):
        failing = _failing_checks(document, state, lambda _e: True, areas) if section in document else []
        if failing:
            baseline.left_out.append(f"{section}: {failing[0]}")
            del document[section]


# The checks that judge each section's entries.
_AREAS = {
    "pods": {"pods"},
    "workloads": {"workloads"},
    "jobs": {"jobs"},
    "namespaces": {"namespaces"},
    "objects": {"objects"},
    "mesh": {"mesh"},
}


def _label(entry: dict[str, Any]) -> str:
    return "/".join(str(entry[k]) for k in ("namespace", "kind", "name") if k in entry)


def _same(expectation: Any, entry: dict[str, Any]) -> bool:
    return all(getattr(expectation, k, None) == entry[k] for k in ("namespace", "kind", "name") if k in entry)


def _failing_checks(
    document: dict[str, Any],
    state: ClusterState,
    concerns: Callable[[Any], bool],
    areas: set[str] | None = None,
    reading: str | None = None,
) -> list[str]:
    """What the suite's checks (of `areas`, or all; or those that read the service named `reading`) say of the
    expectations of `document` that `concerns` selects, on `state`: nothing when they all pass."""
    from conformance.check import Finding
    from conformance.errors import CouldNotEvaluate

    profile = Profile.model_validate(document)
    problems = []
    for registered in registry.checks():
        spec = registered.spec
        if spec.area in ("waivers", "stability") or (areas is not None and spec.area not in areas):
            continue
        for ident, expectation in spec.expand(profile) or ():
            if not concerns(expectation):
                continue
            if reading is not None and reading not in {str(need) for need in spec.needs(expectation)}:
                continue
            try:
                finding: Finding = spec.judge(state, expectation, profile)
            except CouldNotEvaluate as exc:
                problems.append(f"{registered.name}[{ident}] could not evaluate: {exc}")
                continue
            if finding.culprits:
                problems.append(f"{registered.name}[{ident}]: {finding.culprits[0]}")
    return problems
