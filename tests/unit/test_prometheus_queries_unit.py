"""Checks on Prometheus queries and targets beyond scraping: ServiceMonitors scraped, mesh traffic, volume fill
(conformance.monitoring.servicemonitors, .mesh, .volumes; the vector parsing in .prometheus)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.monitoring import mesh, prometheus, servicemonitors, volumes
from conformance.monitoring.mesh import Destination
from conformance.monitoring.servicemonitors import Scraped
from conformance.monitoring.volumes import Fill
from conformance.profile.services import MeshTraffic, ServiceMonitors, VolumeUsage

from .unitstate import PROFILE, culprits, meta, present, profile, state

DEMO = Path(__file__).resolve().parents[2] / "snapshots" / "254carbon" / "prometheus"
SM = "servicemonitors.monitoring.coreos.com"


def monitor(namespace: str, name: str) -> dict[str, Any]:
    return {"metadata": meta(name, namespace), "spec": {"endpoints": [{"port": "http"}]}}


def pool_target(pool: str, health: str = "up", instance: str = "10.0.0.1:8080") -> dict[str, Any]:
    return {"labels": {"job": pool.split("/")[2] if "/" in pool else pool, "instance": instance}, "health": health,
            "scrapePool": pool, "scrapeUrl": f"http://{instance}/metrics"}  # fmt: skip


def monitored(monitors: list[Any], targets: list[Any]) -> ClusterState:
    envelope = {"status": "success", "data": {"activeTargets": targets}}
    return state({SM: monitors}, {"prometheus/targets.json": envelope})


ALL = Scraped(ServiceMonitors())
NO_TARGET = "no active target in Prometheus (not selected, or no endpoints)"


@pytest.mark.parametrize(
    ("monitors", "targets", "scope", "want", "observed"),
    [
        pytest.param(
            [monitor("kong", "kong"), monitor("mon", "ksm")],
            [pool_target("serviceMonitor/kong/kong/0"), pool_target("serviceMonitor/mon/ksm/1", instance="b")],
            [],
            [],
            "2/2 ServiceMonitors have a target up",
            id="all-scraped",
        ),
        pytest.param(
            [monitor("kong", "kong")],
            [pool_target("serviceMonitor/kong/kong/0", "down"), pool_target("serviceMonitor/kong/kong/1")],
            [],
            [],
            "1/1 ServiceMonitors have a target up",
            id="one-endpoint-up-is-enough",
        ),
        pytest.param(
            [monitor("kong", "kong"), monitor("mon", "ksm")],
            [pool_target("serviceMonitor/kong/kong/0", "down"), pool_target("kubernetes-pods")],
            [],
            [("kong/kong", "0/1 targets up"), ("mon/ksm", NO_TARGET)],
            "0/2 ServiceMonitors have a target up",
            id="down-and-missing",
        ),
        pytest.param(
            [monitor("kong", "kong")],
            # Same name in another namespace, and a pool that only starts like it: neither is kong/kong's.
            [pool_target("serviceMonitor/other/kong/0"), pool_target("serviceMonitor/kong/kong-admin/0")],
            [],
            [("kong/kong", NO_TARGET)],
            "0/1 ServiceMonitors have a target up",
            id="matched-on-the-whole-pool",
        ),
        pytest.param(
            [monitor("kong", "kong"), monitor("mon", "ksm")],
            [pool_target("serviceMonitor/mon/ksm/0")],
            ["mon"],
            [],
            "1/1 ServiceMonitors have a target up",
            id="namespaces-scope",
        ),
    ],
)
def test_service_monitors_scraped(
    monitors: list[Any], targets: list[Any], scope: list[str], want: list[Any], observed: str
) -> None:
    finding = servicemonitors.scraped(monitored(monitors, targets), Scraped(ServiceMonitors(namespaces=scope)), PROFILE)
    assert culprits(finding) == want
    assert (finding.observed, finding.inspected) == (observed, len(monitors) - (1 if scope else 0))
    assert finding.evidence == (f"kubernetes/{SM}.json", "prometheus/targets.json")
    for culprit in finding.culprits:
        assert present(culprit.ref).kind == "ServiceMonitor"


@pytest.mark.parametrize(
    ("given", "scope", "error", "reason"),
    [
        pytest.param(monitored([], [pool_target("x")]), [], CouldNotEvaluate, "no ServiceMonitor in the cluster"),
        pytest.param(
            monitored([monitor("a", "b")], [pool_target("x")]), ["kong"], CouldNotEvaluate, "no ServiceMonitor in kong"
        ),
        pytest.param(monitored([{"metadata": {}}], []), [], MalformedObject, "item 0 has no metadata.namespace"),
        pytest.param(monitored([monitor("a", "b")], []), [], CouldNotEvaluate, "reports no active targets"),
        pytest.param(state({SM: [monitor("a", "b")]}), [], SourceError, "snapshot has no prometheus/targets.json"),
        pytest.param(
            state(documents={"prometheus/targets.json": {}}), [], SourceError, f"{SM}: was not collected in this run"
        ),
    ],
)
def test_service_monitors_cannot_be_evaluated(
    given: ClusterState, scope: list[str], error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        servicemonitors.scraped(given, Scraped(ServiceMonitors(namespaces=scope)), PROFILE)


# -- mesh traffic ----------------------------------------------------------------------------------


def vector(file: str, samples: list[tuple[dict[str, str], str]], expression: str = "q") -> ClusterState:
    result = [{"metric": labels, "value": [1761103800, value]} for labels, value in samples]
    response = {"status": "success", "data": {"resultType": "vector", "result": result}}
    return state(documents={f"prometheus/{file}": {"expression": expression, "response": response}})


def requests(*rows: tuple[str, str, str, str]) -> ClusterState:
    labels = ("destination_workload_namespace", "destination_workload", "response_code")
    return vector(prometheus.MESH, [(dict(zip(labels, row[:3], strict=True)), row[3]) for row in rows])


SECTION = MeshTraffic(namespaces=["kong"], max_error_ratio=0.01)
KONG = Destination("kong", None, SECTION)
KONG_PROXY = Destination("kong", "kong", SECTION)
TRAFFIC = requests(
    ("kong", "kong", "200", "98"),
    ("kong", "kong", "503", "1"),
    ("kong", "kong-admin", "500", "1"),
    ("data-platform", "portal-services", "200", "0"),
)


@pytest.mark.parametrize(
    ("given", "expected", "want", "observed"),
    [
        pytest.param(TRAFFIC, KONG, [], "kong: 100 req/s", id="namespace"),
        pytest.param(TRAFFIC, KONG_PROXY, [], "kong/kong: 99 req/s", id="workload"),
        pytest.param(
            TRAFFIC,
            Destination("data-platform", None, SECTION),
            [("data-platform", "no requests through the mesh in the last 5 minutes")],
            "data-platform: 0 req/s",
            id="zero-rate",
        ),
        pytest.param(
            TRAFFIC,
            Destination("kong", "kong-gateway", SECTION),
            [("kong/kong-gateway", "no requests through the mesh in the last 5 minutes")],
            "kong/kong-gateway: 0 req/s",
            id="no-series-of-its-own",
        ),
    ],
)
def test_mesh_traffic(given: ClusterState, expected: Destination, want: list[Any], observed: str) -> None:
    finding = mesh.traffic(given, expected, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        f"{expected.id}: request rate above zero",
        observed,
        4,
        ("prometheus/mesh-requests.json",),
    )


@pytest.mark.parametrize(
    ("expected", "want", "observed"),
    [
        pytest.param(
            Destination("kong", None, MeshTraffic(max_error_ratio=0.05)),
            [],
            "kong: 2.00% 5xx (2 req/s of 100 req/s)",
            id="under",
        ),
        pytest.param(
            KONG, [("kong", "2.00% of responses are 5xx")], "kong: 2.00% 5xx (2 req/s of 100 req/s)", id="over"
        ),
        pytest.param(
            Destination("kong", "kong", MeshTraffic(max_error_ratio=0.02)),
            [],
            "kong/kong: 1.01% 5xx (1 req/s of 99 req/s)",
            id="workload-under",
        ),
        pytest.param(
            Destination("kong", None, MeshTraffic(max_error_ratio=0.02)),
            [("kong", "2.00% of responses are 5xx")],
            "kong: 2.00% 5xx (2 req/s of 100 req/s)",
            id="exactly-the-maximum-fails",
        ),
    ],
)
def test_mesh_errors(expected: Destination, want: list[Any], observed: str) -> None:
    finding = mesh.errors(TRAFFIC, expected, PROFILE)
    assert culprits(finding) == want
    assert finding.observed == observed
    assert finding.expected == f"{expected.id}: under {expected.section.max_error_ratio:.2%} of responses 5xx"
    for culprit in finding.culprits:
        assert culprit.details == {"namespace": "kong"}


@pytest.mark.parametrize(
    ("given", "evaluate", "error", "reason"),
    [
        pytest.param(requests(), mesh.traffic, CouldNotEvaluate, r"gave no series \(is istio_requests_total scraped"),
        pytest.param(requests(), mesh.errors, CouldNotEvaluate, "gave no series"),
        pytest.param(
            requests(("kong", "x", "200", "0")),
            mesh.errors,
            CouldNotEvaluate,
            "kong had no requests in the last 5 minutes: no 5xx share",
        ),
        pytest.param(requests(("kong", "kong", "200", "NaN")), mesh.traffic, CouldNotEvaluate, "not a finite number"),
        pytest.param(state(), mesh.traffic, SourceError, "snapshot has no prometheus/mesh-requests.json"),
        pytest.param(
            state(documents={"prometheus/mesh-requests.json": {"expression": "q", "error": "HTTP 503"}}),
            mesh.traffic,
            CouldNotEvaluate,
            "query q got no answer: HTTP 503",
        ),
        pytest.param(
            state(documents={"prometheus/mesh-requests.json": {"status": "success", "data": {"resultType": "matrix"}}}),
            mesh.errors,
            CouldNotEvaluate,
            "gave a matrix result, expected a vector",
        ),
        pytest.param(
            state(documents={"prometheus/mesh-requests.json": {"status": "success", "data": {"resultType": "vector"}}}),
            mesh.traffic,
            MalformedObject,
            "data.result is not a list",
        ),
        pytest.param(
            state(
                documents={
                    "prometheus/mesh-requests.json": {
                        "status": "success",
                        "data": {"resultType": "vector", "result": [{}]},
                    }
                }
            ),
            mesh.traffic,
            MalformedObject,
            r"result\[0\] has no metric and value",
        ),
    ],
)
def test_mesh_cannot_be_evaluated(given: ClusterState, evaluate: Any, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        evaluate(given, KONG, PROFILE)


def test_mesh_expands_namespaces_then_workloads() -> None:
    configured = profile(
        services={
            "prometheus": {
                "mesh": {
                    "namespaces": ["kong"],
                    "workloads": [{"namespace": "data-platform", "name": "portal-services"}],
                    "max_error_ratio": 0.01,
                }
            }
        }
    )
    section = present(present(present(configured.services).prometheus).mesh)
    assert mesh.expand(configured) == [
        ("kong", Destination("kong", None, section)),
        ("data-platform/portal-services", Destination("data-platform", "portal-services", section)),
    ]
    assert str(KONG) == "mesh traffic to namespace kong"
    assert str(KONG_PROXY) == "mesh traffic to workload kong/kong"
    assert (KONG.label, KONG_PROXY.label) == ("namespace kong", "workload kong/kong")
    assert KONG.traced is SECTION
    assert mesh.expand(profile(services={"prometheus": {}})) is None
    assert mesh.expand(PROFILE) is None


# -- volume fill -----------------------------------------------------------------------------------


def fills(*rows: tuple[str, str, str]) -> ClusterState:
    return vector(prometheus.VOLUMES, [({"namespace": ns, "persistentvolumeclaim": pvc}, v) for ns, pvc, v in rows])


FILL = Fill(VolumeUsage(max_used_ratio=0.85))


@pytest.mark.parametrize(
    ("given", "want", "observed"),
    [
        pytest.param(
            fills(("a", "db", "0.5"), ("b", "logs", "0.849")), [], "2 PVCs; fullest b/logs at 84.9%", id="under"
        ),
        pytest.param(
            fills(("a", "db", "0.85"), ("b", "logs", "0.97"), ("c", "x", "0.1")),
            [("a/db", "85.0% full"), ("b/logs", "97.0% full")],
            "3 PVCs; fullest b/logs at 97.0%",
            id="at-and-over",
        ),
    ],
)
def test_volume_usage(given: ClusterState, want: list[Any], observed: str) -> None:
    finding = volumes.fill(given, FILL, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.evidence) == (
        "every PVC under 85% full",
        observed,
        ("prometheus/volume-usage.json",),
    )
    for culprit in finding.culprits:
        assert present(culprit.ref).kind == "PersistentVolumeClaim"


@pytest.mark.parametrize(
    ("given", "error", "reason"),
    [
        pytest.param(fills(), CouldNotEvaluate, r"gave no series \(is kubelet_volume_stats_used_bytes scraped"),
        pytest.param(fills(("a", "db", "NaN")), CouldNotEvaluate, "'NaN' for .* not a finite number"),
        pytest.param(
            vector(prometheus.VOLUMES, [({"namespace": "a"}, "0.1")]), MalformedObject, "no namespace and persistent"
        ),
        pytest.param(state(), SourceError, "snapshot has no prometheus/volume-usage.json"),
    ],
)
def test_volume_usage_cannot_be_evaluated(given: ClusterState, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        volumes.fill(given, FILL, PROFILE)


def test_volume_usage_expands_once() -> None:
    configured = profile(services={"prometheus": {"volumes": {"max_used_ratio": 0.9}}})
    section = present(present(present(configured.services).prometheus).volumes)
    assert volumes.expand(configured) == [("pvcs", Fill(section))]
    assert str(Fill(section)) == "every PVC is less than 90% full"
    assert volumes.expand(profile(services={"prometheus": {}})) is None
    assert servicemonitors.expand(profile(services={"prometheus": {}})) is None
    assert servicemonitors.expand(profile(services={"prometheus": {"service_monitors": {}}})) == [
        ("service-monitors", ALL)
    ]
    assert (
        str(Scraped(ServiceMonitors(namespaces=["kong"])))
        == "every ServiceMonitor in kong has a target up in Prometheus"
    )


def test_demo_queries_are_the_ones_the_collector_sends() -> None:
    for file, expression in (
        (prometheus.MESH, prometheus.MESH_EXPRESSION),
        (prometheus.VOLUMES, prometheus.VOLUME_EXPRESSION),
    ):
        assert json.loads((DEMO / file).read_text())["expression"] == expression
