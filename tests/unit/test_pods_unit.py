"""Failing pods and per-namespace pod counts (conformance.kubernetes.pods), one small state per case."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.kubernetes import pods
from conformance.profile.model import NamespacePods, Profile

from .unitstate import NOW, PROFILE, Obj, ago, culprits, pod, present, profile, running, state, terminated, waiting

APPS = NamespacePods(namespace="apps")
STRICT = profile(pods={"grace": "5m"})
LENIENT = profile(pods={"grace": "5m", "failed_pods_fail": False})
PENDING: dict[str, Any] = {"phase": "Pending", "statuses": []}
INIT: dict[str, Any] = {"init": [{"name": "init"}], "phase": "Pending"}
NOT_READY: dict[str, Any] = {"statuses": [running("c0", ready=False)]}


def ready_since(when: str | None) -> list[Obj]:
    entry: Obj = {"type": "Ready", "status": "False"}
    if when is not None:
        entry["lastTransitionTime"] = when
    return [entry]


@pytest.mark.parametrize(
    ("given", "rules", "verdict"),
    [
        pytest.param(pod("p"), STRICT, None, id="running-ready"),
        pytest.param(
            pod("p", statuses=[waiting("c0", "CrashLoopBackOff", restarts=3)]),
            STRICT,
            "CrashLoopBackOff READY 0/1 (restarts 3)",
            id="crashloop-now",
        ),
        pytest.param(
            pod("p", statuses=[terminated("c0", 2)]), STRICT, "ExitCode:2 READY 0/1 (restarts 0)", id="exit-code"
        ),
        pytest.param(
            pod("p", statuses=[terminated("c0", 137, signal=9)]), STRICT, "Signal:9 READY 0/1 (restarts 0)", id="signal"
        ),
        pytest.param(
            pod("p", phase="Failed", statuses=[], containers=1, reason="Evicted"),
            STRICT,
            "Evicted READY 0/1 (restarts 0)",
            id="failed-counts",
        ),
        pytest.param(
            pod("p", phase="Failed", statuses=[], containers=1, reason="Evicted"), LENIENT, None, id="failed-tolerated"
        ),
        pytest.param(
            pod("p", phase="Succeeded", statuses=[terminated("c0", 0, "Completed")]), STRICT, None, id="succeeded"
        ),
        pytest.param(pod("p", **PENDING, containers=1, created=ago(minutes=4)), STRICT, None, id="pending-in-grace"),
        pytest.param(pod("p", **PENDING, containers=1, created=ago(minutes=5)), STRICT, None, id="pending-at-grace"),
        pytest.param(
            pod("p", **PENDING, containers=1, created=ago(minutes=6)),
            STRICT,
            "Pending READY 0/1 (restarts 0) for 6m",
            id="pending-beyond-grace",
        ),
        pytest.param(
            pod("p", **PENDING, containers=1, created=ago(minutes=6)),
            PROFILE,
            "Pending READY 0/1 (restarts 0) for 6m",
            id="default-rules-without-pods-section",
        ),
        pytest.param(
            pod("p", **NOT_READY, created=ago(days=2), conditions=ready_since(ago(minutes=1))),
            STRICT,
            None,
            id="not-ready-since-recent-transition",
        ),
        pytest.param(
            pod("p", **NOT_READY, created=ago(minutes=1), conditions=ready_since(ago(minutes=10))),
            STRICT,
            "Running READY 0/1 (restarts 0) for 10m",
            id="not-ready-since-old-transition",
        ),
        pytest.param(
            pod("p", **NOT_READY, created=ago(days=2), conditions=ready_since(None)),
            STRICT,
            "Running READY 0/1 (restarts 0) for 2d",
            id="not-ready-transition-unknown",
        ),
        pytest.param(
            pod("p", **PENDING, containers=1, created=ago(minutes=1), conditions=ready_since(ago(hours=3))),
            STRICT,
            None,
            id="pending-ignores-ready-transition",
        ),
        pytest.param(pod("p", deleting=ago(minutes=1)), STRICT, None, id="terminating-in-grace"),
        pytest.param(pod("p", deleting=ago(minutes=5)), STRICT, None, id="terminating-at-grace"),
        pytest.param(pod("p", deleting=ago(minutes=-3)), STRICT, None, id="terminating-before-deadline"),
        pytest.param(
            pod("p", deleting=ago(minutes=10)),
            STRICT,
            "Terminating READY 1/1 (restarts 0) for 10m past its deletion deadline",
            id="terminating-stuck",
        ),
        pytest.param(
            pod("p", phase="Failed", statuses=[], containers=1, deleting=ago(minutes=1)),
            STRICT,
            None,
            id="failed-being-deleted",
        ),
        pytest.param(
            pod("p", **INIT, init_statuses=[waiting("init", "PodInitializing")], created=ago(minutes=1)),
            STRICT,
            None,
            id="init-progress-in-grace",
        ),
        pytest.param(
            pod("p", **INIT, init_statuses=[waiting("init", "PodInitializing")], created=ago(minutes=10)),
            STRICT,
            "Init:0/1 READY 0/1 (restarts 0) for 10m",
            id="init-progress-beyond-grace",
        ),
        pytest.param(
            pod("p", **INIT, init_statuses=[waiting("init", "CrashLoopBackOff", 2)], created=ago(minutes=1)),
            STRICT,
            "Init:CrashLoopBackOff READY 0/1 (restarts 2)",
            id="init-error-now",
        ),
    ],
)
def test_judge_pod(given: Obj, rules: Profile, verdict: str | None) -> None:
    finding = pods.failing_pods(state({"pods": [given]}), APPS, rules)
    assert culprits(finding) == ([] if verdict is None else [("apps/p", verdict)])
    assert finding.inspected == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("CrashLoopBackOff", True),
        ("OOMKilled", True),
        ("ExitCode:1", True),
        ("Signal:9", True),
        ("Init:Error", True),
        ("Init:0/2", False),
        ("Init:12/13", False),
        ("Init:0/x", True),
        ("Running", False),
        ("Pending", False),
        ("Completed", False),
        ("ContainerCreating", False),
    ],
)
def test_error_status(status: str, error: bool) -> None:
    assert pods.is_error_status(status) is error


def test_failing_pods_in_a_namespace_says_what_it_saw() -> None:
    cluster = state(
        {
            "pods": [
                pod("a"),
                pod("b", statuses=[waiting("c0", "ImagePullBackOff")]),
                pod("c", statuses=[waiting("c0", "ErrImagePull")]),
                pod("elsewhere", "other", statuses=[waiting("c0", "ErrImagePull")]),
            ]
        }
    )
    finding = pods.failing_pods(cluster, APPS, STRICT)
    assert culprits(finding) == [
        ("apps/b", "ImagePullBackOff READY 0/1 (restarts 0)"),
        ("apps/c", "ErrImagePull READY 0/1 (restarts 0)"),
    ]
    assert finding.observed == "2 of 3 pods failing in namespace apps"
    assert finding.expected == (
        "no failing pods in namespace apps (errors now; Pending, NotReady or Terminating beyond the grace 5m)"
    )
    assert finding.inspected == 3
    assert finding.evidence == ("pods",)


def test_failing_pods_elsewhere_covers_only_unlisted_namespaces() -> None:
    cluster = state(
        {
            "pods": [
                pod("listed", "apps", statuses=[waiting("c0", "Error")]),
                pod("ignored", "kube-system", statuses=[waiting("c0", "Error")]),
                pod("ok", "team"),
                pod("broken", "team", statuses=[waiting("c0", "Error")]),
            ]
        }
    )
    rules = profile(pods={"grace": "90s", "ignore_namespaces": ["kube-system"], "namespaces": [{"namespace": "apps"}]})
    (_, others) = present(pods.failing_pod_scopes(rules))[-1]
    finding = pods.failing_pods(cluster, others, rules)
    assert culprits(finding) == [("team/broken", "Error READY 0/1 (restarts 0)")]
    assert finding.observed == "1 of 2 pods failing in namespaces not listed in the profile"
    assert finding.expected == (
        "no failing pods in namespaces not listed in the profile "
        "(errors now; Pending, NotReady or Terminating beyond the grace 90s)"
    )
    assert finding.inspected == 2
    assert str(others) == "namespaces not listed in the profile"


def test_failing_pods_everywhere_with_no_pods_at_all_passes() -> None:
    (_, everywhere) = present(pods.failing_pod_scopes(STRICT))[0]
    finding = pods.failing_pods(state({"pods": []}), everywhere, STRICT)
    assert (finding.passed, finding.inspected, finding.observed) == (
        True,
        0,
        "0 of 0 pods failing in namespaces not listed in the profile",
    )


@pytest.mark.parametrize(
    ("cluster", "error", "reason"),
    [
        pytest.param(
            state({"pods": [pod("p", "other")]}),
            CouldNotEvaluate,
            "no pods in namespace apps: the profile expects it to run some",
            id="namespace-empty",
        ),
        pytest.param(state({}), SourceError, "pods: was not collected in this run", id="pods-not-collected"),
        pytest.param(
            state({"pods": [pod("p", **PENDING, containers=1, created="yesterday")]}),
            MalformedObject,
            "pod apps/p: metadata.creationTimestamp 'yesterday' is not an RFC 3339 time",
            id="bad-creation-time",
        ),
        pytest.param(
            state({"pods": [{"metadata": {"name": "p", "namespace": "apps"}, "status": {"phase": "Pending"}}]}),
            MalformedObject,
            "pod apps/p: metadata.creationTimestamp is missing",
            id="no-creation-time",
        ),
        pytest.param(
            state({"pods": [pod("p", deleting="soon")]}),
            MalformedObject,
            "pod apps/p: metadata.deletionTimestamp 'soon' is not an RFC 3339 time",
            id="bad-deletion-time",
        ),
        pytest.param(
            state({"pods": [pod("p", **NOT_READY, conditions=ready_since("2025-10-22T03:00:00"))]}),
            MalformedObject,
            "pod apps/p: Ready.lastTransitionTime '2025-10-22T03:00:00' is not an RFC 3339 time",
            id="naive-transition-time",
        ),
    ],
)
def test_failing_pods_cannot_be_evaluated(cluster: ClusterState, error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as raised:
        pods.failing_pods(cluster, APPS, STRICT)
    assert str(raised.value) == reason


def test_failing_pods_elsewhere_needs_the_pods_list() -> None:
    (_, everywhere) = present(pods.failing_pod_scopes(STRICT))[0]
    with pytest.raises(SourceError, match="pods: was not collected in this run"):
        pods.failing_pods(state({}), everywhere, STRICT)


def test_scopes_list_each_namespace_then_the_rest() -> None:
    rules = profile(
        pods={
            "source": "report",
            "ignore_namespaces": ["kube-system"],
            "namespaces": [{"namespace": "apps", "min": 1}, {"namespace": "kube-system", "min": 2}],
        }
    )
    present(rules.pods)._origin = "profiles/t.yaml:3"  # the loader sets where the section was written
    scopes = present(pods.failing_pod_scopes(rules))
    assert [name for name, _ in scopes] == ["apps", "other-namespaces"]
    assert scopes[0][1] is present(rules.pods).namespaces[0]
    others = scopes[1][1]
    assert others == pods.OtherNamespaces(
        frozenset({"apps", "kube-system"}), frozenset({"kube-system"}), "report", "profiles/t.yaml:3", "report"
    )
    assert [others.covers(n) for n in ("apps", "kube-system", "team")] == [False, False, True]
    assert pods.failing_pod_scopes(PROFILE) is None
    assert [name for name, _ in present(pods.failing_pod_scopes(STRICT))] == ["all-namespaces"]


def test_grace_comes_from_the_profile_or_defaults_to_five_minutes() -> None:
    assert pods.grace_of(profile(pods={"grace": "90s"})) == timedelta(seconds=90)
    assert pods.grace_of(PROFILE) == timedelta(minutes=5)


def counted(*given: Obj, low: int | None = None, high: int | None = None) -> tuple[list[tuple[str, str]], str, str]:
    expected = NamespacePods(namespace="apps", min=low, max=high)
    finding = pods.namespace_pod_count(state({"pods": [*given, pod("x", "other")]}), expected, PROFILE)
    assert finding.inspected == len(given)
    assert finding.evidence == ("pods",)
    return culprits(finding), finding.observed, finding.expected


@pytest.mark.parametrize(
    ("given", "low", "high", "want"),
    [
        pytest.param([pod("a"), pod("b")], 2, None, [], id="at-min"),
        pytest.param([pod("a")], 2, None, [("apps", "has 1 pods, expected at least 2")], id="below-min"),
        pytest.param([pod("a"), pod("b"), pod("c")], None, 3, [], id="at-max"),
        pytest.param(
            [pod("a"), pod("b"), pod("c"), pod("d")],
            None,
            3,
            [("apps", "has 4 pods, expected at most 3")],
            id="above-max",
        ),
        pytest.param(
            [pod("a"), pod("b"), pod("gone", deleting=ago(seconds=1))],
            3,
            None,
            [("apps", "has 2 pods, expected at least 3")],
            id="terminating-not-counted",
        ),
        pytest.param(
            [pod("a"), pod("b"), pod("evicted", phase="Failed", statuses=[], containers=1)],
            3,
            None,
            [("apps", "has 2 pods, expected at least 3")],
            id="failed-not-counted",
        ),
        pytest.param(
            [pod("a"), pod("b"), pod("done", phase="Succeeded", statuses=[terminated("c0", 0, "Completed")])],
            3,
            3,
            [],
            id="completed-counted",
        ),
        pytest.param([], 1, 4, [("apps", "has 0 pods, expected at least 1 and at most 4")], id="none-between"),
    ],
)
def test_namespace_pod_count(given: list[Obj], low: int | None, high: int | None, want: list[tuple[str, str]]) -> None:
    assert counted(*given, low=low, high=high)[0] == want


def test_namespace_pod_count_says_what_it_counted() -> None:
    found, observed, expected = counted(
        pod("a"), pod("b", deleting=ago(seconds=1)), pod("c", phase="Failed", statuses=[]), low=1, high=5
    )
    assert found == []
    assert observed == "1 pods in apps (2 Failed or Terminating not counted)"
    assert expected == "at least 1 and at most 5 pods (not Failed, not Terminating) in namespace apps"
    assert counted(pod("a"), low=1)[2] == "at least 1 pods (not Failed, not Terminating) in namespace apps"
    assert counted(pod("a"), high=1)[2] == "at most 1 pods (not Failed, not Terminating) in namespace apps"


def test_namespace_pod_count_needs_the_pods_list() -> None:
    with pytest.raises(SourceError) as raised:
        pods.namespace_pod_count(state({}), NamespacePods(namespace="apps", min=1), PROFILE)
    assert str(raised.value) == "pods: was not collected in this run"


def test_present_pods_exclude_failed_and_terminating() -> None:
    assert pods.counts_as_present(pod("a"))
    assert pods.counts_as_present({"metadata": {}})
    assert not pods.counts_as_present(pod("a", phase="Failed"))
    assert not pods.counts_as_present(pod("a", deleting=NOW.isoformat()))
