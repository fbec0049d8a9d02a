"""Waivers (conformance.waivers.rules and the waiver check's evaluator): covering culprits, expiry, stale waivers."""

from __future__ import annotations

from datetime import date

import pytest

from conformance.check import Culprit, Finding
from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate
from conformance.profile.model import Waiver
from conformance.waivers import rules, test_waivers
from conformance.waivers.rules import Applied, Ledger
from conformance.waivers.test_waivers import waiver_in_use

from .unitstate import PROFILE, culprits, profile, state

TODAY = date(2025, 10, 22)
CHECK = "test_workload_ready[kong/Deployment/kong]"


def waiver(ticket: str = "OPS-1", expires: date = date(2025, 11, 1), check: str = CHECK, *covers: str) -> Waiver:
    return Waiver(
        check=check, culprits=list(covers), reason="vendor fix pending", owner="team", ticket=ticket, expires=expires
    )


FAILING = Finding(
    expected="ready",
    observed="not ready",
    inspected=3,
    culprits=[Culprit("a", "0/1 ready", {"k": "v"}), Culprit("b", "CrashLoopBackOff")],
    evidence=("pods",),
)


@pytest.mark.parametrize(
    ("waivers", "left", "applied"),
    [
        pytest.param([waiver()], [], [("OPS-1", ("a", "b"), False)], id="all-culprits"),
        pytest.param([waiver("OPS-1", TODAY)], [], [("OPS-1", ("a", "b"), False)], id="expires-today"),
        pytest.param(
            [waiver("OPS-1", date(2025, 11, 1), CHECK, "a")],
            [("b", "CrashLoopBackOff")],
            [("OPS-1", ("a",), False)],
            id="named-culprit",
        ),
        pytest.param(
            [waiver("OPS-1", date(2025, 10, 1), CHECK, "a")],
            [
                ("a", "0/1 ready (waiver OPS-1 expired on 2025-10-01, 21 days before the collection)"),
                ("b", "CrashLoopBackOff"),
            ],
            [("OPS-1", ("a",), True)],
            id="expired",
        ),
        pytest.param(
            [waiver("OLD", date(2025, 10, 21)), waiver("NEW", date(2025, 12, 1), "test_workload_ready[kong/*]", "b")],
            [("a", "0/1 ready (waiver OLD expired on 2025-10-21, 1 days before the collection)")],
            [("OLD", ("a",), True), ("NEW", ("b",), False)],
            id="valid-waiver-preferred",
        ),
        pytest.param(
            [waiver("FIRST"), waiver("SECOND", date(2026, 1, 1), "test_workload_ready[*]")],
            [],
            [("FIRST", ("a", "b"), False)],
            id="first-valid-wins",
        ),
        pytest.param(
            [waiver("OPS-1", date(2025, 11, 1), CHECK, "c"), waiver("OPS-2", check="test_other[*]")],
            [("a", "0/1 ready"), ("b", "CrashLoopBackOff")],
            [],
            id="covers-other-culprits",
        ),
    ],
)
def test_apply(
    waivers: list[Waiver], left: list[tuple[str, str]], applied: list[tuple[str, tuple[str, ...], bool]]
) -> None:
    ledger = Ledger(usage={"OPS-1": 1})
    result = rules.apply(FAILING, waivers, CHECK, TODAY, ledger)
    assert culprits(result) == left
    assert [(a.waiver.ticket, a.culprits, a.expired) for a in result.applied] == applied
    assert [c.details for c in result.culprits] == [{"k": "v"} if name == "a" else {} for name, _ in left]
    assert (result.expected, result.observed, result.inspected, result.evidence) == ("ready", "not ready", 3, ("pods",))
    used = {ticket: len(names) for ticket, names, _ in applied}
    assert ledger.usage == {"OPS-1": 1 + used.pop("OPS-1", 0), **used}


def test_apply_leaves_findings_it_does_not_cover_alone() -> None:
    ledger = Ledger()
    assert rules.apply(FAILING, [waiver(check="test_other")], CHECK, TODAY, ledger) is FAILING
    passing = Finding(expected="ready", observed="ready", inspected=1)
    assert rules.apply(passing, [waiver()], CHECK, TODAY, ledger) is passing
    assert ledger.usage == {}


def test_applied_waivers_describe_themselves() -> None:
    assert Applied(waiver(), ("a", "b"), False).describe() == (
        "OPS-1 (team, until 2025-11-01): vendor fix pending; covers a, b"
    )
    assert Applied(waiver(), ("a",), True).describe() == (
        "OPS-1 (team, expired on 2025-11-01): vendor fix pending; covers a"
    )


def with_ledger(
    usage: dict[str, int] | None = None,
    selected: set[str] | None = None,
    deselected: set[str] | None = None,
    errored: set[str] | None = None,
    judged: set[str] | None = None,
) -> ClusterState:
    found = state()
    ledger = Ledger(usage or {}, selected or set(), deselected or set(), errored or set(), judged or set())
    found.attach(rules.LEDGER, ledger)
    return found


SELF = "test_waiver_in_use[OPS-1]"
OTHER = "test_workload_ready[kong/Deployment/proxy]"


@pytest.mark.parametrize(
    ("given", "check", "want", "observed"),
    [
        pytest.param(
            with_ledger(usage={"OPS-1": 2}, selected={CHECK, SELF}, judged={CHECK}),
            CHECK,
            [],
            f"covered 2 culprits of {CHECK}",
            id="in-use",
        ),
        pytest.param(
            with_ledger(usage={"OPS-1": 1, "OPS-2": 5}, selected={CHECK, OTHER, SELF}, judged={OTHER}),
            "test_workload_ready[kong/*]",
            [],
            f"covered 1 culprits of {CHECK}, {OTHER}",
            id="in-use-although-one-check-is-pending",
        ),
        pytest.param(
            with_ledger(usage={"OPS-2": 3}, selected={CHECK, SELF}, judged={CHECK, SELF}),
            CHECK,
            [("OPS-1", "covers nothing: its checks pass; remove the waiver")],
            f"covered 0 culprits of {CHECK}",
            id="stale",
        ),
        pytest.param(
            with_ledger(selected={CHECK, SELF}, judged={CHECK}, errored={OTHER}),
            CHECK,
            [("OPS-1", "covers nothing: its checks pass; remove the waiver")],
            f"covered 0 culprits of {CHECK}",
            id="stale-beside-an-error-elsewhere",
        ),
        pytest.param(
            with_ledger(selected={SELF, "test_nodes[count]"}, judged={"test_nodes[count]"}),
            "test_workload_ready[*]",
            [("OPS-1", "names no check of this profile; remove or correct the waiver")],
            "covered 0 culprits of ",
            id="names-nothing",
        ),
        pytest.param(
            with_ledger(usage={"OPS-1": 1}, selected={"test_nodes[count]", SELF}, judged={"test_nodes[count]"}),
            "*",
            [],
            "covered 1 culprits of test_nodes[count]",
            id="never-covers-itself",
        ),
    ],
)
def test_waiver_in_use(given: ClusterState, check: str, want: list[tuple[str, str]], observed: str) -> None:
    finding = waiver_in_use(given, waiver(check=check), PROFILE)
    assert culprits(finding) == want
    assert finding.observed == observed
    assert finding.expected == (
        f"waiver OPS-1 (team) for {check} covers a failure (reason: vendor fix pending; expires 2025-11-01)"
    )
    assert finding.inspected == observed.count("test_")  # the checks it names, as listed in the observation


KONG_ALL = "test_workload_ready[kong/*]"


@pytest.mark.parametrize(
    ("given", "check", "reason"),
    [
        pytest.param(
            state(),
            CHECK,
            "no waiver ledger: waivers are judged within a run, after the checks they cover",
            id="no-ledger",
        ),
        pytest.param(
            with_ledger(selected={SELF}, deselected={CHECK}),
            CHECK,
            f"waiver OPS-1 (team) for {CHECK}: the checks it names were not selected in this run",
            id="deselected",
        ),
        pytest.param(
            with_ledger(selected={CHECK, OTHER, SELF}, judged=set()),
            KONG_ALL,
            f"waiver OPS-1 (team) for {KONG_ALL}: judged before the checks it covers ({CHECK}, {OTHER}); "
            "run waivers last",
            id="judged-too-early",
        ),
        pytest.param(
            with_ledger(selected={CHECK, SELF}, judged={CHECK}, errored={CHECK}),
            KONG_ALL,
            f"waiver OPS-1 (team) for {KONG_ALL}: its checks could not be evaluated, so neither can the waiver",
            id="checks-errored",
        ),
    ],
)
def test_waiver_in_use_cannot_be_evaluated(given: ClusterState, check: str, reason: str) -> None:
    with pytest.raises(CouldNotEvaluate) as raised:
        waiver_in_use(given, waiver(check=check), PROFILE)
    assert str(raised.value) == reason


def test_ledger_of_returns_the_attached_ledger() -> None:
    ledger = Ledger(selected={CHECK})
    given = state()
    given.attach(rules.LEDGER, ledger)
    assert rules.ledger_of(given) is ledger


def test_each_granted_waiver_is_one_check() -> None:
    granted = [waiver("OPS-1"), waiver("OPS-2", check="test_nodes[*]")]
    listed = profile(waivers=[w.model_dump() for w in granted])
    assert test_waivers._expand(listed) == [("OPS-1", listed.waivers[0]), ("OPS-2", listed.waivers[1])]
    assert test_waivers._expand(PROFILE) is None
