"""Service checks read from stored bodies: the portal registry, Kong's Admin API, Grafana and Jaeger
(conformance.portal.registry, conformance.kong.gateway, conformance.monitoring.grafana, conformance.monitoring.jaeger).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.cluster.state import ClusterState
from conformance.errors import MalformedObject, SourceError
from conformance.kong import gateway
from conformance.monitoring import grafana, jaeger
from conformance.portal import registry
from conformance.profile.services import Grafana, Jaeger, Kong, Portal

from .unitstate import PROFILE, culprits, meta, state

PORTAL = Portal(expected=["pricing", "catalog"])


def portal(document: Any) -> ClusterState:
    return state({"deployments.apps": [{"metadata": meta("pricing-api", "apps")}]}, {"portal/services.json": document})


@pytest.mark.parametrize(
    ("document", "settings", "want", "observed"),
    [
        pytest.param(
            [{"name": "catalog"}, {"name": "pricing"}, {"name": "extra"}],
            PORTAL,
            [],
            "3 registered: catalog, pricing, extra",
            id="list",
        ),
        pytest.param(
            {"services": [{"name": "catalog"}]},
            PORTAL,
            [("pricing", "not registered in the portal")],
            "1 registered: catalog",
            id="services-key",
        ),
        pytest.param(
            {"items": [{"id": "pricing"}, {"id": "catalog"}]},
            Portal(expected=["pricing", "catalog"], list_key="items", name_field="id"),
            [],
            "2 registered: pricing, catalog",
            id="configured-shape",
        ),
        pytest.param(
            [],
            PORTAL,
            [("pricing", "not registered in the portal"), ("catalog", "not registered in the portal")],
            "0 registered: none",
            id="empty",
        ),
    ],
)
def test_services_registered(document: Any, settings: Portal, want: list[tuple[str, str]], observed: str) -> None:
    finding = registry.services_registered(portal(document), settings, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "the portal lists 2 services: pricing, catalog",
        observed,
        int(observed.split()[0]),  # every registered name is inspected
        ("portal/services.json",),
    )


@pytest.mark.parametrize(
    ("body", "settings", "error", "reason"),
    [
        pytest.param(b"<html>", PORTAL, MalformedObject, "portal/services.json is not valid JSON (", id="not-json"),
        pytest.param(
            {"data": []},
            PORTAL,
            MalformedObject,
            "portal/services.json: the object has no 'services' list",
            id="no-key",
        ),
        pytest.param(
            {"services": []},
            Portal(list_key="items"),
            MalformedObject,
            "portal/services.json: the object has no 'items' list",
            id="no-configured-key",
        ),
        pytest.param(
            [],
            Portal(list_key="items"),
            MalformedObject,
            "portal/services.json: expected an object with a 'items' list",
            id="list-but-key-configured",
        ),
        pytest.param(
            {"services": {"pricing": {}}},
            PORTAL,
            MalformedObject,
            "portal/services.json: the services are not a list",
            id="not-a-list",
        ),
        pytest.param("pricing", PORTAL, MalformedObject, "portal/services.json: the services are not a list"),
        pytest.param(
            [{"name": "a"}, {"title": "b"}],
            PORTAL,
            MalformedObject,
            "portal/services.json: entry 1 has no 'name' string",
            id="entry-without-name",
        ),
        pytest.param(
            ["a"], PORTAL, MalformedObject, "portal/services.json: entry 0 has no 'name' string", id="entry-not-object"
        ),
        pytest.param(
            [{"name": ""}], PORTAL, MalformedObject, "portal/services.json: entry 0 has no 'name' string", id="blank"
        ),
    ],
)
def test_portal_cannot_be_evaluated(body: Any, settings: Portal, error: type[Exception], reason: str) -> None:
    def targets(given: Any, portal: Portal, profile: Any) -> Any:
        return registry.targets_exist(given, registry.PortalTargets(portal), profile)

    for evaluate in (registry.services_registered, targets):
        with pytest.raises(error) as raised:
            evaluate(portal(body), settings, PROFILE)
        assert str(raised.value).startswith(reason)
        if not reason.endswith("("):
            assert str(raised.value) == reason


def test_portal_needs_its_registry_body() -> None:
    with pytest.raises(SourceError) as raised:
        registry.services_registered(state(mode="live"), PORTAL, PROFILE)
    assert str(raised.value) == "portal: this run did not collect portal/services.json"


TARGETS = Portal(
    targets=[
        {"service": "pricing", "namespace": "apps", "kind": "Deployment", "name": "pricing-api"},
        {"service": "catalog", "namespace": "apps", "kind": "StatefulSet", "name": "catalog-db"},
        {"service": "unlisted", "namespace": "apps", "kind": "Deployment", "name": "nothing"},
    ]
)


@pytest.mark.parametrize(
    ("registered", "catalog", "want", "checked"),
    [
        pytest.param(["pricing", "catalog"], True, [], 2, id="all-exist"),
        pytest.param(
            ["pricing", "catalog"],
            False,
            [("catalog", "registered, but StatefulSet apps/catalog-db does not exist")],
            2,
            id="target-missing",
        ),
        pytest.param(["pricing"], False, [], 1, id="unregistered-not-checked"),
        pytest.param([], False, [], 0, id="nothing-registered"),
    ],
)
def test_targets_exist(registered: list[str], catalog: bool, want: list[tuple[str, str]], checked: int) -> None:
    statefulsets = [{"metadata": meta("catalog-db", "apps")}] if catalog else [{"metadata": meta("catalog-db", "x")}]
    given = state(
        {"deployments.apps": [{"metadata": meta("pricing-api", "apps")}], "statefulsets.apps": statefulsets},
        {"portal/services.json": [{"name": n} for n in registered]},
    )
    finding = registry.targets_exist(given, registry.PortalTargets(TARGETS), PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "every registered service points at a workload that exists",
        f"{checked} registered services checked against their workloads, {len(want)} point at nothing",
        checked,
        ("portal/services.json", "deployments.apps", "statefulsets.apps"),
    )


def test_targets_need_their_workload_lists() -> None:
    with pytest.raises(SourceError) as raised:
        registry.targets_exist(portal([{"name": "catalog"}]), registry.PortalTargets(TARGETS), PROFILE)
    assert str(raised.value) == "statefulsets.apps: was not collected in this run"


def test_target_reads_name_the_registry_and_each_kind_once() -> None:
    reads = registry.target_reads(registry.PortalTargets(TARGETS))
    assert [str(r) for r in reads] == ["portal", "deployments.apps", "statefulsets.apps"]
    assert [str(r) for r in registry.target_reads(registry.PortalTargets(PORTAL))] == ["portal"]


def test_portal_bodies_are_stored_without_credentials() -> None:
    body = b'[{"name": "a", "url": "https://user:secret@portal.example/a"}, {"docs": "http://x.example/b"}]'
    assert registry.sanitize("services.json", body) == (
        b'[{"name": "a", "url": "https://***@portal.example/a"}, {"docs": "http://x.example/b"}]'
    )
    assert registry.sanitize("services.json", b"\xff") == b"\xff"


KONG = Kong()


def kong(**files: Any) -> ClusterState:
    return state(documents={f"kong/{name}.json": body for name, body in files.items()})


@pytest.mark.parametrize(
    ("root", "want", "observed"),
    [
        pytest.param({"version": "3.4.2", "edition": "community"}, [], "Kong 3.4.2 (community)", id="version"),
        pytest.param({"version": "3.9.0"}, [], "Kong 3.9.0", id="no-edition"),
        pytest.param({"edition": ""}, [("kong admin", "GET / reports no version")], "Kong (no version)", id="none"),
        pytest.param({"version": ""}, [("kong admin", "GET / reports no version")], "Kong (no version)", id="blank"),
        pytest.param({"version": 3}, [("kong admin", "GET / reports no version")], "Kong 3", id="not-text"),
    ],
)
def test_kong_admin_api(root: dict[str, Any], want: list[tuple[str, str]], observed: str) -> None:
    finding = gateway.admin_api(kong(root=root), KONG, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "the Kong Admin API answers GET / via service proxy kong/kong-admin:8001",
        observed,
        1,
        ("kong/root.json",),
    )


@pytest.mark.parametrize(
    ("status", "want", "observed"),
    [
        pytest.param({"database": {"reachable": True}}, [], "database reachable: true", id="reachable"),
        pytest.param(
            {"database": {"reachable": False}},
            [("kong database", "GET /status: database.reachable is false")],
            "database reachable: false",
            id="unreachable",
        ),
        pytest.param(
            {"configuration_hash": "a" * 32}, [], f"DB-less, configuration_hash {'a' * 32}", id="db-less-loaded"
        ),
        pytest.param(
            {"configuration_hash": "0" * 32},
            [("kong configuration", "configuration_hash is all zeros: no configuration loaded")],
            f"DB-less, configuration_hash {'0' * 32}",
            id="db-less-empty",
        ),
    ],
)
def test_kong_database(status: dict[str, Any], want: list[tuple[str, str]], observed: str) -> None:
    finding = gateway.database(kong(status=status), KONG, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "Kong's database reachable (or, DB-less, a configuration loaded)",
        observed,
        1,
        ("kong/status.json",),
    )


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ({"database": True}, "kong/status.json: database.reachable is not a boolean"),
        ({"database": {"reachable": "yes"}}, "kong/status.json: database.reachable is not a boolean"),
        ({"server": {}}, "kong/status.json: neither database nor configuration_hash is reported"),
        ({"configuration_hash": 0}, "kong/status.json: neither database nor configuration_hash is reported"),
        ([], "kong/status.json: expected a JSON object"),
    ],
)
def test_kong_database_cannot_be_evaluated(status: Any, reason: str) -> None:
    with pytest.raises(MalformedObject) as raised:
        gateway.database(kong(status=status), KONG, PROFILE)
    assert str(raised.value) == reason


def test_kong_admin_api_cannot_be_evaluated() -> None:
    with pytest.raises(MalformedObject) as malformed:
        gateway.admin_api(kong(root=["3.4"]), KONG, PROFILE)
    assert str(malformed.value) == "kong/root.json: expected a JSON object"
    with pytest.raises(SourceError) as missing:
        gateway.admin_api(kong(status={}), KONG, PROFILE)
    assert str(missing.value) == "kong: snapshot has no kong/root.json"
    with pytest.raises(MalformedObject) as not_json:
        gateway.database(kong(status=b"{"), KONG, PROFILE)
    assert str(not_json.value).startswith("kong/status.json is not valid JSON (")


def test_kong_bodies_keep_only_what_the_checks_read() -> None:
    root = json.dumps({"version": "3.4", "edition": "ee", "configuration": {"pg_password": "x"}, "tagline": "t"})
    assert json.loads(gateway.sanitize("root.json", root.encode())) == {
        "version": "3.4",
        "edition": "ee",
        "tagline": "t",
    }
    status = json.dumps({"database": {"reachable": True}, "memory": {}, "server": {"connections_active": 1}})
    assert json.loads(gateway.sanitize("status.json", status.encode())) == {
        "database": {"reachable": True},
        "server": {"connections_active": 1},
    }
    assert gateway.sanitize("root.json", b'{"version": "3.4", "x": 1}') == b'{\n  "version": "3.4"\n}'
    assert gateway.sanitize("other.json", b"[1]") == b"[1]"
    with pytest.raises(MalformedObject) as not_json:
        gateway.sanitize("root.json", b"<html>")
    assert str(not_json.value).startswith("kong/root.json is not valid JSON (")
    with pytest.raises(MalformedObject) as not_object:
        gateway.sanitize("root.json", b"[]")
    assert str(not_object.value) == "kong/root.json: expected a JSON object"
    with pytest.raises(MalformedObject) as raised:
        gateway.sanitize("status.json", b"[]")
    assert str(raised.value) == "kong/status.json: expected a JSON object"


GRAFANA = Grafana(dashboards=["Kafka", "Nodes"])


@pytest.mark.parametrize(
    ("document", "want", "observed"),
    [
        pytest.param(
            [{"title": "Nodes", "uid": "n"}, {"title": "Kafka"}, {"title": "Extra"}],
            [],
            "3 dashboards: Extra, Kafka, Nodes",
            id="present",
        ),
        pytest.param(
            [{"title": "Nodes"}, {"title": "kafka"}],
            [("Kafka", "dashboard not found")],
            "2 dashboards: Nodes, kafka",
            id="missing",
        ),
        pytest.param([], [("Kafka", "dashboard not found"), ("Nodes", "dashboard not found")], "0 dashboards: none"),
    ],
)
def test_grafana_dashboards(document: Any, want: list[tuple[str, str]], observed: str) -> None:
    finding = grafana.dashboards(state(documents={"grafana/search.json": document}), GRAFANA, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "dashboards present: Kafka, Nodes",
        observed,
        len(document),
        ("grafana/search.json",),
    )


@pytest.mark.parametrize(
    ("document", "error", "reason"),
    [
        ({"dashboards": []}, MalformedObject, "grafana/search.json: expected a JSON array of dashboards"),
        ([{"title": "a"}, {"uid": "b"}], MalformedObject, "grafana/search.json: entry 1 has no title"),
        (["Kafka"], MalformedObject, "grafana/search.json: entry 0 has no title"),
        (None, SourceError, "grafana: snapshot has no grafana/search.json"),
        (b"[", MalformedObject, "grafana/search.json is not valid JSON ("),
    ],
)
def test_grafana_cannot_be_evaluated(document: Any, error: type[Exception], reason: str) -> None:
    documents = {} if document is None else {"grafana/search.json": document}
    with pytest.raises(error) as raised:
        grafana.dashboards(state(documents=documents), GRAFANA, PROFILE)
    assert str(raised.value).startswith(reason)
    if not reason.endswith("("):
        assert str(raised.value) == reason


def test_grafana_bodies_keep_only_dashboard_fields() -> None:
    body = json.dumps([{"uid": "u", "title": "T", "url": "/d/u", "tags": ["a"], "folderTitle": "F"}, 7]).encode()
    assert json.loads(grafana.sanitize("search.json", body)) == [
        {"uid": "u", "title": "T", "tags": ["a"], "folderTitle": "F"},
        7,
    ]
    assert grafana.sanitize("search.json", b'[{"title": "T", "url": "/d"}]') == b'[\n  {\n    "title": "T"\n  }\n]'
    with pytest.raises(MalformedObject) as not_json:
        grafana.sanitize("search.json", b"<html>")
    assert str(not_json.value).startswith("grafana/search.json is not valid JSON (")
    with pytest.raises(MalformedObject) as raised:
        grafana.sanitize("search.json", b"{}")
    assert str(raised.value) == "grafana/search.json: expected a JSON array of dashboards"


JAEGER = Jaeger(min_services=2, services=["checkout"])


@pytest.mark.parametrize(
    ("document", "settings", "want", "observed"),
    [
        pytest.param(
            {"data": ["checkout", "pricing"], "total": 2},
            JAEGER,
            [],
            "2 services (v1 /api/services): checkout, pricing",
            id="v1",
        ),
        pytest.param(
            {"services": ["checkout", "pricing", "jaeger"]},
            JAEGER,
            [],
            "3 services (v3 /api/v3/services): checkout, pricing, jaeger",
            id="v3",
        ),
        pytest.param(
            {"data": None, "total": 0},
            JAEGER,
            [
                ("jaeger", "0 services with traces, expected at least 2"),
                ("checkout", "no traces from this service"),
            ],
            "0 services (v1 /api/services): none",
            id="v1-null",
        ),
        pytest.param(
            {},
            Jaeger(min_services=0),
            [],
            "0 services (v3 /api/v3/services): none",
            id="v3-empty-allowed",
        ),
        pytest.param(
            {"services": ["pricing"]},
            JAEGER,
            [
                ("jaeger", "1 services with traces, expected at least 2"),
                ("checkout", "no traces from this service"),
            ],
            "1 services (v3 /api/v3/services): pricing",
            id="short",
        ),
    ],
)
def test_jaeger_services(document: Any, settings: Jaeger, want: list[tuple[str, str]], observed: str) -> None:
    finding = jaeger.services(state(documents={"jaeger/services.json": document}), settings, PROFILE)
    assert culprits(finding) == want
    assert (finding.observed, finding.inspected, finding.evidence) == (
        observed,
        int(observed.split()[0]),  # every listed service is inspected
        ("jaeger/services.json",),
    )


def test_jaeger_expectation_names_the_services() -> None:
    finding = jaeger.services(state(documents={"jaeger/services.json": {"services": ["a", "b"]}}), JAEGER, PROFILE)
    assert finding.expected == "at least 2 traced services, including checkout"
    two = Jaeger(services=["checkout", "pricing"])
    named = jaeger.services(state(documents={"jaeger/services.json": {"services": ["a"]}}), two, PROFILE)
    assert named.expected == "at least 1 traced services, including checkout, pricing"
    bare = jaeger.services(state(documents={"jaeger/services.json": {"services": ["a"]}}), Jaeger(), PROFILE)
    assert bare.expected == "at least 1 traced services"


@pytest.mark.parametrize(
    ("document", "error", "reason"),
    [
        (["checkout"], MalformedObject, "jaeger/services.json: expected a JSON object"),
        ({"data": "checkout"}, MalformedObject, "jaeger/services.json: services are not a list of names"),
        (
            {"services": [{"name": "checkout"}]},
            MalformedObject,
            "jaeger/services.json: services are not a list of names",
        ),
        (b"not json", MalformedObject, "jaeger/services.json is not valid JSON ("),
        (None, SourceError, "jaeger: snapshot has no jaeger/services.json"),
    ],
)
def test_jaeger_cannot_be_evaluated(document: Any, error: type[Exception], reason: str) -> None:
    documents = {} if document is None else {"jaeger/services.json": document}
    with pytest.raises(error) as raised:
        jaeger.services(state(documents=documents), JAEGER, PROFILE)
    assert str(raised.value).startswith(reason)
    if not reason.endswith("("):
        assert str(raised.value) == reason


@pytest.mark.parametrize(
    ("target_bases", "want"),
    [
        pytest.param(["assumed", "assumed"], "assumed", id="targets-assumed-names-reported"),
        pytest.param(["report", "assumed"], "assumed", id="one-assumed-target-makes-it-assumed"),
        pytest.param(["report", "observed"], "observed", id="weakest-basis"),
        pytest.param(["report", "report"], "report", id="all-reported"),
        pytest.param([None, "assumed"], "report", id="an-unmarked-target-takes-the-section"),
    ],
)
def test_targets_rest_on_their_own_basis(target_bases: list[str | None], want: str) -> None:
    marks = {"report": {"source": "the report"}, "assumed": {"basis": "assumed"}, "observed": {"basis": "observed"}}
    portal = Portal(
        source="Service Communication Test › Services registered",
        targets=[
            {"service": f"s{i}", "namespace": "apps", "kind": "Deployment", "name": f"d{i}", **marks.get(b or "", {})}
            for i, b in enumerate(target_bases)
        ],
    )
    assert portal.basis == "report"
    assert registry.PortalTargets(portal).basis == want
