"""Container resources declared in the pod template and in running pods (conformance.kubernetes.container_resources)."""

from __future__ import annotations

import pytest

from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.kubernetes import container_resources
from conformance.profile.model import ContainerResources

from .unitstate import PROFILE, Obj, culprits, meta, pod, state

WANTED = ContainerResources(
    namespace="apps", kind="Deployment", name="api", container="api", requests=["cpu", "memory"], limits=["memory"]
)
FULL: Obj = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}


def containers(resources: Obj | None, name: str = "api") -> list[Obj]:
    main: Obj = {"name": name}
    if resources is not None:
        main["resources"] = resources
    return [main, {"name": "istio-proxy", "resources": {}}]


def deployment(resources: Obj | None, name: str = "api") -> Obj:
    template = {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": containers(resources, name)}}
    return {
        "metadata": meta("api", "apps"),
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": template},
    }


def running(name: str, resources: Obj | None, container: str = "api") -> Obj:
    obj = pod(name, labels={"app": "api"}, containers=2)
    obj["spec"]["containers"] = containers(resources, container)
    return obj


def judged(workload: Obj | None, pods: list[Obj]) -> list[tuple[str, str]]:
    lists = {"deployments.apps": [workload] if workload else [], "pods": pods}
    return culprits(container_resources.container_resources(state(lists), WANTED, PROFILE))


@pytest.mark.parametrize(
    ("workload", "pods", "want"),
    [
        pytest.param(deployment(FULL), [running("api-1", FULL), running("api-2", FULL)], [], id="declared"),
        pytest.param(
            deployment({"requests": {"cpu": "500m", "memory": "1Gi"}}),
            [running("api-1", FULL)],
            [("container api of Deployment apps/api", "pod template lacks limits.memory")],
            id="template-without-limits",
        ),
        pytest.param(
            deployment(FULL),
            [running("api-1", FULL), running("api-2", None)],
            [
                (
                    "apps/api-2",
                    "container api lacks requests.cpu, requests.memory, limits.memory (started before the change?)",
                )
            ],
            id="pod-started-before-the-change",
        ),
        pytest.param(
            deployment(FULL, name="server"),
            [running("api-1", FULL, container="server")],
            [
                ("container api of Deployment apps/api", "no such container in the pod template"),
                ("apps/api-1", "has no container api"),
            ],
            id="container-renamed",
        ),
        pytest.param(None, [], [("container api of Deployment apps/api", "workload not found")], id="no-workload"),
    ],
)
def test_container_resources(workload: Obj | None, pods: list[Obj], want: list[tuple[str, str]]) -> None:
    assert judged(workload, pods) == want


def test_observed_says_what_the_template_declares() -> None:
    lists = {"deployments.apps": [deployment(FULL)], "pods": [running("api-1", FULL)]}
    finding = container_resources.container_resources(state(lists), WANTED, PROFILE)
    assert finding.observed == "api: requests cpu=500m, memory=1Gi; limits cpu=1, memory=2Gi; 1 pods inspected"
    assert (
        finding.expected == "container api of Deployment apps/api declares requests.cpu, requests.memory, limits.memory"
    )


def test_no_pods_cannot_be_judged() -> None:
    with pytest.raises(CouldNotEvaluate) as raised:
        judged(deployment(FULL), [pod("other", labels={"app": "web"})])
    assert str(raised.value) == "Deployment apps/api: no pods to inspect"


def test_a_template_without_containers_cannot_be_judged() -> None:
    broken = {"metadata": meta("api", "apps"), "spec": {"selector": {"matchLabels": {"app": "api"}}}}
    with pytest.raises(MalformedObject) as raised:
        judged(broken, [running("api-1", FULL)])
    assert str(raised.value) == "Deployment apps/api: spec.containers is missing"


def test_container_resources_need_the_pods() -> None:
    with pytest.raises(SourceError):
        container_resources.container_resources(state({"deployments.apps": [deployment(FULL)]}), WANTED, PROFILE)


def test_a_profile_entry_asks_for_something() -> None:
    with pytest.raises(ValueError, match="name at least one of requests or limits"):
        ContainerResources(namespace="apps", kind="Deployment", name="api", container="api")
