"""A cluster's state for the run: collected once, only for the resources its selected checks read; its evidence
written as it is collected."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from conformance.check import Selected
from conformance.cluster.evidence import write_evidence
from conformance.cluster.resources import Resource
from conformance.cluster.snapshot import SnapshotError, read_snapshot
from conformance.cluster.state import ClusterState
from conformance.errors import BadInput
from conformance.run import settle
from conformance.run.settings import RunSettings
from conformance.services.source import ServiceSource
from conformance.written import WrittenFiles


def needed(checks: Sequence[Selected]) -> tuple[list[Resource], list[ServiceSource]]:
    """What the selected checks of one cluster read: Kubernetes resources and service sources, each once."""
    resources: dict[str, Resource] = {}
    sources: dict[str, ServiceSource] = {}
    for selected in checks:
        for need in selected.spec.needs(selected.expectation):
            if isinstance(need, ServiceSource):
                sources.setdefault(need.name, need)
            else:
                resources.setdefault(need.name, need)
    return sorted(resources.values(), key=lambda r: r.name), sorted(sources.values(), key=lambda s: s.name)


def where(settings: RunSettings) -> str:
    return f"fleet cluster {settings.member}: " if settings.member else ""


def collect_state(
    settings: RunSettings,
    checks: Sequence[Selected],
    plan: settle.Plan,
    waited: settle.Waited,
    written: WrittenFiles,
    show: Callable[[str], None],
) -> ClusterState:
    """One cluster's state: read from its snapshot, or collected live (settling and holding as planned)."""
    resources, sources = needed(checks)
    if settings.snapshot is not None:
        try:
            state = read_snapshot(settings.snapshot, resources, sources)
        except SnapshotError as exc:
            raise BadInput(f"{where(settings)}{exc}") from None
    else:
        prefix = f"{settings.member}: " if settings.member else ""
        state = settle.collect(
            plan, checks, settings, resources, sources, show, waited, lambda line: show(f"{prefix}collected {line}")
        )
    state.member = settings.member
    write_evidence(state, settings.evidence_dir, written)
    return state
