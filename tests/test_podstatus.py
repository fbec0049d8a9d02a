"""kubectl's READY/STATUS/RESTARTS for pods, one case per branch of printPod."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.cluster.podstatus import pod_status


def running(name: str = "app", ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": "t"}}}


def waiting(reason: str, name: str = "app", restarts: int = 0) -> dict[str, Any]:
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}}


def terminated(
    name: str = "app", code: int = 0, reason: str | None = None, signal: int | None = None, restarts: int = 0
) -> dict[str, Any]:
    state: dict[str, Any] = {"exitCode": code}
    if reason:
        state["reason"] = reason
    if signal:
        state["signal"] = signal
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"terminated": state}}


def pod(
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    sidecars: tuple[str, ...] = (),
    phase: str = "Running",
    reason: str | None = None,
    conditions: dict[str, str] | None = None,
    deleted: bool = False,
    n_containers: int | None = None,
    n_init: int | None = None,
) -> dict[str, Any]:
    containers = containers or []
    init = init or []
    spec_containers = [{"name": c["name"]} for c in containers] or [{"name": "app"}]
    if n_containers is not None:
        spec_containers = [{"name": f"c{i}"} for i in range(n_containers)]
    init_names = [c["name"] for c in init]
    if n_init is not None:
        init_names = [f"i{i}" for i in range(n_init)]
    spec_init = [{"name": n, **({"restartPolicy": "Always"} if n in sidecars else {})} for n in init_names]
    status: dict[str, Any] = {"phase": phase, "containerStatuses": containers, "initContainerStatuses": init}
    if reason:
        status["reason"] = reason
    status["conditions"] = [
        {"type": kind, "status": value, **({"reason": "SchedulingGated"} if value == "Gated" else {})}
        for kind, value in (conditions or {}).items()
    ]
    metadata: dict[str, Any] = {"name": "p", "namespace": "ns"}
    if deleted:
        metadata["deletionTimestamp"] = "2025-10-22T03:00:00Z"
    return {
        "metadata": metadata,
        "spec": {"containers": spec_containers, "initContainers": spec_init},
        "status": status,
    }


CASES = [
    ("running and ready", pod([running()], conditions={"Ready": "True"}), "1/1", "Running", 0),
    ("pending, nothing started", pod([], phase="Pending"), "0/1", "Pending", 0),
    ("evicted: status.reason wins", pod([], phase="Failed", reason="Evicted"), "0/1", "Evicted", 0),
    (
        "scheduling gated",
        pod([], phase="Pending", conditions={"PodScheduled": "Gated"}),
        "0/1",
        "SchedulingGated",
        0,
    ),
    ("init done, main running", pod([running()], init=[terminated("init")]), "1/1", "Running", 0),
    (
        "init failed with a reason",
        pod([waiting("PodInitializing")], init=[terminated("init", 1, "Error", restarts=3)], phase="Pending"),
        "0/1",
        "Init:Error",
        3,
    ),
    (
        "init killed by a signal",
        pod([], init=[terminated("init", 137, signal=9)], phase="Pending"),
        "0/1",
        "Init:Signal:9",
        0,
    ),
    (
        "init exited non-zero, no reason",
        pod([], init=[terminated("init", 2)], phase="Pending"),
        "0/1",
        "Init:ExitCode:2",
        0,
    ),
    (
        "init crash looping",
        pod([], init=[waiting("CrashLoopBackOff", "init", 5)], phase="Pending"),
        "0/1",
        "Init:CrashLoopBackOff",
        5,
    ),
    (
        "init waiting PodInitializing shows progress",
        pod([], init=[waiting("PodInitializing", "init")], n_init=2, phase="Pending"),
        "0/1",
        "Init:0/2",
        0,
    ),
    (
        "second init running",
        pod([], init=[terminated("i0"), running("i1", ready=False)], n_init=2, phase="Pending"),
        "0/1",
        "Init:1/2",
        0,
    ),
    (
        "native sidecar started and ready",
        pod(
            [running()],
            init=[{**running("mesh"), "started": True}],
            sidecars=("mesh",),
            conditions={"Ready": "True"},
        ),
        "2/2",
        "Running",
        0,
    ),
    (
        "native sidecar started, not ready",
        pod([running()], init=[{**running("mesh", ready=False), "started": True}], sidecars=("mesh",)),
        "1/2",
        "Running",
        0,
    ),
    (
        "native sidecar not started blocks init",
        pod([], init=[{**running("mesh", ready=False), "started": False}], sidecars=("mesh",), phase="Pending"),
        "0/2",
        "Init:0/1",
        0,
    ),
    (
        "sidecar restarts count with containers",
        pod([running(restarts=2)], init=[{**running("mesh", restarts=4), "started": True}], sidecars=("mesh",)),
        "2/2",
        "Running",
        6,
    ),
    ("crash loop", pod([waiting("CrashLoopBackOff", restarts=12)]), "0/1", "CrashLoopBackOff", 12),
    ("image pull", pod([waiting("ImagePullBackOff")], phase="Pending"), "0/1", "ImagePullBackOff", 0),
    (
        "completed job pod",
        pod([terminated(code=0, reason="Completed")], phase="Succeeded"),
        "0/1",
        "Completed",
        0,
    ),
    ("terminated, no reason", pod([terminated(code=137)], phase="Failed"), "0/1", "ExitCode:137", 0),
    ("terminated by signal", pod([terminated(code=0, signal=15)], phase="Failed"), "0/1", "Signal:15", 0),
    ("error", pod([terminated(code=1, reason="Error")], phase="Failed"), "0/1", "Error", 0),
    ("oom killed", pod([terminated(code=137, reason="OOMKilled", restarts=1)]), "0/1", "OOMKilled", 1),
    (
        "completed sidecar-less container beside a running one, Ready",
        pod([terminated("a", 0, "Completed"), running("b")], conditions={"Ready": "True"}),
        "1/2",
        "Running",
        0,
    ),
    (
        "completed beside an error: the error shows",
        pod([terminated("a", 0, "Completed"), terminated("b", 1, "Error")], phase="Failed"),
        "0/2",
        "Error",
        0,
    ),
    (
        "completed beside running, not Ready",
        pod([terminated("a", 0, "Completed"), running("b")], conditions={"Ready": "False"}),
        "1/2",
        "NotReady",
        0,
    ),
    (
        "lowest index wins the reason",
        pod([waiting("CrashLoopBackOff", "a"), waiting("ErrImagePull", "b")]),
        "0/2",
        "CrashLoopBackOff",
        0,
    ),
    ("node lost while deleting", pod([running()], reason="NodeLost", deleted=True), "1/1", "Unknown", 0),
    ("terminating", pod([running()], deleted=True), "1/1", "Terminating", 0),
    (
        "succeeded pod being deleted keeps its status",
        pod([terminated(reason="Completed")], phase="Succeeded", deleted=True),
        "0/1",
        "Completed",
        0,
    ),
    (
        "initialized condition lets containers speak",
        pod(
            [waiting("CrashLoopBackOff", restarts=1)],
            init=[waiting("CrashLoopBackOff", "init", 2)],
            conditions={"Initialized": "True"},
        ),
        "0/1",
        "CrashLoopBackOff",
        1,
    ),
    (
        "ready flag without running state is not ready",
        pod([{**waiting(""), "ready": True}]),
        "0/1",
        "Running",
        0,
    ),
    (
        "container creating",
        pod([waiting("ContainerCreating")], phase="Pending"),
        "0/1",
        "ContainerCreating",
        0,
    ),
]


@pytest.mark.parametrize(("case", "obj", "ready", "status", "restarts"), CASES, ids=[c[0] for c in CASES])
def test_pod_status(case: str, obj: dict[str, Any], ready: str, status: str, restarts: int) -> None:
    result = pod_status(obj)
    assert (result.ready_column, result.status, result.restarts) == (ready, status, restarts), case


def test_pod_without_status_is_blank_not_a_crash() -> None:
    result = pod_status({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}})
    assert (result.ready_column, result.status) == ("0/1", "")
