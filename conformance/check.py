"""What a check is and what it finds: the contract between profile, cluster state and verdict.

A check is a pytest test marked with a `CheckSpec`. Its expectation comes from the profile, its
evaluation runs during setup (so a check that cannot see what it judges ends as an *error*), and
its body only states the verdict (so a violated expectation ends as a *failure*).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pytest

from conformance.cluster.resources import Resource
from conformance.cluster.state import ClusterState
from conformance.profile.model import Profile
from conformance.profile.model_base import Severity, Traced
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
    applied: Sequence[Any] = ()  # waivers that covered culprits (conformance.waivers.rules.Applied)

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
        """Fail naming every culprit not waived; a failure waived entirely is reported as waived (xfail)."""
        __tracebackhide__ = True
        if self.culprits:
            waived = [a.describe() for a in self.applied if not a.expired]
            suffix = "".join(f"\n  waived: {text}" for text in waived)
            pytest.fail(self.message() + suffix, pytrace=False)
        active = [a for a in self.applied if not a.expired]
        if active:
            pytest.xfail("waived: " + "; ".join(a.describe() for a in active))


class Derived:
    """An expectation derived from a profile section: its provenance and severity are the section's."""

    @property
    def traced(self) -> Traced:
        raise NotImplementedError

    @property
    def source(self) -> str | None:
        return self.traced.source

    @property
    def note(self) -> str | None:
        return self.traced.note

    @property
    def origin(self) -> str | None:
        return self.traced.origin

    @property
    def severity(self) -> Severity | None:
        return self.traced.severity


E = TypeVar("E")
# A profile's expectations for one check, as (test id, expectation) pairs; empty or None: the check is not asked for.
Expansion = Sequence[tuple[str, E]] | None
Need = Resource | ServiceSource


@dataclass(frozen=True)
class CheckSpec(Generic[E]):
    """A check's identity and wiring, typed by its expectation `E`: mypy rejects an `evaluate` that does not take
    what `expand` yields, or a `reads` that does not.

    expand: the profile's expectations for this check as (test id, expectation) pairs; an empty
        list or None means the profile does not ask for it and the check is not run.
    reads: the resources one expectation needs, so a run collects only what selected checks use.
    evaluate: a pure function of the cluster's state, one expectation and the profile.
    allow_empty: whether inspecting nothing is a valid observation (e.g. "component is absent").
    """

    area: str
    requirement: str
    expand: Callable[[Profile], Expansion[E]]
    reads: Callable[[E], Sequence[Need]]
    evaluate: Callable[[ClusterState, E, Profile], Finding]
    allow_empty: bool = False
    severity: Severity = "normal"
    remediation: str = ""
    name: str = ""  # the test function's name, set when the check is declared
    declared_reads: tuple[Need, ...] | None = None  # what it reads whatever the expectation, when that is fixed

    def describe(self, expectation: E | None) -> str:
        return self.requirement.format(e=expectation)

    def severity_of(self, expectation: E | None) -> Severity:
        """The profile entry's own severity if it sets one, else the check's default."""
        chosen: Severity | None = getattr(expectation, "severity", None)
        return chosen or self.severity

    def needs(self, expectation: E | None) -> Sequence[Need]:
        """What one expectation reads; nothing for the placeholder of a check the profile does not configure."""
        return () if expectation is None else self.reads(expectation)


def check(
    *,
    area: str,
    requirement: str,
    expand: Callable[[Profile], Expansion[E]],
    reads: Callable[[E], Sequence[Need]] | Sequence[Need],
    evaluate: Callable[[ClusterState, E, Profile], Finding],
    allow_empty: bool = False,
    severity: Severity = "normal",
    remediation: str = "",
) -> Callable[[F], F]:
    """Declare a test function as a conformance check (see `CheckSpec`); conformance.registry lists the modules."""
    fixed: tuple[Need, ...] | None = None
    if callable(reads):
        reader: Callable[[E], Sequence[Need]] = reads
    else:
        fixed = tuple(reads)

        def reader(_expectation: E) -> Sequence[Need]:
            return fixed or ()

    def decorate(function: F) -> F:
        spec = CheckSpec(
            area, requirement, expand, reader, evaluate, allow_empty, severity, remediation, function.__name__, fixed
        )
        marked: F = pytest.mark.check(spec)(function)
        return marked

    return decorate


def spec_of(function: object) -> CheckSpec[Any] | None:
    """The CheckSpec a function (or a pytest item, through its markers) was declared with, if any."""
    get_marker = getattr(function, "get_closest_marker", None)
    marks = [get_marker("check")] if get_marker is not None else list(getattr(function, "pytestmark", ()))
    for mark in marks:
        if mark is not None and mark.name == "check" and mark.args and isinstance(mark.args[0], CheckSpec):
            spec: CheckSpec[Any] = mark.args[0]
            return spec
    return None


@dataclass(frozen=True)
class Selected:
    """One check selected in a run: its name within its cluster, its spec and its expectation from the profile."""

    name: str  # test_workload_ready[kong/Deployment/kong]
    spec: CheckSpec[Any]
    expectation: Any
    member: str = ""  # the fleet cluster it judges ("" in a single-cluster run)
