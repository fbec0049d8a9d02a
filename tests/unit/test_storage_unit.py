"""PersistentVolumeClaims all Bound (conformance.kubernetes.storage)."""

from __future__ import annotations

import pytest

from conformance.errors import CouldNotEvaluate, SourceError
from conformance.kubernetes import storage
from conformance.profile.model import Storage

from .unitstate import PROFILE, Obj, culprits, meta, state

TWO = Storage(pvcs_bound=True, min_pvcs=2)


def claim(name: str, phase: str | None = "Bound", namespace: str = "apps") -> Obj:
    return {"metadata": meta(name, namespace), "status": {} if phase is None else {"phase": phase}}


@pytest.mark.parametrize(
    ("claims", "want", "observed"),
    [
        pytest.param([claim("a"), claim("b")], [], "2 of 2 claims Bound", id="bound"),
        pytest.param(
            [claim("a"), claim("b", "Pending"), claim("c", None), {"metadata": meta("d")}],
            [("apps/b", "Pending"), ("apps/c", "no phase"), ("d", "no phase")],
            "1 of 4 claims Bound",
            id="unbound",
        ),
        pytest.param([claim("a", "Lost"), claim("b")], [("apps/a", "Lost")], "1 of 2 claims Bound", id="lost"),
    ],
)
def test_pvcs_bound(claims: list[Obj], want: list[tuple[str, str]], observed: str) -> None:
    finding = storage.pvcs_bound(state({"persistentvolumeclaims": claims}), TWO, PROFILE)
    assert culprits(finding) == want
    assert finding.observed == observed
    assert (finding.expected, finding.inspected, finding.evidence) == (
        "every PersistentVolumeClaim Bound",
        len(claims),
        ("persistentvolumeclaims",),
    )


def test_too_few_claims_cannot_be_judged() -> None:
    with pytest.raises(CouldNotEvaluate) as raised:
        storage.pvcs_bound(state({"persistentvolumeclaims": [claim("a")]}), TWO, PROFILE)
    assert str(raised.value) == "found 1 PersistentVolumeClaims, fewer than the 2 the profile expects"


def test_pvcs_bound_needs_the_claims_list() -> None:
    with pytest.raises(SourceError) as raised:
        storage.pvcs_bound(state({}), TWO, PROFILE)
    assert str(raised.value) == "persistentvolumeclaims: was not collected in this run"
