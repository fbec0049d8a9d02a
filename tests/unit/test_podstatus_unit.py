"""kubectl's READY, STATUS and RESTARTS columns (conformance.cluster.podstatus), as printPod computes them."""

from __future__ import annotations

import pytest

from conformance.cluster.podstatus import PodStatus, pod_status

from .unitstate import Obj, ago, pod, running, terminated, waiting

SIDECAR = {"name": "proxy", "restartPolicy": "Always"}
READY_TRUE = [{"type": "Ready", "status": "True"}]


def sidecar_status(started: bool, ready: bool, restarts: int = 0) -> Obj:
    return {"name": "proxy", "started": started, "ready": ready, "restartCount": restarts, "state": {"running": {}}}


@pytest.mark.parametrize(
    ("given", "columns"),
    [
        pytest.param(pod("p"), (1, 1, "Running", 0), id="running"),
        pytest.param(
            pod("p", containers=2, statuses=[running("a"), running("b", restarts=2)]), (2, 2, "Running", 2), id="two"
        ),
        pytest.param(pod("p", statuses=[running("a", ready=False)]), (0, 1, "Running", 0), id="running-not-ready"),
        pytest.param(
            pod("p", statuses=[waiting("a", "CrashLoopBackOff", restarts=4)]),
            (0, 1, "CrashLoopBackOff", 4),
            id="crashloop",
        ),
        pytest.param(pod("p", statuses=[waiting("a", "")]), (0, 1, "Running", 0), id="waiting-without-reason"),
        pytest.param(
            pod("p", phase="Succeeded", statuses=[terminated("a", 0, "Completed")]),
            (0, 1, "Completed", 0),
            id="completed",
        ),
        pytest.param(pod("p", statuses=[terminated("a", 3)]), (0, 1, "ExitCode:3", 0), id="exit-code"),
        pytest.param(
            pod("p", statuses=[{"name": "a", "state": {"terminated": {"startedAt": ago(hours=1)}}}]),
            (0, 1, "ExitCode:0", 0),
            id="exit-code-unreported",
        ),
        pytest.param(pod("p", statuses=[terminated("a", 0, signal=15)]), (0, 1, "Signal:15", 0), id="signal"),
        pytest.param(
            pod("p", phase="Failed", statuses=[], containers=1, reason="Evicted"), (0, 1, "Evicted", 0), id="evicted"
        ),
        pytest.param(pod("p", phase="Pending", statuses=[], containers=2), (0, 2, "Pending", 0), id="pending"),
        pytest.param({}, (0, 0, "", 0), id="empty-object"),
        pytest.param(
            pod(
                "p",
                phase="Pending",
                statuses=[],
                containers=1,
                conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
            ),
            (0, 1, "SchedulingGated", 0),
            id="scheduling-gated",
        ),
        pytest.param(
            pod(
                "p",
                phase="Pending",
                statuses=[],
                containers=1,
                conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
            ),
            (0, 1, "Pending", 0),
            id="unschedulable",
        ),
        pytest.param(
            pod("p", phase="Pending", init=[{"name": "i"}], init_statuses=[waiting("i", "PodInitializing", 1)]),
            (0, 1, "Init:0/1", 1),
            id="init-progress",
        ),
        pytest.param(
            pod(
                "p",
                phase="Pending",
                init=[{"name": "i"}, {"name": "j"}],
                init_statuses=[terminated("i", 0, "Completed"), waiting("j", "PodInitializing")],
            ),
            (0, 1, "Init:1/2", 0),
            id="second-init",
        ),
        pytest.param(
            pod("p", phase="Pending", init=[{"name": "i"}], init_statuses=[waiting("i", "ImagePullBackOff")]),
            (0, 1, "Init:ImagePullBackOff", 0),
            id="init-waiting",
        ),
        pytest.param(
            pod("p", phase="Pending", init=[{"name": "i"}], init_statuses=[terminated("i", 1, "Error", restarts=2)]),
            (0, 1, "Init:Error", 2),
            id="init-error",
        ),
        pytest.param(
            pod("p", phase="Pending", init=[{"name": "i"}], init_statuses=[terminated("i", 1, signal=9)]),
            (0, 1, "Init:Signal:9", 0),
            id="init-signal",
        ),
        pytest.param(
            pod("p", phase="Pending", init=[{"name": "i"}], init_statuses=[terminated("i", 2)]),
            (0, 1, "Init:ExitCode:2", 0),
            id="init-exit-code",
        ),
        pytest.param(
            pod(
                "p",
                init=[SIDECAR],
                init_statuses=[sidecar_status(started=True, ready=True, restarts=2)],
                statuses=[running("a", restarts=1)],
            ),
            (2, 2, "Running", 3),
            id="sidecar-ready",
        ),
        pytest.param(
            pod("p", init=[SIDECAR], init_statuses=[sidecar_status(started=True, ready=False)]),
            (1, 2, "Running", 0),
            id="sidecar-started-not-ready",
        ),
        pytest.param(
            pod("p", phase="Pending", init=[SIDECAR], init_statuses=[sidecar_status(started=False, ready=False)]),
            (0, 2, "Init:0/1", 0),
            id="sidecar-not-started",
        ),
        pytest.param(
            pod(
                "p",
                phase="Pending",
                init=[{"name": "i"}],
                init_statuses=[waiting("i", "PodInitializing", 5)],
                statuses=[running("a", restarts=1)],
                conditions=[{"type": "Initialized", "status": "True"}],
            ),
            (1, 1, "Init:0/1", 1),
            id="initialized-counts-containers",
        ),
        pytest.param(
            pod(
                "p",
                phase="Pending",
                init=[{"name": "i"}],
                init_statuses=[waiting("i", "PodInitializing", 5)],
                statuses=[running("a", restarts=1)],
                conditions=[{"type": "Initialized", "status": "False"}],
            ),
            (0, 1, "Init:0/1", 5),
            id="not-initialized-counts-init",
        ),
        pytest.param(
            pod("p", containers=2, statuses=[running("a"), terminated("b", 0, "Completed")], conditions=READY_TRUE),
            (1, 2, "Running", 0),
            id="completed-and-running-ready",
        ),
        pytest.param(
            pod("p", containers=2, statuses=[running("a"), terminated("b", 0, "Completed")]),
            (1, 2, "NotReady", 0),
            id="completed-and-running-not-ready",
        ),
        pytest.param(
            pod("p", containers=2, statuses=[terminated("a", 0, "Completed"), terminated("b", 1, "Error")]),
            (0, 2, "Error", 0),
            id="error-beside-completed",
        ),
        pytest.param(
            pod("p", containers=2, statuses=[terminated("b", 1, "Error"), terminated("a", 0, "Completed")]),
            (0, 2, "Error", 0),
            id="error-last",
        ),
        pytest.param(
            pod("p", containers=2, statuses=[terminated("a", 0, "Completed"), terminated("b", 0, "Completed")]),
            (0, 2, "Completed", 0),
            id="all-completed",
        ),
        pytest.param(pod("p", deleting=ago(minutes=1)), (1, 1, "Terminating", 0), id="terminating"),
        pytest.param(
            pod("p", deleting=ago(minutes=1), reason="NodeLost"), (1, 1, "Unknown", 0), id="terminating-node-lost"
        ),
        pytest.param(
            pod("p", phase="Succeeded", statuses=[terminated("a", 0, "Completed")], deleting=ago(minutes=1)),
            (0, 1, "Completed", 0),
            id="deleting-finished",
        ),
        pytest.param(
            pod("p", phase="Failed", statuses=[], containers=1, deleting=ago(minutes=1)),
            (0, 1, "Failed", 0),
            id="deleting-failed",
        ),
        pytest.param(
            pod("p", statuses=[{"name": "a", "ready": True, "restartCount": None, "state": {}}]),
            (0, 1, "Running", 0),
            id="ready-without-running-state",
        ),
    ],
)
def test_pod_status(given: Obj, columns: tuple[int, int, str, int]) -> None:
    ready, total, status, restarts = columns
    assert pod_status(given) == PodStatus(ready=ready, total=total, status=status, restarts=restarts)


def test_restarts_and_readiness_add_up_over_init_containers_and_sidecars() -> None:
    # Several init containers and sidecars: counts accumulate, and a started sidecar does not end the init scan.
    waiting_init = pod(
        "p",
        phase="Pending",
        init=[{"name": "i"}, {"name": "j"}],
        init_statuses=[terminated("i", 0, "Completed", restarts=2), waiting("j", "PodInitializing", 1)],
    )
    assert pod_status(waiting_init) == PodStatus(ready=0, total=1, status="Init:1/2", restarts=3)
    proxies = [SIDECAR, {"name": "log", "restartPolicy": "Always"}]
    statuses = [sidecar_status(True, True, 1), {**sidecar_status(True, True, 2), "name": "log"}]
    two_sidecars = pod("p", init=proxies, init_statuses=statuses, statuses=[running("a", restarts=4)])
    assert pod_status(two_sidecars) == PodStatus(ready=3, total=3, status="Running", restarts=7)
    sidecar_then_init = pod(
        "p",
        phase="Pending",
        init=[SIDECAR, {"name": "migrate"}],
        init_statuses=[sidecar_status(True, True), waiting("migrate", "PodInitializing")],
    )
    assert pod_status(sidecar_then_init) == PodStatus(ready=1, total=2, status="Init:1/2", restarts=0)


def test_ready_column_reads_like_kubectl() -> None:
    assert PodStatus(ready=1, total=2, status="Running", restarts=0).ready_column == "1/2"
