"""Mesh traffic and volume fill against a real Prometheus: Debian's prometheus scraping series that the node
exporter's textfile collector serves (tests/promserver.py), judged by the checks from what the collector stored.

Istio and the kubelet are not here, so their metric names are served as text files: what is real is PromQL's
behaviour (rate over a counter, division of gauges, `by` grouping, empty results) and the collector's storage.
The demo and its mutations run the ServiceMonitor, mesh, volume and Kong storage checks end to end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest

from conformance.cluster.state import ClusterState, Provenance
from conformance.errors import CouldNotEvaluate
from conformance.monitoring import mesh, prometheus, volumes
from conformance.profile.model import Profile
from conformance.services.source import LiveContext

from conftest import Snapshot, run_suite
from promserver import PromServer

SETTLE_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def prom() -> Iterator[PromServer]:
    with PromServer() as server:
        yield server


def live_profile(prom: PromServer) -> Profile:
    return Profile.model_validate(
        {
            "apiVersion": "conformance/v1alpha1",
            "kind": "Profile",
            "metadata": {"name": "live-series"},
            "services": {
                "prometheus": {
                    "access": {"url": prom.url},
                    "mesh": {
                        "namespaces": ["kong", "idle"],
                        "workloads": [{"namespace": "kong", "name": "kong"}],
                        "max_error_ratio": 0.1,
                    },
                    "volumes": {"max_used_ratio": 0.85},
                }
            },
        }
    )


def collected(profile: Profile) -> ClusterState:
    bodies = prometheus.SOURCE.collect(LiveContext(profile, kube=None))
    state = ClusterState(Provenance("live", "test", datetime.now(UTC)))
    state.documents = {f"prometheus/{f}": prometheus.sanitize(f, b) for f, b in bodies.items()}
    return state


def requests_text(step: int) -> str:
    """kong/kong answers 20 requests a step, 1 of them a 503; the idle namespace's counter never moves."""
    lines = ["# TYPE istio_requests_total counter"]
    for namespace, workload, code, count in (
        ("kong", "kong", "200", 19 * step),
        ("kong", "kong", "503", step),
        ("idle", "idle-api", "200", 7),
    ):
        labels = (
            f'destination_workload_namespace="{namespace}",destination_workload="{workload}",response_code="{code}"'
        )
        lines.append(f"istio_requests_total{{{labels}}} {count}")
    return "\n".join(lines) + "\n"


VOLUMES_TEXT = """\
# TYPE kubelet_volume_stats_used_bytes gauge
kubelet_volume_stats_used_bytes{namespace="data",persistentvolumeclaim="db"} 40
kubelet_volume_stats_used_bytes{namespace="data",persistentvolumeclaim="logs"} 95
# TYPE kubelet_volume_stats_capacity_bytes gauge
kubelet_volume_stats_capacity_bytes{namespace="data",persistentvolumeclaim="db"} 100
kubelet_volume_stats_capacity_bytes{namespace="data",persistentvolumeclaim="logs"} 100
"""


def wait_for(prom: PromServer, expression: str, count: int) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        result = prom.query(expression)
        if len(result) == count:
            return
        time.sleep(0.3)
    raise AssertionError(f"{expression} did not give {count} series within {SETTLE_TIMEOUT:.0f}s\n{prom.logs()}")


@pytest.mark.slow
def test_live_mesh_traffic_and_volume_fill(prom: PromServer) -> None:
    profile = live_profile(prom)
    assert profile.services is not None
    assert profile.services.prometheus is not None
    section = profile.services.prometheus
    assert section.mesh is not None
    assert section.volumes is not None
    kong = mesh.Destination("kong", None, section.mesh)
    kong_proxy = mesh.Destination("kong", "kong", section.mesh)
    idle = mesh.Destination("idle", None, section.mesh)
    fill = volumes.Fill(section.volumes)

    # Nothing exposes these metrics yet: a query with no series cannot be judged, and is never a pass.
    empty = collected(profile)
    for file in (prometheus.MESH, prometheus.VOLUMES):
        stored = orjson.loads(empty.documents[f"prometheus/{file}"])
        assert stored["response"]["data"]["result"] == [], stored
    with pytest.raises(CouldNotEvaluate, match=r"gave no series \(is istio_requests_total scraped\?\)"):
        mesh.traffic(empty, kong, profile)
    with pytest.raises(CouldNotEvaluate, match="gave no series"):
        mesh.errors(empty, kong, profile)
    with pytest.raises(CouldNotEvaluate, match=r"gave no series \(is kubelet_volume_stats_used_bytes scraped\?\)"):
        volumes.fill(empty, fill, profile)

    # The counters move for a few scrapes (one a second), so rate() over them has two or more samples.
    prom.write_metrics("volumes", VOLUMES_TEXT)
    for step in range(1, 5):
        prom.write_metrics("istio", requests_text(step))
        time.sleep(1.1)
    wait_for(prom, 'rate(istio_requests_total{destination_workload_namespace="kong"}[5m]) > 0', 2)
    wait_for(prom, prometheus.VOLUME_EXPRESSION, 2)

    state = collected(profile)
    assert orjson.loads(state.documents[f"prometheus/{prometheus.MESH}"])["expression"] == prometheus.MESH_EXPRESSION
    assert mesh.traffic(state, kong, profile).passed
    assert mesh.traffic(state, kong_proxy, profile).passed
    stopped = mesh.traffic(state, idle, profile)
    assert [str(c) for c in stopped.culprits] == ["idle no requests through the mesh in the last 5 minutes"]

    # One response in twenty is a 503: 5%, under the 10% allowed, over a 1% budget.
    share = mesh.errors(state, kong, profile)
    assert share.passed, share.observed
    assert share.observed.startswith("kong: 5.00% 5xx (")
    strict = mesh.Destination("kong", None, section.mesh.model_copy(update={"max_error_ratio": 0.01}))
    assert [c.observed for c in mesh.errors(state, strict, profile).culprits] == ["5.00% of responses are 5xx"]
    with pytest.raises(CouldNotEvaluate, match="idle had no requests in the last 5 minutes"):
        mesh.errors(state, idle, profile)

    filled = volumes.fill(state, fill, profile)
    assert [str(c) for c in filled.culprits] == ["data/logs 95.0% full"]
    assert filled.observed == "2 PVCs; fullest data/logs at 95.0%"


# -- the demo and its mutations --------------------------------------------------------------------

NEW_CHECKS = "service_monitors or mesh_ or volume_usage or kong_database"


def demo_outcomes(pytester: pytest.Pytester, s: Snapshot) -> dict[str, str]:
    run = run_suite(pytester, f"--snapshot={s.write(pytester.path / 'snapshot')}", "-k", NEW_CHECKS)
    return {k: v.outcome for k, v in run.outcomes.items()}


DEMO_OUTCOMES = {
    "test_service_monitors_scraped[service-monitors]": "passed",
    **{
        f"test_mesh_{c}[{d}]": "passed"
        for c in ("traffic", "errors")
        for d in ("kong", "data-platform", "kong/kong", "data-platform/portal-services")
    },
    "test_volume_usage[pvcs]": "passed",
    "test_kong_database[kong-admin]": "passed",
}


def break_demo(s: Snapshot) -> None:
    """Kong's ServiceMonitor loses its targets, portal-services' traffic stops and Kong answers 503s, a
    volume fills up, and Kong runs DB-less."""
    targets = s.files["prometheus/targets.json"]["data"]["activeTargets"]
    targets[:] = [t for t in targets if t["scrapePool"] != "serviceMonitor/kong/kong/0"]
    result = s.files["prometheus/mesh-requests.json"]["response"]["data"]["result"]
    for sample in result:
        labels = sample["metric"]
        if labels["destination_workload"] == "portal-services":
            sample["value"][1] = "0"
        elif labels["response_code"] == "503":
            sample["value"][1] = "2.5"
    volumes_result = s.files["prometheus/volume-usage.json"]["response"]["data"]["result"]
    volumes_result[0]["value"][1] = "0.93"
    s.files["kong/status.json"] = {"configuration_hash": "a" * 32, "server": {}}


def test_demo_passes_the_new_checks_and_each_fails_on_its_fault(demo: Snapshot, pytester: pytest.Pytester) -> None:
    assert demo_outcomes(pytester, demo) == DEMO_OUTCOMES
    break_demo(demo)
    outcomes = demo_outcomes(pytester, demo)
    assert outcomes == {
        **DEMO_OUTCOMES,
        "test_service_monitors_scraped[service-monitors]": "failed",
        "test_mesh_errors[kong]": "failed",
        "test_mesh_errors[kong/kong]": "failed",
        "test_mesh_traffic[data-platform/portal-services]": "failed",
        "test_mesh_traffic[data-platform]": "failed",
        "test_mesh_errors[data-platform/portal-services]": "error",
        "test_mesh_errors[data-platform]": "error",
        "test_volume_usage[pvcs]": "failed",
        "test_kong_database[kong-admin]": "failed",
    }


def test_demo_without_the_query_results_cannot_be_evaluated(demo: Snapshot, pytester: pytest.Pytester) -> None:
    for file in ("prometheus/mesh-requests.json", "prometheus/volume-usage.json"):
        demo.files[file]["response"]["data"]["result"] = []
    outcomes = demo_outcomes(pytester, demo)
    assert outcomes == {k: ("error" if "mesh" in k or "volume" in k else "passed") for k in DEMO_OUTCOMES}
