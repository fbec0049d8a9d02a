"""The checks' fixtures: the expectation from the profile, the cluster judged, and the finding evaluated against it.

Every check takes one function-scoped fixture besides its parameters (`finding`): each fixture instance is also a
record in the Allure results, and a large profile has hundreds of checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.check import Finding
from conformance.cluster.state import ClusterState
from conformance.errors import BadInput
from conformance.run.session import ConformanceRun, run_of
from conformance.run.settings import Fleet


def _run(config: pytest.Config) -> ConformanceRun:
    run = run_of(config)
    if run is None:
        raise BadInput("conformance checks need --profile")
    return run


@pytest.fixture(scope="session")
def fleet(pytestconfig: pytest.Config) -> Fleet:
    """Every cluster of the run, each with its profile and source (one in a single-cluster run)."""
    return _run(pytestconfig).fleet


@pytest.fixture(scope="session")
def cluster_states(pytestconfig: pytest.Config) -> dict[str, ClusterState]:
    """Each cluster's state as this process collected it, by fleet member."""
    return _run(pytestconfig).states


@pytest.fixture
def member(request: pytest.FixtureRequest) -> str:
    """The fleet cluster a check judges: parametrized in a fleet run, "" in a single-cluster run."""
    return str(getattr(request, "param", ""))


@pytest.fixture
def expectation(request: pytest.FixtureRequest) -> Any:
    """Overridden by the parametrization from the profile; None where a check is not expanded."""
    return getattr(request, "param", None)


@pytest.fixture
def finding(request: pytest.FixtureRequest, member: str, expectation: Any) -> Finding:
    """Evaluate the check during setup: what cannot be observed is an error, not a failure."""
    __tracebackhide__ = True
    return _run(request.config).judge(request.node, member, expectation)
