"""What a check is and what it finds: the contract between profile, cluster state and verdict.

A check is a pytest test marked with a `CheckSpec`. Its expectation comes from the profile, its
evaluation runs during setup (so a check that cannot see what it judges ends as an *error*), and
its body only states the verdict (so a violated expectation ends as a *failure*).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pytest

from conformance import remediation as hinting  # the templates; `remediation` names the check's own
from conformance.cluster.containers import ContainerState
from conformance.cluster.resources import Resource
from conformance.cluster.state import ClusterState
from conformance.errors import NothingToInspect
from conformance.profile.model import Profile
from conformance.profile.model_base import Basis, Severity, Traced
from conformance.services.source import ServiceSource

F = TypeVar("F", bound=Callable[..., Any])
MAX_CULPRITS_IN_HEADLINE = 3
MAX_HINTS = 5  # distinct remediation hints a record states; every culprit keeps its own


@dataclass(frozen=True)
class ObjectRef:
    """The Kubernetes object a culprit is, as far as known: what its remediation hint is filled with."""

    kind: str  # Pod, Deployment, Namespace, Node, ...
    name: str
    namespace: str = ""  # the namespace it is in; a Namespace's own name
    container: str = ""  # for a pod: the container whose logs tell most (containers.most_telling)

    def values(self) -> dict[str, str]:
        """The template fields it fills (conformance.remediation); kubectl spells kinds in lower case."""
        found = {"kind": self.kind.lower(), "name": self.name, "namespace": self.namespace, "container": self.container}
        return {key: value for key, value in found.items() if value}

    def as_dict(self) -> dict[str, str]:
        data = {"kind": self.kind, "name": self.name, "namespace": self.namespace, "container": self.container}
        return {key: value for key, value in data.items() if value or key in ("kind", "name")}


@dataclass(frozen=True)
class Culprit:
    """One object that violates the expectation, with what was seen of it.

    `ref` names the object when it is a Kubernetes one; `containers` says, for a pod, why each failing container
    waits or ended; `remediation` is the check's hint filled for this culprit (set when the check is judged).
    """

    name: str
    observed: str
    details: dict[str, str] = field(default_factory=dict)
    ref: ObjectRef | None = None
    containers: tuple[ContainerState, ...] = ()
    remediation: str = ""

    def __str__(self) -> str:
        return f"{self.name} {self.observed}"

    def values(self) -> dict[str, str]:
        """What a remediation template can be filled with: its details, then its object's identity."""
        return {**self.details, **(self.ref.values() if self.ref is not None else {})}

    def replace_text(self, change: Callable[[str], str]) -> Culprit:
        """The culprit with every text passed through `change` (the redaction layer's redact_text)."""
        return dataclasses.replace(
            self,
            name=change(self.name),
            observed=change(self.observed),
            details={key: change(value) for key, value in self.details.items()},
            containers=tuple(c.replace_text(change) for c in self.containers),
            remediation=change(self.remediation),
        )

    def as_dict(self) -> dict[str, Any]:
        """As results.json and Allure's culprits attachment carry it."""
        data: dict[str, Any] = {"name": self.name, "observed": self.observed, "details": dict(self.details)}
        if self.ref is not None:
            data["object"] = self.ref.as_dict()
        if self.containers:
            data["containers"] = [c.as_dict() for c in self.containers]
        if self.remediation:
            data["remediation"] = self.remediation
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Culprit:
        """The inverse of as_dict: how a record made on a pytest-xdist worker is rebuilt by the controller."""
        ref = data.get("object")
        return cls(
            str(data["name"]),
            str(data["observed"]),
            {str(k): str(v) for k, v in (data.get("details") or {}).items()},
            ObjectRef(
                str(ref.get("kind", "")),
                str(ref.get("name", "")),
                str(ref.get("namespace", "")),
                str(ref.get("container", "")),
            )
            if isinstance(ref, dict)
            else None,
            tuple(ContainerState.from_dict(c) for c in data.get("containers") or () if isinstance(c, dict)),
            str(data.get("remediation") or ""),
        )


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
        # Each culprit on its own line when there are several, or when its containers say more than its status.
        if len(self.culprits) > 1 or any(c.containers for c in self.culprits):
            for culprit in self.culprits:
                lines.append(f"  {culprit}")
                lines += [f"    {container.describe()}" for container in culprit.containers]
        return "\n".join(lines)

    def hints(self) -> list[str]:
        """The distinct remediation hints of what fails, or, when waivers cover everything, of what they cover."""
        shown = self.culprits or [c for a in self.applied if not a.expired for c in a.covered]
        return list(dict.fromkeys(c.remediation for c in shown if c.remediation))

    def remediation(self, generic: str) -> str:
        """What the record says to do: the culprits' hints, one a line (at most MAX_HINTS), else `generic`."""
        hints = self.hints()
        if len(hints) > MAX_HINTS:
            more = len(hints) - MAX_HINTS
            hints = [*hints[:MAX_HINTS], f"… and {more} more: each culprit's own hint is in results.json"]
        return "\n".join(hints) or generic

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

    @property
    def basis(self) -> Basis | None:
        return self.traced.basis


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
    remediation: str = ""  # a template (conformance.remediation), filled per culprit
    name: str = ""  # the test function's name, set when the check is declared
    declared_reads: tuple[Need, ...] | None = None  # what it reads whatever the expectation, when that is fixed
    remediation_for: Mapping[str, str] = field(default_factory=dict)  # by culprit kind, where it differs

    def describe(self, expectation: E | None) -> str:
        return self.requirement.format(e=expectation)

    @property
    def generic_remediation(self) -> str:
        """The hint with nothing known of the culprit: `kubectl rollout status KIND/NAME -n NS`."""
        return hinting.generic(self.remediation)

    def hint_for(self, culprit: Culprit) -> str:
        """The hint filled for one culprit, from the template for its kind of object if the check has one."""
        kind = culprit.ref.kind if culprit.ref is not None else ""
        return hinting.fill(self.remediation_for.get(kind, self.remediation), culprit.values())

    def remediate(self, finding: Finding) -> Finding:
        """The finding with each culprit's hint filled in."""
        if not self.remediation or not finding.culprits:
            return finding
        filled = [dataclasses.replace(c, remediation=self.hint_for(c)) for c in finding.culprits]
        return dataclasses.replace(finding, culprits=filled)

    def severity_of(self, expectation: E | None) -> Severity:
        """The profile entry's own severity if it sets one, else the check's default."""
        chosen: Severity | None = getattr(expectation, "severity", None)
        return chosen or self.severity

    def judge(self, state: ClusterState, expectation: E, profile: Profile) -> Finding:
        """`evaluate`, and a pass over nothing inspected is NothingToInspect unless the check allows it: the one
        place that rule lives, for the run, for settling and for baselines."""
        finding = self.evaluate(state, expectation, profile)
        if finding.inspected == 0 and finding.passed and not self.allow_empty:
            raise NothingToInspect(f"nothing to inspect: {finding.observed}")
        return finding

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
    remediation_for: Mapping[str, str] | None = None,
) -> Callable[[F], F]:
    """Declare a test function as a conformance check (see `CheckSpec`); conformance.registry lists the modules.

    `remediation` is a template filled per culprit (conformance.remediation: `{kind}/{name} -n {namespace}`);
    `remediation_for` gives other templates by the kind of object a culprit is (`{"Pod": ...}`).
    """
    templates = dict(remediation_for or {})
    for template in (remediation, *templates.values()):
        hinting.validate(template)  # a typo fails the import of the check, not a run
    fixed: tuple[Need, ...] | None = None
    if callable(reads):
        reader: Callable[[E], Sequence[Need]] = reads
    else:
        fixed = tuple(reads)

        def reader(_expectation: E) -> Sequence[Need]:
            return fixed or ()

    def decorate(function: F) -> F:
        spec = CheckSpec(
            area,
            requirement,
            expand,
            reader,
            evaluate,
            allow_empty,
            severity,
            remediation,
            function.__name__,
            fixed,
            templates,
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
