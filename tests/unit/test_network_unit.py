"""Cluster networking: DNS and ingress controller pods, Ingress admission, NetworkPolicy counts
(conformance.kubernetes.components, ingresses, networkpolicies)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.kubernetes import components, ingresses, networkpolicies
from conformance.profile.model import Dns, IngressController, IngressRef, NetworkPolicyCount

from .unitstate import PROFILE, Obj, ago, culprits, meta, pod, running, state, waiting

DNS = Dns()
DNS_LABELS = {"k8s-app": "kube-dns"}


def dns_pod(name: str, **extra: Any) -> Obj:
    return pod(name, "kube-system", labels=DNS_LABELS, **extra)


@pytest.mark.parametrize(
    ("pods", "want", "observed"),
    [
        pytest.param([dns_pod("coredns-a"), dns_pod("coredns-b")], [], "2/2 pods ready", id="ready"),
        pytest.param(
            [dns_pod("coredns-a"), dns_pod("coredns-b", statuses=[waiting("coredns", "CrashLoopBackOff", 4)])],
            [("kube-system/coredns-b", "CrashLoopBackOff READY 0/1 (restarts 4)")],
            "1/2 pods ready",
            id="one-crashing",
        ),
        pytest.param(
            [dns_pod("coredns-a", statuses=[running("coredns", ready=False)])],
            [("kube-system/coredns-a", "Running READY 0/1 (restarts 0)")],
            "0/1 pods ready",
            id="not-ready",
        ),
        pytest.param(
            [dns_pod("coredns-a"), dns_pod("coredns-old", deleting=ago(seconds=5))],
            [],
            "1/1 pods ready",
            id="terminating-pods-are-the-old-state",
        ),
    ],
)
def test_dns_ready(pods: list[Obj], want: list[tuple[str, str]], observed: str) -> None:
    others = [pod("web", "kube-system", labels={"k8s-app": "metrics-server"}), pod("dns", "apps", labels=DNS_LABELS)]
    finding = components.component_ready(state({"pods": others + pods}), DNS, PROFILE)
    assert culprits(finding) == want
    assert finding.observed == observed
    assert finding.expected == "pods k8s-app=kube-dns in kube-system: at least 1 ready, every one found ready"


def test_fewer_ready_than_promised_fails() -> None:
    controller = IngressController(min_ready=2)
    labels = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller", "x": "y"}
    finding = components.component_ready(
        state({"pods": [pod("ingress-nginx-controller-1", "ingress-nginx", labels=labels)]}), controller, PROFILE
    )
    assert culprits(finding) == [("ingress-nginx/ingress-nginx-controller-1", "1 ready of 2")]


def test_labels_matching_no_pod_cannot_be_judged() -> None:
    with pytest.raises(CouldNotEvaluate) as raised:
        components.component_ready(state({"pods": [pod("web", "kube-system")]}), DNS, PROFILE)
    assert str(raised.value) == "no pods labelled k8s-app=kube-dns in namespace kube-system"


def test_components_need_the_pods() -> None:
    with pytest.raises(SourceError):
        components.component_ready(state({}), DNS, PROFILE)


PORTAL = IngressRef(namespace="apps", name="portal")


def ingress(status: Obj | None) -> Obj:
    obj: Obj = {"metadata": meta("portal", "apps"), "spec": {"ingressClassName": "nginx"}}
    if status is not None:
        obj["status"] = status
    return obj


NO_ADDRESS = [("Ingress apps/portal", "not admitted: no address in status.loadBalancer.ingress")]


@pytest.mark.parametrize(
    ("status", "want", "observed"),
    [
        pytest.param(
            {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"hostname": "lb.example"}]}},
            [],
            "Ingress apps/portal at 10.0.0.1, lb.example",
            id="admitted",
        ),
        pytest.param(None, NO_ADDRESS, "Ingress apps/portal has no address", id="new-without-status"),
        pytest.param({"loadBalancer": {}}, NO_ADDRESS, "Ingress apps/portal has no address", id="empty-balancer"),
        pytest.param(
            {"loadBalancer": {"ingress": [{"ports": [{"port": 443}]}]}},
            NO_ADDRESS,
            "Ingress apps/portal has no address",
            id="entry-without-address",
        ),
    ],
)
def test_ingress_admitted(status: Obj | None, want: list[tuple[str, str]], observed: str) -> None:
    finding = ingresses.ingress_admitted(state({"ingresses.networking.k8s.io": [ingress(status)]}), PORTAL, PROFILE)
    assert culprits(finding) == want
    assert finding.observed == observed


def test_missing_ingress_fails() -> None:
    finding = ingresses.ingress_admitted(state({"ingresses.networking.k8s.io": []}), PORTAL, PROFILE)
    assert culprits(finding) == [("Ingress apps/portal", "not found")]


def test_malformed_ingress_status_cannot_be_judged() -> None:
    given = ingress({"loadBalancer": {"ingress": {"ip": "10.0.0.1"}}})
    with pytest.raises(MalformedObject):
        ingresses.ingress_admitted(state({"ingresses.networking.k8s.io": [given]}), PORTAL, PROFILE)


def test_ingresses_need_their_list() -> None:
    with pytest.raises(SourceError):
        ingresses.ingress_admitted(state({}), PORTAL, PROFILE)


def netpol(name: str, namespace: str = "apps") -> Obj:
    return {"metadata": meta(name, namespace), "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


@pytest.mark.parametrize(
    ("policies", "want", "observed"),
    [
        pytest.param([netpol("deny"), netpol("allow")], [], "2 in apps: allow, deny", id="enough"),
        pytest.param(
            [netpol("deny"), netpol("allow", "other")],
            [("apps", "1 NetworkPolicies, expected at least 2")],
            "1 in apps: deny",
            id="too-few",
        ),
        pytest.param([], [("apps", "0 NetworkPolicies, expected at least 2")], "0 in apps: none", id="none"),
    ],
)
def test_network_policies(policies: list[Obj], want: list[tuple[str, str]], observed: str) -> None:
    expected = NetworkPolicyCount(namespace="apps", min=2)
    finding = networkpolicies.network_policies(
        state({"networkpolicies.networking.k8s.io": policies}), expected, PROFILE
    )
    assert culprits(finding) == want
    assert finding.observed == observed


def test_a_policy_without_pod_selector_cannot_be_judged() -> None:
    broken = {"metadata": meta("odd", "apps"), "spec": {}}
    with pytest.raises(MalformedObject) as raised:
        networkpolicies.network_policies(
            state({"networkpolicies.networking.k8s.io": [broken]}), NetworkPolicyCount(namespace="apps", min=1), PROFILE
        )
    assert str(raised.value) == "NetworkPolicy apps/odd: spec.podSelector is missing"


def test_network_policies_need_their_list() -> None:
    with pytest.raises(SourceError):
        networkpolicies.network_policies(state({}), NetworkPolicyCount(namespace="apps", min=1), PROFILE)
