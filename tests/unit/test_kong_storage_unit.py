"""Kong's storage mode pinned in the profile (conformance.kong.gateway.database with `storage`)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.errors import MalformedObject
from conformance.kong import gateway
from conformance.profile.services import Kong

from .unitstate import PROFILE, culprits, state

REACHABLE = {"database": {"reachable": True}}
UNREACHABLE = {"database": {"reachable": False}}
LOADED = {"configuration_hash": "a" * 32}
EMPTY = {"configuration_hash": "0" * 32}
PINNED_DB = "Kong's database reachable (storage pinned: database)"
PINNED_DBLESS = "Kong DB-less with a configuration loaded (storage pinned: dbless)"


@pytest.mark.parametrize(
    ("storage", "status", "want", "expected"),
    [
        pytest.param("database", REACHABLE, [], PINNED_DB, id="database-reachable"),
        pytest.param(
            "database",
            UNREACHABLE,
            [("kong database", "GET /status: database.reachable is false")],
            PINNED_DB,
            id="database-unreachable",
        ),
        pytest.param(
            "database",
            LOADED,
            [("kong storage", "runs with DB-less, but the profile pins database")],
            PINNED_DB,
            id="database-pinned-but-dbless",
        ),
        pytest.param(
            "database",
            EMPTY,
            [
                ("kong storage", "runs with DB-less, but the profile pins database"),
                ("kong configuration", "configuration_hash is all zeros: no configuration loaded"),
            ],
            PINNED_DB,
            id="database-pinned-but-empty-dbless",
        ),
        pytest.param("dbless", LOADED, [], PINNED_DBLESS, id="dbless-loaded"),
        pytest.param(
            "dbless",
            REACHABLE,
            [("kong storage", "runs with a database, but the profile pins dbless")],
            PINNED_DBLESS,
            id="dbless-pinned-but-database",
        ),
        pytest.param(None, LOADED, [], "Kong's database reachable (or, DB-less, a configuration loaded)", id="either"),
    ],
)
def test_kong_storage_pinned(storage: str | None, status: dict[str, Any], want: list[Any], expected: str) -> None:
    settings = Kong.model_validate({"storage": storage})
    finding = gateway.database(state(documents={"kong/status.json": status}), settings, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.inspected, finding.evidence) == (expected, 1, ("kong/status.json",))


@pytest.mark.parametrize("storage", ["database", "dbless"])
def test_kong_storage_pinned_cannot_be_evaluated(storage: str) -> None:
    settings = Kong.model_validate({"storage": storage})
    with pytest.raises(MalformedObject, match="neither database nor configuration_hash is reported"):
        gateway.database(state(documents={"kong/status.json": {"server": {}}}), settings, PROFILE)


def test_kong_storage_rejects_other_modes() -> None:
    with pytest.raises(ValueError, match="storage"):
        Kong.model_validate({"storage": "postgres"})
