"""Minimum counts of policy objects (conformance.kubernetes.objects)."""

from __future__ import annotations

import pytest

from conformance.errors import SourceError
from conformance.kubernetes import objects
from conformance.profile.model import ObjectCount

from .unitstate import PROFILE, culprits, meta, state

AUTHZ, ROUTES, CUSTOM = (
    "authorizationpolicies.security.istio.io",
    "virtualservices.networking.istio.io",
    "widgets.example.com",
)
RULE = ObjectCount(name="traffic", resources=[AUTHZ, ROUTES, CUSTOM], min=3)


def some(count: int) -> list[dict[str, object]]:
    return [{"metadata": meta(f"o{i}", "apps")} for i in range(count)]


@pytest.mark.parametrize(
    ("authz", "routes", "custom", "want"),
    [
        pytest.param(2, 1, 0, [], id="exactly-min"),
        pytest.param(0, 0, 5, [], id="above-min"),
        pytest.param(1, 1, 0, [("traffic", "2 objects, expected at least 3")], id="below-min"),
        pytest.param(0, 0, 0, [("traffic", "0 objects, expected at least 3")], id="none"),
    ],
)
def test_object_count(authz: int, routes: int, custom: int, want: list[tuple[str, str]]) -> None:
    cluster = state({AUTHZ: some(authz), ROUTES: some(routes), CUSTOM: some(custom)})
    finding = objects.object_count(cluster, RULE, PROFILE)
    assert culprits(finding) == want
    total = authz + routes + custom
    assert finding.observed == f"{total} ({authz} {AUTHZ}, {routes} {ROUTES}, {custom} {CUSTOM})"
    assert finding.inspected == total
    assert finding.expected == f"at least 3 objects of {AUTHZ} + {ROUTES} + {CUSTOM}"
    assert finding.evidence == (AUTHZ, ROUTES, CUSTOM)


def test_object_count_needs_every_list() -> None:
    with pytest.raises(SourceError) as raised:
        objects.object_count(state({AUTHZ: some(3), CUSTOM: []}), RULE, PROFILE)
    assert str(raised.value) == f"{ROUTES}: was not collected in this run"
