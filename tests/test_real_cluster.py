"""The real-cluster tier: a miniature 254Carbon on a kind or k3d cluster, judged live by the suite as its own
least-privileged ServiceAccount, must show exactly its two deliberate faults.

Opt-in (it creates a cluster, ~2-4 minutes): needs a Docker engine, kind or k3d and kubectl on PATH, and
pytest-kubernetes (`pip install pytest-kubernetes==0.9.0`); then `CONFORMANCE_REAL_CLUSTER=1 pytest
tests/test_real_cluster.py`. CONFORMANCE_REAL_CLUSTER_PROVIDER=kind|k3d and CONFORMANCE_REAL_CLUSTER_VERSION
(default 1.31.4) choose the cluster. The manifests, the profile and the service payloads are checked without one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_image import typed

from conformance.profile.loader import load_profile
from conformance.rbac import permissions

from conftest import ROOT, run_suite

HERE = ROOT / "tests" / "realcluster"
PLATFORM = HERE / "platform.yaml"
PROFILE = HERE / "profile.yaml"
ENABLE = "CONFORMANCE_REAL_CLUSTER"
HOW = (
    "the real-cluster tier needs a Docker engine, kind or k3d and kubectl on PATH, and pytest-kubernetes "
    f"(pip install pytest-kubernetes==0.9.0); set {ENABLE}=1 to run it"
)
# The deliberate faults of platform.yaml, and only they: every other check passes.
EXPECTED_FAILURES = {
    "test_workload_ready[data-platform/Deployment/kafka-connect]",
    "test_no_failing_pods[data-platform]",
    "test_component_absent[data-platform/StatefulSet/doris-fe]",
}
READY_TIMEOUT = 300


def documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(PLATFORM.read_text()) if d is not None]


def find(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    for d in documents():
        meta = d["metadata"]
        if (d["kind"], meta.get("namespace", ""), meta["name"]) == (kind, namespace, name):
            return d
    return None


# -- without a cluster: the miniature and its profile agree ------------------------------------------------


def test_miniature_manifests_are_valid_kubernetes_objects() -> None:
    for document in documents():
        assert typed(document) == document, f"{document['kind']} {document['metadata']['name']}"


def test_profile_describes_the_miniature_with_its_two_faults() -> None:
    profile = load_profile(str(PROFILE), ROOT / "profiles").profile
    assert profile.workloads is not None
    assert profile.jobs is not None
    for workload in profile.workloads.required:
        assert find(workload.kind, workload.namespace, workload.name), workload.id
    for job in profile.jobs.completed:
        assert find("Job", job.namespace, job.name), job.id
    # Fault 1: the required kafka-connect exits at start.
    connect = find("Deployment", "data-platform", "kafka-connect")
    assert connect is not None
    assert "exit 1" in " ".join(connect["spec"]["template"]["spec"]["containers"][0]["command"])
    # Fault 2: a component the profile wants absent is deployed; the other absent one is not.
    present = [w for w in profile.workloads.absent if find(w.kind, w.namespace, w.name)]
    assert [w.id for w in present] == ["data-platform/StatefulSet/doris-fe"]
    assert {f.split("[")[1].rstrip("]") for f in EXPECTED_FAILURES} == {
        "data-platform/Deployment/kafka-connect",
        "data-platform",
        "data-platform/StatefulSet/doris-fe",
    }
    # The services are reached both ways the RBAC must allow: a service proxy and a port-forward.
    grants = permissions(profile)
    assert {r.resources[0] for r in grants.namespaced["data-platform"]} == {"services/proxy"}
    assert {r.resources[0] for r in grants.namespaced["istio-system"]} == {"services", "pods/portforward"}


def test_service_payloads_of_the_miniature_pass(tmp_path: Path, pytester: pytest.Pytester) -> None:
    """The bodies the miniature's nginx serves (ConfigMaps) are what the checks accept, judged offline."""
    snapshot = tmp_path / "snapshot"
    (snapshot / "kubernetes").mkdir(parents=True)
    for namespace, configmap, key, file in (
        ("istio-system", "istiod-debug", "syncz", "istio/syncz.json"),
        ("data-platform", "portal-api", "services", "portal/services.json"),
    ):
        found = find("ConfigMap", namespace, configmap)
        assert found is not None
        (snapshot / file).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / file).write_text(found["data"][key])
    run = run_suite(
        pytester, f"--snapshot={snapshot}", "-k", "test_proxies_synced or test_portal_services", profile=str(PROFILE)
    )
    assert {k: v.outcome for k, v in run.outcomes.items()} == {
        "test_proxies_synced[all-proxies]": "passed",
        "test_portal_services[registered]": "passed",
    }


# -- with a cluster ---------------------------------------------------------------------------------------


def _unavailable() -> str | None:
    """Why the tier cannot run here (None when it can), always saying how to enable it."""
    if os.environ.get(ENABLE) != "1":
        return f"{HOW} ({ENABLE} is not set)"
    if importlib.util.find_spec("pytest_kubernetes") is None:
        return f"{HOW} (pytest-kubernetes is not installed)"
    missing = [tool for tool in ("docker", "kubectl") if shutil.which(tool) is None]
    if missing:
        return f"{HOW} ({', '.join(missing)} not on PATH)"
    if _provider() is None:
        return f"{HOW} (neither kind nor k3d is on PATH)"
    try:
        engine = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return f"{HOW} (`docker info` did not answer within 20s)"
    if engine.returncode != 0:
        return f"{HOW} (no Docker engine answers `docker info`)"
    return None


def test_without_the_opt_in_the_tier_says_how_to_enable_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENABLE, raising=False)
    assert _unavailable() == f"{HOW} ({ENABLE} is not set)"
    monkeypatch.setenv(ENABLE, "1")
    monkeypatch.setenv("PATH", "/nonexistent")
    reason = _unavailable()
    assert reason is not None
    assert reason.startswith(HOW)
    assert f"set {ENABLE}=1" in reason
    assert "Docker engine" in reason


def _provider() -> str | None:
    chosen = os.environ.get(f"{ENABLE}_PROVIDER")
    if chosen:
        return chosen if shutil.which(chosen) else None
    return next((tool for tool in ("kind", "k3d") if shutil.which(tool)), None)


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
    result = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


@pytest.fixture(scope="module")
def cluster() -> Iterator[Path]:
    """A fresh kind/k3d cluster (deleted afterwards, also on failure); its admin kubeconfig."""
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    from pytest_kubernetes.options import ClusterOptions
    from pytest_kubernetes.providers import select_provider_manager

    manager = select_provider_manager(_provider())("conformance")
    version = os.environ.get(f"{ENABLE}_VERSION", "1.31.4")
    try:
        # cluster_timeout bounds `kind|k3d cluster create` (a first run pulls the node image); timeout, readiness.
        manager.create(ClusterOptions(api_version=version, cluster_timeout=600), timeout=180)
        assert manager.kubeconfig is not None
        yield manager.kubeconfig
    finally:
        manager.delete()


def wait_for_the_miniature(kubeconfig: Path) -> None:
    """Rolled out, the job complete, and kafka-connect crashed at least once (so it shows as failing)."""
    for namespace, target in (
        ("kong", "deployment/kong"),
        ("data-platform", "deployment/portal-services"),
        ("data-platform", "statefulset/postgresql"),
        ("data-platform", "statefulset/doris-fe"),
        ("monitoring", "daemonset/node-exporter"),
        ("istio-system", "deployment/istiod"),
    ):
        kubectl(
            kubeconfig,
            "rollout",
            "status",
            target,
            "-n",
            namespace,
            f"--timeout={READY_TIMEOUT}s",
            timeout=READY_TIMEOUT + 10,
        )
    kubectl(
        kubeconfig,
        "wait",
        "--for=condition=complete",
        "job/kong-migrations",
        "-n",
        "kong",
        f"--timeout={READY_TIMEOUT}s",
        timeout=READY_TIMEOUT + 10,
    )
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        pods = json.loads(
            kubectl(kubeconfig, "get", "pods", "-n", "data-platform", "-l", "app=kafka-connect", "-o", "json")
        )
        restarts = [s.get("restartCount", 0) for p in pods["items"] for s in p["status"].get("containerStatuses", ())]
        if restarts and max(restarts) >= 1:
            return
        time.sleep(3)
    raise AssertionError(f"kafka-connect did not crash within {READY_TIMEOUT}s")


def service_account_kubeconfig(admin: Path, into: Path) -> Path:
    """A kubeconfig for the `conformance` ServiceAccount: the suite runs with exactly the RBAC it computed."""
    config = json.loads(kubectl(admin, "config", "view", "--raw", "--minify", "-o", "json"))
    token = kubectl(admin, "create", "token", "conformance", "-n", "conformance", "--duration=1h").strip()
    cluster = config["clusters"][0]
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "conformance", "user": {"token": token}}],
        "contexts": [{"name": "conformance", "context": {"cluster": cluster["name"], "user": "conformance"}}],
        "current-context": "conformance",
    }
    into.write_text(json.dumps(document))
    into.chmod(0o600)
    return into


def test_the_suite_finds_exactly_the_miniatures_faults(
    cluster: Path, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    kubectl(cluster, "apply", "-f", str(PLATFORM))
    rbac = subprocess.run(
        [sys.executable, "-m", "conformance", "rbac", str(PROFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rbac.returncode == 0, rbac.stderr
    kubectl(cluster, "apply", "-f", "-", stdin=rbac.stdout)
    wait_for_the_miniature(cluster)

    run = run_suite(
        pytester, f"--kubeconfig={service_account_kubeconfig(cluster, tmp_path / 'kubeconfig')}", profile=str(PROFILE)
    )
    outcomes = {name: o.outcome for name, o in run.outcomes.items()}
    assert {name for name, outcome in outcomes.items() if outcome != "passed"} == EXPECTED_FAILURES, (
        run.result.stdout.str()
    )
    assert all(outcomes[name] == "failed" for name in EXPECTED_FAILURES)  # failures, not errors (no 403 anywhere)
    assert "test_portal_services[registered]" in outcomes  # the service proxy, with resourceNames name:port
    assert "test_proxies_synced[all-proxies]" in outcomes  # the port-forward over WebSocket
    assert run.result.ret == 1
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert "system:serviceaccount:conformance:conformance" in json.dumps(manifest)
