"""--settle and --hold against a live API server whose state changes during the run."""

from __future__ import annotations

import copy
import html
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cluster.resources import PODS
from conformance.cluster.state import ClusterState, Provenance
from conformance.gate import BAD_INPUT
from conformance.profile.model import Pods
from conformance.stability import hold

from conftest import DEMO, KUBE_TOKEN, ROOT, Snapshot, SuiteRun, live_prod_profile, run_suite
from kubeapi import KubeApiServer
from promserver import snapshot_proxy

TOKEN = KUBE_TOKEN  # the token of the `server` fixture (tests/conftest.py)
KONG_POD = "kong-884b8f4bd-8w7tx"
KONG_CHECKS = {"test_workload_ready[kong/Deployment/kong]", "test_no_failing_pods[kong]"}
HOLD_CHECK = "test_stable_during_hold[pods]"


def quick_profile(directory: Path, **collection: object) -> Path:
    """prod's Kubernetes expectations, re-collecting every second so the tests take seconds."""
    path = live_prod_profile(directory, "settle", drop_services=True)
    document = yaml.safe_load(path.read_text())
    document["collection"] = {"settle_interval": "1s", **collection}
    path.write_text(yaml.safe_dump(document))
    return path


def with_prometheus(path: Path) -> Path:
    """The profile plus prod's Prometheus section, served through the API server's service proxy."""
    document = yaml.safe_load(path.read_text())
    prod = yaml.safe_load((ROOT / "profiles" / "prod.yaml").read_text())
    document["services"] = {"prometheus": prod["services"]["prometheus"]}
    path.write_text(yaml.safe_dump(document))
    return path


def live(pytester: pytest.Pytester, kubeconfig: Path, *args: str, **collection: object) -> SuiteRun:
    profile = quick_profile(pytester.path, **collection)
    return run_suite(pytester, f"--kubeconfig={kubeconfig}", *args, profile=str(profile))


def kong_rolling_out(demo: Snapshot) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The demo's pods and deployments mid-rollout: one kong pod's proxy not ready, the Deployment 1/2 ready."""
    pods = copy.deepcopy(demo.items("pods"))
    pod = next(p for p in pods if p["metadata"]["name"] == KONG_POD)
    for container in pod["status"]["containerStatuses"]:
        if container["name"] == "proxy":
            container["ready"] = False
    for condition in pod["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["status"] = "False"
    deployments = copy.deepcopy(demo.items("deployments.apps"))
    kong = next(d for d in deployments if d["metadata"]["namespace"] == "kong" and d["metadata"]["name"] == "kong")
    kong["status"]["readyReplicas"] = kong["status"]["availableReplicas"] = 1
    return pods, deployments


def serve_rolling_out(server: KubeApiServer, demo: Snapshot) -> Callable[[], None]:
    """Serve the demo mid-rollout (kong_rolling_out); the function returned serves it ready again."""
    pods, deployments = kong_rolling_out(demo)
    server.set_resource("pods", pods)
    server.set_resource("deployments.apps", deployments)

    def ready() -> None:
        server.set_resource("pods", demo.items("pods"))
        server.set_resource("deployments.apps", demo.items("deployments.apps"))

    return ready


def bump_restarts(demo: Snapshot, container: str = "proxy") -> list[dict[str, Any]]:
    pods = copy.deepcopy(demo.items("pods"))
    pod = next(p for p in pods if p["metadata"]["name"] == KONG_POD)
    for status in pod["status"]["containerStatuses"]:
        if status["name"] == container:
            status["restartCount"] += 1
    return pods


@contextmanager
def after_first_pod_list(server: KubeApiServer, delay: float, action: Callable[[], None]) -> Iterator[threading.Event]:
    """Run `action` `delay` seconds after the suite first lists pods (its first collection), from a thread."""
    stop, done = threading.Event(), threading.Event()

    def run() -> None:
        while not any(r.path == "/api/v1/pods" for r in server.requests):
            if stop.wait(0.05):
                return
        if not stop.wait(delay):
            action()
            done.set()

    thread = threading.Thread(target=run, daemon=True, name="cluster-change")
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join(timeout=5)


def environment(run: SuiteRun) -> str:
    """The report's environment table as text (pytest-html stores it in the page's JSON data)."""
    return (run.run_dir / "report.html").read_text()


def test_a_cluster_that_becomes_ready_while_settling_passes(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester, demo: Snapshot
) -> None:
    ready = serve_rolling_out(server, demo)

    with after_first_pod_list(server, 2.0, ready) as changed:
        run = live(pytester, kubeconfig, "--settle=20s")
    assert changed.is_set()
    out = run.result.stdout.str()
    assert run.result.ret == 0, out
    progress = re.findall(r"settling: 2 checks not yet passing \((.*)\), (\d+)s of 20s", out)
    assert len(progress) >= 2, out
    assert "Deployment kong/kong: 1/2 replicas ready" in progress[0][0]
    settled = re.search(r"Settled after (\d+)s \(20s allowed\)", environment(run))
    assert settled is not None
    assert 2 <= int(settled.group(1)) <= 4
    assert "settling: settled after" in out
    # Each settle iteration lists every kind once; nothing per namespace, nothing else.
    pod_lists = [r for r in server.requests if r.path == "/api/v1/pods"]
    deployment_lists = [r for r in server.requests if r.path == "/apis/apps/v1/deployments"]
    assert len(pod_lists) == len(deployment_lists) == len(progress) + 1
    # Discovery of the groups whose version varies (Istio's) is asked once, not once per iteration.
    discovery = [r.path for r in server.requests if re.fullmatch(r"/apis/[^/]+", r.path)]
    assert discovery, "the profile reads no resource whose version comes from discovery"
    assert len(discovery) == len(set(discovery)), discovery


def test_a_cluster_that_does_not_settle_fails_as_without_settle(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester, demo: Snapshot
) -> None:
    serve_rolling_out(server, demo)
    plain = live(pytester, kubeconfig)
    waited = live(pytester, kubeconfig, "--settle=3s")
    assert set(plain.not_passed()) == KONG_CHECKS
    assert {name: o.outcome for name, o in waited.outcomes.items()} == {
        name: o.outcome for name, o in plain.outcomes.items()
    }
    assert waited.result.ret == plain.result.ret == 1
    assert "Did not settle within 3s" in environment(waited)
    assert "Did not settle" not in environment(plain)
    assert "Settled after" not in environment(plain)
    out = waited.result.stdout.str()
    assert "settling: did not settle within 3s: 2 checks not yet passing (" in out
    assert len(re.findall(r"settling: 2 checks not yet passing", out)) >= 2


def test_a_restart_during_the_hold_fails_naming_pod_and_container(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester, demo: Snapshot
) -> None:
    with after_first_pod_list(server, 1.2, lambda: server.set_resource("pods", bump_restarts(demo))) as bumped:
        run = live(pytester, kubeconfig, "--hold=3s")
    assert bumped.is_set()
    assert set(run.not_passed()) == {HOLD_CHECK}, run.result.stdout.str()
    failure = run.outcomes[HOLD_CHECK]
    assert failure.outcome == "failed"
    assert f"kong/{KONG_POD} container proxy restarted (restarts 0 → 1)" in failure.message
    assert "1 of 80 pods regressed" in failure.message
    assert run.result.ret == 1
    assert f"1 of 80 pods regressed (kong/{KONG_POD})" in environment(run)


def test_nothing_changing_during_the_hold_passes(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    run = live(pytester, kubeconfig, hold="2s")  # the profile's collection.hold
    assert run.result.ret == 0, run.result.stdout.str()
    assert run.outcomes[HOLD_CHECK].outcome == "passed"
    assert "no pod regressed" in environment(run)
    pod_lists = [r for r in server.requests if r.path == "/api/v1/pods"]
    assert 2 <= len(pod_lists) <= 4  # baseline, a re-collection per second, the final state
    assert "holding: held 2s (2s asked): no pod regressed" in run.result.stdout.str()


def test_a_failed_re_collection_during_the_hold_is_an_error(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    with after_first_pod_list(server, 0.3, lambda: server.inject(r"^/api/v1/pods$", 403, times=1)):
        run = live(pytester, kubeconfig, "--hold=2s")
    assert set(run.not_passed()) == {HOLD_CHECK}, run.result.stdout.str()
    error = run.outcomes[HOLD_CHECK]
    assert error.outcome == "error"
    assert "the hold window was not watched throughout" in error.message
    assert "pods: forbidden" in error.message


def test_services_are_read_once_from_the_settled_and_held_state(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester, demo: Snapshot
) -> None:
    server.register_service_proxy("monitoring", "prometheus", 9090, snapshot_proxy(DEMO))
    ready = serve_rolling_out(server, demo)

    profile = with_prometheus(quick_profile(pytester.path))
    selection = ("-k", "prometheus_targets or workload_ready or stable")
    with after_first_pod_list(server, 1.0, ready):
        run = run_suite(
            pytester, f"--kubeconfig={kubeconfig}", "--settle=20s", "--hold=2s", *selection, profile=str(profile)
        )
    assert run.result.ret == 0, run.result.stdout.str()
    assert run.outcomes[HOLD_CHECK].outcome == "passed"
    assert any(name.startswith("test_prometheus_targets[") for name in run.outcomes)
    assert "Settled after" in environment(run)
    assert "no pod regressed" in environment(run)
    proxied = [r for r in server.requests if "/services/prometheus:9090/proxy/" in r.path]
    # Once: the targets, and the mesh and volume queries prod configures.
    assert sorted(r.path.rpartition("/proxy")[2] for r in proxied) == [
        "/api/v1/query",
        "/api/v1/query",
        "/api/v1/targets",
    ]
    last_pod_list = max(r.at for r in server.requests if r.path == "/api/v1/pods")
    assert min(r.at for r in proxied) > last_pod_list  # after settling and holding: judged with the final state
    assert (run.run_dir / "evidence" / "prometheus" / "targets.json").is_file()


def test_without_hold_the_stability_check_is_not_run(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    run = live(pytester, kubeconfig, "-k", "stable or workload_ready")
    assert run.result.ret == 0
    assert HOLD_CHECK not in run.outcomes
    assert "Settled" not in environment(run)
    assert "Held" not in environment(run)
    # Holding with nobody to judge the window would only delay the run.
    deselected = live(pytester, kubeconfig, "--hold=30s", "-k", "workload_ready")
    assert deselected.result.ret == 0
    deselected.result.stdout.fnmatch_lines([f"holding: skipped, {HOLD_CHECK} is not selected in this run"])
    assert deselected.result.duration < 20


@pytest.mark.parametrize("flag", ["--settle", "--hold"])
def test_a_bad_duration_is_a_usage_error_naming_the_flag(flag: str, pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}", f"{flag}=5minutes")
    assert run.result.ret == BAD_INPUT
    run.result.stderr.fnmatch_lines([f"ERROR: {flag}: '5minutes' is not a duration*"])
    assert "Traceback" not in run.result.stderr.str() + run.result.stdout.str()


def test_settle_on_a_snapshot_is_refused_and_a_profile_default_noted(pytester: pytest.Pytester) -> None:
    refused = run_suite(pytester, f"--snapshot={DEMO}", "--settle=1m")
    assert refused.result.ret == 3
    refused.result.stderr.fnmatch_lines(["*--settle waits on a live cluster; a snapshot (--snapshot) never changes*"])
    profile = quick_profile(pytester.path, settle="1m", hold="30s")
    noted = run_suite(pytester, f"--snapshot={DEMO}", "-k", "workload_ready or stable", profile=str(profile))
    assert noted.result.ret == 0, noted.result.stdout.str()
    assert HOLD_CHECK not in noted.outcomes
    noted.result.stdout.fnmatch_lines(["*collection.settle 1m of the profile does not apply to a snapshot*"])


def _state(pods: list[dict[str, Any]], at: datetime) -> ClusterState:
    return ClusterState(Provenance("live", "test", at), lists={PODS.name: pods})


def test_watch_names_vanished_replaced_and_newly_failing_pods(demo: Snapshot) -> None:
    at = datetime(2025, 10, 22, 3, 30, tzinfo=UTC)
    baseline = demo.items("pods")
    watch = hold.Watch(_state(baseline, at), timedelta(minutes=1), Pods())
    sample = copy.deepcopy(baseline)
    by_name = {p["metadata"]["name"]: p for p in sample}
    sample.remove(by_name["kong-postgres-0"])
    sample.remove(by_name["kong-migrations-vlvx6"])  # a completed Job pod cleaned up: no regression
    by_name["kong-884b8f4bd-sr4v7"]["metadata"]["uid"] = "new-uid"
    proxy = by_name[KONG_POD]["status"]["containerStatuses"][1]
    proxy["ready"], proxy["state"] = False, {"waiting": {"reason": "CrashLoopBackOff"}}
    watch.observe(_state(sample, at + timedelta(seconds=10)), 10.0)
    regressions = watch.outcome.regressions
    assert set(regressions) == {"kong/kong-postgres-0", "kong/kong-884b8f4bd-sr4v7", f"kong/{KONG_POD}"}
    assert regressions["kong/kong-postgres-0"] == ["disappeared (gone at 10s)"]
    assert regressions["kong/kong-884b8f4bd-sr4v7"] == ["replaced by a new pod of the same name (seen at 10s)"]
    assert regressions[f"kong/{KONG_POD}"][0].startswith("turned failing: CrashLoopBackOff READY 1/2")
    assert watch.outcome.inspected == len(baseline)
    assert not watch.outcome.errors


def banner_of(run: SuiteRun) -> str:
    page = (run.run_dir / "report.html").read_text()
    start = page.index('id="cf-verdict"')
    return page[start : page.index("</section>", start)]


def test_the_report_banner_says_how_settling_and_holding_went(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester, demo: Snapshot
) -> None:
    serve_rolling_out(server, demo)
    run = live(pytester, kubeconfig, "--settle=2s", "--hold=1s")
    assert run.result.ret == 1
    banner = banner_of(run)
    settle = re.search(r'<tr class="cf-stability cf-stability-(\w+)"><th>Settle</th><td>([^<]*)</td></tr>', banner)
    assert settle is not None, banner
    assert settle[1] == "failed"
    assert settle[2].startswith("Did not settle within 2s (")
    assert "still not passing: " in settle[2]
    hold_row = re.search(r'<tr class="cf-stability cf-stability-(\w+)"><th>Hold</th><td>([^<]*)</td></tr>', banner)
    assert hold_row is not None, banner
    assert hold_row[1] == "ok"
    assert re.fullmatch(r"Held \ds \(1s asked\): no pod regressed; \d+ re-collections", hold_row[2]), hold_row[2]
    # Said in the banner exactly as the terminal says it.
    out = run.result.stdout.str()
    assert f"conformance: {html.unescape(settle[2])}" in out
