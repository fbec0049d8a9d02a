"""Storage health from the kubelet's volume statistics: every PVC Prometheus sees is filled under a threshold.

Reads `prometheus/volume-usage.json` (see `prometheus.VOLUME_EXPRESSION`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.check import Culprit, Derived, Finding, ObjectRef
from conformance.cluster.state import ClusterState
from conformance.errors import MalformedObject
from conformance.monitoring import prometheus
from conformance.profile.model import Profile
from conformance.profile.services import VolumeUsage

WHERE = f"{prometheus.NAME}/{prometheus.VOLUMES}"


@dataclass(frozen=True)
class Fill(Derived):
    section: VolumeUsage

    @property
    def traced(self) -> VolumeUsage:
        return self.section

    def __str__(self) -> str:
        return f"every PVC is less than {self.section.max_used_ratio:.0%} full"


def expand(profile: Profile) -> list[tuple[str, Any]] | None:
    services = profile.services
    section = services.prometheus.volumes if services is not None and services.prometheus is not None else None
    return None if section is None else [("pvcs", Fill(section))]


def fill(state: ClusterState, expected: Fill, _profile: Profile) -> Finding:
    _expression, series = prometheus.vector(state, prometheus.VOLUMES, "kubelet_volume_stats_used_bytes")
    maximum = expected.section.max_used_ratio
    culprits = []
    fullest: tuple[float, str] = (-1.0, "")
    for index, sample in enumerate(series):
        namespace, claim = sample.labels.get("namespace"), sample.labels.get("persistentvolumeclaim")
        if not namespace or not claim:
            raise MalformedObject(f"{WHERE}: result[{index}] has no namespace and persistentvolumeclaim labels")
        name = f"{namespace}/{claim}"
        fullest = max(fullest, (sample.value, name))
        if sample.value >= maximum:
            ref = ObjectRef("PersistentVolumeClaim", claim, namespace)
            culprits.append(Culprit(name, f"{sample.value:.1%} full", {"used_ratio": f"{sample.value:.4f}"}, ref))
    return Finding(
        expected=f"every PVC under {maximum:.0%} full",
        observed=f"{len(series)} PVCs; fullest {fullest[1]} at {fullest[0]:.1%}",
        inspected=len(series),
        culprits=culprits,
        evidence=(WHERE,),
    )
