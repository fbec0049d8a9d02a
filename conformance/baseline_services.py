"""The services part of a baseline: what the services a profile configures answer on a known-good day.

The profile given says how to reach each service (access, credentials, bootstrap) and which topics count (prefixes);
those are settings, copied as they are. What the services answer becomes the expectation, `basis: observed`:
Kafka's brokers and topics, the portal's registered names, Grafana's dashboards, the Prometheus jobs with a target
up and the share of targets up, the services Jaeger has traces from. What cannot be observed (Istio's proxy
expectations, Kong's storage pin, portal targets, error and fill thresholds) keeps the given profile's own
provenance, so a copied assumption stays marked as one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from conformance.cluster.resources import WORKLOADS
from conformance.cluster.state import ClusterState
from conformance.errors import ConformanceError
from conformance.profile.model import Profile

PROVENANCE_KEYS = ("source", "note", "basis", "observed_at")


def _plain(value: Any) -> Any:
    """A profile value as YAML writes it back: durations as seconds, an entry's provenance after its values."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return f"{int(seconds)}s" if seconds == int(seconds) else f"{int(seconds * 1000)}ms"
    if isinstance(value, dict):
        values = {k: _plain(v) for k, v in value.items() if k not in PROVENANCE_KEYS}
        return values | {k: value[k] for k in PROVENANCE_KEYS if value.get(k) is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def settings_of(section: Any) -> dict[str, Any]:
    """A service section as the profile set it (defaults left out), without its own provenance."""
    dumped: dict[str, Any] = _plain(section.model_dump(mode="python", exclude_unset=True, by_alias=True))
    return {k: v for k, v in dumped.items() if k not in PROVENANCE_KEYS}


def _provenance(section: Any) -> dict[str, Any]:
    dumped = section.model_dump(mode="json", exclude_unset=True, include=set(PROVENANCE_KEYS))
    return {k: v for k, v in dumped.items() if v is not None}


def _kafka(state: ClusterState, section: Any, entry: dict[str, Any]) -> list[str]:
    from conformance.kafka.topics import METADATA_FILE, TopicSet, listed_topics, metadata_of

    listed, file = listed_topics(state)
    if file == METADATA_FILE:
        entry["brokers"] = len(metadata_of(state).brokers)
    prefixes = tuple(section.topics.prefixes) if section.topics else ()
    # Counted as the topics check counts them (internal topics aside), and only those served without an error.
    counted = TopicSet(min=0, prefixes=prefixes)
    names = sorted(n for n, error in listed.items() if error is None and counted.counts(n))
    topics: dict[str, Any] = {"min": len(names)}
    if prefixes:
        topics["prefixes"] = list(prefixes)
    topics["names"] = names
    entry["topics"] = topics
    return []


def _portal(state: ClusterState, section: Any, entry: dict[str, Any]) -> list[str]:
    from conformance.portal.registry import registered

    names = registered(state, section)
    entry["expected"] = names
    # A target says which workload serves a name: the profile's claim, kept with its own provenance, for the
    # names registered whose workload exists.
    targets, gone = [], []
    for target in entry.get("targets", []):
        if target["service"] not in names:
            continue
        if state.get(WORKLOADS[target["kind"]], target["namespace"], target["name"]) is None:
            gone.append(
                f"services.portal.targets: {target['service']}: {target['kind']} "
                f"{target['namespace']}/{target['name']} does not exist"
            )
        else:
            targets.append(target)
    if targets:
        entry["targets"] = targets
    else:
        entry.pop("targets", None)
    return gone


def _prometheus(state: ClusterState, _section: Any, entry: dict[str, Any]) -> list[str]:
    from conformance.monitoring.prometheus import active_targets

    targets = active_targets(state)
    up = [t for t in targets if t.health == "up"]
    entry["jobs"] = sorted({t.job for t in up})
    # The share of targets up, rounded down to a hundredth: a baseline never asks more than the good day had.
    entry["min_up_ratio"] = math.floor(100 * len(up) / len(targets)) / 100
    return []


def _grafana(state: ClusterState, _section: Any, entry: dict[str, Any]) -> list[str]:
    from conformance.monitoring.grafana import dashboard_titles

    entry["dashboards"] = sorted(set(dashboard_titles(state)))
    return []


def _jaeger(state: ClusterState, _section: Any, entry: dict[str, Any]) -> list[str]:
    from conformance.monitoring.jaeger import traced_services

    names, _api = traced_services(state)
    entry["services"] = sorted(names)
    entry["min_services"] = len(names)
    return []


_OBSERVERS: dict[str, Callable[[ClusterState, Any, dict[str, Any]], list[str]]] = {
    "kafka": _kafka,
    "portal": _portal,
    "prometheus": _prometheus,
    "grafana": _grafana,
    "jaeger": _jaeger,
}


def observe(state: ClusterState, profile: Profile, when: str) -> tuple[dict[str, Any], list[str]]:
    """The services section of a baseline, and the sections left out because the service could not be read."""
    services = profile.services
    if services is None:
        return {}, []
    made: dict[str, Any] = {}
    left_out: list[str] = []
    for name in type(services).model_fields:
        section = getattr(services, name)
        if section is None:
            continue
        entry = settings_of(section)
        observer = _OBSERVERS.get(name)
        if observer is None:
            made[name] = {**entry, **_provenance(section)}
            continue
        try:
            left_out += observer(state, section, entry)
        except ConformanceError as exc:
            left_out.append(f"services.{name}: could not be read: {exc}")
            continue
        made[name] = {**entry, "basis": "observed", "observed_at": when}
    return made, left_out
