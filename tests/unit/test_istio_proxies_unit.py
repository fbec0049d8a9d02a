"""Istio checks (conformance.istio.proxies, conformance.istio.policy): proxies synced, expected proxies, sidecars,
and the mesh's mTLS mode, judged from small syncz, istioctl and PeerAuthentication documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.check import Finding
from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.istio import policy, proxies
from conformance.istio.sync import TYPE_URLS
from conformance.profile.model import PeerAuthentication, Profile
from conformance.profile.services import Istio, ProxyExpectation

from .unitstate import PROFILE, Obj, culprits, meta, present, profile, state

FLAT = ("cluster", "listener", "endpoint", "route")


def entry(proxy: str, kind: str = "sidecar", version: str = "1.22.1", **fields: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"proxy": proxy, "proxy_type": kind, "istio_version": version}
    for name in FLAT:
        found[f"{name}_sent"] = found[f"{name}_acked"] = "n1"
    return found | fields


def syncz(*entries: dict[str, Any]) -> ClusterState:
    return state(documents={"istio/syncz.json": list(entries)})


def rule(name: str = "all-proxies", **settings: Any) -> proxies.MeshRule:
    return proxies.MeshRule(name, Istio.model_validate(settings))


@pytest.mark.parametrize(
    ("entries", "settings", "want"),
    [
        pytest.param([entry("web-1.apps"), entry("db-0.apps")], {}, [], id="all-synced"),
        pytest.param(
            [entry("web-1.apps", route_acked="n0"), entry("db-0.apps", endpoint_acked="")],
            {},
            [("web-1.apps", "RDS STALE"), ("db-0.apps", "EDS STALE (Never Acknowledged)")],
            id="stale",
        ),
        pytest.param(
            [entry("web-1.apps", resources={TYPE_URLS["LDS"]: {"lastError": "port 80 conflict"}})],
            {},
            [("web-1.apps", "LDS ERROR: port 80 conflict")],
            id="rejected-with-error",
        ),
        pytest.param(
            [entry("web-1.apps", route_sent="", route_acked="")],
            {},
            [("web-1.apps", "RDS NOT SENT")],
            id="not-sent",
        ),
        pytest.param(
            [entry("web-1.apps", route_sent="", route_acked=""), entry("gw-1.edge", route_sent="", route_acked="")],
            {"not_sent_allowed": [{"type": "RDS", "namespace": "apps"}]},
            [("gw-1.edge", "RDS NOT SENT")],
            id="not-sent-allowed-in-one-namespace",
        ),
        pytest.param(
            [entry("web-1.apps", route_sent="", route_acked=""), entry("gw-1.edge", route_sent="", route_acked="")],
            {"not_sent_allowed": [{"type": "EDS"}, {"type": "RDS"}]},
            [],
            id="not-sent-allowed-everywhere",
        ),
        pytest.param(
            [entry("web-1.apps", endpoint_sent="", endpoint_acked="")],
            {"not_sent_allowed": [{"type": "RDS"}]},
            [("web-1.apps", "EDS NOT SENT")],
            id="not-sent-allowed-for-another-type",
        ),
        pytest.param(
            [entry("web-1.apps", route_acked="n0")],
            {"not_sent_allowed": [{"type": "RDS"}]},
            [("web-1.apps", "RDS STALE")],
            id="allowance-covers-only-not-sent",
        ),
        pytest.param(
            [entry("web-1.apps")],
            {"types": ["CDS", "ECDS"]},
            [("web-1.apps", "ECDS NOT SENT")],
            id="configured-types",
        ),
        pytest.param([{"proxy": "ztunnel-abcde.istio-system", "proxy_type": "ztunnel"}], {}, [], id="ztunnel-ignored"),
        pytest.param(
            [
                {
                    "proxy": "ztunnel-abcde.istio-system",
                    "proxy_type": "ztunnel",
                    "resources": {TYPE_URLS["CDS"]: {"lastError": "rejected"}},
                }
            ],
            {"types": ["CDS"]},
            [("ztunnel-abcde.istio-system", "CDS ERROR: rejected")],
            id="ztunnel-error",
        ),
    ],
)
def test_proxies_synced(entries: list[dict[str, Any]], settings: dict[str, Any], want: list[tuple[str, str]]) -> None:
    assert culprits(proxies.proxies_synced(syncz(*entries), rule(**settings), PROFILE)) == want


def test_proxies_synced_says_what_it_saw() -> None:
    cluster = syncz(
        entry("web-1.apps", route_acked="n0", listener_acked="n0"),
        entry("db-0.apps", version="1.22.2"),
        entry("gw-1.edge", version=""),
    )
    finding = proxies.proxies_synced(cluster, rule(not_sent_allowed=[{"type": "ECDS"}, {"type": "EDS"}]), PROFILE)
    assert culprits(finding) == [("web-1.apps", "LDS STALE"), ("web-1.apps", "RDS STALE")]
    assert finding.expected == "every proxy CDS/LDS/EDS/RDS SYNCED (NOT SENT allowed for ECDS, EDS)"
    assert finding.observed == "2 of 3 proxies synced; Istio 1.22.1, 1.22.2 (istio/syncz.json)"
    assert (finding.inspected, finding.evidence) == (3, ("istio/syncz.json",))
    bare = proxies.proxies_synced(syncz(entry("a.b", version="")), rule(), PROFILE)
    assert bare.expected == "every proxy CDS/LDS/EDS/RDS SYNCED"
    assert bare.observed == "1 of 1 proxies synced; Istio version not reported (istio/syncz.json)"


TEXT = """\
NAME                CDS        LDS
web-1.apps          SYNCED     SYNCED
"""


def test_proxies_synced_reads_istioctl_captures() -> None:
    text = proxies.proxies_synced(state(documents={"istio/proxy-status.txt": TEXT.encode()}), rule(), PROFILE)
    assert culprits(text) == [
        ("web-1.apps", "EDS not reported in istio/proxy-status.txt"),
        ("web-1.apps", "RDS not reported in istio/proxy-status.txt"),
    ]
    assert text.observed == "0 of 1 proxies synced; Istio version not reported (istio/proxy-status.txt)"
    assert text.evidence == ("istio/proxy-status.txt",)
    node = "sidecar~10.0.0.7~web-1.apps~apps.svc.cluster.local"
    configs = [{"node": {"id": node}, "genericXdsConfigs": [{"typeUrl": TYPE_URLS["CDS"], "configStatus": "STALE"}]}]
    json_capture = state(documents={"istio/proxy-status.json": configs, "istio/proxy-status.txt": b"\xff"})
    found = proxies.proxies_synced(json_capture, rule(types=["CDS"]), PROFILE)
    assert culprits(found) == [("web-1.apps", "CDS STALE")]
    assert found.evidence == ("istio/proxy-status.json",)


@pytest.mark.parametrize(
    ("given", "error", "reason"),
    [
        pytest.param(
            state(documents={"istio/proxy-status.txt": b"NAME CDS\n\xff\n"}),
            CouldNotEvaluate,
            "istio/proxy-status.txt is not UTF-8 text",
            id="not-utf8",
        ),
        pytest.param(
            state(),
            SourceError,
            "istio: snapshot has none of istio/syncz.json, istio/proxy-status.json, istio/proxy-status.txt",
            id="nothing-captured",
        ),
        pytest.param(
            state(mode="live"),
            SourceError,
            "istio: this run collected none of istio/syncz.json, istio/proxy-status.json, istio/proxy-status.txt",
            id="nothing-collected",
        ),
        pytest.param(
            state(documents={"istio/syncz.json": {"proxy": "x"}}),
            MalformedObject,
            "istio/syncz.json: expected a JSON array of proxies",
            id="malformed-syncz",
        ),
        pytest.param(
            state(documents={"istio/proxy-status.json": {}}),
            MalformedObject,
            "istio/proxy-status.json: expected a list of proxy ClientConfigs",
            id="malformed-json",
        ),
        pytest.param(
            state(documents={"istio/proxy-status.txt": b"PROXY  CDS\nweb.apps  SYNCED\n"}),
            MalformedObject,
            "istio/proxy-status.txt: first line is not the proxy-status header (NAME ...)",
            id="malformed-text",
        ),
    ],
)
def test_istio_checks_cannot_be_evaluated(given: ClusterState, error: type[Exception], reason: str) -> None:
    checks: list[tuple[Callable[[ClusterState, Any, Profile], Finding], object]] = [
        (proxies.proxies_synced, rule()),
        (proxies.expected_proxies, ProxyExpectation(namespace="apps", workload="web")),
        (proxies.sidecar_count, rule("sidecars", min_sidecars=1)),
    ]
    for evaluate, expectation in checks:
        with pytest.raises(error) as raised:
            evaluate(given, expectation, PROFILE)
        assert str(raised.value) == reason


@pytest.mark.parametrize("file", ["syncz.json", "proxy-status.json"])
def test_istio_bodies_that_are_not_json(file: str) -> None:
    with pytest.raises(MalformedObject) as raised:
        proxies.proxies_synced(state(documents={f"istio/{file}": b"[{"}), rule(), PROFILE)
    assert str(raised.value).startswith(f"istio/{file} is not valid JSON (")


def test_unreachable_istiod_is_an_error() -> None:
    given = state(documents={"istio/syncz.json": []})
    given.service_errors["istio"] = SourceError("istio", "GET /debug/syncz answered HTTP 503")
    with pytest.raises(SourceError) as raised:
        proxies.proxies_synced(given, rule(), PROFILE)
    assert str(raised.value) == "istio: GET /debug/syncz answered HTTP 503"


@pytest.mark.parametrize(
    ("names", "minimum", "found"),
    [
        pytest.param(["web-7d4b9c6f8-x2x9z", "web-6f9c8b7d5d-abcde"], 2, 2, id="deployment-pods"),
        pytest.param(["web-x2x9z"], 1, 1, id="pod-hash-only"),
        pytest.param(["web-0", "web-12"], 2, 2, id="statefulset-pods"),
        pytest.param(["web-7d4b9c6f8-x2x9z"], 2, 1, id="too-few"),
        pytest.param(["webapp-7d4b9c6f8-x2x9z", "web-api-x2x9z", "web-0a"], 1, 0, id="other-workloads"),
        pytest.param(["web-7d4b9c6f8-X2X9Z", "web-7d4b9c6f8-x2x9", "web-7d4b9c6f8123-x2x9z"], 1, 0, id="not-hashes"),
        pytest.param([], 1, 0, id="none"),
    ],
)
def test_expected_proxies(names: list[str], minimum: int, found: int) -> None:
    cluster = syncz(*(entry(f"{n}.apps") for n in names), entry("web-7d4b9c6f8-x2x9z.other"))
    expected = ProxyExpectation(namespace="apps", workload="web", min=minimum)
    finding = proxies.expected_proxies(cluster, expected, PROFILE)
    short = [] if found >= minimum else [("apps/web", f"{found} proxies known to istiod, expected at least {minimum}")]
    assert culprits(finding) == short
    listed = ", ".join(f"{n}.apps" for n in names[:found]) or "none"
    assert finding.observed == f"{found} found: {listed}"
    assert finding.expected == f"at least {minimum} proxies of apps/web connected to istiod"
    assert (finding.inspected, finding.evidence) == (len(names) + 1, ("istio/syncz.json",))


@pytest.mark.parametrize(
    ("kinds", "minimum", "want", "observed"),
    [
        pytest.param(["sidecar", "sidecar"], 2, [], "2 sidecars among 2 proxies", id="enough"),
        pytest.param(
            ["sidecar", "router", "ztunnel"],
            2,
            [("mesh", "1 sidecars, expected at least 2")],
            "1 sidecars among 3 proxies",
            id="gateways-not-counted",
        ),
        pytest.param(["", "sidecar", "sidecar"], 3, [], "3 sidecars among 3 proxies", id="untyped-counted"),
    ],
)
def test_sidecar_count(kinds: list[str], minimum: int, want: list[tuple[str, str]], observed: str) -> None:
    cluster = syncz(*(entry(f"p{i}.apps", kind) for i, kind in enumerate(kinds)))
    finding = proxies.sidecar_count(cluster, rule("sidecars", min_sidecars=minimum), PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        f"at least {minimum} sidecar proxies",
        observed,
        len(kinds),
        ("istio/syncz.json",),
    )


def test_sidecar_count_without_a_minimum_wants_none() -> None:
    finding = proxies.sidecar_count(syncz(), rule("sidecars"), PROFILE)
    assert (finding.passed, finding.expected) == (True, "at least 0 sidecar proxies")


def test_mesh_rules_follow_the_profile() -> None:
    istio = {"source": "report", "note": "why", "severity": "minor", "min_sidecars": 3}
    mesh = profile(services={"istio": istio})
    [(name, found)] = proxies.mesh_rules(mesh, "sidecars") or []
    assert (name, str(found), found.rule, found.istio) == (
        "sidecars",
        "sidecars",
        "sidecars",
        present(mesh.services).istio,
    )
    assert (found.source, found.note, found.severity, found.origin) == ("report", "why", "minor", None)
    assert proxies.mesh_rules(mesh, "all-proxies") == [("all-proxies", proxies.MeshRule("all-proxies", found.istio))]
    assert proxies.mesh_rules(profile(services={"istio": {}}), "sidecars") is None
    assert [n for n, _ in proxies.mesh_rules(profile(services={"istio": {}}), "all-proxies") or []] == ["all-proxies"]
    assert proxies.mesh_rules(profile(services={}), "all-proxies") is None
    assert proxies.mesh_rules(PROFILE, "all-proxies") is None


MESH = PeerAuthentication(mode="STRICT")


def peer(namespace: str, name: str, mode: str | None) -> Obj:
    return {"metadata": meta(name, namespace), "spec": {} if mode is None else {"mtls": {"mode": mode}}}


@pytest.mark.parametrize(
    ("policies", "want", "observed"),
    [
        pytest.param(
            [peer("istio-system", "default", "STRICT"), peer("apps", "legacy", "PERMISSIVE")],
            [],
            "mTLS modes: istio-system/default=STRICT, apps/legacy=PERMISSIVE",
            id="strict",
        ),
        pytest.param(
            [peer("istio-system", "default", "PERMISSIVE")],
            [("PeerAuthentication istio-system/default", "mode PERMISSIVE, expected STRICT")],
            "mTLS modes: istio-system/default=PERMISSIVE",
            id="permissive",
        ),
        pytest.param(
            [peer("istio-system", "default", None)],
            [("PeerAuthentication istio-system/default", "mode UNSET, expected STRICT")],
            "mTLS modes: istio-system/default=UNSET",
            id="unset",
        ),
        pytest.param(
            [peer("apps", "default", "STRICT"), peer("istio-system", "other", None)],
            [("PeerAuthentication istio-system/default", "not found")],
            "PeerAuthentication istio-system/default not found; present: apps/default=STRICT, istio-system/other=UNSET",
            id="missing",
        ),
        pytest.param(
            [],
            [("PeerAuthentication istio-system/default", "not found")],
            "PeerAuthentication istio-system/default not found; present: none",
            id="none",
        ),
    ],
)
def test_mtls_mode(policies: list[Obj], want: list[tuple[str, str]], observed: str) -> None:
    finding = policy.mtls_mode(state({"peerauthentications.security.istio.io": policies}), MESH, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "PeerAuthentication istio-system/default sets mTLS mode STRICT",
        observed,
        len(policies),
        ("peerauthentications.security.istio.io",),
    )


def test_unset_mode_can_be_what_is_expected() -> None:
    unset = PeerAuthentication(namespace="apps", name="p", mode="UNSET")
    finding = policy.mtls_mode(
        state({"peerauthentications.security.istio.io": [peer("apps", "p", None)]}), unset, PROFILE
    )
    assert finding.passed


def test_mtls_mode_needs_the_peer_authentications() -> None:
    with pytest.raises(SourceError) as raised:
        policy.mtls_mode(state({}), MESH, PROFILE)
    assert str(raised.value) == "peerauthentications.security.istio.io: was not collected in this run"
