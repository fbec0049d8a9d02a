"""Effective mTLS mode, PeerAuthentication precedence applied (conformance.istio.mtls)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.errors import MalformedObject, SourceError
from conformance.istio import mtls
from conformance.profile.model import NamespaceMtls

from .unitstate import PROFILE, Obj, culprits, meta, profile, state

WANTED = NamespaceMtls(namespace="apps", mode="PERMISSIVE")
WORKLOADS = ("deployments.apps", "statefulsets.apps", "daemonsets.apps")


def policy(
    namespace: str,
    name: str,
    mode: str | None = None,
    selector: dict[str, str] | None = None,
    ports: dict[str, Any] | None = None,
    created: str = "2025-10-21T14:20:31Z",
) -> Obj:
    spec: Obj = {}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if ports is not None:
        spec["portLevelMtls"] = ports
    return {"metadata": meta(name, namespace, creationTimestamp=created), "spec": spec}


def deployment(name: str, labels: dict[str, str] | None = None) -> Obj:
    template = {"metadata": {"labels": labels if labels is not None else {"app": name}}, "spec": {"containers": []}}
    return {"metadata": meta(name, "apps"), "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}}


def judged(policies: list[Obj], deployments: list[Obj] | None = None, **extra: Any) -> Any:
    lists: dict[str, list[Obj]] = {"peerauthentications.security.istio.io": policies}
    lists.update({name: [] for name in WORKLOADS})
    lists["deployments.apps"] = deployments if deployments is not None else [deployment("web"), deployment("api")]
    return mtls.effective_mtls(state(lists), WANTED, extra.get("profile", PROFILE))


MESH = policy("istio-system", "default", "PERMISSIVE")
STRICT_NS = "namespace-wide STRICT (set by PeerAuthentication apps/default), expected PERMISSIVE"


@pytest.mark.parametrize(
    ("policies", "want"),
    [
        pytest.param([], [], id="nothing-set-is-permissive"),
        pytest.param([MESH], [], id="mesh-permissive"),
        pytest.param(
            [policy("istio-system", "default", "STRICT")],
            [("apps", "namespace-wide STRICT (set by PeerAuthentication istio-system/default), expected PERMISSIVE")],
            id="mesh-strict",
        ),
        pytest.param([MESH, policy("apps", "default", "STRICT")], [("apps", STRICT_NS)], id="namespace-strict"),
        pytest.param(
            [policy("istio-system", "default", "STRICT"), policy("apps", "default", "PERMISSIVE")],
            [],
            id="namespace-overrides-mesh",
        ),
        pytest.param([MESH, policy("apps", "default", "UNSET")], [], id="namespace-unset-inherits"),
        pytest.param([MESH, policy("apps", "default")], [], id="namespace-without-mode-inherits"),
        pytest.param(
            [MESH, policy("other", "default", "STRICT"), policy("istio-system", "web", "STRICT", {"app": "web"})],
            [],
            id="other-namespaces-and-root-selectors-do-not-apply",
        ),
        pytest.param(
            [MESH, policy("apps", "web-strict", "STRICT", {"app": "web"})],
            [
                (
                    "Deployment apps/web",
                    "STRICT (set by PeerAuthentication apps/web-strict), expected PERMISSIVE",
                )
            ],
            id="workload-strict",
        ),
        pytest.param(
            [MESH, policy("apps", "nothing", "STRICT", {"app": "gone"})], [], id="workload-selector-matching-none"
        ),
        pytest.param(
            [MESH, policy("apps", "default", "STRICT"), policy("apps", "web", "PERMISSIVE", {"app": "web"})],
            [
                ("apps", STRICT_NS),
                ("Deployment apps/api", "STRICT (set by PeerAuthentication apps/default), expected PERMISSIVE"),
            ],
            id="workload-overrides-namespace",
        ),
        pytest.param(
            [
                MESH,
                policy("apps", "web", "UNSET", {"app": "web"}, {"8080": {"mode": "STRICT"}, "9090": {"mode": "UNSET"}}),
            ],
            [
                (
                    "Deployment apps/web",
                    "port 8080 STRICT (set by PeerAuthentication apps/web), expected PERMISSIVE",
                )
            ],
            id="port-level-strict",
        ),
        pytest.param(
            [MESH, policy("apps", "default", "STRICT", ports={"8080": {"mode": "PERMISSIVE"}})],
            [("apps", STRICT_NS)],
            id="port-level-needs-a-selector",
        ),
        pytest.param(
            [
                MESH,
                policy("apps", "newer", "STRICT", created="2025-10-22T00:00:00Z"),
                policy("apps", "older", "PERMISSIVE", created="2025-10-21T00:00:00Z"),
            ],
            [],
            id="oldest-wins",
        ),
        pytest.param(
            [
                MESH,
                policy("apps", "web-old", "DISABLE", {"app": "web"}, created="2025-10-20T00:00:00Z"),
                policy("apps", "web-new", "PERMISSIVE", {"app": "web"}, created="2025-10-21T00:00:00Z"),
            ],
            [("Deployment apps/web", "DISABLE (set by PeerAuthentication apps/web-old), expected PERMISSIVE")],
            id="oldest-workload-policy-wins",
        ),
    ],
)
def test_effective_mtls(policies: list[Obj], want: list[tuple[str, str]]) -> None:
    assert culprits(judged(policies)) == want


def test_culprits_name_the_policy_for_the_hint() -> None:
    finding = judged([MESH, policy("apps", "web-strict", "STRICT", {"app": "web"})])
    assert finding.culprits[0].details == {"policy": "PeerAuthentication apps/web-strict"}
    assert finding.culprits[0].ref is not None
    assert finding.culprits[0].ref.kind == "Deployment"
    assert (
        finding.observed
        == "apps: namespace-wide PERMISSIVE (set by PeerAuthentication istio-system/default); 1 workload policies"
    )


def test_the_root_namespace_is_the_profiles() -> None:
    custom = profile(mesh={"root_namespace": "mesh-root"})
    finding = judged(
        [policy("istio-system", "default", "STRICT"), policy("mesh-root", "default", "PERMISSIVE")], profile=custom
    )
    assert culprits(finding) == []


@pytest.mark.parametrize(
    ("policies", "deployments", "message"),
    [
        pytest.param(
            [policy("apps", "default", "STRICTER")],
            None,
            "PeerAuthentication apps/default: mTLS mode 'STRICTER' is not one Istio defines",
            id="unknown-mode",
        ),
        pytest.param(
            [{"metadata": meta("p", "apps"), "spec": {"selector": {"matchLabels": ["app"]}}}],
            None,
            "PeerAuthentication apps/p: selector.matchLabels is not a mapping",
            id="bad-selector",
        ),
        pytest.param(
            [policy("apps", "web", "UNSET", {"app": "web"}, ["8080"])],  # type: ignore[arg-type]
            None,
            "PeerAuthentication apps/web: portLevelMtls is not a mapping",
            id="bad-port-levels",
        ),
        pytest.param(
            [policy("apps", "web", "STRICT", {"app": "web"})],
            [{"metadata": meta("web", "apps"), "spec": {}}],
            "Deployment apps/web: pod template has no labels",
            id="template-without-labels",
        ),
    ],
)
def test_malformed_objects_cannot_be_judged(policies: list[Obj], deployments: list[Obj] | None, message: str) -> None:
    with pytest.raises(MalformedObject) as raised:
        judged(policies, deployments)
    assert str(raised.value) == message


def test_effective_mtls_needs_the_policies() -> None:
    with pytest.raises(SourceError) as raised:
        mtls.effective_mtls(state({"deployments.apps": []}), WANTED, PROFILE)
    assert str(raised.value) == "peerauthentications.security.istio.io: was not collected in this run"


def test_workload_policies_need_the_workloads() -> None:
    lists = {"peerauthentications.security.istio.io": [policy("apps", "web", "STRICT", {"app": "web"})]}
    with pytest.raises(SourceError):
        mtls.effective_mtls(state(lists), WANTED, PROFILE)
