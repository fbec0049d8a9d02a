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


def make_baseline(snapshot: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "baseline", f"--snapshot={snapshot}", f"--out={out}", "--name=observed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("baseline") / "observed.yaml"
    done = make_baseline(DEMO, out)
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


@pytest.mark.parametrize(
    ("change", "failing", "culprit"),
    [
        (crash, "test_no_failing_pods[kong]", "kong-884b8f4bd-sr4v7"),
        (lose_a_replica, "test_workload_ready[kong/Deployment/kong]", "Deployment kong/kong"),
        (drop_a_label, "test_namespace_labels[data-platform]", "istio-injection"),
        (lose_a_node, "test_nodes[count]", "2"),
    ],
    ids=["a pod crashes", "a workload loses a replica", "a namespace label goes", "a node goes"],
)
def test_the_baseline_fails_naming_the_culprit_when_the_state_drifts(
    observed: Path,
    pytester: pytest.Pytester,
    demo: Snapshot,
    change: Callable[[Snapshot], None],
    failing: str,
    culprit: str,
) -> None:
    change(demo)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}", profile=str(observed))
    assert run.result.ret == 1, run.result.stdout.str()
    not_passed = run.not_passed()
    assert failing in not_passed, sorted(not_passed)
    assert not_passed[failing].outcome == "failed"
    assert culprit in not_passed[failing].message
