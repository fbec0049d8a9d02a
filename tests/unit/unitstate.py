"""Builders for the evaluator unit tests: a cluster state from inline objects, small profiles, kubectl-like pods.

Only the evaluator modules' own types are used (ClusterState, Profile, Finding), so these tests run without the
pytest plugin and without snapshot files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from conformance.check import Finding
from conformance.cluster.state import ClusterState, Provenance
from conformance.profile.model import Profile

Obj = dict[str, Any]
T = TypeVar("T")

# The collection time every state claims; grace periods and ages are measured against it.
NOW = datetime(2025, 10, 22, 3, 30, tzinfo=UTC)


def ago(**delta: float) -> str:
    """An RFC 3339 time this long before NOW, as Kubernetes writes it."""
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def state(
    lists: dict[str, list[Obj]] | None = None,
    documents: dict[str, Any] | None = None,
    mode: str = "snapshot",
) -> ClusterState:
    """A state holding `lists` (resource name -> objects) and `documents` (`service/file` -> body).

    A document given as bytes is stored as is (for malformed bodies); anything else is stored as its JSON.
    """
    bodies = {
        key: value if isinstance(value, bytes) else json.dumps(value).encode()
        for key, value in (documents or {}).items()
    }
    provenance = Provenance("live" if mode == "live" else "snapshot", "test", collected_at=NOW)
    return ClusterState(provenance, lists=dict(lists or {}), documents=bodies)


def profile(**sections: Any) -> Profile:
    """A valid profile with only the given sections (`pods={...}`, `services={...}`, ...)."""
    return Profile.model_validate(
        {"apiVersion": "conformance/v1alpha1", "kind": "Profile", "metadata": {"name": "t"}, **sections}
    )


PROFILE = profile()


def present(value: T | None) -> T:
    """An optional profile section or expansion the test set up: there by construction."""
    assert value is not None
    return value


def meta(name: str, namespace: str = "", **extra: Any) -> Obj:
    found: Obj = {"name": name, **extra}
    if namespace:
        found["namespace"] = namespace
    return found


def running(name: str, ready: bool = True, restarts: int = 0) -> Obj:
    """A container status as the kubelet reports a started container."""
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "started": True,
        "state": {"running": {"startedAt": ago(hours=1)}},
    }


def waiting(name: str, reason: str, restarts: int = 0) -> Obj:
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}}


def terminated(name: str, exit_code: int = 0, reason: str | None = None, restarts: int = 0, **extra: Any) -> Obj:
    ended: Obj = {"exitCode": exit_code, **extra}
    if reason is not None:
        ended["reason"] = reason
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"terminated": ended}}


def pod(
    name: str,
    namespace: str = "apps",
    *,
    phase: str = "Running",
    statuses: Sequence[Obj] | None = None,
    containers: int | None = None,
    labels: dict[str, str] | None = None,
    node: str | None = None,
    created: str | None = None,
    deleting: str | None = None,
    conditions: Sequence[Obj] | None = None,
    init: Sequence[Obj] = (),
    init_statuses: Sequence[Obj] = (),
    reason: str | None = None,
    uid: str | None = None,
) -> Obj:
    """A pod as the API server returns it; by default Running with one ready container, created an hour ago."""
    if statuses is None:
        statuses = [running(f"c{i}") for i in range(containers or 1)]
    count = containers if containers is not None else len(statuses)
    metadata = meta(name, namespace, creationTimestamp=created or ago(hours=1), labels=labels or {"app": "web"})
    if deleting is not None:
        metadata["deletionTimestamp"] = deleting
    if uid is not None:
        metadata["uid"] = uid
    spec: Obj = {"containers": [{"name": f"c{i}"} for i in range(count)]}
    if init:
        spec["initContainers"] = list(init)
    if node is not None:
        spec["nodeName"] = node
    status: Obj = {"phase": phase, "containerStatuses": list(statuses)}
    if init_statuses:
        status["initContainerStatuses"] = list(init_statuses)
    if conditions is not None:
        status["conditions"] = list(conditions)
    if reason is not None:
        status["reason"] = reason
    return {"metadata": metadata, "spec": spec, "status": status}


def culprits(finding: Finding) -> list[tuple[str, str]]:
    """The culprits as (name, observed) pairs, in the evaluator's order."""
    return [(c.name, c.observed) for c in finding.culprits]
