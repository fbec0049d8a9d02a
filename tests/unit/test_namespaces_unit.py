"""Namespace labels the platform relies on (conformance.kubernetes.namespaces)."""

from __future__ import annotations

import pytest

from conformance.errors import SourceError
from conformance.kubernetes import namespaces
from conformance.profile.model import NamespaceLabels

from .unitstate import PROFILE, Obj, culprits, meta, state

WANTED = NamespaceLabels(namespace="apps", labels={"istio-injection": "enabled", "tier": "gold"})


def namespace(name: str, **labels: str) -> Obj:
    return {"metadata": meta(name, labels=labels)}


@pytest.mark.parametrize(
    ("given", "want", "observed"),
    [
        pytest.param(
            namespace("apps", tier="gold", **{"istio-injection": "enabled", "extra": "x"}),
            [],
            "namespace apps has istio-injection=enabled, tier=gold",
            id="labelled",
        ),
        pytest.param(
            namespace("apps", tier="silver", **{"istio-injection": "enabled"}),
            [("apps label tier", "is 'silver', expected 'gold'")],
            "namespace apps has istio-injection=enabled, tier=silver",
            id="wrong-value",
        ),
        pytest.param(
            namespace("apps", tier="gold"),
            [("apps label istio-injection", "is not set, expected 'enabled'")],
            "namespace apps has tier=gold",
            id="label-missing",
        ),
        pytest.param(
            {"metadata": meta("apps")},
            [
                ("apps label istio-injection", "is not set, expected 'enabled'"),
                ("apps label tier", "is not set, expected 'gold'"),
            ],
            "namespace apps has none of them",
            id="unlabelled",
        ),
    ],
)
def test_namespace_labels(given: Obj, want: list[tuple[str, str]], observed: str) -> None:
    finding = namespaces.namespace_labels(state({"namespaces": [namespace("other"), given]}), WANTED, PROFILE)
    assert culprits(finding) == want
    assert finding.observed == observed
    assert (finding.expected, finding.inspected, finding.evidence) == (
        "namespace apps labelled istio-injection=enabled, tier=gold",
        1,
        ("namespaces",),
    )


def test_missing_namespace_is_a_failure() -> None:
    finding = namespaces.namespace_labels(state({"namespaces": [namespace("a"), namespace("b")]}), WANTED, PROFILE)
    assert culprits(finding) == [("apps", "namespace not found")]
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "namespace apps labelled istio-injection=enabled, tier=gold",
        "namespace apps not found",
        2,
        ("namespaces",),
    )


def test_namespace_labels_need_the_namespaces_list() -> None:
    with pytest.raises(SourceError) as raised:
        namespaces.namespace_labels(state({}), WANTED, PROFILE)
    assert str(raised.value) == "namespaces: was not collected in this run"
