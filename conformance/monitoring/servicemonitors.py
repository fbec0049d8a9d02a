"""ServiceMonitors are active: each one has at least one target up in Prometheus.

The Prometheus Operator names the scrape pool of a ServiceMonitor's endpoint
`serviceMonitor/<namespace>/<name>/<endpoint index>`; its targets are matched on that pool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from conformance.check import Culprit, Derived, Finding, ObjectRef
from conformance.cluster.resources import resource
from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate, MalformedObject
from conformance.monitoring import prometheus
from conformance.monitoring.prometheus import Target
from conformance.profile.model import Profile
from conformance.profile.services import ServiceMonitors

SERVICE_MONITORS = resource("servicemonitors.monitoring.coreos.com")
POOL = re.compile(r"serviceMonitor/(?P<namespace>[^/]+)/(?P<name>[^/]+)/\d+")


@dataclass(frozen=True)
class Scraped(Derived):
    section: ServiceMonitors

    @property
    def traced(self) -> ServiceMonitors:
        return self.section

    def __str__(self) -> str:
        scope = f" in {', '.join(self.section.namespaces)}" if self.section.namespaces else ""
        return f"every ServiceMonitor{scope} has a target up in Prometheus"


def expand(profile: Profile) -> list[tuple[str, Any]] | None:
    services = profile.services
    section = services.prometheus.service_monitors if services and services.prometheus else None
    return None if section is None else [("service-monitors", Scraped(section))]


def _identity(obj: Any, index: int) -> tuple[str, str]:
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(namespace, str) or not isinstance(name, str):
        raise MalformedObject(f"servicemonitors: item {index} has no metadata.namespace and metadata.name")
    return namespace, name


def scraped(state: ClusterState, expected: Scraped, _profile: Profile) -> Finding:
    wanted = set(expected.section.namespaces)
    monitors = [_identity(obj, i) for i, obj in enumerate(state.objects(SERVICE_MONITORS))]
    monitors = sorted(m for m in monitors if not wanted or m[0] in wanted)
    if not monitors:
        where = f" in {', '.join(sorted(wanted))}" if wanted else ""
        raise CouldNotEvaluate(f"no ServiceMonitor{where} in the cluster: nothing to judge")
    pools: dict[tuple[str, str], list[Target]] = {}
    for target in prometheus.active_targets(state):
        match = POOL.fullmatch(target.scrape_pool)
        if match:
            pools.setdefault((match["namespace"], match["name"]), []).append(target)
    culprits = []
    for namespace, name in monitors:
        mine = pools.get((namespace, name), [])
        up = sum(1 for t in mine if t.health == "up")
        if up:
            continue
        seen = f"0/{len(mine)} targets up" if mine else "no active target in Prometheus (not selected, or no endpoints)"
        details = {"scrapePool": f"serviceMonitor/{namespace}/{name}/"}
        culprits.append(Culprit(f"{namespace}/{name}", seen, details, ObjectRef("ServiceMonitor", name, namespace)))
    return Finding(
        expected="every ServiceMonitor has at least one target up",
        observed=f"{len(monitors) - len(culprits)}/{len(monitors)} ServiceMonitors have a target up",
        inspected=len(monitors),
        culprits=culprits,
        evidence=(SERVICE_MONITORS.snapshot_file, f"{prometheus.NAME}/{prometheus.TARGETS}"),
    )
