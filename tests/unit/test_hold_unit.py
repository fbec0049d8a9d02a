"""The hold window's verdict (conformance.stability.hold.stable_during_hold) on the outcome the run attaches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate
from conformance.profile.model import Pods
from conformance.stability import hold
from conformance.stability.hold import HoldOutcome, HoldWindow

from .unitstate import PROFILE, culprits, pod, profile, running, state

WINDOW = HoldWindow(timedelta(minutes=5))
EXPECTED = "over 5m after the baseline: no container restarts, no pod turned failing, none disappeared or replaced"


def held(outcome: HoldOutcome | None) -> ClusterState:
    found = state({"pods": []})
    if outcome is not None:
        found.attach(hold.OUTCOME, outcome)
    return found


@pytest.mark.parametrize(
    ("outcome", "want", "observed"),
    [
        pytest.param(
            HoldOutcome(WINDOW.window, seconds=299.6, samples=3, inspected=12),
            [],
            "0 of 12 pods regressed over 5m (3 re-collections)",
            id="stable",
        ),
        pytest.param(
            HoldOutcome(
                WINDOW.window,
                seconds=120.4,
                samples=2,
                inspected=12,
                regressions={
                    "apps/web-b": ["container c0 restarted (restarts 0 → 2)", "turned failing: CrashLoopBackOff"],
                    "apps/db-0": ["disappeared (gone at 1m)"],
                },
                errors=["re-collection at 2m: pods: HTTP 503"],
            ),
            [
                ("apps/db-0", "disappeared (gone at 1m)"),
                ("apps/web-b", "container c0 restarted (restarts 0 → 2); turned failing: CrashLoopBackOff"),
            ],
            "2 of 12 pods regressed over 2m (2 re-collections); 1 re-collections failed",
            id="regressed",
        ),
    ],
)
def test_stable_during_hold(outcome: HoldOutcome, want: list[tuple[str, str]], observed: str) -> None:
    finding = hold.stable_during_hold(held(outcome), WINDOW, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        EXPECTED,
        observed,
        12,
        ("pods",),
    )


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        pytest.param(None, "the 5m hold window did not run in this session", id="not-held"),
        pytest.param(
            HoldOutcome(WINDOW.window, samples=4, baseline_error="pods: HTTP 403"),
            "no baseline for the hold window: pods: HTTP 403",
            id="no-baseline",
        ),
        pytest.param(
            HoldOutcome(WINDOW.window, samples=2, errors=["re-collection at 1m: timeout", "re-collection at 2m: x"]),
            "the hold window was not watched throughout: re-collection at 1m: timeout; re-collection at 2m: x",
            id="partly-unseen",
        ),
        pytest.param(HoldOutcome(WINDOW.window), "the 5m hold window took no re-collection", id="no-samples"),
    ],
)
def test_stable_during_hold_cannot_be_evaluated(outcome: HoldOutcome | None, reason: str) -> None:
    with pytest.raises(CouldNotEvaluate) as raised:
        hold.stable_during_hold(held(outcome), WINDOW, PROFILE)
    assert str(raised.value) == reason


def test_a_watched_restart_fails_the_check() -> None:
    # The outcome as the run builds it: a baseline, then one re-collection where a container restarted.
    watch = hold.Watch(state({"pods": [pod("web", uid="u1")]}), WINDOW.window, Pods())
    watch.observe(state({"pods": [pod("web", uid="u1", statuses=[running("c0", restarts=1)])]}), 60.0)
    given = held(watch.outcome)
    finding = hold.stable_during_hold(given, WINDOW, PROFILE)
    assert culprits(finding) == [("apps/web", "container c0 restarted (restarts 0 → 1)")]
    assert finding.observed == "1 of 1 pods regressed over 1m (1 re-collections)"


def test_the_check_expands_only_when_the_run_holds() -> None:
    assert hold.expand(profile(collection={"hold": "10m"})) == [("pods", HoldWindow(timedelta(minutes=10)))]
    assert hold.expand(PROFILE) is None
    assert str(WINDOW) == "pods over a 5m hold window"
