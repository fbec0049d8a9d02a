"""The demo passes; each way the platform can drift makes exactly the expected checks fail or error.

Every scenario mutates a copy of the bundled demo the way the cluster would look after that
failure, runs the suite as users do (`pytest --profile=prod --snapshot=DIR`), and compares every
non-passing check with the expectation, culprit names included.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from conftest import DEMO, Snapshot, run_suite

COLLECTED = "2025-10-22T03:30:00Z"
HOUR_BEFORE = "2025-10-22T02:30:00Z"


def set_waiting(pod: dict[str, Any], container: str, reason: str, restarts: int = 0) -> None:
    for status in pod["status"]["containerStatuses"]:
        if status["name"] == container:
            status.update(ready=False, started=False, restartCount=restarts, state={"waiting": {"reason": reason}})
    for condition in pod["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["status"] = "False"


def set_ready(workload: dict[str, Any], ready: int) -> None:
    workload["status"].update(readyReplicas=ready, availableReplicas=ready)


def crash_loop(s: Snapshot) -> None:
    pod = s.get("pods", "kong", "kong-884b8f4bd-sr4v7")
    set_waiting(pod, "proxy", "CrashLoopBackOff", restarts=12)
    set_ready(s.get("deployments.apps", "kong", "kong"), 1)


def image_pull(s: Snapshot) -> None:
    (pod,) = s.pods("data-platform", "datahub-gms-")
    set_waiting(pod, "datahub-gms", "ImagePullBackOff")
    set_ready(s.get("deployments.apps", "data-platform", "datahub-gms"), 0)


def init_crash(s: Snapshot) -> None:
    (pod,) = s.pods("data-platform", "portal-services-")
    pod["status"]["initContainerStatuses"][0].update(
        ready=False, restartCount=4, state={"waiting": {"reason": "CrashLoopBackOff"}}
    )
    for container in pod["status"]["containerStatuses"]:
        container.update(ready=False, started=False, state={"waiting": {"reason": "PodInitializing"}})
    for condition in pod["status"]["conditions"]:
        if condition["type"] in ("Initialized", "Ready", "ContainersReady"):
            condition["status"] = "False"
    pod["status"]["phase"] = "Pending"
    set_ready(s.get("deployments.apps", "data-platform", "portal-services"), 0)


def pending_pod(name: str, created: str) -> Callable[[Snapshot], None]:
    def mutate(s: Snapshot) -> None:
        (template,) = s.pods("monitoring", "grafana-")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "monitoring", "creationTimestamp": created, "labels": {}},
            "spec": {"containers": template["spec"]["containers"]},
            "status": {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "lastTransitionTime": created,
                    }
                ],
            },
        }
        s.add("pods", pod)

    return mutate


def stuck_terminating(s: Snapshot) -> None:
    (original,) = s.pods("velero", "velero-")
    pod = {**original, "metadata": {**original["metadata"], "name": "velero-6d9f8b7c5-old01"}}
    pod["metadata"]["deletionTimestamp"] = HOUR_BEFORE
    pod["metadata"]["deletionGracePeriodSeconds"] = 30
    s.add("pods", pod)


def replicas_short(s: Snapshot) -> None:
    s.remove("pods", "kong", "kong-884b8f4bd-8w7tx")
    set_ready(s.get("deployments.apps", "kong", "kong"), 1)


def daemonset_missing_node(s: Snapshot) -> None:
    for pod in s.pods("istio-system", "istio-cni-node-"):
        if pod["spec"]["nodeName"] == "carbon-worker-2":
            s.items("pods").remove(pod)
    s.get("daemonsets.apps", "istio-system", "istio-cni-node")["status"].update(numberReady=1, numberAvailable=1)


def removed_component_back(s: Snapshot) -> None:
    jaeger = s.get("deployments.apps", "istio-system", "jaeger")
    s.add("deployments.apps", {**jaeger, "metadata": {**jaeger["metadata"], "name": "kiali"}})


def parked_component_failing(s: Snapshot) -> None:
    connect = s.get("deployments.apps", "data-platform", "kafka-connect")
    connect["spec"]["replicas"] = 1
    connect["status"].update(replicas=1, readyReplicas=0, updatedReplicas=1)
    (template,) = s.pods("data-platform", "schema-registry-")
    labels = connect["spec"]["selector"]["matchLabels"]
    pod = {
        **template,
        "metadata": {**template["metadata"], "name": "kafka-connect-798bf667c7-mf5rc", "labels": dict(labels)},
    }
    pod["status"] = {
        **template["status"],
        "containerStatuses": [dict(c) for c in template["status"]["containerStatuses"]],
    }
    set_waiting(pod, pod["status"]["containerStatuses"][0]["name"], "CrashLoopBackOff", restarts=7)
    s.add("pods", pod)


def job_failed(s: Snapshot) -> None:
    job = s.get("jobs.batch", "kong", "kong-migrations")
    job["status"] = {
        "failed": 1,
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        ],
    }
    (pod,) = s.pods("kong", "kong-migrations-")
    pod["status"]["phase"] = "Failed"
    pod["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 1, "reason": "Error"}}


def node_not_ready(s: Snapshot) -> None:
    node = s.get("nodes", "", "carbon-worker-2")
    for condition in node["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition.update(status="Unknown", reason="NodeStatusUnknown")


def node_pressure(s: Snapshot) -> None:
    node = s.get("nodes", "", "carbon-worker-1")
    for condition in node["status"]["conditions"]:
        if condition["type"] == "DiskPressure":
            condition.update(status="True", reason="KubeletHasDiskPressure")


def label_removed(s: Snapshot) -> None:
    del s.get("namespaces", "", "kong")["metadata"]["labels"]["istio-injection"]


def mtls_changed(s: Snapshot) -> None:
    s.get("peerauthentications.security.istio.io", "istio-system", "default")["spec"]["mtls"]["mode"] = "STRICT"


def workload_strict(s: Snapshot) -> None:
    """A workload-level STRICT policy under the mesh-wide PERMISSIVE one: only the effective mode shows it."""
    policy = copy.deepcopy(s.get("peerauthentications.security.istio.io", "istio-system", "default"))
    policy["metadata"].update(namespace="data-platform", name="portal-services-strict", uid="pa-portal-strict")
    policy["spec"] = {"selector": {"matchLabels": {"app": "portal-services"}}, "mtls": {"mode": "STRICT"}}
    s.items("peerauthentications.security.istio.io").append(policy)


def namespace_short(s: Snapshot) -> None:
    (pod,) = s.pods("registry", "harbor-portal-")
    s.items("pods").remove(pod)


def cpu_over_threshold(s: Snapshot) -> None:
    for sample in s.items("nodes.metrics.k8s.io"):
        sample["usage"]["cpu"] = "35000000000n"


def traffic_rules_removed(s: Snapshot) -> None:
    del s.items("virtualservices.networking.istio.io")[:5]


def pvc_pending(s: Snapshot) -> None:
    claim = s.get("persistentvolumeclaims", "data-platform", "data-kafka-0")
    claim["status"] = {"phase": "Pending"}


def pods_forbidden_at_capture(s: Snapshot) -> None:
    s.drop("jobs.batch")


@dataclass
class Scenario:
    name: str
    mutate: Callable[[Snapshot], None]
    expected: dict[str, tuple[str, str]] = field(default_factory=dict)
    truncate: str | None = None


FAIL, ERROR = "failed", "error"
# The report's open items, waived in prod until their tickets close.
DEMO_WAIVED = {
    "test_workload_ready[cloudflare-tunnel/Deployment/cloudflared]",
    "test_workload_ready[data-platform/Deployment/kafka-connect]",
    "test_portal_targets[targets]",
}
SCENARIOS = [
    Scenario(
        "crash loop",
        crash_loop,
        {
            "test_no_failing_pods[kong]": (FAIL, "kong/kong-884b8f4bd-sr4v7 CrashLoopBackOff READY 1/2 (restarts 12)"),
            "test_workload_ready[kong/Deployment/kong]": (
                FAIL,
                "kong/kong: 1/2 ready; Deployment kong/kong 1/2 replicas",
            ),
        },
    ),
    Scenario(
        "image pull",
        image_pull,
        {
            "test_no_failing_pods[data-platform]": (FAIL, "ImagePullBackOff"),
            "test_workload_ready[data-platform/Deployment/datahub-gms]": (FAIL, "ImagePullBackOff"),
        },
    ),
    Scenario(
        "init container crash",
        init_crash,
        {
            "test_no_failing_pods[data-platform]": (FAIL, "portal-services-64d5779b68-6d924 Init:CrashLoopBackOff"),
            "test_workload_ready[data-platform/Deployment/portal-services]": (FAIL, "Init:CrashLoopBackOff READY 0/2"),
        },
    ),
    Scenario(
        "pending beyond the grace",
        pending_pod("grafana-7f8d9c6b5-pend1", HOUR_BEFORE),
        {
            "test_no_failing_pods[monitoring]": (
                FAIL,
                "monitoring/grafana-7f8d9c6b5-pend1 Pending READY 0/1 (restarts 0) for 60m",
            )
        },
    ),
    Scenario("pending within the grace passes", pending_pod("grafana-7f8d9c6b5-pend2", "2025-10-22T03:28:00Z")),
    Scenario(
        "stuck terminating",
        stuck_terminating,
        {"test_no_failing_pods[velero]": (FAIL, "velero/velero-6d9f8b7c5-old01 Terminating")},
    ),
    Scenario(
        "replicas short",
        replicas_short,
        {
            "test_workload_ready[kong/Deployment/kong]": (FAIL, "1/2 replicas ready"),
            "test_namespace_pod_count[kong]": (FAIL, "kong has 3 pods, expected at least 4"),
        },
    ),
    Scenario(
        "daemonset missing a node",
        daemonset_missing_node,
        {
            "test_workload_ready[istio-system/DaemonSet/istio-cni-node]": (
                FAIL,
                "carbon-worker-2 has no ready istio-cni-node pod",
            ),
            "test_namespace_pod_count[istio-system]": (FAIL, "istio-system has 3 pods, expected at least 4"),
        },
    ),
    Scenario(
        "removed component back",
        removed_component_back,
        {"test_component_absent[istio-system/Deployment/kiali]": (FAIL, "Deployment istio-system/kiali exists again")},
    ),
    Scenario(
        "parked component scaled up and failing",
        parked_component_failing,
        {
            "test_scaled_down_or_ready[data-platform/Deployment/kafka-connect]": (
                FAIL,
                "kafka-connect-798bf667c7-mf5rc CrashLoopBackOff",
            ),
            "test_no_failing_pods[data-platform]": (
                FAIL,
                "data-platform/kafka-connect-798bf667c7-mf5rc CrashLoopBackOff",
            ),
        },
    ),
    Scenario(
        "job failed",
        job_failed,
        {
            "test_job_completed[kong/kong-migrations]": (FAIL, "Failed (BackoffLimitExceeded"),
            "test_no_failing_pods[kong]": (FAIL, "kong/kong-migrations-vlvx6 Error"),
            "test_namespace_pod_count[kong]": (FAIL, "kong has 3 pods"),
        },
    ),
    Scenario("node NotReady", node_not_ready, {"test_nodes[ready]": (FAIL, "carbon-worker-2 NotReady")}),
    Scenario(
        "node under pressure", node_pressure, {"test_nodes[no-pressure]": (FAIL, "carbon-worker-1 DiskPressure=True")}
    ),
    Scenario(
        "namespace label removed",
        label_removed,
        {"test_namespace_labels[kong]": (FAIL, "kong label istio-injection is not set, expected 'enabled'")},
    ),
    Scenario(
        "mTLS mode changed",
        mtls_changed,
        {
            "test_peer_authentication_mode[istio-system/default]": (FAIL, "mode STRICT, expected PERMISSIVE"),
            **{
                f"test_effective_mtls[{ns}]": (
                    FAIL,
                    "namespace-wide STRICT (set by PeerAuthentication istio-system/default)",
                )
                for ns in ("data-platform", "kong", "monitoring", "istio-system")
            },
        },
    ),
    Scenario(
        "workload mTLS STRICT",
        workload_strict,
        {
            "test_effective_mtls[data-platform]": (
                FAIL,
                "Deployment data-platform/portal-services STRICT (set by PeerAuthentication "
                "data-platform/portal-services-strict), expected PERMISSIVE",
            )
        },
    ),
    Scenario(
        "namespace short of pods",
        namespace_short,
        {"test_namespace_pod_count[registry]": (FAIL, "registry has 6 pods, expected at least 7")},
    ),
    Scenario(
        "utilization over threshold",
        cpu_over_threshold,
        {"test_cluster_utilization[cpu]": (FAIL, "over the 70% threshold")},
    ),
    Scenario(
        "traffic rules removed",
        traffic_rules_removed,
        {"test_minimum_objects[traffic-rules]": (FAIL, "15 objects, expected at least 20")},
    ),
    Scenario("claim not bound", pvc_pending, {"test_pvcs_bound[pvcs]": (FAIL, "data-platform/data-kafka-0 Pending")}),
    Scenario(
        "kind missing from the snapshot",
        pods_forbidden_at_capture,
        {"test_job_completed[kong/kong-migrations]": (ERROR, "snapshot has no kubernetes/jobs.batch.json")},
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario, demo: Snapshot, pytester: pytest.Pytester) -> None:
    scenario.mutate(demo)
    snapshot = demo.write(pytester.path / "snapshot")
    run = run_suite(pytester, f"--snapshot={snapshot}")
    seen = run.not_passed()
    assert {k: v.outcome for k, v in seen.items()} == {k: v[0] for k, v in scenario.expected.items()}
    for name, (_, text) in scenario.expected.items():
        assert text in seen[name].message, f"{name}: {text!r} not in {seen[name].message!r}"
    kinds = {outcome for outcome, _ in scenario.expected.values()}
    assert run.result.ret == (1 if FAIL in kinds else 2 if ERROR in kinds else 0)


def test_truncated_json_is_an_error_for_every_check_reading_it(demo: Snapshot, pytester: pytest.Pytester) -> None:
    demo.truncate("pods")
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}")
    readers = (
        "test_no_failing_pods[",
        "test_namespace_pod_count[",
        "test_workload_ready[",
        "test_scaled_down_or_ready[",
        "test_requested_resources[",
        "test_container_resources[",
        "test_dns_ready[",
        "test_ingress_controller_ready[",
    )
    expected = {name for name in run.outcomes if name.startswith(readers)}
    assert len(expected) > 40
    # The waivers of checks that could not be evaluated cannot be judged either.
    waivers = {"test_waiver_in_use[PLAT-2201]", "test_waiver_in_use[PLAT-2202]"}
    seen = run.not_passed()
    assert set(seen) == expected | waivers
    assert all(o.outcome == ERROR for o in seen.values())
    assert all("kubernetes/pods.json is not valid JSON" in seen[name].message for name in expected)
    assert all("could not be evaluated" in seen[name].message for name in waivers)
    assert run.result.ret == 2  # nothing failed; some checks could not evaluate


def test_the_demo_passes_every_check(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}")
    assert run.result.ret == 0
    outcomes = run.outcomes
    assert len(outcomes) >= 60
    assert set(run.waived()) == DEMO_WAIVED
    assert all(o.outcome == "passed" for name, o in outcomes.items() if name not in DEMO_WAIVED)
    run.result.stdout.fnmatch_lines(
        ["conformance prod: PASSED — * passed, 0 failed, 0 could not evaluate, 3 waived — report *"]
    )


def test_a_waiver_lists_each_covered_culprit_once(pytester: pytest.Pytester) -> None:
    """cloudflared fails two ways (0/2 replicas ready, rollout incomplete): one object, covered once."""
    run = run_suite(pytester, f"--snapshot={DEMO}")
    assert run.result.ret == 0
    name = "test_workload_ready[cloudflare-tunnel/Deployment/cloudflared]"
    culprit = "Deployment cloudflare-tunnel/cloudflared"
    assert run.waived()[name].message.count(culprit) == 1, run.waived()[name].message
    checks = {c["name"]: c for c in json.loads((run.run_dir / "results.json").read_text())["checks"]}
    assert checks[name]["waiver"]["culprits"] == [culprit]
    assert checks[name]["message"].count(culprit) == 1
    assert checks["test_waiver_in_use[PLAT-2201]"]["observed"] == f"covered 1 culprits of {name}"
    for path in (run.run_dir / "allure-results").glob("*-attachment.json"):
        table = json.loads(path.read_text())
        if isinstance(table, dict) and table.get("check") == name:
            assert table["waived"]["culprits"] == [culprit]
            break
    else:
        raise AssertionError(f"no culprits attachment for {name}")
