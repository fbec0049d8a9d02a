"""What a live run keeps in memory of each object: the fields the checks read, nothing else.

A 10,000-pod cluster is some 70 MB of JSON and about ten times that as Python objects; the checks read a
small part of it (names, labels, phases, conditions, container states and last states, requests). Each
page is cut down to that part as it is parsed, so memory follows what the checks need, not what the cluster
holds. The run's evidence holds these projections by default, or the whole objects (`collection.evidence: whole`);
re-evaluating whole-object evidence offline must reach the same verdicts, and the tests that compare a
live run with its evidence keep this list honest. A resource without a projection is kept whole.

A projection is a tree: `KEEP` keeps a value whole; a mapping keeps those keys of an object, recursing
into each; applied to a list, it applies to every element.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypedDict

import msgspec

# TypedDicts made at runtime from the projections: typed as Any, as static checkers cannot follow them.
_typed_dict: Any = TypedDict

KEEP = True
Projection = dict[str, Any]

METADATA: Projection = {
    "name": KEEP,
    "namespace": KEEP,
    "uid": KEEP,
    "labels": KEEP,
    "generation": KEEP,
    "creationTimestamp": KEEP,
    "deletionTimestamp": KEEP,
}
_CONTAINER: Projection = {"name": KEEP, "restartPolicy": KEEP, "resources": KEEP}
# `lastState` is how a crash-looping container last ended (OOMKilled, exit code 137): what on-call reads first.
_CONTAINER_STATUS: Projection = {
    "name": KEEP,
    "ready": KEEP,
    "started": KEEP,
    "restartCount": KEEP,
    "state": KEEP,
    "lastState": KEEP,
}
# The pod template's labels (which policies select it) and its containers' resources.
_TEMPLATE: Projection = {"metadata": {"labels": KEEP}, "spec": {"containers": _CONTAINER, "initContainers": _CONTAINER}}
_WORKLOAD: Projection = {
    "metadata": METADATA,
    "spec": {"replicas": KEEP, "selector": KEEP, "template": _TEMPLATE},
    "status": KEEP,
}

PROJECTIONS: dict[str, Projection] = {
    # kubectl's READY/STATUS/RESTARTS (podstatus), grace periods, requests, workload selection, hold.
    "pods": {
        "metadata": METADATA,
        "spec": {
            "nodeName": KEEP,
            "overhead": KEEP,
            "containers": _CONTAINER,
            "initContainers": _CONTAINER,
        },
        "status": {
            "phase": KEEP,
            "reason": KEEP,
            "message": KEEP,
            "conditions": KEEP,
            "initContainerStatuses": _CONTAINER_STATUS,
            "containerStatuses": _CONTAINER_STATUS,
        },
    },
    # Readiness, pressure, capacity and allocatable; not the image list, which is large on real nodes.
    "nodes": {
        "metadata": METADATA,
        "spec": {"unschedulable": KEEP, "taints": KEEP},
        "status": {"capacity": KEEP, "allocatable": KEEP, "conditions": KEEP, "nodeInfo": KEEP},
    },
    "namespaces": {"metadata": METADATA, "status": KEEP},
    "persistentvolumeclaims": {"metadata": METADATA, "status": KEEP},
    "deployments.apps": _WORKLOAD,
    "statefulsets.apps": _WORKLOAD,
    "daemonsets.apps": _WORKLOAD,
    "replicasets.apps": _WORKLOAD,
    "jobs.batch": {"metadata": METADATA, "status": KEEP},
    # Admission is the address the controller writes into status; the rules are not judged.
    "ingresses.networking.k8s.io": {"metadata": METADATA, "spec": {"ingressClassName": KEEP}, "status": KEEP},
    "networkpolicies.networking.k8s.io": {"metadata": METADATA, "spec": {"podSelector": KEEP, "policyTypes": KEEP}},
}


def _typed(name: str, projection: Projection) -> Any:
    """The projection as a TypedDict for msgspec: kept keys decode whole (Any), the others are skipped
    while parsing, without ever becoming Python objects. A nested projection accepts an object, a list of
    objects (containers, each projected) or null."""
    fields: dict[str, Any] = {}
    for key, inner in projection.items():
        if inner is KEEP:
            fields[key] = Any
        else:
            nested = _typed(f"{name}_{key}", inner)
            fields[key] = nested | list.__class_getitem__(nested) | None
    return _typed_dict(name, fields, total=False)


@cache
def list_decoder(resource: str) -> msgspec.json.Decoder[Any] | None:
    """A decoder of a list page that keeps only the projection of each item (None: no projection).

    It parses the page once, straight into the projected objects: the rest of each object is skipped by
    the parser, so neither the time nor the memory of building it is spent.
    """
    projection = PROJECTIONS.get(resource)
    if projection is None:
        return None
    item = _typed(f"Projected_{resource.replace('.', '_')}", projection)
    page = _typed_dict(
        f"ProjectedList_{resource.replace('.', '_')}",
        {"apiVersion": Any, "kind": Any, "metadata": Any, "items": list.__class_getitem__(item) | None},
        total=False,
    )
    return msgspec.json.Decoder(page)
