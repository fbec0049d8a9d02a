"""Proxy sync status from every shape operators capture: syncz before and after 1.23, istioctl text and JSON."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.errors import MalformedObject
from conformance.istio.sync import (
    TYPE_URLS,
    parse_client_configs,
    parse_proxy_status_text,
    parse_syncz,
    sync_state,
)


@pytest.mark.parametrize(
    ("sent", "acked", "error", "ztunnel", "state"),
    [
        ("n1", "n1", "", False, "SYNCED"),
        ("", "", "", False, "NOT SENT"),
        ("", "", "", True, "IGNORED"),
        ("n2", "", "", False, "STALE (Never Acknowledged)"),
        ("n2", "n1", "", False, "STALE"),
        ("n1", "n1", "rejected: bad listener", False, "ERROR"),
    ],
)
def test_istioctl_naming_of_states(sent: str, acked: str, error: str, ztunnel: bool, state: str) -> None:
    assert sync_state(sent, acked, error, ztunnel) == state


def entry(proxy: str, **fields: Any) -> dict[str, Any]:
    base = {"proxy": proxy, "istio_version": "1.21.0"}
    for kind in ("cluster", "listener", "route", "endpoint"):
        base[f"{kind}_sent"] = "a"
        base[f"{kind}_acked"] = "a"
    base.update(fields)
    return base


def test_syncz_before_1_23() -> None:
    proxies = parse_syncz(
        [entry("kong-1.kong"), entry("portal-1.data-platform", route_acked="", endpoint_sent="", endpoint_acked="")],
        "istio/syncz.json",
    )
    assert proxies[0].states == {"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "SYNCED", "RDS": "SYNCED", "ECDS": "NOT SENT"}
    assert proxies[1].states["RDS"] == "STALE (Never Acknowledged)"
    assert proxies[1].states["EDS"] == "NOT SENT"
    assert (proxies[1].pod, proxies[1].namespace) == ("portal-1", "data-platform")


def test_syncz_1_23_resources_and_last_error() -> None:
    resources = {
        TYPE_URLS["LDS"]: {
            "sent": "b",
            "acked": "a",
            "sentTime": "2025-01-10T12:00:00.1Z",
            "lastError": "port conflict",
        },
        TYPE_URLS["ECDS"]: {"sentTime": "0001-01-01T00:00:00Z"},
    }
    (proxy,) = parse_syncz([entry("kong-1.kong", proxy_type="sidecar", resources=resources)], "s")
    assert proxy.states["LDS"] == "ERROR"
    assert proxy.errors == {"LDS": "port conflict"}
    assert proxy.states["CDS"] == "SYNCED"
    assert proxy.states["ECDS"] == "NOT SENT"


def test_ztunnel_not_sent_is_ignored() -> None:
    (proxy,) = parse_syncz([{"proxy": "ztunnel-x.istio-system", "proxy_type": "ztunnel"}], "s")
    assert set(proxy.states.values()) == {"IGNORED"}


@pytest.mark.parametrize(
    "document",
    [{"proxy": "x"}, [{"cluster_sent": "a"}], [entry("a.b", cluster_sent=5)], [entry("a.b", resources=[])]],
)
def test_malformed_syncz(document: Any) -> None:
    with pytest.raises(MalformedObject):
        parse_syncz(document, "istio/syncz.json")


TEXT_1_18 = """\
NAME                                                CLUSTER        CDS        LDS        EDS        RDS          ECDS         ISTIOD                      VERSION
kong-884b8f4bd-8w7tx.kong                           Kubernetes     SYNCED     SYNCED     SYNCED     SYNCED       NOT SENT     istiod-84bbcb5b7-6rdw5      1.18.2
portal-services-64d5779b68-6d924.data-platform      Kubernetes     SYNCED     SYNCED     SYNCED     STALE (Never Acknowledged)     NOT SENT     istiod-84bbcb5b7-6rdw5      1.18.2
"""

TEXT_1_23 = """\
NAME                                 CLUSTER        CDS                LDS                EDS                RDS                ECDS         ISTIOD                      VERSION
kong-884b8f4bd-8w7tx.kong            Kubernetes     SYNCED (3m12s)     SYNCED (3m12s)     SYNCED (2m1s)      SYNCED (3m12s)     NOT SENT     istiod-84bbcb5b7-6rdw5      1.23.2
kong-884b8f4bd-sr4v7.kong            Kubernetes     SYNCED (3m12s)     STALE              SYNCED (2m1s)      SYNCED (3m12s)     NOT SENT     istiod-84bbcb5b7-6rdw5      1.23.2
"""


def test_proxy_status_text_1_18() -> None:
    proxies = parse_proxy_status_text(TEXT_1_18, "istio/proxy-status.txt")
    assert [p.proxy for p in proxies] == ["kong-884b8f4bd-8w7tx.kong", "portal-services-64d5779b68-6d924.data-platform"]
    assert proxies[1].states["RDS"] == "STALE (Never Acknowledged)"
    assert proxies[0].version == "1.18.2"
    assert proxies[0].istiod == "istiod-84bbcb5b7-6rdw5"


def test_proxy_status_text_1_23_strips_ages() -> None:
    proxies = parse_proxy_status_text(TEXT_1_23, "istio/proxy-status.txt")
    assert proxies[0].states == {"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "SYNCED", "RDS": "SYNCED", "ECDS": "NOT SENT"}
    assert proxies[1].states["LDS"] == "STALE"


def test_proxy_status_text_1_27_default_has_no_type_columns() -> None:
    text = "NAME     CLUSTER     ISTIOD     VERSION     SUBSCRIBED TYPES\nkong-1.kong     Kubernetes     istiod-1     1.27.0     4 (CDS,LDS,EDS,RDS)\n"
    with pytest.raises(MalformedObject, match="no per-type columns"):
        parse_proxy_status_text(text, "istio/proxy-status.txt")


def test_proxy_status_text_with_a_ragged_row_is_malformed() -> None:
    with pytest.raises(MalformedObject, match=r"proxy-status.txt:2: expected 9 columns"):
        parse_proxy_status_text(TEXT_1_23.splitlines()[0] + "\nkong-1.kong     SYNCED\n", "istio/proxy-status.txt")


def client_config(node: str, statuses: dict[str, str]) -> dict[str, Any]:
    return {
        "node": {"id": node, "metadata": {"ISTIO_VERSION": "1.30.1"}},
        "genericXdsConfigs": [{"typeUrl": TYPE_URLS[t], "configStatus": s} for t, s in statuses.items()],
    }


def test_proxy_status_json_1_30_client_configs() -> None:
    node = "sidecar~10.0.0.7~kong-884b8f4bd-8w7tx.kong~kong.svc.cluster.local"
    document = [client_config(node, {"CDS": "SYNCED", "LDS": "STALE", "EDS": "NOT_SENT", "RDS": "ERROR"})]
    (proxy,) = parse_client_configs(document, "istio/proxy-status.json")
    assert proxy.proxy == "kong-884b8f4bd-8w7tx.kong"
    assert proxy.proxy_type == "sidecar"
    assert proxy.states == {"CDS": "SYNCED", "LDS": "STALE", "EDS": "NOT SENT", "RDS": "ERROR", "ECDS": "NOT SENT"}
    assert proxy.version == "1.30.1"


def test_proxy_status_json_needs_node_ids() -> None:
    with pytest.raises(MalformedObject, match=r"node\.id is missing"):
        parse_client_configs([{"genericXdsConfigs": []}], "istio/proxy-status.json")
