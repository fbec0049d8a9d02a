"""Least privilege: the RBAC computed from a profile, deploy/rbac.yaml, and what a full live run really asks for."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from test_services import full_prod_live_run, needs_kafka_broker

from conformance.profile.loader import load_profile
from conformance.profile.model import Profile
from conformance.rbac import Permissions, Rule, manifests, permissions, render

from conftest import ROOT, SuiteRun
from kubeapi import RecordedRequest

DEPLOYED = ROOT / "deploy" / "rbac.yaml"


def prod() -> Profile:
    return load_profile("prod", ROOT / "profiles").profile


def profile(**sections: Any) -> Profile:
    return Profile.model_validate(
        {"apiVersion": "conformance/v1alpha1", "kind": "Profile", "metadata": {"name": "t"}, **sections}
    )


# -- a model of the API server's authorizer, to judge requests against the computed rules ------------------


@dataclass(frozen=True)
class Attributes:
    """What the API server authorizes a request as (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go)."""

    verb: str
    path: str
    resource_request: bool = False
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def attributes(method: str, path: str, query: dict[str, str]) -> Attributes:
    """/api/v1/namespaces/kong/services/kong-admin:8001/proxy/status -> get services/proxy kong-admin:8001 in kong.

    The resource name is the decoded path segment as sent: `name:port` for a port-qualified proxy request.
    """
    verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    if len(parts) < 3 or parts[0] not in ("api", "apis") or (parts[0] == "apis" and len(parts) < 4):
        return Attributes(method.lower(), path)
    group, rest = (parts[1], parts[3:]) if parts[0] == "apis" else ("", parts[2:])
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    name = rest[1] if len(rest) > 1 else ""
    action = verb.get(method, "")
    if not name and action == "get":
        action = "watch" if query.get("watch", "false").lower() not in ("false", "0") else "list"
    subresource = rest[2] if len(rest) > 2 else ""
    return Attributes(action, path, True, namespace, group, rest[0], subresource, name)


def _matches(rule: Rule, request: Attributes) -> bool:
    if request.verb not in rule.verbs:
        return False
    if not request.resource_request:
        return any(
            u == request.path or (u.endswith("*") and request.path.startswith(u[:-1])) for u in rule.non_resource_urls
        )
    resource = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    names_ok = not rule.resource_names or request.name in rule.resource_names
    return request.group in rule.api_groups and resource in rule.resources and names_ok


def allowed(grants: Permissions, request: Attributes) -> bool:
    """RBAC: a ClusterRole rule anywhere, a Role rule only in its namespace."""
    rules: list[Rule] = list(grants.cluster)
    if request.resource_request and request.namespace:
        rules += grants.namespaced.get(request.namespace, ())
    return any(_matches(rule, request) for rule in rules)


def verbs_needed(request: RecordedRequest) -> Iterable[Attributes]:
    """A WebSocket upgrade (port-forward) is authorized as `get`, and from Kubernetes 1.35 as `create` too."""
    base = attributes(request.method, request.path, request.query)
    yield base
    if "Upgrade" in request.headers:
        yield replace(base, verb="create")


# -- deploy/rbac.yaml ----------------------------------------------------------------------------------------


def test_deployed_rbac_is_the_rbac_prod_needs() -> None:
    """deploy/rbac.yaml is the `python -m conformance rbac prod` output, byte for byte (regenerate it, never edit)."""
    generated = subprocess.run(
        [sys.executable, "-m", "conformance", "rbac", "prod"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert generated.returncode == 0, generated.stderr
    assert DEPLOYED.read_text() == generated.stdout, "regenerate: python -m conformance rbac prod > deploy/rbac.yaml"
    documents = list(yaml.safe_load_all(DEPLOYED.read_text()))
    assert documents == manifests(permissions(prod()))
    (cluster_role,) = [d for d in documents if d["kind"] == "ClusterRole"]
    assert cluster_role["rules"] == [r.as_dict() for r in permissions(prod()).cluster]


def test_deployed_rbac_grants_no_wildcard_no_secret_no_write() -> None:
    documents = list(yaml.safe_load_all(DEPLOYED.read_text()))
    rules = [rule for d in documents if d["kind"] in ("ClusterRole", "Role") for rule in d["rules"]]
    assert rules
    for rule in rules:
        values = [v for key, field in rule.items() for v in field if key != "nonResourceURLs"]
        assert not any("*" in v for v in values), rule
        assert not any("secret" in v.lower() for v in values), rule
        assert set(rule["verbs"]) <= {"get", "list", "create"}, rule
        if "create" in rule["verbs"]:  # create only where a read needs it
            assert rule["resources"] in (["selfsubjectreviews"], ["pods/portforward"]), rule
    urls = {u for rule in rules for u in rule.get("nonResourceURLs", ())}
    assert urls == {"/api", "/apis", "/apis/*", "/version"}
    kinds = [(d["kind"], d["metadata"].get("namespace", "")) for d in documents]
    assert ("ServiceAccount", "conformance") in kinds
    assert ("ClusterRoleBinding", "") in kinds
    # Proxies and port-forwards are granted only in the namespaces the prod profile reaches that way.
    assert {ns for kind, ns in kinds if kind == "Role"} == {"data-platform", "istio-system", "kong", "monitoring"}


def test_prod_rules_read_exactly_what_its_checks_read() -> None:
    grants = permissions(prod())
    listed = {
        (group, res) for r in grants.cluster if r.verbs == ("list",) for group in r.api_groups for res in r.resources
    }
    assert listed == {
        ("", "pods"),
        ("", "nodes"),
        ("", "namespaces"),
        ("", "persistentvolumeclaims"),
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("metrics.k8s.io", "nodes"),
        ("security.istio.io", "peerauthentications"),
        ("security.istio.io", "authorizationpolicies"),
        ("networking.istio.io", "virtualservices"),
        ("networking.istio.io", "destinationrules"),
        ("monitoring.coreos.com", "servicemonitors"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "networkpolicies"),
    }
    proxied = {
        ns: sorted(n for r in rules if r.resources == ("services/proxy",) for n in r.resource_names)
        for ns, rules in grants.namespaced.items()
    }
    assert proxied == {
        "data-platform": ["portal-services:8080"],
        "istio-system": ["jaeger-query:16686"],
        "kong": ["kong-admin:8001"],
        "monitoring": ["grafana:80", "prometheus:9090"],
    }
    # istiod by port-forward: its Service (to find a ready pod) and the tunnel; pods are listed cluster-wide anyway.
    istio = {r.resources: r for r in grants.namespaced["istio-system"]}
    assert istio[("services",)].resource_names == ("istiod",)
    assert istio[("pods/portforward",)].verbs == ("get", "create")
    assert ("pods",) not in istio
    assert any("kafka" in line for line in grants.direct)


def test_rules_follow_how_each_service_is_reached() -> None:
    grants = permissions(
        profile(
            services={
                "kong": {
                    "access": {"service": {"namespace": "kong", "name": "kong-admin", "port": 8444, "scheme": "https"}}
                },
                "istio": {"access": {"port_forward": {"namespace": "istio-system", "pod": "istiod-0", "port": 15014}}},
                "portal": {"access": {"port_forward": {"namespace": "data-platform", "service": "portal", "port": 80}}},
                "grafana": {"access": {"url": "https://grafana.example"}},
            }
        )
    )
    rules = {ns: {r.resources: r for r in rs} for ns, rs in grants.namespaced.items()}
    assert rules["kong"][("services/proxy",)].resource_names == ("https:kong-admin:8444",)
    # A named pod: the port-forward is restricted to it.
    assert rules["istio-system"][("pods/portforward",)].resource_names == ("istiod-0",)
    assert ("services",) not in rules["istio-system"]
    # Through a Service: no pod name is known in advance; the pods of the namespace are listed to pick a ready one.
    assert rules["data-platform"][("pods/portforward",)].resource_names == ()
    assert rules["data-platform"][("pods",)].verbs == ("list",)
    assert rules["data-platform"][("services",)].resource_names == ("portal",)
    assert "monitoring" not in rules
    assert "grafana: https://grafana.example (test_grafana_dashboards)" in grants.direct
    # Without a namespaces list, the run manifest reads kube-system itself to identify the cluster.
    assert Rule(("get",), ("",), ("namespaces",), ("kube-system",)) in grants.cluster


def test_capacity_from_prometheus_reaches_prometheus_without_its_section() -> None:
    grants = permissions(profile(capacity={"source_of_usage": "prometheus", "usage": {"cpu": 0.7}}))
    (rule,) = grants.namespaced["monitoring"]
    assert rule.resources == ("services/proxy",)
    assert rule.resource_names == ("prometheus:9090",)
    assert not any(r.resources == ("nodes",) and r.api_groups == ("metrics.k8s.io",) for r in grants.cluster)


def test_a_profile_without_checks_needs_only_the_bookkeeping() -> None:
    grants = permissions(profile())
    assert [r.resources or r.non_resource_urls for r in grants.cluster] == [
        ("namespaces",),
        ("selfsubjectreviews",),
        ("/api", "/apis", "/apis/*", "/version"),
    ]
    assert grants.namespaced == {}


def test_rbac_command(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: bad}\npods: {grace: soon}\n")
    result = subprocess.run(
        [sys.executable, "-m", "conformance", "rbac", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert "pods.grace" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "conformance", "rbac", "staging", "--namespace", "qa", "--service-account", "gate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    binding = next(d for d in documents if d["kind"] == "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gate", "namespace": "qa"}]
    assert (
        render(permissions(load_profile("staging", ROOT / "profiles").profile), "staging", "qa", "gate")
        == result.stdout
    )


def test_the_authorizer_model_denies_what_is_not_granted() -> None:
    grants = permissions(prod())

    def can(method: str, path: str, query: dict[str, str] | None = None) -> bool:
        return allowed(grants, attributes(method, path, query or {}))

    assert can("GET", "/api/v1/pods", {"limit": "500"})
    assert can("GET", "/api/v1/namespaces/kong/services/kong-admin:8001/proxy/status")
    assert not can("GET", "/api/v1/secrets")
    assert not can("GET", "/api/v1/namespaces/kong/pods/kong-0")  # list, never get
    assert not can("GET", "/api/v1/namespaces/kong/services/kong-admin:8444/proxy/")  # another port
    assert not can("GET", "/api/v1/namespaces/kong/services/kong-admin/proxy/")  # the name alone is another name
    assert not can("GET", "/api/v1/namespaces/default/services/kong-admin:8001/proxy/")  # another namespace
    assert not can("POST", "/api/v1/namespaces/kong/services/kong-admin:8001/proxy/")
    assert not can("GET", "/api/v1/namespaces/kong/pods/kong-0/portforward")  # port-forward only in istio-system
    assert can("GET", "/api/v1/namespaces/istio-system/pods/istiod-1/portforward")
    assert not can("GET", "/api/v1/namespaces/istio-system/pods/istiod-1/exec")
    assert not can("DELETE", "/api/v1/namespaces/istio-system/pods/istiod-1")
    assert not can("GET", "/api/v1/pods", {"watch": "true"})
    assert can("GET", "/apis/security.istio.io")
    assert not can("GET", "/metrics")


# -- a full live run sends only reads, each covered by the rules -----------------------------------------------


def full_live_run(pytester: pytest.Pytester) -> tuple[SuiteRun, list[RecordedRequest], Profile]:
    """Every check of prod, live, every service reachable (tests/test_services.py's full live run)."""
    run, requests, profile = full_prod_live_run(pytester)
    return run, requests, load_profile(str(profile), ROOT / "profiles").profile


@needs_kafka_broker
def test_a_full_live_run_only_reads_within_the_computed_rbac(pytester: pytest.Pytester) -> None:
    run, requests, profile_run = full_live_run(pytester)
    assert run.result.ret == 0, run.result.stdout.str()
    writes = [(r.method, r.path) for r in requests if r.method != "GET"]
    assert writes == [("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews")]
    upgrades = [r.path for r in requests if "Upgrade" in r.headers]
    assert upgrades == ["/api/v1/namespaces/istio-system/pods/istiod-84bbcb5b7-6rdw5/portforward"]
    assert not [r.path for r in requests if "secret" in r.path.lower()]
    grants = permissions(profile_run)
    expected = permissions(prod())  # the run's profile reaches every service as prod does (Kafka's address aside)
    assert (grants.cluster, grants.namespaced) == (expected.cluster, expected.namespaced)
    denied = sorted({f"{a.verb} {r.path}" for r in requests for a in verbs_needed(r) if not allowed(grants, a)})
    assert denied == []
    # Every kind of access the run used was exercised: lists, discovery, proxies, the port-forward, the review.
    seen = {attributes(r.method, r.path, r.query) for r in requests}
    assert {a.resource for a in seen if a.verb == "list"} >= {"pods", "deployments", "peerauthentications"}
    assert {a.subresource for a in seen} >= {"proxy", "portforward"}
    assert {a.path for a in seen if not a.resource_request} >= {"/version", "/apis/security.istio.io"}
