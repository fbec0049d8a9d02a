"""Container resources: the requests and limits a workload's container must declare, as deployed and as running."""

from __future__ import annotations

from typing import Any

from conformance.check import Culprit, Finding, ObjectRef
from conformance.cluster.resources import PODS, WORKLOADS
from conformance.cluster.state import ClusterState, name_of
from conformance.errors import CouldNotEvaluate, MalformedObject
from conformance.kubernetes.workloads import workload_pods
from conformance.profile.model import ContainerResources, Profile


def _container(spec: Any, name: str, owner: str) -> dict[str, Any] | None:
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list):
        raise MalformedObject(f"{owner}: spec.containers is missing")
    return next((c for c in containers if isinstance(c, dict) and c.get("name") == name), None)


def _missing(container: dict[str, Any], expected: ContainerResources) -> list[str]:
    """What the container does not declare: `limits.memory`, ... (an empty mapping is left out by the API server)."""
    resources = container.get("resources") or {}
    if not isinstance(resources, dict):
        raise MalformedObject(f"{expected}: resources is not a mapping")
    found = []
    for section, wanted in (("requests", expected.requests), ("limits", expected.limits)):
        declared = resources.get(section) or {}
        found += [f"{section}.{key}" for key in wanted if key not in declared]
    return found


def _declared(container: dict[str, Any]) -> str:
    resources = container.get("resources") or {}
    parts = [
        f"{section} {', '.join(f'{k}={v}' for k, v in sorted((resources.get(section) or {}).items()))}"
        for section in ("requests", "limits")
        if resources.get(section)
    ]
    return "; ".join(parts) or "no resources"


def container_resources(state: ClusterState, expected: ContainerResources, _profile: Profile) -> Finding:
    resource = WORKLOADS[expected.kind]
    wanted = ", ".join([f"requests.{k}" for k in expected.requests] + [f"limits.{k}" for k in expected.limits])
    ref = ObjectRef(expected.kind, expected.name, expected.namespace, expected.container)
    obj = state.get(resource, expected.namespace, expected.name)
    if obj is None:
        state.objects(PODS)  # an unreadable pods list is an error, not a finding
        return Finding(
            expected=f"{expected} declares {wanted}",
            observed=f"{expected.kind} {expected.namespace}/{expected.name} not found",
            inspected=len(state.in_namespace(resource, expected.namespace)),
            culprits=[Culprit(str(expected), "workload not found", ref=ref)],
            evidence=(resource.name,),
        )
    template = ((obj.get("spec") or {}).get("template") or {}).get("spec")
    declared = _container(template, expected.container, f"{expected.kind} {expected.namespace}/{expected.name}")
    culprits = []
    if declared is None:
        culprits.append(Culprit(str(expected), "no such container in the pod template", ref=ref))
    else:
        lacking = _missing(declared, expected)
        if lacking:
            culprits.append(Culprit(str(expected), f"pod template lacks {', '.join(lacking)}", ref=ref))
    pods = workload_pods(state, obj, expected)
    if not pods:
        # The template alone says what new pods get; what runs is only known from pods.
        raise CouldNotEvaluate(f"{expected.kind} {expected.namespace}/{expected.name}: no pods to inspect")
    for pod in pods:
        running = _container(pod.get("spec"), expected.container, f"pod {expected.namespace}/{name_of(pod)}")
        pod_ref = ObjectRef("Pod", name_of(pod), expected.namespace, expected.container)
        if running is None:
            culprits.append(
                Culprit(f"{expected.namespace}/{name_of(pod)}", f"has no container {expected.container}", ref=pod_ref)
            )
            continue
        lacking = _missing(running, expected)
        if lacking:
            culprits.append(
                Culprit(
                    f"{expected.namespace}/{name_of(pod)}",
                    f"container {expected.container} lacks {', '.join(lacking)} (started before the change?)",
                    ref=pod_ref,
                )
            )
    return Finding(
        expected=f"{expected} declares {wanted}",
        observed=f"{expected.container}: {_declared(declared) if declared is not None else 'not in the template'}; "
        f"{len(pods)} pods inspected",
        inspected=1 + len(pods),
        culprits=culprits,
        evidence=(resource.name, PODS.name),
    )
