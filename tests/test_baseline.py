"""`python -m conformance baseline`: a profile made from a known-good state passes on that state, validates as a
profile, marks every value observed, and fails naming the culprit when the state drifts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conformance.profile.loader import load_profile

from conftest import DEMO, ROOT, Snapshot, run_suite


def make_baseline(snapshot: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "baseline", f"--snapshot={snapshot}", f"--out={out}", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("baseline") / "observed.yaml"
    done = make_baseline(DEMO, out, "--name=observed")
    assert done.returncode == 0, done.stderr
    return out


def every_entry(value: object) -> list[dict[str, object]]:
    """Every mapping of the document that carries a basis (the traced entries)."""
    found: list[dict[str, object]] = []
    if isinstance(value, dict):
        if "basis" in value:
            found.append(value)
        for item in value.values():
            found += every_entry(item)
    elif isinstance(value, list):
        for item in value:
            found += every_entry(item)
    return found


def test_the_baseline_validates_and_marks_every_value_observed(observed: Path) -> None:
    loaded = load_profile(str(observed), observed.parent)
    document = yaml.safe_load(observed.read_text())
    entries = every_entry(document)
    assert len(entries) > 50
    assert {e["basis"] for e in entries} == {"observed"}
    assert {e["observed_at"] for e in entries} == {"2025-10-22T03:30:00Z"}  # the demo's collection time
    profile = loaded.profile
    assert profile.workloads is not None
    kong = next(w for w in profile.workloads.required if w.namespace == "kong" and w.name == "kong")
    assert (kong.replicas, kong.containers) == (2, 2)
    parked = {(w.namespace, w.name) for w in profile.workloads.scaled_down}
    assert {("data-platform", "kafka-connect"), ("cloudflare-tunnel", "cloudflared")} <= parked
    assert profile.nodes is not None
    assert profile.nodes.count == 2


def test_the_baseline_passes_on_the_state_it_was_made_from(observed: Path, pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}", profile=str(observed))
    assert run.result.ret == 0, run.result.stdout.str()
    assert run.not_passed() == {}
    assert len(run.outcomes) > 90


def crash(s: Snapshot) -> None:
    pod = s.get("pods", "kong", "kong-884b8f4bd-sr4v7")
    for status in pod["status"]["containerStatuses"]:
        if status["name"] == "proxy":
            status.update(ready=False, restartCount=12, state={"waiting": {"reason": "CrashLoopBackOff"}})


def lose_a_replica(s: Snapshot) -> None:
    s.get("deployments.apps", "kong", "kong")["status"].update(readyReplicas=1, availableReplicas=1)


def drop_a_label(s: Snapshot) -> None:
    del s.get("namespaces", "", "data-platform")["metadata"]["labels"]["istio-injection"]


def lose_a_node(s: Snapshot) -> None:
    s.items("nodes").pop()


@pytest.fixture(scope="module")
def with_services(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("baseline") / "services.yaml"
    done = make_baseline(DEMO, out, "--profile=prod", "--name=services")
    assert done.returncode == 0, done.stderr
    return out, done.stderr


def test_the_services_baseline_records_what_the_services_answer(with_services: tuple[Path, str]) -> None:
    path, stderr = with_services
    services = yaml.safe_load(path.read_text())["services"]
    kafka, portal, grafana, jaeger, prometheus = (
        services[name] for name in ("kafka", "portal", "grafana", "jaeger", "prometheus")
    )
    for section in (kafka, portal, grafana, jaeger, prometheus):
        assert (section["basis"], section["observed_at"]) == ("observed", "2025-10-22T03:30:00Z")
    # The settings come from the profile given; the values from what the services answered.
    assert kafka["bootstrap"] == "kafka.data-platform.svc.cluster.local:9092"
    assert kafka["brokers"] == 1
    assert kafka["topics"]["prefixes"] == ["data-", "audit-", "system-"]
    assert kafka["topics"]["min"] == len(kafka["topics"]["names"]) == 12
    assert "__consumer_offsets" not in kafka["topics"]["names"]
    assert len(portal["expected"]) == 12
    assert {"Data Platform Events", "Kong API Gateway", "Service Mesh Overview"} <= set(grafana["dashboards"])
    assert jaeger["min_services"] == len(jaeger["services"])
    assert {"kubernetes-nodes", "velero"} <= set(prometheus["jobs"])
    assert prometheus["min_up_ratio"] == 1.0
    # What no service answers keeps the given profile's provenance: an assumption stays marked as one.
    assert prometheus["mesh"]["basis"] == "assumed"
    assert services["istio"]["basis"] == "report"
    assert {t["basis"] for t in portal["targets"]} == {"assumed"}
    # Targets pointing at nothing (removed components) are left out, and said to be.
    assert {t["service"] for t in portal["targets"]}.isdisjoint({"Kiali", "Apache Doris"})
    assert "left out: services.portal.targets: Kiali: Deployment istio-system/kiali does not exist" in stderr
    assert path.read_text().count("# Values marked basis: observed were read off the cluster") == 1


def test_the_services_baseline_passes_on_its_own_state(
    with_services: tuple[Path, str], pytester: pytest.Pytester
) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}", profile=str(with_services[0]))
    assert run.result.ret == 0, run.result.stdout.str()
    assert run.not_passed() == {}
    names = set(run.outcomes)
    for check in (
        "test_kafka_topics[topics]",
        "test_grafana_dashboards[dashboards]",
        "test_portal_services[registered]",
    ):
        assert check in names, sorted(names)


def lose_a_topic(s: Snapshot) -> None:
    del s.files["kafka/metadata.json"]["topics"]["system-alerts"]
    s.files["kafka/topics.txt"] = s.files["kafka/topics.txt"].replace("system-alerts\n", "")


def lose_a_dashboard(s: Snapshot) -> None:
    s.files["grafana/search.json"] = [d for d in s.files["grafana/search.json"] if d["title"] != "Kong API Gateway"]


def deregister(s: Snapshot) -> None:
    portal = s.files["portal/services.json"]
    portal["services"] = [e for e in portal["services"] if e["name"] != "Trino"]


def job_goes_down(s: Snapshot) -> None:
    for target in s.files["prometheus/targets.json"]["data"]["activeTargets"]:
        if target["labels"]["job"] == "velero":
            target.update(health="down", lastError="connection refused")


def test_a_service_the_baseline_cannot_read_is_left_out_saying_why(demo: Snapshot, tmp_path: Path) -> None:
    demo.files["grafana/search.json"] = {"message": "Unauthorized"}
    snapshot = demo.write(tmp_path / "snapshot")
    done = make_baseline(snapshot, tmp_path / "out.yaml", "--profile=prod")
    assert done.returncode == 0, done.stderr
    assert "grafana" not in yaml.safe_load((tmp_path / "out.yaml").read_text())["services"]
    said = "left out: services.grafana: could not be read: grafana: grafana/search.json: expected a JSON array"
    assert said in done.stderr


def test_a_bad_profile_for_the_baseline_is_one_message(tmp_path: Path) -> None:
    done = make_baseline(DEMO, tmp_path / "out.yaml", "--profile=no-such-profile")
    assert done.returncode == 3
    assert "no-such-profile" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.yaml").exists()


def observed_profile(request: pytest.FixtureRequest, which: str) -> Path:
    made = request.getfixturevalue(which)
    return made[0] if isinstance(made, tuple) else Path(made)


@pytest.mark.parametrize(
    ("which", "change", "failing", "culprit"),
    [
        ("observed", crash, "test_no_failing_pods[kong]", "kong-884b8f4bd-sr4v7"),
        ("observed", lose_a_replica, "test_workload_ready[kong/Deployment/kong]", "Deployment kong/kong"),
        ("observed", drop_a_label, "test_namespace_labels[data-platform]", "istio-injection"),
        ("observed", lose_a_node, "test_nodes[count]", "2"),
        ("with_services", lose_a_topic, "test_kafka_topics[topics]", "system-alerts"),
        ("with_services", lose_a_dashboard, "test_grafana_dashboards[dashboards]", "Kong API Gateway"),
        ("with_services", deregister, "test_portal_services[registered]", "Trino"),
        ("with_services", job_goes_down, "test_prometheus_targets[job/velero]", "connection refused"),
    ],
    ids=[
        "a pod crashes",
        "a workload loses a replica",
        "a namespace label goes",
        "a node goes",
        "a topic goes",
        "a dashboard goes",
        "a service is deregistered",
        "a job's target goes down",
    ],
)
def test_the_baseline_fails_naming_the_culprit_when_the_state_drifts(
    request: pytest.FixtureRequest,
    pytester: pytest.Pytester,
    demo: Snapshot,
    which: str,
    change: Callable[[Snapshot], None],
    failing: str,
    culprit: str,
) -> None:
    profile = observed_profile(request, which)
    change(demo)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}", profile=str(profile))
    assert run.result.ret == 1, run.result.stdout.str()
    not_passed = run.not_passed()
    assert failing in not_passed, sorted(not_passed)
    assert not_passed[failing].outcome == "failed"
    assert culprit in not_passed[failing].message
