"""What a check is and what it finds: the contract between profile, cluster state and verdict.

A check is a pytest test marked with a `CheckSpec`. Its expectation comes from the profile, its
evaluation runs during setup (so a check that cannot see what it judges ends as an *error*), and
its body only states the verdict (so a violated expectation ends as a *failure*).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from conformance.cluster.resources import Resource
from conformance.cluster.state import ClusterState
from conformance.profile.model import Profile
from conformance.services.source import ServiceSource

F = TypeVar("F", bound=Callable[..., Any])
MAX_CULPRITS_IN_HEADLINE = 3


@dataclass(frozen=True)
class Culprit:
    """One object that violates the expectation, with what was seen of it."""

    name: str
    observed: str
    details: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name} {self.observed}"


@dataclass(frozen=True)
class Finding:
    """What a check saw: how many objects it inspected and which of them violate the expectation."""

    expected: str
    observed: str
    inspected: int
    culprits: Sequence[Culprit] = ()
    evidence: Sequence[str] = ()

    @property
    def passed(self) -> bool:
        return not self.culprits

    def message(self) -> str:
        headline = "; ".join(str(c) for c in self.culprits[:MAX_CULPRITS_IN_HEADLINE])
        more = len(self.culprits) - MAX_CULPRITS_IN_HEADLINE
        if more > 0:
            headline += f"; and {more} more"
        lines = [f"{self.observed}; {headline}" if headline else self.observed, f"expected: {self.expected}"]
        if len(self.culprits) > 1:
            lines += [f"  {c}" for c in self.culprits]
        return "\n".join(lines)

    def conforms(self) -> None:
        """Fail the test, naming every culprit, unless the expectation holds."""
        __tracebackhide__ = True
        if self.culprits:
            pytest.fail(self.message(), pytrace=False)


Expansion = list[tuple[str, Any]] | None
Evaluator = Callable[[ClusterState, Any, Profile], Finding]


@dataclass(frozen=True)
class CheckSpec:
    """A check's identity and wiring.

    expand: the profile's expectations for this check as (test id, expectation) pairs; an empty
        list or None means the profile does not ask for it and the check is not run.
    reads: the resources one expectation needs, so a run collects only what selected checks use.
    allow_empty: whether inspecting nothing is a valid observation (e.g. "component is absent").
    """

    area: str
    requirement: str
    expand: Callable[[Profile], Expansion]
    reads: Callable[[Any], Sequence[Resource | ServiceSource]]
    evaluate: Evaluator
    allow_empty: bool = False

    def describe(self, expectation: Any) -> str:
        return self.requirement.format(e=expectation)


def check(
    *,
    area: str,
    requirement: str,
    expand: Callable[[Profile], Expansion],
    reads: Callable[[Any], Sequence[Resource | ServiceSource]] | Sequence[Resource | ServiceSource],
    evaluate: Evaluator,
    allow_empty: bool = False,
) -> Callable[[F], F]:
    """Mark a test function as a conformance check (see `CheckSpec`)."""
    reader = reads if callable(reads) else (lambda _e, fixed=tuple(reads): fixed)
    spec = CheckSpec(area, requirement, expand, reader, evaluate, allow_empty)

    def decorate(function: F) -> F:
        marked: F = pytest.mark.check(spec)(function)
        return marked

    return decorate
