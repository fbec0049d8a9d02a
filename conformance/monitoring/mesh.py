"""Service mesh traffic from Istio's standard metrics: requests flow, and few of them end in a 5xx.

Reads `prometheus/mesh-requests.json`: istio_requests_total's 5-minute rate by destination namespace,
workload and response code (see `prometheus.MESH_EXPRESSION`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.check import Culprit, Derived, Finding
from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate
from conformance.monitoring import prometheus
from conformance.monitoring.prometheus import Series
from conformance.profile.model import Profile
from conformance.profile.services import MeshTraffic

NAMESPACE = "destination_workload_namespace"
WORKLOAD = "destination_workload"
EVIDENCE = (f"{prometheus.NAME}/{prometheus.MESH}",)


@dataclass(frozen=True)
class Destination(Derived):
    """A destination namespace, or one workload in it, whose traffic is judged."""

    namespace: str
    workload: str | None
    section: MeshTraffic

    @property
    def traced(self) -> MeshTraffic:
        return self.section

    @property
    def id(self) -> str:
        return self.namespace if self.workload is None else f"{self.namespace}/{self.workload}"

    @property
    def label(self) -> str:
        return f"{'namespace' if self.workload is None else 'workload'} {self.id}"

    def __str__(self) -> str:
        return f"mesh traffic to {self.label}"

    def culprit(self, observed: str) -> Culprit:
        details = {"namespace": self.namespace} | ({"workload": self.workload} if self.workload else {})
        return Culprit(self.id, observed, details)

    def matches(self, series: Series) -> bool:
        labels = series.labels
        return labels.get(NAMESPACE) == self.namespace and (
            self.workload is None or labels.get(WORKLOAD) == self.workload
        )


def expand(profile: Profile) -> list[tuple[str, Any]] | None:
    services = profile.services
    section = services.prometheus.mesh if services is not None and services.prometheus is not None else None
    if section is None:
        return None
    found = [(ns, Destination(ns, None, section)) for ns in section.namespaces]
    found += [(f"{w.namespace}/{w.name}", Destination(w.namespace, w.name, section)) for w in section.workloads]
    return found


def _rates(state: ClusterState, expected: Destination) -> tuple[float, float, int]:
    """Requests per second to the destination, of them 5xx, and how many series the query gave in all."""
    _expression, series = prometheus.vector(state, prometheus.MESH, "istio_requests_total")
    mine = [s for s in series if expected.matches(s)]
    total = sum(s.value for s in mine)
    errors = sum(s.value for s in mine if s.labels.get("response_code", "").startswith("5"))
    return total, errors, len(series)


def _rate(value: float) -> str:
    return f"{value:.3g} req/s"


def traffic(state: ClusterState, expected: Destination, _profile: Profile) -> Finding:
    total, _errors, inspected = _rates(state, expected)
    culprits = [] if total > 0 else [expected.culprit("no requests through the mesh in the last 5 minutes")]
    return Finding(
        expected=f"{expected.id}: request rate above zero",
        observed=f"{expected.id}: {_rate(total)}",
        inspected=inspected,
        culprits=culprits,
        evidence=EVIDENCE,
    )


def errors(state: ClusterState, expected: Destination, _profile: Profile) -> Finding:
    total, failed, inspected = _rates(state, expected)
    if total <= 0:
        # A share of nothing: no traffic is the traffic check's failure, not a pass here.
        raise CouldNotEvaluate(f"{EVIDENCE[0]}: {expected.id} had no requests in the last 5 minutes: no 5xx share")
    ratio = failed / total
    maximum = expected.section.max_error_ratio
    observed = f"{expected.id}: {ratio:.2%} 5xx ({_rate(failed)} of {_rate(total)})"
    culprits = [] if ratio < maximum else [expected.culprit(f"{ratio:.2%} of responses are 5xx")]
    return Finding(
        expected=f"{expected.id}: under {maximum:.2%} of responses 5xx",
        observed=observed,
        inspected=inspected,
        culprits=culprits,
        evidence=EVIDENCE,
    )
