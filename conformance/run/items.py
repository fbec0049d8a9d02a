"""Checks as pytest items: which spec, cluster and expectation an item carries, and what it leaves on itself."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.check import Finding, Selected, spec_of
from conformance.records import CheckRecord, within_cluster

# The placeholder id of a check the profile does not configure (it is removed before the run, never judged).
NOT_IN_PROFILE = "not-in-profile"
FINDING_KEY = pytest.StashKey[Finding]()
RECORD_KEY = pytest.StashKey[CheckRecord]()


def member_of(item: pytest.Item) -> str:
    """The fleet member a check judges ("" in a single-cluster run)."""
    callspec = getattr(item, "callspec", None)
    return str(callspec.params.get("member", "")) if callspec is not None else ""


def expectation_of(item: pytest.Item) -> Any:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("expectation") if callspec is not None else None


def check_name(item: pytest.Item) -> str:
    """The check's name within its cluster (`test_x[kong/Deployment/kong]`), what waivers and settling match."""
    return within_cluster(item.name, member_of(item))


def not_configured(item: pytest.Item) -> bool:
    """A placeholder: the check exists, the profile does not ask for it."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.id.endswith(NOT_IN_PROFILE) and expectation_of(item) is None


def selected(item: pytest.Item) -> Selected | None:
    found = spec_of(item)
    if found is None:
        return None
    return Selected(check_name(item), found, expectation_of(item), member_of(item))
