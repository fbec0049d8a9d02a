"""The portal's service registry: the names it lists, and the workloads behind them.

The response shape is a profile setting: a JSON list of objects, or an object holding the list
(`services` unless `list_key` names another), each with a name field (`name` by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from conformance.check import Culprit, Derived, Finding
from conformance.cluster.resources import WORKLOADS, Resource
from conformance.cluster.state import ClusterState
from conformance.errors import MalformedObject
from conformance.profile.model import Profile
from conformance.profile.model_base import Severity, Traced
from conformance.profile.services import Portal
from conformance.services.source import LiveContext, ServiceSource, load_json, redact_url

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"']+")


def sanitize(_file: str, body: bytes) -> bytes:
    # Registry entries carry links; a link with user:password@ must not be stored.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    return _URL.sub(lambda m: redact_url(m.group(0)), text).encode("utf-8")


def collect(ctx: LiveContext) -> dict[str, bytes]:
    settings = ctx.profile.services.portal if ctx.profile.services else None
    assert settings is not None
    return {"services.json": ctx.endpoint("portal", settings.access).body(settings.path)}


SOURCE = ServiceSource("portal", ("services.json",), collect, sanitize)


def registered(state: ClusterState, settings: Portal) -> list[str]:
    document = load_json("portal", "services.json", state.document("portal", "services.json"))
    entries: Any = document
    if isinstance(document, dict):
        key = settings.list_key or "services"
        entries = document.get(key)
        if entries is None:
            raise MalformedObject(f"portal/services.json: the object has no {key!r} list")
    elif settings.list_key is not None:
        raise MalformedObject(f"portal/services.json: expected an object with a {settings.list_key!r} list")
    if not isinstance(entries, list):
        raise MalformedObject("portal/services.json: the services are not a list")
    names = []
    for index, entry in enumerate(entries):
        name = entry.get(settings.name_field) if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise MalformedObject(f"portal/services.json: entry {index} has no {settings.name_field!r} string")
        names.append(name)
    return names


def services_registered(state: ClusterState, settings: Portal, _profile: Profile) -> Finding:
    names = registered(state, settings)
    missing = [name for name in settings.expected if name not in names]
    return Finding(
        expected=f"the portal lists {len(settings.expected)} services: {', '.join(settings.expected)}",
        observed=f"{len(names)} registered: {', '.join(names) or 'none'}",
        inspected=len(names),
        culprits=[Culprit(name, "not registered in the portal") for name in missing],
        evidence=("portal/services.json",),
    )


# Weakest first: a verdict resting on one assumed target rests on an assumption.
_BASIS_ORDER = ("assumed", "observed", "report")


@dataclass(frozen=True)
class PortalTargets(Derived):
    """The targets check's expectation: the portal's settings, with the provenance of the targets themselves,
    which can differ from the names' (a report may list the services and name no workload behind them)."""

    portal: Portal

    @property
    def traced(self) -> Traced:
        marked = [t for t in self.portal.targets if t.basis is not None]
        if len(marked) < len(self.portal.targets) or not marked:
            return self.portal
        return min(marked, key=lambda t: _BASIS_ORDER.index(t.basis or "report"))

    @property
    def severity(self) -> Severity | None:
        return self.portal.severity


def targets_exist(state: ClusterState, expected: PortalTargets, _profile: Profile) -> Finding:
    settings = expected.portal
    names = set(registered(state, settings))
    culprits, checked = [], 0
    for target in settings.targets:
        if target.service not in names:
            continue
        checked += 1
        if state.get(WORKLOADS[target.kind], target.namespace, target.name) is None:
            where = f"{target.kind} {target.namespace}/{target.name}"
            culprits.append(Culprit(target.service, f"registered, but {where} does not exist"))
    observed = f"{checked} registered services checked against their workloads, {len(culprits)} point at nothing"
    return Finding(
        expected="every registered service points at a workload that exists",
        observed=observed,
        inspected=checked,
        culprits=culprits,
        evidence=("portal/services.json", *sorted({WORKLOADS[t.kind].name for t in settings.targets})),
    )


def target_reads(expected: PortalTargets) -> tuple[Resource | ServiceSource, ...]:
    settings = expected.portal
    return (SOURCE, *sorted({WORKLOADS[t.kind] for t in settings.targets}, key=lambda r: r.name))
