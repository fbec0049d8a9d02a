"""The hold window: pods watched for a while after a deploy; restarts, new failures and replacements are regressions.

The run feeds every re-collection to a `Watch` and attaches the outcome to the cluster's state (`OUTCOME`);
the check expands when the profile, as the run resolved it (--hold, never on snapshots), holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from conformance.check import Culprit, Expansion, Finding, ObjectRef
from conformance.cluster.containers import ContainerState, container_states, most_telling
from conformance.cluster.resources import PODS
from conformance.cluster.state import Attachment, ClusterState, name_of, namespace_of
from conformance.duration import format_duration
from conformance.errors import CouldNotEvaluate
from conformance.kubernetes.pods import judge_pod
from conformance.profile.model import Pods, Profile

CHECK_NAME = "test_stable_during_hold[pods]"
# What the hold window saw, attached to the state the checks judge before any of them is evaluated.
OUTCOME = Attachment["HoldOutcome"]("hold window")


@dataclass(frozen=True)
class HoldWindow:
    """The expectation of the stability check: nothing regresses over this long."""

    window: timedelta

    @property
    def id(self) -> str:
        return "pods"

    def __str__(self) -> str:
        return f"pods over a {format_duration(self.window)} hold window"


@dataclass
class HoldOutcome:
    """What the window saw: pods inspected at the baseline, regressions by pod, re-collections that failed."""

    window: timedelta
    seconds: float = 0.0
    samples: int = 0
    inspected: int = 0
    baseline_error: str | None = None
    regressions: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # Of each regressed pod still there, its failing and restarted containers when last seen: how they ended.
    containers: dict[str, tuple[ContainerState, ...]] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line for the report's environment table and the terminal."""
        held = f"Held {format_duration(timedelta(seconds=round(self.seconds)))} ({format_duration(self.window)} asked)"
        if self.baseline_error is not None:
            return f"{held}: no baseline ({self.baseline_error})"
        names = ", ".join(sorted(self.regressions))
        regressed = (
            f"{len(self.regressions)} of {self.inspected} pods regressed ({names})" if names else "no pod regressed"
        )
        failed = f", {len(self.errors)} failed" if self.errors else ""
        return f"{held}: {regressed}; {self.samples} re-collections{failed}"


@dataclass
class _Seen:
    """One baseline pod: its identity, restart counts per container and whether it was failing."""

    uid: str
    restarts: dict[str, int]
    failing: bool
    leaving: bool  # finished or being deleted: its disappearance is no regression


def _key(pod: dict[str, Any]) -> str:
    return f"{namespace_of(pod)}/{name_of(pod)}"


def _restarts(pod: dict[str, Any]) -> dict[str, int]:
    status = pod.get("status") or {}
    counts: dict[str, int] = {}
    for field_name in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(field_name) or ():
            count = container.get("restartCount", 0) if isinstance(container, dict) else None
            if isinstance(count, int) and not isinstance(count, bool):
                counts[str(container.get("name"))] = count
    return counts


def _leaving(pod: dict[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed") or bool((pod.get("metadata") or {}).get("deletionTimestamp"))


class Watch:
    """Compares every re-collection of pods with the baseline and keeps what regressed, first sighting first."""

    def __init__(self, baseline: ClusterState, window: timedelta, rules: Pods) -> None:
        self.rules = rules
        self.outcome = HoldOutcome(window)
        self._baseline: dict[str, _Seen] = {}
        self._restarts: dict[tuple[str, str], tuple[int, int]] = {}  # (pod, container) -> (before, latest)
        self._said: dict[str, dict[str, str]] = {}  # pod -> kind of change -> text, in order of sighting
        self._latest: dict[str, dict[str, Any]] = {}  # regressed pod -> its object when last seen
        try:
            pods = baseline.objects(PODS)
        except CouldNotEvaluate as exc:
            self.outcome.baseline_error = str(exc)
            return
        for pod in pods:
            try:
                failing = judge_pod(pod, baseline.now, rules) is not None
            except CouldNotEvaluate as exc:
                self.outcome.errors.append(f"baseline: {exc}")
                failing = False
            uid = str((pod.get("metadata") or {}).get("uid") or "")
            self._baseline[_key(pod)] = _Seen(uid, _restarts(pod), failing, _leaving(pod))
        self.outcome.inspected = len(self._baseline)

    def observe(self, sample: ClusterState, elapsed: float) -> None:
        """Fold in one re-collection taken `elapsed` seconds into the window."""
        self.outcome.samples += 1
        self.outcome.seconds = elapsed
        if self.outcome.baseline_error is not None:
            return
        at = format_duration(timedelta(seconds=round(elapsed)))
        try:
            pods = {_key(pod): pod for pod in sample.objects(PODS)}
        except CouldNotEvaluate as exc:
            self.outcome.errors.append(f"re-collection at {at}: {exc}")
            return
        for key, seen in self._baseline.items():
            pod = pods.get(key)
            if pod is None:
                if not seen.leaving:
                    self._note(key, "gone", f"disappeared (gone at {at})")
                continue
            uid = str((pod.get("metadata") or {}).get("uid") or "")
            if seen.uid and uid and uid != seen.uid:
                self._note(key, "replaced", f"replaced by a new pod of the same name (seen at {at})")
                continue  # a new pod's restart counts start over; comparing them would say nothing
            for container, count in _restarts(pod).items():
                before = seen.restarts.get(container, 0)
                if count > before:
                    self._restarts[(key, container)] = (before, count)
                    self._note(key, f"restarts:{container}", "")
            if not seen.failing:
                self._judge(key, pod, sample.now, at)
            if key in self._said:
                self._latest[key] = pod
        self._publish()

    def _judge(self, key: str, pod: dict[str, Any], now: datetime, at: str) -> None:
        try:
            verdict = judge_pod(pod, now, self.rules)
        except CouldNotEvaluate as exc:
            self.outcome.errors.append(f"re-collection at {at}: {exc}")
            return
        if verdict is not None:
            self._note(key, "failing", f"turned failing: {verdict} (seen at {at})")

    def _note(self, pod: str, kind: str, text: str) -> None:
        self._said.setdefault(pod, {}).setdefault(kind, text)

    def _publish(self) -> None:
        regressions: dict[str, list[str]] = {}
        for pod, changes in self._said.items():
            lines = []
            for kind, text in changes.items():
                if kind.startswith("restarts:"):
                    container = kind.removeprefix("restarts:")
                    before, after = self._restarts[(pod, container)]
                    text = f"container {container} restarted (restarts {before} → {after})"
                lines.append(text)
            regressions[pod] = lines
        self.outcome.regressions = regressions
        self.outcome.containers = {key: self._containers(key, pod) for key, pod in self._latest.items()}

    def _containers(self, key: str, pod: dict[str, Any]) -> tuple[ContainerState, ...]:
        restarted = {container for (name, container) in self._restarts if name == key}
        failing = container_states(pod)
        named = {state.name for state in failing}
        return failing + tuple(s for s in container_states(pod, restarted) if s.name not in named)


def expand(profile: Profile) -> Expansion[HoldWindow]:
    """One check when this run holds: the run resolves --hold into the profile's collection.hold (None on
    snapshots, in fleets, or when `--hold=0s` turns it off)."""
    window = profile.collection.hold
    return [("pods", HoldWindow(window))] if window else None


def _culprit(key: str, changes: list[str], containers: tuple[ContainerState, ...]) -> Culprit:
    namespace, _, name = key.partition("/")
    ref = ObjectRef("Pod", name, namespace, most_telling(containers))
    return Culprit(key, "; ".join(changes), ref=ref, containers=containers)


def stable_during_hold(state: ClusterState, expected: HoldWindow, _profile: Profile) -> Finding:
    outcome = state.attached(OUTCOME)
    window = format_duration(expected.window)
    if outcome is None:
        raise CouldNotEvaluate(f"the {window} hold window did not run in this session")
    if outcome.baseline_error is not None:
        raise CouldNotEvaluate(f"no baseline for the hold window: {outcome.baseline_error}")
    culprits = [
        _culprit(pod, changes, outcome.containers.get(pod, ())) for pod, changes in sorted(outcome.regressions.items())
    ]
    if not culprits and outcome.errors:
        # Nothing regressed in what was seen, but part of the window was not seen: that is no pass.
        raise CouldNotEvaluate(f"the hold window was not watched throughout: {'; '.join(outcome.errors)}")
    if outcome.samples == 0:
        raise CouldNotEvaluate(f"the {window} hold window took no re-collection")
    unseen = f"; {len(outcome.errors)} re-collections failed" if outcome.errors else ""
    return Finding(
        expected=f"over {window} after the baseline: no container restarts, no pod turned failing, "
        "none disappeared or replaced",
        observed=f"{len(culprits)} of {outcome.inspected} pods regressed over "
        f"{format_duration(timedelta(seconds=round(outcome.seconds)))} ({outcome.samples} re-collections){unseen}",
        inspected=outcome.inspected,
        culprits=culprits,
        evidence=(PODS.name,),
    )
