"""Prometheus checks and the Prometheus source of cluster utilization: demo mutations, sanitizing, live Prometheus.

Threshold logic is judged on snapshots (exact numbers); the live tests run Debian's prometheus and
node exporter (tests/promserver.py) and assert shapes and semantics, since their values come from this host.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, quote_plus

import orjson
import pytest

from conformance.cluster.snapshot import read_snapshot
from conformance.cluster.state import ClusterState, Provenance
from conformance.errors import CouldNotEvaluate, SourceError
from conformance.monitoring import prometheus
from conformance.nodes.utilization import thresholds, usage
from conformance.profile.loader import load_profile
from conformance.profile.model import Profile
from conformance.profile.services import Prometheus
from conformance.services.source import LiveContext

from conftest import DEMO, ROOT, Snapshot, SuiteRun, run_suite
from kubeapi import KubeApiServer
from promserver import DOWN_JOB, PromServer, free_port, snapshot_proxy

TARGETS = "prometheus/targets.json"
CPU = "prometheus/cpu-utilization.json"
MEMORY = "prometheus/memory-utilization.json"
PROD_MIN_UP = Fraction("0.95")  # profiles/prod.yaml services.prometheus.min_up_ratio
PROD_JOBS = ("kubernetes-nodes", "kubernetes-pods", "kube-state-metrics", "node-exporter")
# A password with characters that URL-encoding and base64 both change.
CANARY = "cAnary-9f1c/S3cr3t+=&x"
CANARY_FORMS = (CANARY, quote(CANARY, safe=""), quote_plus(CANARY), base64.b64encode(CANARY.encode()).decode())


def target_ids(prefix: str = "test_prometheus_targets") -> list[str]:
    return [f"{prefix}[up-ratio]", *(f"{prefix}[job/{job}]" for job in PROD_JOBS)]


def active(s: Snapshot) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = s.files[TARGETS]["data"]["activeTargets"]
    return targets


def take_down(target: dict[str, Any], error: str = "context deadline exceeded") -> None:
    target.update(health="down", lastError=f'Get "{target["scrapeUrl"]}": {error}')


def of_job(s: Snapshot, job: str) -> list[dict[str, Any]]:
    return [t for t in active(s) if t["labels"]["job"] == job]


def run_demo(pytester: pytest.Pytester, s: Snapshot, *args: str, profile: str = "prod") -> SuiteRun:
    directory = s.write(pytester.path / "snapshot")
    return run_suite(pytester, f"--snapshot={directory}", "-k", "prometheus_targets", *args, profile=profile)


def prometheus_usage_profile(directory: Path, capacity: str = "{source_of_usage: prometheus}", extra: str = "") -> str:
    """prod, with cluster utilization read from Prometheus (prod's thresholds unless `capacity` says otherwise)."""
    path = directory / "prom-usage.yaml"
    path.write_text(
        "apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: prom-usage}\n"
        f"extends: {ROOT / 'profiles' / 'prod.yaml'}\n"
        f"capacity: {capacity}\n" + extra
    )
    return str(path)


def no_trace_of_canary(run_dir: Path) -> None:
    for path in run_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            for form in CANARY_FORMS:
                assert form not in text, f"{path} holds {form!r}"


# -- the demo and its mutations --------------------------------------------------------------------


def test_demo_passes_every_prometheus_check(demo: Snapshot, pytester: pytest.Pytester) -> None:
    assert len(active(demo)) >= 25
    assert all(t["health"] == "up" for t in active(demo))
    run = run_demo(pytester, demo)
    assert run.result.ret == 0, run.result.stdout.str()
    assert {k: v.outcome for k, v in run.outcomes.items()} == dict.fromkeys(target_ids(), "passed")


def test_one_target_down_fails_only_its_job_when_the_ratio_still_holds(
    demo: Snapshot, pytester: pytest.Pytester
) -> None:
    (ksm,) = of_job(demo, "kube-state-metrics")
    take_down(ksm, "dial tcp 10.244.1.169:8080: connect: connection refused")
    total = len(active(demo))
    assert Fraction(total - 1, total) >= PROD_MIN_UP  # 31/32 still meets 95%
    run = run_demo(pytester, demo)
    seen = run.not_passed()
    assert set(seen) == {"test_prometheus_targets[job/kube-state-metrics]"}
    message = seen["test_prometheus_targets[job/kube-state-metrics]"]
    assert message.outcome == "failed"
    assert "kube-state-metrics/10.244.1.169:8080 down: Get " in message.message
    assert "connection refused" in message.message
    assert "0/1 targets up" in message.message
    assert run.result.ret != 0


def test_two_targets_down_break_the_ratio_and_their_job(demo: Snapshot, pytester: pytest.Pytester) -> None:
    exporters = of_job(demo, "node-exporter")
    assert len(exporters) == 2
    for target in exporters:
        take_down(target)
    total = len(active(demo))
    assert Fraction(total - 2, total) < PROD_MIN_UP  # 30/32 is below 95%
    run = run_demo(pytester, demo)
    seen = run.not_passed()
    assert set(seen) == {"test_prometheus_targets[up-ratio]", "test_prometheus_targets[job/node-exporter]"}
    assert all(o.outcome == "failed" for o in seen.values())
    ratio = seen["test_prometheus_targets[up-ratio]"].message
    assert f"{total - 2}/{total} targets up (93.8%)" in ratio
    assert "expected: at least 95% of active targets up" in ratio
    for target in exporters:
        assert f"node-exporter/{target['labels']['instance']} down: Get " in ratio


def test_unknown_health_counts_as_not_up(demo: Snapshot, pytester: pytest.Pytester) -> None:
    (ksm,) = of_job(demo, "kube-state-metrics")
    ksm.update(health="unknown", lastScrape="0001-01-01T00:00:00Z")
    run = run_demo(pytester, demo)
    seen = run.not_passed()
    assert set(seen) == {"test_prometheus_targets[job/kube-state-metrics]"}
    assert "unknown (not scraped yet)" in seen["test_prometheus_targets[job/kube-state-metrics]"].message


def test_a_named_job_without_targets_fails(demo: Snapshot, pytester: pytest.Pytester) -> None:
    for target in of_job(demo, "kubernetes-pods"):
        active(demo).remove(target)
    run = run_demo(pytester, demo)
    seen = run.not_passed()
    assert set(seen) == {"test_prometheus_targets[job/kubernetes-pods]"}
    message = seen["test_prometheus_targets[job/kubernetes-pods]"].message
    assert seen["test_prometheus_targets[job/kubernetes-pods]"].outcome == "failed"
    assert "job kubernetes-pods no active target" in message
    assert "jobs: alertmanager, " in message


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(
            lambda s: s.files.update(
                {TARGETS: {"status": "error", "errorType": "unavailable", "error": "TSDB not ready"}}
            ),
            'Prometheus answered status "error": unavailable: TSDB not ready',
            id="status-error",
        ),
        pytest.param(lambda s: s.truncated.update({TARGETS: 900}), f"{TARGETS} is not valid JSON", id="truncated"),
    ],
)
def test_unreadable_targets_are_errors_for_every_target_check(
    mutate: Any, reason: str, demo: Snapshot, pytester: pytest.Pytester
) -> None:
    mutate(demo)
    run = run_demo(pytester, demo)
    outcomes = run.outcomes
    assert set(outcomes) == set(target_ids())
    for name, outcome in outcomes.items():
        assert outcome.outcome == "error", name
        assert reason in outcome.message, outcome.message
    assert run.result.ret != 0


def snapshot_state(s: Snapshot, directory: Path) -> ClusterState:
    """The state a snapshot run would judge (files read and sanitized by the suite's own reader)."""
    return read_snapshot(s.write(directory), [], [prometheus.SOURCE])


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(
            lambda s: s.files.update({TARGETS: {"status": "success", "data": {"activeTargets": []}}}),
            "Prometheus reports no active targets",
            id="no-targets",
        ),
        pytest.param(
            lambda s: s.files[TARGETS]["data"]["activeTargets"][3].pop("health"),
            "activeTargets[3] (https://kubernetes.default.svc:443/api/v1/nodes/carbon-worker-1/proxy/metrics): "
            "health is None",
            id="no-health",
        ),
        pytest.param(
            lambda s: s.files[TARGETS]["data"]["activeTargets"][0]["labels"].pop("job"),
            "activeTargets[0] (http://10.244.1.197:9090/metrics): labels.job is missing",
            id="no-job",
        ),
        pytest.param(
            lambda s: s.files.update({TARGETS: {"status": "success", "data": {}}}),
            "data.activeTargets is missing or not a list",
            id="no-list",
        ),
        pytest.param(
            lambda s: s.files.update({TARGETS: {"status": "partial", "data": {}}}),
            "envelope status is 'partial'",
            id="odd-status",
        ),
        pytest.param(lambda s: s.files.update({TARGETS: []}), "expected a Prometheus API envelope", id="not-object"),
        pytest.param(lambda s: s.files.pop(TARGETS), f"snapshot has no {TARGETS}", id="missing"),
    ],
)
@pytest.mark.parametrize("check", ["up-ratio", "job/node-exporter"])
def test_unusable_targets_cannot_be_evaluated(
    check: str, mutate: Any, reason: str, demo: Snapshot, tmp_path: Path
) -> None:
    mutate(demo)
    state = snapshot_state(demo, tmp_path)
    profile = load_profile("prod", ROOT / "profiles").profile
    expectation = dict(prometheus.expand(profile) or [])[check]
    with pytest.raises(CouldNotEvaluate) as raised:
        prometheus.targets(state, expectation, profile)
    assert reason in str(raised.value)


def test_credentials_in_targets_never_reach_the_run_directory(demo: Snapshot, pytester: pytest.Pytester) -> None:
    encoded = quote(CANARY, safe="")
    for index, target in enumerate(of_job(demo, "node-exporter")):
        address = target["labels"]["instance"]
        url = f"http://scraper:{encoded}@{address}/metrics?token={encoded}&module=node"
        target.update(scrapeUrl=url, globalUrl=url)
        target["discoveredLabels"].update(__address__=f"scraper:{CANARY}@{address}", __param_token=CANARY)
        target["labels"]["scrape_user"] = f"scraper:{CANARY}@{address}" if index == 0 else "scraper"
        take_down(target, "server returned HTTP status 401 Unauthorized")
    run = run_demo(pytester, demo)
    assert set(run.not_passed()) == {"test_prometheus_targets[up-ratio]", "test_prometheus_targets[job/node-exporter]"}
    message = run.outcomes["test_prometheus_targets[up-ratio]"].message
    assert 'down: Get "http://***@10.0.0.1:9100/metrics?token=***&module=***": server returned HTTP status 401' in (
        message
    )
    stored = json.loads((run.run_dir / "evidence" / TARGETS).read_text())
    assert all("discoveredLabels" not in t for t in stored["data"]["activeTargets"])
    assert "droppedTargets" not in stored["data"]
    no_trace_of_canary(run.run_dir)


# -- capacity from Prometheus ----------------------------------------------------------------------


def usage_value(s: Snapshot, file: str) -> list[Any]:
    pair: list[Any] = s.files[file]["response"]["data"]["result"][0]["value"]
    return pair


def run_usage(pytester: pytest.Pytester, s: Snapshot) -> SuiteRun:
    directory = s.write(pytester.path / "snapshot")
    profile = prometheus_usage_profile(pytester.path)
    return run_suite(pytester, f"--snapshot={directory}", "-k", "utilization", profile=profile)


def test_demo_usage_from_prometheus_passes_and_says_so(demo: Snapshot, pytester: pytest.Pytester) -> None:
    # Consistent with metrics.k8s.io in the demo: ~45% CPU and ~44% memory, as the report measured.
    assert 0.44 < float(usage_value(demo, CPU)[1]) < 0.46
    assert 0.43 < float(usage_value(demo, MEMORY)[1]) < 0.45
    (demo.files["kubernetes/nodes.metrics.k8s.io.json"]["items"]).clear()  # not read on this path
    run = run_usage(pytester, demo)
    assert run.result.ret == 0, run.result.stdout.str()
    assert {k: v.outcome for k, v in run.outcomes.items()} == {
        "test_cluster_utilization[cpu]": "passed",
        "test_cluster_utilization[memory]": "passed",
    }
    report = (run.run_dir / "report.html").read_text()
    assert "usage 45.1% of node capacity (Prometheus: cluster:node_cpu:ratio_rate5m at 2025-10-22T03:30:00Z)" in report
    assert "usage 44.2% of node capacity (Prometheus: 1 - sum(node_memory_MemAvailable_bytes)" in report
    assert not (run.run_dir / "evidence" / "kubernetes" / "nodes.metrics.k8s.io.json").exists()


def test_usage_over_the_threshold_fails(demo: Snapshot, pytester: pytest.Pytester) -> None:
    usage_value(demo, CPU)[1] = "0.8125"
    run = run_usage(pytester, demo)
    seen = run.not_passed()
    assert set(seen) == {"test_cluster_utilization[cpu]"}
    message = seen["test_cluster_utilization[cpu]"].message
    assert "cluster cpu usage 81.2% of node capacity, over the 70% threshold" in message
    assert "expected: cluster cpu usage at most 70% of node capacity" in message


def test_usage_exactly_at_the_threshold_passes(demo: Snapshot, pytester: pytest.Pytester) -> None:
    usage_value(demo, MEMORY)[1] = "0.75"
    run = run_usage(pytester, demo)
    assert run.not_passed() == {}


def test_a_bare_query_body_is_accepted(demo: Snapshot, pytester: pytest.Pytester) -> None:
    demo.files[MEMORY] = demo.files[MEMORY]["response"]
    demo.files[MEMORY]["data"]["result"][0]["value"][1] = "0.9"
    run = run_usage(pytester, demo)
    seen = run.not_passed()
    assert set(seen) == {"test_cluster_utilization[memory]"}
    assert "(expression not recorded)" in seen["test_cluster_utilization[memory]"].message


def two_samples(s: Snapshot) -> None:
    result = s.files[CPU]["response"]["data"]["result"]
    result.append({"metric": {"cluster": "other"}, "value": result[0]["value"]})


def test_an_error_envelope_for_usage_is_an_error_outcome(demo: Snapshot, pytester: pytest.Pytester) -> None:
    demo.files[CPU]["response"] = {"status": "error", "errorType": "execution", "error": "query timed out"}
    run = run_usage(pytester, demo)
    seen = run.not_passed()
    assert set(seen) == {"test_cluster_utilization[cpu]"}
    assert seen["test_cluster_utilization[cpu]"].outcome == "error"
    assert (
        'Prometheus answered status "error": execution: query timed out'
        in seen["test_cluster_utilization[cpu]"].message
    )


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(lambda s: s.files[CPU]["response"]["data"].update(result=[]), "gave no samples", id="no-samples"),
        pytest.param(two_samples, "gave 2 samples; expected exactly one", id="two-samples"),
        pytest.param(lambda s: usage_value(s, CPU).__setitem__(1, "NaN"), "'NaN', not a finite number", id="nan"),
        pytest.param(lambda s: usage_value(s, CPU).__setitem__(1, "+Inf"), "'+Inf', not a finite number", id="inf"),
        pytest.param(lambda s: usage_value(s, CPU).__setitem__(1, "-0.2"), "-0.2, a negative utilization", id="neg"),
        pytest.param(lambda s: usage_value(s, CPU).__setitem__(1, "45%"), "'45%', not a finite number", id="text"),
        pytest.param(lambda s: usage_value(s, CPU).__setitem__(1, 0.45), 'no value [timestamp, "number"]', id="float"),
        pytest.param(lambda s: usage_value(s, CPU).__setitem__(0, 1e300), "timestamp 1e+300 is not a Unix", id="ts"),
        pytest.param(
            lambda s: s.files[CPU]["response"]["data"].update(resultType="matrix"), "gave a matrix result", id="matrix"
        ),
        pytest.param(
            lambda s: s.files[CPU]["response"]["data"].update(resultType="scalar", result=[1761103800, "0.45"]),
            "gave a scalar result",
            id="scalar",
        ),
        pytest.param(
            lambda s: s.files.update(
                {
                    CPU: {
                        "status": "error",
                        "errorType": "execution",
                        "error": "query timed out in expression evaluation",
                    }
                }
            ),
            'Prometheus answered status "error": execution: query timed out',
            id="bare-status-error",
        ),
        pytest.param(
            lambda s: s.files.update({CPU: {"expression": "x", "error": "GET /api/v1/query answered HTTP 503"}}),
            "query x got no answer: GET /api/v1/query answered HTTP 503",
            id="no-answer",
        ),
        pytest.param(lambda s: s.files.update({CPU: {"response": {}}}), "expected a /api/v1/query body", id="odd"),
        pytest.param(lambda s: s.truncated.update({CPU: 120}), f"{CPU} is not valid JSON", id="truncated"),
        pytest.param(lambda s: s.files.pop(CPU), f"snapshot has no {CPU}", id="missing"),
    ],
)
def test_unusable_usage_results_cannot_be_evaluated(mutate: Any, reason: str, demo: Snapshot, tmp_path: Path) -> None:
    mutate(demo)
    state = snapshot_state(demo, tmp_path / "snapshot")
    profile = load_profile(prometheus_usage_profile(tmp_path), ROOT / "profiles").profile
    rule = dict(thresholds(profile, "usage") or [])["cpu"]
    with pytest.raises(CouldNotEvaluate) as raised:
        usage(state, rule, profile)
    assert reason in str(raised.value)


def test_default_usage_source_is_still_metrics_k8s_io(demo: Snapshot, pytester: pytest.Pytester) -> None:
    usage_value(demo, CPU)[1] = "0.99"  # ignored: prod reads metrics.k8s.io
    directory = demo.write(pytester.path / "snapshot")
    run = run_suite(pytester, f"--snapshot={directory}", "-k", "utilization")
    assert run.not_passed() == {}
    report = (run.run_dir / "report.html").read_text()
    # The demo's nodes.metrics.k8s.io usage, 20112345678n + 19587654321n = 39.7 cores, over nodes.json's allocatable,
    # 2 x 43800m = 87.6 cores, is 45.3%; carbon-worker-1 alone uses 20.1 of 43.8 cores, 45.9%, truncated as kubectl top.
    assert "usage 45.3% (39.7 cores of 87.6 cores allocatable); per node: carbon-worker-1 45%" in report
    assert "Prometheus" not in report


def test_demo_prometheus_served_through_the_service_proxy_gives_the_snapshot_verdicts(
    tmp_path: Path, pytester: pytest.Pytester
) -> None:
    profile = prometheus_usage_profile(tmp_path)
    selection = ("-k", "prometheus_targets or utilization")
    with KubeApiServer.from_snapshot(DEMO, token="prom-demo-token-7d2") as api:
        api.register_service_proxy("monitoring", "prometheus", 9090, snapshot_proxy(DEMO))
        live = run_suite(
            pytester, f"--kubeconfig={api.write_kubeconfig(tmp_path / 'kubeconfig')}", *selection, profile=profile
        )
    offline = run_suite(pytester, f"--snapshot={DEMO}", *selection, profile=profile)
    outcomes = {k: v.outcome for k, v in live.outcomes.items()}
    assert outcomes == {k: v.outcome for k, v in offline.outcomes.items()}
    assert outcomes == {
        **dict.fromkeys(target_ids(), "passed"),
        "test_cluster_utilization[cpu]": "passed",
        "test_cluster_utilization[memory]": "passed",
    }
    for file in ("targets.json", "cpu-utilization.json", "memory-utilization.json"):
        collected = orjson.loads((live.run_dir / "evidence" / "prometheus" / file).read_bytes())
        assert collected == orjson.loads(prometheus.sanitize(file, (DEMO / "prometheus" / file).read_bytes())), file


# -- sanitizing, unit by unit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("http://10.0.0.1:9100/metrics", "http://10.0.0.1:9100/metrics"),
        (
            "http://u:pw@10.0.0.1:9100/metrics?token=abc&module=x",
            "http://***@10.0.0.1:9100/metrics?token=***&module=***",
        ),
        # What Prometheus 2.42 made of the static target `user:S3cr%2Ft@127.0.0.1:1` (scrapeUrl, instance, lastError):
        ("http://user:S3cr%252Ft%40127.0.0.1:1/metrics", "http://***%40127.0.0.1:1/metrics"),
        ("user:S3cr%2Ft@127.0.0.1:1", "***@127.0.0.1:1"),
        (
            'parse "http://user:S3cr%!F(MISSING)t%!.(MISSING)0.1:1/metrics": invalid URL escape',
            'parse "<URL withheld: mangled, may hold credentials>": invalid URL escape',
        ),
        (
            'Get "http://127.0.0.1:1/metrics?token=abc%26x%3D1": refused',
            'Get "http://127.0.0.1:1/metrics?token=***": refused',
        ),
    ],
)
def test_redact_text(text: str, redacted: str) -> None:
    assert prometheus.redact_text(text) == redacted


def test_sanitize_drops_discovered_labels_and_secrets_everywhere_and_is_idempotent() -> None:
    encoded = quote(CANARY, safe="")
    body = orjson.dumps(
        {
            "status": "success",
            "data": {
                "activeTargets": [
                    {
                        "discoveredLabels": {"__address__": "10.0.0.1:9100", "__param_api_key": CANARY},
                        "labels": {"instance": "10.0.0.1:9100", "job": "x", "copied": CANARY, "__tmp": CANARY},
                        "scrapeUrl": f"http://10.0.0.1:9100/metrics?api_key={encoded}",
                        "lastError": f"server said {CANARY}",
                        "health": "down",
                        "somethingNew": CANARY,
                    }
                ],
                "droppedTargets": [{"discoveredLabels": {"__param_api_key": CANARY}}],
            },
        }
    )
    once = prometheus.sanitize("targets.json", body)
    for form in CANARY_FORMS:
        assert form.encode() not in once
    target = orjson.loads(once)["data"]["activeTargets"][0]
    assert set(target) == {"labels", "scrapeUrl", "lastError", "health"}
    assert target["labels"] == {"instance": "10.0.0.1:9100", "job": "x", "copied": "***"}
    assert prometheus.sanitize("targets.json", once) == once


def test_sanitize_redacts_a_body_that_is_not_json_as_text() -> None:
    body = '{"status":"success","data":{"activeTargets":[{"scrapeUrl":"http://u:' + CANARY + '@h:1/m?t=1\\u0026a=2"'
    cleaned = prometheus.sanitize("targets.json", body.encode())
    assert CANARY.encode() not in cleaned
    assert b"http://***@h:1/m?t=***&a=***" in cleaned


# -- live Prometheus -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prom() -> Iterator[PromServer]:
    server = PromServer(down_params={"token": CANARY})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def section_of(profile: Profile) -> Prometheus:
    assert profile.services is not None
    assert profile.services.prometheus is not None
    return profile.services.prometheus


def live_profile(prom: PromServer, min_up_ratio: float, jobs: list[str]) -> Profile:
    return Profile.model_validate(
        {
            "apiVersion": "conformance/v1alpha1",
            "kind": "Profile",
            "metadata": {"name": "live"},
            "services": {"prometheus": {"access": {"url": prom.url}, "min_up_ratio": min_up_ratio, "jobs": jobs}},
            "capacity": {"source_of_usage": "prometheus", "usage": {"cpu": 1.0, "memory": 1.0}},
        }
    )


def collected(profile: Profile) -> ClusterState:
    """What a live run holds after collecting the Prometheus source: sanitized bodies."""
    bodies = prometheus.SOURCE.collect(LiveContext(profile, kube=None))
    state = ClusterState(Provenance("live", "test", datetime.now(UTC)))
    state.documents = {f"prometheus/{f}": prometheus.sanitize(f, b) for f, b in bodies.items()}
    return state


@pytest.mark.slow
def test_live_up_ratio_and_jobs(prom: PromServer) -> None:
    profile = live_profile(prom, 0.5, ["node-exporter", "prometheus", "no-such-job"])
    state = collected(profile)
    section = section_of(profile)
    passing = prometheus.up_ratio(state, prometheus.UpRatio(section), profile)
    assert passing.passed
    assert passing.inspected == 3
    assert passing.observed.startswith(f"2/3 targets up (66.7%); not up: {DOWN_JOB}/127.0.0.1:{prom.closed_port}")

    strict = section_of(live_profile(prom, 0.9, []))
    failing = prometheus.up_ratio(state, prometheus.UpRatio(strict), profile)
    assert [c.name for c in failing.culprits] == [f"{DOWN_JOB}/127.0.0.1:{prom.closed_port}"]
    assert failing.culprits[0].details["health"] == "down"
    assert "connection refused" in failing.culprits[0].observed

    assert prometheus.job_up(state, prometheus.JobUp("node-exporter", section), profile).passed
    assert prometheus.job_up(state, prometheus.JobUp("prometheus", section), profile).passed
    missing = prometheus.job_up(state, prometheus.JobUp("no-such-job", section), profile)
    assert [str(c) for c in missing.culprits] == [
        "job no-such-job no active target (not configured or nothing discovered)"
    ]
    down = prometheus.job_up(state, prometheus.JobUp(DOWN_JOB, section), profile)
    assert not down.passed


@pytest.mark.slow
def test_live_targets_are_sanitized(prom: PromServer) -> None:
    with urllib.request.urlopen(f"{prom.url}/api/v1/targets?state=active", timeout=5) as reply:
        raw = reply.read()
    assert quote(CANARY, safe="").encode() in raw  # Prometheus itself exposes the parameter
    state = collected(live_profile(prom, 0.5, []))
    stored = state.documents["prometheus/targets.json"]
    for form in CANARY_FORMS:
        assert form.encode() not in stored
    down = [t for t in orjson.loads(stored)["data"]["activeTargets"] if t["health"] == "down"]
    assert down[0]["scrapeUrl"] == f"http://127.0.0.1:{prom.closed_port}/metrics?token=***"


@pytest.mark.slow
def test_live_usage_falls_back_to_raw_node_exporter_series(prom: PromServer) -> None:
    state = collected(live_profile(prom, 0.5, []))
    stored = orjson.loads(state.documents["prometheus/cpu-utilization.json"])
    # No kubernetes-mixin rules here: the recording rule has no samples, the raw expression does.
    assert stored["tried"] == [{"expression": prometheus.CPU_RULE, "outcome": "no samples (recording rule absent?)"}]
    assert stored["expression"] == prometheus.CPU_FALLBACK
    resources: tuple[Literal["cpu", "memory"], ...] = ("cpu", "memory")
    for resource in resources:
        sample = prometheus.usage_sample(state, resource)
        assert 0.0 <= sample.value <= 1.0, sample
        assert abs((datetime.now(UTC) - sample.at).total_seconds()) < 120
    assert prometheus.usage_sample(state, "memory").expression == prometheus.MEMORY_EXPRESSION


@pytest.mark.slow
def test_live_cpu_fallback_is_the_busy_share_of_the_node(prom: PromServer) -> None:
    # One node: busy CPU-seconds per second over its number of CPUs. One query, so one evaluation time.
    busy = 'sum(rate(node_cpu_seconds_total{mode!="idle",mode!="iowait",mode!="steal"}[5m]))'
    cpus = 'count(node_cpu_seconds_total{mode="idle"})'
    (difference,) = prom.query(f"({prometheus.CPU_FALLBACK}) - on() ({busy} / {cpus})")
    assert abs(float(difference["value"][1])) < 1e-9


@pytest.mark.slow
def test_live_prometheus_error_envelope_names_error_type(prom: PromServer) -> None:
    profile = live_profile(prom, 0.5, [])
    endpoint = LiveContext(profile, kube=None).endpoint("prometheus", section_of(profile).access)
    stored = orjson.loads(prometheus.run_query(endpoint, ["sum(", prometheus.CPU_FALLBACK]))
    assert stored["expression"] == "sum("
    assert "answered HTTP 400: bad_data: " in stored["error"]
    state = ClusterState(Provenance("live", "test", datetime.now(UTC)))
    state.documents["prometheus/cpu-utilization.json"] = prometheus.sanitize(
        "cpu-utilization.json", orjson.dumps(stored)
    )
    with pytest.raises(CouldNotEvaluate, match=r"query sum\( got no answer: .*bad_data"):
        prometheus.usage_sample(state, "cpu")


@pytest.mark.slow
def test_live_unreachable_prometheus_is_a_source_error() -> None:
    profile = Profile.model_validate(
        {
            "apiVersion": "conformance/v1alpha1",
            "kind": "Profile",
            "metadata": {"name": "closed"},
            "services": {"prometheus": {"access": {"url": f"http://127.0.0.1:{free_port()}", "retries": 0}}},
        }
    )
    with pytest.raises(SourceError, match=r"cannot reach http://127\.0\.0\.1:"):
        prometheus.SOURCE.collect(LiveContext(profile, kube=None))


def forward_to(prom: PromServer) -> Any:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"{prom.url}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, {"Content-Type": reply.headers.get("Content-Type", "")}, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {"Content-Type": exc.headers.get("Content-Type", "")}, exc.read()

    return handler


@pytest.mark.slow
def test_live_run_through_the_api_server_service_proxy(
    prom: PromServer, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    with KubeApiServer.from_snapshot(DEMO, token="prom-proxy-token-41c") as api:
        api.register_service_proxy("monitoring", "prometheus", 9090, forward_to(prom))
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        profile = prometheus_usage_profile(
            tmp_path,
            # Live values are this host's: thresholds of 100% keep the verdict about shape, not load.
            "{source_of_usage: prometheus, usage: {cpu: 1.0, memory: 1.0}}",
            "services:\n  prometheus:\n"
            "    access: {service: {namespace: monitoring, name: prometheus, port: 9090}}\n"
            f"    min_up_ratio: 0.5\n    jobs: [node-exporter, prometheus, {DOWN_JOB}]\n",
        )
        run = run_suite(
            pytester, f"--kubeconfig={kubeconfig}", "-k", "prometheus_targets or utilization", profile=profile
        )
        proxied = [r.path for r in api.requests if "/services/" in r.path]
    outcomes = {k: v.outcome for k, v in run.outcomes.items()}
    assert outcomes == {
        "test_prometheus_targets[up-ratio]": "passed",
        "test_prometheus_targets[job/node-exporter]": "passed",
        "test_prometheus_targets[job/prometheus]": "passed",
        f"test_prometheus_targets[job/{DOWN_JOB}]": "failed",
        "test_cluster_utilization[cpu]": "passed",
        "test_cluster_utilization[memory]": "passed",
    }, run.result.stdout.str()
    assert (
        f"{DOWN_JOB}/127.0.0.1:{prom.closed_port} down: Get "
        in run.outcomes[f"test_prometheus_targets[job/{DOWN_JOB}]"].message
    )
    prefix = "/api/v1/namespaces/monitoring/services/prometheus:9090/proxy/api/v1/"
    assert f"{prefix}targets" in proxied
    # The recording rule, the CPU fallback, memory, and prod's mesh and volume queries (inherited by the overlay).
    assert proxied.count(f"{prefix}query") == 5
    evidence = run.run_dir / "evidence" / "prometheus"
    assert sorted(p.name for p in evidence.iterdir()) == [
        "cpu-utilization.json",
        "memory-utilization.json",
        "mesh-requests.json",
        "targets.json",
        "volume-usage.json",
    ]
    no_trace_of_canary(run.run_dir)
    # The evidence re-evaluates offline to the same verdicts.
    again = run_suite(
        pytester, f"--snapshot={run.run_dir / 'evidence'}", "-k", "prometheus_targets or utilization", profile=profile
    )
    assert {k: v.outcome for k, v in again.outcomes.items()} == outcomes
