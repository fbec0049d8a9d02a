"""Parsing istiod's sync status (conformance.istio.sync): syncz before and after 1.23, istioctl JSON and text."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.errors import MalformedObject
from conformance.istio.sync import (
    TYPE_URLS,
    ProxySync,
    parse_client_configs,
    parse_proxy_status_text,
    parse_syncz,
    sync_state,
)

SYNCED_ALL = {"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "SYNCED", "RDS": "SYNCED", "ECDS": "NOT SENT"}
FIELDS = {"CDS": "cluster", "LDS": "listener", "EDS": "endpoint", "RDS": "route"}


@pytest.mark.parametrize(
    ("sent", "acked", "error", "ztunnel", "named"),
    [
        ("n1", "n1", "", False, "SYNCED"),
        ("", "", "", False, "NOT SENT"),
        ("", "", "", True, "IGNORED"),
        ("n2", "", "", False, "STALE (Never Acknowledged)"),
        ("n2", "n1", "", False, "STALE"),
        ("n1", "n1", "rejected", False, "ERROR"),
        ("", "", "rejected", True, "ERROR"),
    ],
)
def test_sync_state_names_like_istioctl(sent: str, acked: str, error: str, ztunnel: bool, named: str) -> None:
    assert sync_state(sent, acked, error, ztunnel) == named


def test_sync_state_defaults_to_no_error_and_no_ztunnel() -> None:
    assert (sync_state("n1", "n1"), sync_state("", "")) == ("SYNCED", "NOT SENT")


def syncz(proxy: str = "web-7d4b9c6f8-x2x9z.apps", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"proxy": proxy, "proxy_type": "sidecar", "istio_version": "1.22.1"}
    for name in FIELDS.values():
        entry[f"{name}_sent"] = entry[f"{name}_acked"] = "nonce-1"
    entry.update(fields)
    return entry


@pytest.mark.parametrize(
    ("entry", "states", "errors"),
    [
        pytest.param(syncz(), SYNCED_ALL, {}, id="pre-1.23-synced"),
        pytest.param(
            syncz(route_acked="", endpoint_sent="", endpoint_acked="", listener_acked="nonce-0"),
            SYNCED_ALL | {"RDS": "STALE (Never Acknowledged)", "EDS": "NOT SENT", "LDS": "STALE"},
            {},
            id="pre-1.23-stale",
        ),
        pytest.param(
            # 1.23+: the per-resource nonces are the current ones; the flat fields may lag behind.
            syncz(
                cluster_acked="",
                listener_acked="nonce-0",
                resources={
                    TYPE_URLS["CDS"]: {"sent": "nonce-2", "acked": "nonce-2"},
                    TYPE_URLS["LDS"]: {"sent": "nonce-1", "acked": "nonce-1"},
                },
            ),
            SYNCED_ALL,
            {},
            id="1.23-resources-acked",
        ),
        pytest.param(
            syncz(resources={TYPE_URLS["CDS"]: {"sent": "nonce-2"}, TYPE_URLS["ECDS"]: {"sent": "e", "acked": "e"}}),
            SYNCED_ALL | {"CDS": "STALE", "ECDS": "SYNCED"},
            {},
            id="1.23-resources-sent",
        ),
        pytest.param(
            syncz(resources={TYPE_URLS["LDS"]: {"sent": "b", "acked": "b", "lastError": "port conflict"}}),
            SYNCED_ALL | {"LDS": "ERROR"},
            {"LDS": "port conflict"},
            id="1.23-last-error",
        ),
        pytest.param(
            syncz(resources={TYPE_URLS["RDS"]: None, TYPE_URLS["EDS"]: {}}), SYNCED_ALL, {}, id="1.23-empty-resources"
        ),
    ],
)
def test_parse_syncz(entry: dict[str, Any], states: dict[str, str], errors: dict[str, str]) -> None:
    assert parse_syncz([entry], "istio/syncz.json") == [
        ProxySync("web-7d4b9c6f8-x2x9z.apps", states, "sidecar", "", "1.22.1", errors)
    ]


def test_parse_syncz_ztunnel_and_bare_entries() -> None:
    ztunnel, bare = parse_syncz(
        [{"proxy": "ztunnel-abcde.istio-system", "proxy_type": "ztunnel"}, {"proxy": "gw"}], "istio/syncz.json"
    )
    assert ztunnel == ProxySync("ztunnel-abcde.istio-system", dict.fromkeys(SYNCED_ALL, "IGNORED"), "ztunnel")
    assert bare == ProxySync("gw", dict.fromkeys(SYNCED_ALL, "NOT SENT"))
    assert (ztunnel.pod, ztunnel.namespace, bare.pod, bare.namespace) == ("ztunnel-abcde", "istio-system", "gw", "")


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"proxy": "x"}, "istio/syncz.json: expected a JSON array of proxies"),
        ([syncz(), {"cluster_sent": "a"}], "istio/syncz.json[1]: no proxy name"),
        (["web.apps"], "istio/syncz.json[0]: no proxy name"),
        ([syncz(proxy="")], "istio/syncz.json[0]: no proxy name"),
        ([syncz(cluster_sent=5)], "istio/syncz.json[0]: cluster_sent is not a string"),
        ([syncz(route_acked=None)], "istio/syncz.json[0]: route_acked is not a string"),
        ([syncz(resources=[])], "istio/syncz.json[0]: resources is not an object"),
        (
            [syncz(resources={TYPE_URLS["EDS"]: "synced"})],
            f"istio/syncz.json[0]: resources[{TYPE_URLS['EDS']}] is not an object",
        ),
    ],
)
def test_malformed_syncz(document: Any, reason: str) -> None:
    with pytest.raises(MalformedObject) as raised:
        parse_syncz(document, "istio/syncz.json")
    assert str(raised.value) == reason


NODE = "sidecar~10.0.0.7~web-7d4b9c6f8-x2x9z.apps~apps.svc.cluster.local"


def client_config(node: Any = NODE, version: str | None = "1.30.1", **statuses: str) -> dict[str, Any]:
    found: dict[str, Any] = {"id": node} if node is not None else {}
    if version is not None:
        found["metadata"] = {"ISTIO_VERSION": version}
    return {
        "node": found,
        "genericXdsConfigs": [{"typeUrl": TYPE_URLS[t], "configStatus": s} for t, s in statuses.items()],
    }


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            [client_config(CDS="SYNCED", LDS="STALE", EDS="NOT_SENT", RDS="ERROR", ECDS="UNKNOWN")],
            [
                ProxySync(
                    "web-7d4b9c6f8-x2x9z.apps",
                    {"CDS": "SYNCED", "LDS": "STALE", "EDS": "NOT SENT", "RDS": "ERROR", "ECDS": "UNKNOWN"},
                    "sidecar",
                    version="1.30.1",
                )
            ],
            id="list",
        ),
        pytest.param(
            {"resources": [client_config(CDS="SYNCED", LDS="DRAINING")]},
            [
                ProxySync(
                    "web-7d4b9c6f8-x2x9z.apps",
                    dict.fromkeys(SYNCED_ALL, "NOT SENT") | {"CDS": "SYNCED", "LDS": "DRAINING"},
                    "sidecar",
                    version="1.30.1",
                )
            ],
            id="resources-key",
        ),
        pytest.param(
            [client_config(node="router~10.0.0.9~gw-1.edge")],
            [ProxySync("gw-1.edge", dict.fromkeys(SYNCED_ALL, "NOT SENT"), "router", version="1.30.1")],
            id="three-part-node-id",
        ),
        pytest.param(
            {"proxies": [client_config(node="gateway-1", version=None)]},
            [ProxySync("gateway-1", dict.fromkeys(SYNCED_ALL, "NOT SENT"))],
            id="proxies-key-short-node-id",
        ),
        pytest.param(
            {
                "items": [
                    {
                        "node": {"id": "router~1~gw-1.ingress~x", "metadata": "n/a"},
                        "generic_xds_configs": [
                            {"type_url": TYPE_URLS["RDS"], "config_status": "SYNCED"},
                            {"type_url": "type.googleapis.com/envoy.Other", "config_status": "ERROR"},
                            {"typeUrl": TYPE_URLS["CDS"]},
                        ],
                    }
                ]
            },
            [
                ProxySync(
                    "gw-1.ingress",
                    dict.fromkeys(SYNCED_ALL, "NOT SENT") | {"RDS": "SYNCED", "CDS": "UNKNOWN"},
                    "router",
                )
            ],
            id="snake-case-fields",
        ),
    ],
)
def test_parse_client_configs(document: Any, expected: list[ProxySync]) -> None:
    assert parse_client_configs(document, "istio/proxy-status.json") == expected


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"nodes": []}, "istio/proxy-status.json: expected a list of proxy ClientConfigs"),
        ("text", "istio/proxy-status.json: expected a list of proxy ClientConfigs"),
        ([client_config(), 3], "istio/proxy-status.json[1]: not an object"),
        ([{"genericXdsConfigs": []}], "istio/proxy-status.json[0]: node.id is missing"),
        ([{"node": "web.apps"}], "istio/proxy-status.json[0]: node.id is missing"),
        ([client_config(node="")], "istio/proxy-status.json[0]: node.id is missing"),
        ([client_config(node=7)], "istio/proxy-status.json[0]: node.id is missing"),
        (
            [{"node": {"id": NODE}, "genericXdsConfigs": {"CDS": "SYNCED"}}],
            "istio/proxy-status.json[0]: genericXdsConfigs is not a list",
        ),
        (
            [{"node": {"id": NODE}, "genericXdsConfigs": ["SYNCED"]}],
            "istio/proxy-status.json[0]: a genericXdsConfigs entry is not an object",
        ),
    ],
)
def test_malformed_client_configs(document: Any, reason: str) -> None:
    with pytest.raises(MalformedObject) as raised:
        parse_client_configs(document, "istio/proxy-status.json")
    assert str(raised.value) == reason


TEXT = """\
NAME                      CLUSTER     CDS               LDS       EDS                          RDS     ISTIOD    VERSION
web-7d4b9c6f8-x2x9z.apps  Kubernetes  SYNCED (3m12s)    STALE     STALE (Never Acknowledged)   SYNCED  istiod-1  1.23.2

db-0.apps                 Kubernetes  SYNCED (1h2m)     SYNCED    SYNCED (0.5s)                ERROR   istiod-2  1.23.2
"""


def test_parse_proxy_status_text() -> None:
    assert parse_proxy_status_text(TEXT, "istio/proxy-status.txt") == [
        ProxySync(
            "web-7d4b9c6f8-x2x9z.apps",
            {"CDS": "SYNCED", "LDS": "STALE", "EDS": "STALE (Never Acknowledged)", "RDS": "SYNCED"},
            istiod="istiod-1",
            version="1.23.2",
        ),
        ProxySync(
            "db-0.apps",
            {"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "SYNCED", "RDS": "ERROR"},
            istiod="istiod-2",
            version="1.23.2",
        ),
    ]


def test_parse_proxy_status_text_without_istiod_and_version_columns() -> None:
    text = "NAME      CDS       ECDS\nweb.apps  SYNCED    NOT SENT\n"
    assert parse_proxy_status_text(text, "t") == [ProxySync("web.apps", {"CDS": "SYNCED", "ECDS": "NOT SENT"})]
    assert parse_proxy_status_text(" \n\n", "t") == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "PROXY     CDS\nweb.apps  SYNCED\n",
            "istio/proxy-status.txt: first line is not the proxy-status header (NAME ...)",
        ),
        (
            "NAME     CLUSTER     ISTIOD     VERSION\nweb.apps     Kubernetes     istiod-1     1.27.0\n",
            "istio/proxy-status.txt: no per-type columns (CDS, LDS, ...); capture with istioctl 1.18-1.26 or `-v 1` "
            "on 1.27+",
        ),
        ("NAME     CDS      LDS\nweb.apps     SYNCED\n", "istio/proxy-status.txt:2: expected 3 columns, found 2"),
    ],
)
def test_malformed_proxy_status_text(text: str, reason: str) -> None:
    with pytest.raises(MalformedObject) as raised:
        parse_proxy_status_text(text, "istio/proxy-status.txt")
    assert str(raised.value) == reason
