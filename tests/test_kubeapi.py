"""The fake kube-apiserver behaves like the real one where the suite depends on it.

Exercised over real sockets with urllib and with the official kubernetes client (v37: ``param_serialize`` +
``call_api``, and the typed ``CoreV1Api``), so a mismatch with what clients expect shows up here.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from kubernetes import client as k8s_client
from kubernetes import config as _k8s_config

from tests.kubeapi import CONTINUE_EXPIRED_MESSAGE, DEFAULT_USER, KubeApiServer, write_kubeconfig

TOKEN = "t0ken-for-tests"
NAMESPACES = ("default", "kube-system", "monitoring", "team-a")
APPS = ("web", "api", "db")
POD_COUNT = 23
Reply = tuple[int, dict[str, str], bytes]
k8s_config: Any = _k8s_config  # partly untyped; its loaders are used as documented


def _pod(i: int) -> dict[str, Any]:
    labels = {"app": APPS[i % 3], **({"canary": "true"} if i % 7 == 0 else {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"pod-{i:02d}",
            "namespace": NAMESPACES[i % 4],
            "labels": labels,
            "resourceVersion": str(1000 + i),
        },
        "spec": {"nodeName": f"node-{i % 3}", "containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Pending" if i % 5 == 0 else "Running"},
    }


PODS = [_pod(i) for i in range(POD_COUNT)]


def _resources() -> dict[str, Any]:
    def ns(name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {}}

    deploy = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {"replicas": 2},
        }
        for namespace, name in (("team-a", "web"), ("team-a", "api"), ("monitoring", "prometheus"))
    ]
    peer = [
        {
            "apiVersion": "security.istio.io/v1beta1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {"mtls": {"mode": "STRICT"}},
        }
        for namespace in ("istio-system", "team-a")
    ]
    metrics = {
        "kind": "NodeMetricsList",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": [
            {"metadata": {"name": f"node-{i}"}, "window": "10s", "usage": {"cpu": "250m", "memory": "1Gi"}}
            for i in range(3)
        ],
    }
    return {
        "pods": {"apiVersion": "v1", "kind": "List", "items": PODS},
        "namespaces": [ns(n) for n in NAMESPACES],
        "nodes": [{"metadata": {"name": f"node-{i}", "labels": {"zone": f"z{i}"}}} for i in range(3)],
        "deployments.apps": deploy,
        "peerauthentications.security.istio.io": peer,
        "nodes.metrics.k8s.io": metrics,
        "servicemonitors.monitoring.coreos.com": [],
    }


@pytest.fixture
def server() -> Iterator[KubeApiServer]:
    srv = KubeApiServer(
        _resources(),
        api_versions={"servicemonitors.monitoring.coreos.com": "monitoring.coreos.com/v1"},
        token=TOKEN,
    )
    with srv:  # stopped even when the test fails
        yield srv


@pytest.fixture
def api(server: KubeApiServer, tmp_path: Path) -> Iterator[Any]:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
    configuration = k8s_client.Configuration()
    configuration.retries = False  # see raw responses; urllib3's default would retry 429/503 itself
    api_client = k8s_config.new_client_from_config(
        config_file=str(kubeconfig), context="fake", client_configuration=configuration
    )
    try:
        yield api_client
    finally:
        api_client.close()


def http(
    server: KubeApiServer,
    path: str,
    *,
    token: str | None = TOKEN,
    method: str = "GET",
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(server.url + path, data=body, method=method)
    request.add_header("Accept", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def get_json(server: KubeApiServer, path: str, **kwargs: Any) -> tuple[int, Any]:
    status, _, body = http(server, path, **kwargs)
    return status, orjson.loads(body)


def kube_get(api_client: Any, path: str, query: Sequence[tuple[str, str]] = ()) -> tuple[int, Any, Any]:
    """A raw GET through the official client (kubernetes>=35 API: param_serialize + call_api)."""
    request = api_client.param_serialize("GET", path, query_params=list(query), auth_settings=["BearerToken"])
    response = api_client.call_api(*request, _request_timeout=(5, 30))
    return response.status, response.headers, orjson.loads(response.read())


def names(doc: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in doc["items"]]


def assert_status(doc: dict[str, Any], code: int, reason: str) -> None:
    assert doc["kind"] == "Status"
    assert doc["apiVersion"] == "v1"
    assert doc["status"] == "Failure"
    assert doc["code"] == code
    assert doc["reason"] == reason
    assert isinstance(doc["message"], str)


def collect_pages(server: KubeApiServer, path: str, limit: int) -> tuple[list[str], int]:
    seen: list[str] = []
    token, pages = "", 0
    while True:
        query = f"limit={limit}" + (f"&continue={token}" if token else "")
        status, doc = get_json(server, f"{path}?{query}")
        assert status == 200, doc
        assert len(doc["items"]) <= limit
        seen += [f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in doc["items"]]
        pages += 1
        token = doc["metadata"].get("continue", "")
        if not token:
            assert "remainingItemCount" not in doc["metadata"]
            return seen, pages


# --------------------------------------------------------------------------------------------- discovery


def test_discovery_documents(server: KubeApiServer) -> None:
    assert get_json(server, "/version")[1]["gitVersion"] == "v1.31.4"
    assert get_json(server, "/version")[1]["minor"] == "31"
    status, doc = get_json(server, "/api")
    assert (status, doc["kind"], doc["versions"]) == (200, "APIVersions", ["v1"])

    core = get_json(server, "/api/v1")[1]
    assert core["kind"] == "APIResourceList"
    assert core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert set(by_name) == {"pods", "namespaces", "nodes"}
    assert by_name["pods"]["namespaced"] is True
    assert by_name["nodes"]["namespaced"] is False
    assert by_name["pods"]["kind"] == "Pod"
    assert by_name["pods"]["verbs"] == ["get", "list"]

    groups = {g["name"]: g for g in get_json(server, "/apis")[1]["groups"]}
    assert set(groups) == {"apps", "security.istio.io", "metrics.k8s.io", "monitoring.coreos.com"}
    assert groups["metrics.k8s.io"]["preferredVersion"] == {
        "groupVersion": "metrics.k8s.io/v1beta1",
        "version": "v1beta1",
    }
    apps = get_json(server, "/apis/apps")[1]
    assert apps["kind"] == "APIGroup"
    assert apps["preferredVersion"]["groupVersion"] == "apps/v1"

    istio = get_json(server, "/apis/security.istio.io/v1beta1")[1]
    assert istio["groupVersion"] == "security.istio.io/v1beta1"
    assert istio["resources"] == [
        {
            "name": "peerauthentications",
            "singularName": "peerauthentication",
            "namespaced": True,
            "kind": "PeerAuthentication",
            "verbs": ["get", "list"],
        }
    ]
    empty = get_json(server, "/apis/monitoring.coreos.com/v1")[1]["resources"][0]
    assert (empty["kind"], empty["namespaced"]) == ("ServiceMonitor", True)


@pytest.mark.parametrize(
    "path",
    [
        "/apis/apps/v2",
        "/api/v1/widgets",
        "/apis/apps/v1/namespaces/x/jobs",
        "/api/v2",
    ],
)
def test_unknown_paths_are_404_status(server: KubeApiServer, path: str) -> None:
    status, headers, body = http(server, path)
    doc = orjson.loads(body)
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert_status(doc, 404, "NotFound")
    assert doc["message"] == "the server could not find the requested resource"


@pytest.mark.parametrize("path", ["/apis/nope.example.com", "/apis/nope.example.com/v1/widgets"])
def test_an_unserved_group_is_go_s_plain_text_404(server: KubeApiServer, path: str) -> None:
    # As the real server: an unknown group never reaches the API handlers, so no Status body.
    status, headers, body = http(server, path)
    assert (status, headers["Content-Type"], body) == (404, "text/plain; charset=utf-8", b"404 page not found\n")


def test_version_is_configurable() -> None:
    with KubeApiServer({}, version="v1.30.2-eks-1234") as srv:
        doc = get_json(srv, "/version", token=None)[1]
    assert (doc["major"], doc["minor"], doc["gitVersion"]) == ("1", "30+", "v1.30.2-eks-1234")


# ------------------------------------------------------------------------------------------------- lists


def test_list_shape_strips_type_meta_for_builtin_items(server: KubeApiServer) -> None:
    status, doc = get_json(server, "/api/v1/pods")
    assert status == 200
    assert list(doc) == ["kind", "apiVersion", "metadata", "items"]
    assert (doc["kind"], doc["apiVersion"]) == ("PodList", "v1")
    assert doc["metadata"] == {"resourceVersion": str(1000 + POD_COUNT)}
    assert len(doc["items"]) == POD_COUNT
    assert all("kind" not in i and "apiVersion" not in i for i in doc["items"])
    keys = [f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in doc["items"]]
    assert keys == sorted(keys)

    deployments = get_json(server, "/apis/apps/v1/deployments")[1]
    assert (deployments["kind"], deployments["apiVersion"]) == ("DeploymentList", "apps/v1")
    assert all("kind" not in i for i in deployments["items"])


def test_crd_items_keep_type_meta(server: KubeApiServer) -> None:
    doc = get_json(server, "/apis/security.istio.io/v1beta1/peerauthentications")[1]
    assert (doc["kind"], doc["apiVersion"]) == ("PeerAuthenticationList", "security.istio.io/v1beta1")
    type_meta = {(i["kind"], i["apiVersion"]) for i in doc["items"]}
    assert type_meta == {("PeerAuthentication", "security.istio.io/v1beta1")}
    empty = get_json(server, "/apis/monitoring.coreos.com/v1/namespaces/x/servicemonitors")[1]
    assert (empty["kind"], empty["items"]) == ("ServiceMonitorList", [])


def test_node_metrics_like_metrics_server(server: KubeApiServer) -> None:
    status, doc = get_json(server, "/apis/metrics.k8s.io/v1beta1/nodes?limit=1")
    assert status == 200
    assert (doc["kind"], doc["apiVersion"]) == ("NodeMetricsList", "metrics.k8s.io/v1beta1")
    assert doc["metadata"] == {}  # metrics-server reports no resourceVersion
    assert names(doc) == ["node-0", "node-1", "node-2"]  # metrics-server ignores limit
    one = get_json(server, "/apis/metrics.k8s.io/v1beta1/nodes/node-1")[1]
    assert (one["kind"], one["apiVersion"]) == ("NodeMetrics", "metrics.k8s.io/v1beta1")
    assert one["usage"]["cpu"] == "250m"


def test_paging_reaches_every_item_exactly_once(server: KubeApiServer) -> None:
    seen, pages = collect_pages(server, "/api/v1/pods", limit=5)
    expected = sorted(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in PODS)
    assert seen == expected
    assert pages == 5  # 23 items: 5+5+5+5+3

    first = get_json(server, "/api/v1/pods?limit=5")[1]["metadata"]
    assert first["remainingItemCount"] == POD_COUNT - 5
    token = json.loads(base64.urlsafe_b64decode(first["continue"] + "=="))
    assert token["rv"] == int(first["resourceVersion"])


def test_paging_a_namespaced_list_with_a_selector(server: KubeApiServer) -> None:
    seen, _ = collect_pages(server, "/api/v1/namespaces/team-a/pods", limit=2)
    in_team_a = [p["metadata"]["name"] for p in PODS if p["metadata"]["namespace"] == "team-a"]
    assert seen == sorted(f"team-a/{name}" for name in in_team_a)
    status, doc = get_json(server, "/api/v1/pods?limit=3&labelSelector=app%3Dweb")
    assert status == 200
    assert "remainingItemCount" not in doc["metadata"]  # the apiserver doesn't count under a selector
    assert doc["metadata"]["continue"]


def test_paging_with_the_kubernetes_client(api: Any) -> None:
    seen: list[str] = []
    query: list[tuple[str, str]] = [("limit", "4")]
    while True:
        status, _, doc = kube_get(api, "/api/v1/pods", query)
        assert status == 200
        seen += names(doc)
        token = doc["metadata"].get("continue")
        if not token:
            break
        query = [("limit", "4"), ("continue", token)]
    assert sorted(seen) == sorted(p["metadata"]["name"] for p in PODS)
    assert len(seen) == len(set(seen)) == POD_COUNT


def test_typed_kubernetes_client_reads_pages(api: Any) -> None:
    core: Any = k8s_client.CoreV1Api(api)
    first = core.list_pod_for_all_namespaces(limit=20)
    assert len(first.items) == 20
    assert first.metadata.remaining_item_count == POD_COUNT - 20
    rest = core.list_pod_for_all_namespaces(limit=20, _continue=first.metadata.var_continue)
    assert len(rest.items) == POD_COUNT - 20
    assert rest.metadata.var_continue is None
    pod = core.read_namespaced_pod("pod-05", "kube-system")
    assert (pod.kind, pod.spec.node_name, pod.status.phase) == ("Pod", "node-2", "Pending")
    with pytest.raises(k8s_client.ApiException) as raised:
        core.read_namespaced_pod("missing", "team-a")
    assert raised.value.status == 404


def test_resource_version_zero_is_served_unpaged_like_the_watch_cache(server: KubeApiServer) -> None:
    query = "limit=5&resourceVersion=0&resourceVersionMatch=NotOlderThan"
    doc = get_json(server, f"/api/v1/pods?{query}")[1]
    assert len(doc["items"]) == POD_COUNT
    assert "continue" not in doc["metadata"]
    assert "remainingItemCount" not in doc["metadata"]
    assert server.requests[-1].query["resourceVersionMatch"] == "NotOlderThan"
    # Without resourceVersion (a consistent read) the same limit pages.
    doc = get_json(server, "/api/v1/pods?limit=5")[1]
    assert len(doc["items"]) == 5
    assert doc["metadata"]["continue"]
    assert doc["metadata"]["remainingItemCount"] == POD_COUNT - 5


def test_list_option_validation(server: KubeApiServer) -> None:
    status, doc = get_json(server, "/api/v1/pods?resourceVersionMatch=NotOlderThan")
    assert status == 422
    assert_status(doc, 422, "Invalid")
    assert doc["details"]["causes"][0]["field"] == "resourceVersionMatch"
    token = get_json(server, "/api/v1/pods?limit=1")[1]["metadata"]["continue"]
    status, doc = get_json(server, f"/api/v1/pods?limit=1&continue={token}&resourceVersion=5")
    assert status == 400
    assert doc["message"] == "specifying resource version is not allowed when using continue"
    status, doc = get_json(server, "/api/v1/pods?resourceVersion=999999")
    assert (status, doc["reason"], doc["details"]["retryAfterSeconds"]) == (504, "Timeout", 1)


# ---------------------------------------------------------------------------------------------- continue


def test_stale_continue_token_is_410_with_a_resumable_token(server: KubeApiServer) -> None:
    first = get_json(server, "/api/v1/pods?limit=10")[1]
    server.bump_resource_version()
    status, headers, body = http(server, f"/api/v1/pods?limit=10&continue={first['metadata']['continue']}")
    doc = orjson.loads(body)
    assert status == 410
    assert headers["Content-Type"] == "application/json"
    assert_status(doc, 410, "Expired")
    assert doc["message"] == CONTINUE_EXPIRED_MESSAGE
    assert "details" not in doc
    # As the apiserver does, the Status carries a token that continues (inconsistently) at the latest RV.
    status, rest = get_json(server, f"/api/v1/pods?limit=100&continue={doc['metadata']['continue']}")
    assert status == 200
    assert names(first) + names(rest) == names(get_json(server, "/api/v1/pods")[1])
    assert rest["metadata"]["resourceVersion"] == str(server.resource_version)


def test_expire_continue_tokens_flag(server: KubeApiServer) -> None:
    token = get_json(server, "/api/v1/pods?limit=3")[1]["metadata"]["continue"]
    server.expire_continue_tokens = True
    assert get_json(server, f"/api/v1/pods?limit=3&continue={token}")[0] == 410
    server.expire_continue_tokens = False
    assert get_json(server, f"/api/v1/pods?limit=3&continue={token}")[0] == 200


@pytest.mark.parametrize("token", ["not*base64", "bm90LWpzb24", "eyJ2IjoieCJ9"])
def test_malformed_continue_token_is_400(server: KubeApiServer, token: str) -> None:
    status, doc = get_json(server, f"/api/v1/pods?limit=3&continue={token}")
    assert status == 400
    assert_status(doc, 400, "BadRequest")
    assert doc["message"].startswith("invalid continue token: continue key is not valid")


# --------------------------------------------------------------------------------------------- selectors


def _pod_names(predicate: Any) -> list[str]:
    return sorted(p["metadata"]["name"] for p in PODS if predicate(p))


def _labels(p: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = p["metadata"]["labels"]
    return labels


@pytest.mark.parametrize(
    ("selector", "predicate"),
    [
        ("app=web", lambda p: _labels(p)["app"] == "web"),
        ("app==web", lambda p: _labels(p)["app"] == "web"),
        ("app!=web", lambda p: _labels(p)["app"] != "web"),
        ("app in (web, db)", lambda p: _labels(p)["app"] in ("web", "db")),
        ("app notin (web)", lambda p: _labels(p)["app"] != "web"),
        ("canary", lambda p: "canary" in _labels(p)),
        ("!canary", lambda p: "canary" not in _labels(p)),
        ("app=api,canary", lambda p: _labels(p)["app"] == "api" and "canary" in _labels(p)),
        ("canary!=false,app in (api,web)", lambda p: _labels(p)["app"] != "db"),
        ("missing=x", lambda p: False),
    ],
)
def test_label_selectors(server: KubeApiServer, selector: str, predicate: Any) -> None:
    path = "/api/v1/pods?" + urllib.parse.urlencode({"labelSelector": selector})
    status, doc = get_json(server, path)
    assert status == 200
    assert sorted(names(doc)) == _pod_names(predicate)


@pytest.mark.parametrize(
    ("selector", "predicate"),
    [
        ("spec.nodeName=node-1", lambda p: p["spec"]["nodeName"] == "node-1"),
        ("status.phase==Pending", lambda p: p["status"]["phase"] == "Pending"),
        ("status.phase!=Pending", lambda p: p["status"]["phase"] != "Pending"),
        ("metadata.namespace=team-a", lambda p: p["metadata"]["namespace"] == "team-a"),
        ("metadata.name=pod-07", lambda p: p["metadata"]["name"] == "pod-07"),
        (
            "spec.nodeName=node-0,status.phase=Running",
            lambda p: p["spec"]["nodeName"] == "node-0" and p["status"]["phase"] == "Running",
        ),
    ],
)
def test_field_selectors(server: KubeApiServer, selector: str, predicate: Any) -> None:
    path = "/api/v1/pods?" + urllib.parse.urlencode({"fieldSelector": selector})
    status, doc = get_json(server, path)
    assert status == 200
    assert sorted(names(doc)) == _pod_names(predicate)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"labelSelector": "app in web"}, "unable to parse requirement"),
        ({"labelSelector": "Bad Key=x"}, "unable to parse requirement"),
        ({"fieldSelector": "spec.nodeName=n"}, "field label not supported: spec.nodeName"),
        ({"fieldSelector": "nonsense"}, "invalid selector"),
    ],
)
def test_bad_selectors_are_400(server: KubeApiServer, query: dict[str, str], message: str) -> None:
    path = "/apis/apps/v1/deployments?" + urllib.parse.urlencode(query)
    status, doc = get_json(server, path)
    assert status == 400
    assert_status(doc, 400, "BadRequest")
    assert doc["message"].startswith(message)


# ------------------------------------------------------------------------------------- single objects


def test_single_get_and_not_found(server: KubeApiServer) -> None:
    status, pod = get_json(server, "/api/v1/namespaces/kube-system/pods/pod-01")
    assert status == 200
    assert (pod["kind"], pod["apiVersion"], pod["metadata"]["name"]) == ("Pod", "v1", "pod-01")

    status, deploy = get_json(server, "/apis/apps/v1/namespaces/team-a/deployments/web")
    assert (status, deploy["kind"], deploy["apiVersion"]) == (200, "Deployment", "apps/v1")

    status, doc = get_json(server, "/api/v1/namespaces/default/pods/pod-01")  # pod-01 lives elsewhere
    assert status == 404
    assert_status(doc, 404, "NotFound")
    assert doc["message"] == 'pods "pod-01" not found'
    assert doc["details"] == {"name": "pod-01", "kind": "pods"}

    status, doc = get_json(server, "/apis/apps/v1/namespaces/team-a/deployments/gone")
    assert doc["message"] == 'deployments.apps "gone" not found'
    assert doc["details"] == {"name": "gone", "group": "apps", "kind": "deployments"}

    assert get_json(server, "/api/v1/nodes/node-2")[1]["kind"] == "Node"
    assert get_json(server, "/api/v1/pods/pod-01")[0] == 404  # namespaced objects have no cluster path


def test_namespaces_routes(server: KubeApiServer) -> None:
    status, doc = get_json(server, "/api/v1/namespaces")
    assert (status, doc["kind"]) == (200, "NamespaceList")
    assert names(doc) == sorted(NAMESPACES)

    status, doc = get_json(server, "/api/v1/namespaces/team-a")
    assert (status, doc["kind"], doc["metadata"]["name"]) == (200, "Namespace", "team-a")

    status, doc = get_json(server, "/api/v1/namespaces/team-a/pods")
    assert (status, doc["kind"]) == (200, "PodList")
    assert {i["metadata"]["namespace"] for i in doc["items"]} == {"team-a"}
    assert len(doc["items"]) == sum(p["metadata"]["namespace"] == "team-a" for p in PODS)

    status, doc = get_json(server, "/api/v1/namespaces/nope")
    assert (status, doc["message"]) == (404, 'namespaces "nope" not found')
    # Lists don't check that the namespace exists.
    assert get_json(server, "/api/v1/namespaces/nope/pods")[1]["items"] == []
    assert get_json(server, "/api/v1/namespaces/team-a/nodes")[0] == 404  # cluster-scoped


def test_namespaces_are_synthesized_when_absent() -> None:
    with KubeApiServer({"pods": PODS}) as srv:
        doc = get_json(srv, "/api/v1/namespaces", token=None)[1]
    assert set(NAMESPACES) <= set(names(doc))
    assert "kube-public" in names(doc)


# -------------------------------------------------------------------------------------- auth and faults


def test_requests_without_the_token_are_401(server: KubeApiServer) -> None:
    for token in (None, "wrong"):
        status, headers, body = http(server, "/api/v1/pods", token=token)
        doc = orjson.loads(body)
        assert status == 401
        assert headers["Content-Type"] == "application/json"
        assert doc == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }


def test_only_get_is_served(server: KubeApiServer) -> None:
    status, doc = get_json(server, "/api/v1/namespaces/default/pods", method="POST", body=b"{}")
    assert status == 405
    assert_status(doc, 405, "MethodNotAllowed")


def test_injected_403_reads_like_rbac(server: KubeApiServer) -> None:
    server.inject(r"/pods$", 403)
    status, doc = get_json(server, "/api/v1/pods")
    assert status == 403
    assert_status(doc, 403, "Forbidden")
    denial = 'cannot list resource "pods" in API group "" at the cluster scope'
    assert doc["message"] == f'pods is forbidden: User "{DEFAULT_USER}" {denial}'
    assert doc["details"] == {"kind": "pods"}
    status, doc = get_json(server, "/apis/apps/v1/namespaces/team-a/deployments/web/pods")
    assert status == 403
    message = get_json(server, "/api/v1/namespaces/team-a/pods")[1]["message"]
    assert message.endswith('in the namespace "team-a"')


def test_injected_429_with_retry_after_then_recovery(server: KubeApiServer, api: Any) -> None:
    fault = server.inject("/api/v1/pods", 429, times=2, retry_after=3)
    for _ in range(2):
        status, headers, doc = kube_get(api, "/api/v1/pods")
        assert status == 429
        assert headers["Retry-After"] == "3"
        assert_status(doc, 429, "TooManyRequests")
        assert doc["message"] == "Too many requests, please try again later."
        assert doc["details"] == {"retryAfterSeconds": 3}
    status, _, doc = kube_get(api, "/api/v1/pods")
    assert status == 200
    assert len(doc["items"]) == POD_COUNT
    assert (fault.hits, fault.exhausted) == (2, True)


def test_default_kubernetes_client_retries_honouring_retry_after(
    server: KubeApiServer,
    tmp_path: Path,
) -> None:
    """urllib3's default Retry (the official client's) replays 429/503 that carry Retry-After."""
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    try:
        server.inject("/api/v1/nodes", 429, times=2, retry_after=0)
        server.reset_requests()
        status, _, doc = kube_get(api_client, "/api/v1/nodes")
    finally:
        api_client.close()
    assert (status, doc["kind"]) == (200, "NodeList")
    assert [r.status for r in server.requests] == [429, 429, 200]


def test_injected_500_then_recovery_and_custom_message(server: KubeApiServer) -> None:
    server.inject("deployments", 500, times=1)
    status, doc = get_json(server, "/apis/apps/v1/deployments")
    assert status == 500
    assert_status(doc, 500, "InternalError")
    assert doc["message"].startswith("Internal error occurred: ")
    assert get_json(server, "/apis/apps/v1/deployments")[0] == 200

    server.inject("nodes", 503, message="etcd is sad")
    for _ in range(3):  # times=None: always
        status, doc = get_json(server, "/api/v1/nodes")
        assert (status, doc["reason"], doc["message"]) == (503, "ServiceUnavailable", "etcd is sad")
    server.clear_faults()
    assert get_json(server, "/api/v1/nodes")[0] == 200


def test_injected_410(server: KubeApiServer) -> None:
    server.inject("pods", 410, times=1)
    status, doc = get_json(server, "/api/v1/pods")
    assert (status, doc["reason"], doc["message"]) == (410, "Expired", CONTINUE_EXPIRED_MESSAGE)


def test_delay_stalls_responses_and_stop_is_prompt(server: KubeApiServer) -> None:
    server.delay("/version", 0.3, times=1)
    began = time.monotonic()
    assert get_json(server, "/version")[0] == 200
    assert time.monotonic() - began >= 0.3
    began = time.monotonic()
    assert get_json(server, "/version")[0] == 200
    assert time.monotonic() - began < 0.3

    server.delay("/api/v1/nodes", 30)
    errors: list[BaseException] = []

    def stalled() -> None:
        try:
            http(server, "/api/v1/nodes")
        except (OSError, urllib.error.URLError) as exc:
            errors.append(exc)

    worker = threading.Thread(target=stalled)
    worker.start()
    time.sleep(0.1)
    began = time.monotonic()
    server.stop()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert time.monotonic() - began < 2


def test_concurrent_clients(server: KubeApiServer) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            status = http(server, "/api/v1/pods?limit=7")[0]
            with lock:
                results.append(status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == [200] * 80
    assert len(server.requests) == 80


# ------------------------------------------------------------------------------------------- recording


def test_requests_are_recorded_without_the_token(server: KubeApiServer) -> None:
    server.reset_requests()
    get_json(server, "/api/v1/pods?limit=2&labelSelector=app%3Dweb&timeoutSeconds=30")
    http(server, "/version", token=None)
    first, second = server.requests
    assert (first.method, first.path, first.status) == ("GET", "/api/v1/pods", 200)
    assert first.query == {"limit": "2", "labelSelector": "app=web", "timeoutSeconds": "30"}
    assert first.headers["Accept"] == "application/json"
    assert first.has_authorization is True
    assert (second.path, second.has_authorization, second.status) == ("/version", False, 401)
    assert TOKEN not in repr(server.requests)
    server.reset_requests()
    assert server.requests == []


# ----------------------------------------------------------------------------------------- service proxy


def test_service_proxy_routing(server: KubeApiServer) -> None:
    calls: list[tuple[str, str, dict[str, str], bytes]] = []

    def backend(method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        calls.append((method, path, headers, body))
        return 200, {"Content-Type": "text/plain", "X-Backend": "prom"}, b"up 1\n"

    server.register_service_proxy("monitoring", "prometheus", 9090, backend)
    base = "/api/v1/namespaces/monitoring/services"
    status, headers, body = http(server, f"{base}/prometheus:9090/proxy/api/v1/query?query=up")
    assert (status, headers["X-Backend"], body) == (200, "prom", b"up 1\n")
    method, path, forwarded, _ = calls[-1]
    assert (method, path) == ("GET", "/api/v1/query?query=up")
    assert "Authorization" not in forwarded  # the apiserver consumes the credentials

    status, _, _ = http(server, f"{base}/https:prometheus:9090/proxy/-/healthy", method="POST", body=b"x=1")
    assert status == 200
    assert calls[-1][0] == "POST"
    assert calls[-1][1] == "/-/healthy"
    assert calls[-1][3] == b"x=1"
    assert http(server, f"{base}/prometheus/proxy/")[0] == 200  # no port: the service's only port

    status, _, body = http(server, f"{base}/grafana:3000/proxy/")
    doc = orjson.loads(body)
    assert status == 503
    assert_status(doc, 503, "ServiceUnavailable")
    assert doc["message"] == 'no endpoints available for service "grafana"'
    assert http(server, f"{base}/prometheus:9091/proxy/")[0] == 503

    def broken(method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        raise ConnectionRefusedError("connection refused")

    server.register_service_proxy("monitoring", "alertmanager", None, broken)
    doc = orjson.loads(http(server, f"{base}/alertmanager:9093/proxy/")[2])
    assert doc["message"] == "error trying to reach service: connection refused"


def test_service_proxy_requires_the_token(server: KubeApiServer) -> None:
    server.register_service_proxy("monitoring", "prometheus", None, lambda *_: (200, {}, b"ok"))
    assert http(server, "/api/v1/namespaces/monitoring/services/prometheus/proxy/", token=None)[0] == 401


# ------------------------------------------------------------------------------------ snapshot & config


def test_from_snapshot_directory(tmp_path: Path) -> None:
    kube = tmp_path / "kubernetes"
    kube.mkdir()
    (kube / "pods.json").write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": PODS[:3]}))
    typed = {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": []}
    (kube / "nodes.json").write_bytes(orjson.dumps(typed))
    (kube / "jobs.batch.json").write_bytes(b"")
    empty_list = orjson.dumps({"apiVersion": "v1", "kind": "List", "items": []})
    (kube / "persistentvolumes.json").write_bytes(empty_list)
    (tmp_path / "meta.json").write_text('{"server_version": "v1.29.7", "context": "prod"}')

    srv = KubeApiServer.from_snapshot(tmp_path)
    types = srv.resource_types
    assert (types["nodes"].kind, types["nodes"].namespaced) == ("Node", False)
    assert (types["jobs.batch"].group_version, types["jobs.batch"].kind, types["jobs.batch"].namespaced) == (
        "batch/v1",
        "Job",
        True,
    )
    assert types["persistentvolumes"].namespaced is False
    assert srv.meta["context"] == "prod"
    with srv:
        assert get_json(srv, "/version", token=None)[1]["gitVersion"] == "v1.29.7"
        assert names(get_json(srv, "/api/v1/pods", token=None)[1]) == ["pod-00", "pod-01", "pod-02"]
        assert get_json(srv, "/apis/batch/v1/jobs", token=None)[1]["kind"] == "JobList"


def test_write_kubeconfig_is_loadable(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "cfg" / "kubeconfig", "http://127.0.0.1:1", "tok", namespace="team-a")
    _, active = k8s_config.list_kube_config_contexts(config_file=str(path))
    assert active["name"] == "test"
    assert active["context"]["namespace"] == "team-a"
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == "http://127.0.0.1:1"
    assert configuration.auth_settings()["BearerToken"]["value"] == "Bearer tok"
