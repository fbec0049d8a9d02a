"""Post-deploy rollouts: --settle re-collects until the Kubernetes checks pass, --hold watches pods for regressions.

A pytest plugin (options, their resolution against the profile) and the live collection the `cluster` fixture runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest

from conformance.check import CheckSpec
from conformance.cluster.live import CollectionReport, LiveState, collect_live
from conformance.cluster.resources import PODS, Resource
from conformance.cluster.state import ClusterState
from conformance.duration import format_duration
from conformance.errors import BadInput, CouldNotEvaluate
from conformance.options import duration_option, judges_clusters
from conformance.profile.model import Pods, Profile, Waiver
from conformance.services.source import ServiceSource
from conformance.settings import FLEET_KEY, SETTINGS_KEY, RunSettings
from conformance.stability import hold

# Areas whose checks do not judge the Kubernetes objects themselves: waivers judge other checks, and
# stability judges the hold window, which has not run yet while settling.
NOT_SETTLING = frozenset({"waivers", "stability"})
MAX_PENDING_SHOWN = 3


@dataclass(frozen=True)
class Plan:
    """What this run waits for: settle and hold windows (None: not at all) and the pause between collections."""

    settle: timedelta | None
    hold: timedelta | None
    interval: timedelta
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pending:
    """A Kubernetes check that does not pass yet, with its first culprits (or why it could not evaluate)."""

    check: str
    reason: str


@dataclass(frozen=True)
class SettleOutcome:
    """How settling went: whether the checks passed in time, after how long, and what still failed if not."""

    settled: bool
    seconds: float
    allowed: timedelta
    collections: int
    pending: tuple[Pending, ...] = field(default=())

    @property
    def summary(self) -> str:
        allowed = format_duration(self.allowed)
        if self.settled:
            waited = format_duration(timedelta(seconds=round(self.seconds)))
            return f"Settled after {waited} ({allowed} allowed); {self.collections} collections"
        names = ", ".join(p.check for p in self.pending)
        return f"Did not settle within {allowed} ({self.collections} collections; still not passing: {names})"


PLAN_KEY = pytest.StashKey[Plan]()
SETTLE_KEY = pytest.StashKey[SettleOutcome]()
HOLD_KEY = pytest.StashKey[hold.HoldOutcome]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "cluster conformance")
    group.addoption(
        "--settle",
        metavar="DURATION",
        help="Live runs: re-collect until the Kubernetes checks pass, for at most this long (e.g. 5m); "
        "default: the profile's collection.settle.",
    )
    group.addoption(
        "--hold",
        metavar="DURATION",
        help="Live runs: then watch pods this long (e.g. 2m) and fail test_stable_during_hold on any new "
        "restart, failing, vanished or replaced pod; default: the profile's collection.hold.",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # trylast: the conformance plugin resolves the profile and the target (tryfirst) before this runs.
    hold.WINDOW, hold.RESULT = None, None
    settle_option = duration_option(config, "settle")
    hold_option = duration_option(config, "hold")
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        if not judges_clusters(config):
            for flag, value in (("--settle", settle_option), ("--hold", hold_option)):
                if value is not None:
                    raise BadInput(f"{flag} needs --profile")
        return
    fleet = config.stash.get(FLEET_KEY, None)
    if fleet is not None and fleet.several:
        # Settling and holding judge one cluster right after its own deploy; a fleet run is the nightly view.
        for flag, value in (("--settle", settle_option), ("--hold", hold_option)):
            if value is not None:
                raise BadInput(f"{flag} waits on one cluster after its deploy; run it per cluster, not with a fleet")
        notes = tuple(
            f"{m.member}: collection.{name} {format_duration(value)} of profile {m.profile.name} "
            "does not apply to a fleet run"
            for m in fleet.members
            for name, value in (
                ("settle", m.profile.profile.collection.settle),
                ("hold", m.profile.profile.collection.hold),
            )
            if value is not None and m.snapshot is None
        )
        config.stash[PLAN_KEY] = Plan(None, None, settings.profile.profile.collection.settle_interval, notes)
        return
    collection = settings.profile.profile.collection
    if settings.snapshot is not None:
        for flag, value in (("--settle", settle_option), ("--hold", hold_option)):
            if value is not None:
                raise BadInput(f"{flag} waits on a live cluster; a snapshot (--snapshot) never changes")
        notes = tuple(
            f"collection.{name} {format_duration(value)} of the profile does not apply to a snapshot"
            for name, value in (("settle", collection.settle), ("hold", collection.hold))
            if value is not None
        )
        config.stash[PLAN_KEY] = Plan(None, None, collection.settle_interval, notes)
        return
    settle = settle_option if settle_option is not None else collection.settle
    window = hold_option if hold_option is not None else collection.hold
    # A zero window turns the feature off, so `--settle=0s` overrides a profile default.
    plan = Plan(settle or None, window or None, collection.settle_interval)
    config.stash[PLAN_KEY] = plan
    hold.WINDOW = plan.hold


def pytest_unconfigure(config: pytest.Config) -> None:
    hold.WINDOW, hold.RESULT = None, None


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    plan = config.stash.get(PLAN_KEY, None)
    if plan is None:
        return None
    lines = [f"conformance: {note}" for note in plan.notes]
    waits = []
    if plan.settle is not None:
        waits.append(f"settle up to {format_duration(plan.settle)}")
    if plan.hold is not None:
        waits.append(f"hold {format_duration(plan.hold)}")
    if waits:
        lines.append(f"conformance: {', then '.join(waits)} (re-collect every {format_duration(plan.interval)})")
    return lines or None


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    plan = session.config.stash.get(PLAN_KEY, None)
    if plan is not None and plan.notes:
        _environment(session.config, "Settle and hold", "; ".join(plan.notes))


def collect(
    config: pytest.Config,
    session: pytest.Session,
    settings: RunSettings,
    resources: Sequence[Resource],
    sources: Sequence[ServiceSource],
    progress: Callable[[str], None] | None = None,
) -> ClusterState:
    """The live state the checks judge: collected once, or after settling and holding when the run asks to."""
    assert settings.target is not None
    profile = settings.profile.profile
    plan = config.stash.get(PLAN_KEY, None)
    discovered: dict[str, str] = {}  # API group versions, asked once for every collection of this run
    holding = plan is not None and plan.hold is not None and _holds(session)
    show = say(config)
    if plan is not None and plan.hold is not None and not holding:
        show(f"holding: skipped, {hold.CHECK_NAME} is not selected in this run")
    if plan is None or (plan.settle is None and not holding):
        return collect_live(settings.target, profile, resources, sources, progress, discovered=discovered)
    if plan.settle is not None:
        outcome, state = settle(
            config, session, settings, plan.settle, plan.interval, resources, progress, discovered=discovered
        )
        config.stash[SETTLE_KEY] = outcome
        _environment(config, "Settle", outcome.summary)
    else:
        state = collect_live(settings.target, profile, resources, (), progress, discovered=discovered)
    if holding:
        assert plan.hold is not None
        watched, state = watch(show, settings, plan.hold, plan.interval, state, resources, discovered)
        hold.RESULT = watched
        config.stash[HOLD_KEY] = watched
        _environment(config, "Hold", watched.summary)
    if sources:
        # Services are read once, from the state the Kubernetes checks settled on: their clients are costlier.
        _merge_services(state, collect_live(settings.target, profile, (), sources, progress, discovered=discovered))
    return state


def _merge_services(state: ClusterState, services: ClusterState) -> None:
    """Add the service bodies of a separate collection, and its budget report, to the Kubernetes state."""
    state.documents.update(services.documents)
    state.service_errors.update(services.service_errors)
    if isinstance(state, LiveState) and isinstance(services, LiveState):
        ours, theirs = state.collection, services.collection
        if ours is not None and theirs is not None:
            state.collection = CollectionReport(
                budget=ours.budget,
                elapsed=ours.elapsed + theirs.elapsed,
                retries={**ours.retries, **theirs.retries},
                out_of_budget=ours.out_of_budget + theirs.out_of_budget,
                unfinished=ours.unfinished + theirs.unfinished,
            )


def settle(
    config: pytest.Config,
    session: pytest.Session,
    settings: RunSettings,
    allowed: timedelta,
    interval: timedelta,
    resources: Sequence[Resource],
    progress: Callable[[str], None] | None = None,
    discovered: dict[str, str] | None = None,
) -> tuple[SettleOutcome, ClusterState]:
    """Re-collect the Kubernetes resources until every selected Kubernetes check passes or `allowed` runs out."""
    assert settings.target is not None
    profile = settings.profile.profile
    checks = kubernetes_checks(session.items)
    show = say(config)
    limit = allowed.total_seconds()
    of = format_duration(allowed)
    started = time.monotonic()
    collections = 0
    while True:
        # The first collection reports per resource as a plain run does; later ones only the progress line.
        state = collect_live(
            settings.target, profile, resources, (), progress if collections == 0 else None, discovered=discovered
        )
        collections += 1
        pending = pending_checks(checks, state, profile)
        elapsed = time.monotonic() - started
        if not pending:
            outcome = SettleOutcome(True, elapsed, allowed, collections)
            show(f"settling: {outcome.summary[0].lower()}{outcome.summary[1:]}")
            return outcome, state
        waited = format_duration(timedelta(seconds=round(elapsed)))
        if elapsed >= limit:
            outcome = SettleOutcome(False, elapsed, allowed, collections, tuple(pending))
            show(f"settling: did not settle within {of}: {_describe(pending)}")
            return outcome, state
        show(f"settling: {_describe(pending)}, {waited} of {of}")
        time.sleep(min(interval.total_seconds(), limit - elapsed))


def watch(
    show: Callable[[str], None],
    settings: RunSettings,
    window: timedelta,
    interval: timedelta,
    baseline: ClusterState,
    resources: Sequence[Resource],
    discovered: dict[str, str] | None = None,
) -> tuple[hold.HoldOutcome, ClusterState]:
    """Hold for `window`: re-collect pods every interval against the baseline; the state at the end is returned."""
    assert settings.target is not None
    profile = settings.profile.profile
    watcher = hold.Watch(baseline, window, profile.pods or Pods())
    limit = window.total_seconds()
    of = format_duration(window)
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        time.sleep(max(0.0, min(interval.total_seconds(), limit - elapsed)))
        elapsed = time.monotonic() - started
        if elapsed >= limit:
            # The window's last look is a full collection: the checks judge the state after the hold.
            final = collect_live(settings.target, profile, resources, (), discovered=discovered)
            watcher.observe(final, time.monotonic() - started)
            show(f"holding: {watcher.outcome.summary[0].lower()}{watcher.outcome.summary[1:]}")
            return watcher.outcome, final
        sample = collect_live(settings.target, profile, (PODS,), (), discovered=discovered)
        watcher.observe(sample, time.monotonic() - started)
        count = len(watcher.outcome.regressions)
        regressed = f"{count} pod{'' if count == 1 else 's'} regressed"
        names = ", ".join(sorted(watcher.outcome.regressions)[:MAX_PENDING_SHOWN])
        failed = f", {len(watcher.outcome.errors)} re-collections failed" if watcher.outcome.errors else ""
        show(
            f"holding: {format_duration(timedelta(seconds=round(elapsed)))} of {of}, {regressed}"
            + (f" ({names})" if names else "")
            + failed
        )


def kubernetes_checks(items: Sequence[pytest.Item]) -> list[tuple[str, CheckSpec, Any]]:
    """The selected checks that judge Kubernetes objects only: (test name, spec, expectation)."""
    from conformance.plugin import _spec  # deferred: the plugin module imports this one's neighbours

    checks = []
    for item in items:
        spec = _spec(item)
        if spec is None or spec.area in NOT_SETTLING:
            continue
        callspec = getattr(item, "callspec", None)
        expectation = callspec.params.get("expectation") if callspec is not None else None
        needs = spec.reads(expectation)
        if needs and all(isinstance(need, Resource) for need in needs):
            checks.append((item.name, spec, expectation))
    return checks


def pending_checks(
    checks: Sequence[tuple[str, CheckSpec, Any]], state: ClusterState, profile: Profile
) -> list[Pending]:
    """The checks that would not pass on `state` (failing, or unable to evaluate); waived culprits do not count."""
    pending = []
    today = state.now.date()
    for name, spec, expectation in checks:
        try:
            finding = spec.evaluate(state, expectation, profile)
        except CouldNotEvaluate as exc:
            pending.append(Pending(name, f"could not evaluate: {exc}"))
            continue
        except Exception as exc:  # a check's own bug shows in its evaluation later; here it only means "not yet"
            pending.append(Pending(name, f"{type(exc).__name__}: {exc}"))
            continue
        if finding.inspected == 0 and finding.passed and not spec.allow_empty:
            pending.append(Pending(name, f"nothing to inspect: {finding.observed}"))
            continue
        culprits = [c for c in finding.culprits if not _waived(c.name, name, profile.waivers, today)]
        if culprits:
            more = f" (and {len(culprits) - 1} more)" if len(culprits) > 1 else ""
            pending.append(Pending(name, f"{culprits[0].name}: {culprits[0].observed}{more}"))
    return pending


def _waived(culprit: str, check: str, waivers: Sequence[Waiver], today: date) -> bool:
    # The same coverage rule as conformance.waivers.rules.apply, without counting uses: settling
    # evaluates many times, and waiver usage must reflect the final evaluation only.
    return any(w.matches(check) and w.expires >= today and (not w.culprits or culprit in w.culprits) for w in waivers)


def _describe(pending: Sequence[Pending]) -> str:
    shown = "; ".join(p.reason for p in pending[:MAX_PENDING_SHOWN])
    more = f"; and {len(pending) - MAX_PENDING_SHOWN} more" if len(pending) > MAX_PENDING_SHOWN else ""
    noun = "check" if len(pending) == 1 else "checks"
    return f"{len(pending)} {noun} not yet passing ({shown}{more})"


def _holds(session: pytest.Session) -> bool:
    """Whether the stability check is selected: without it nobody would judge the window."""
    from conformance.plugin import _spec

    return any((spec := _spec(item)) is not None and spec.area == "stability" for item in session.items)


def say(config: pytest.Config) -> Callable[[str], None]:
    """A writer of progress lines to the terminal, shown as they happen (not with -q -q)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def show(line: str) -> None:
        if reporter is None or config.option.verbose < 0:
            return
        if capture is None:
            reporter.write_line(line)
            return
        # The cluster fixture runs inside a check's setup, where pytest captures output: progress must reach
        # the operator now, not in a captured section shown only if that check fails.
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return show


def _environment(config: pytest.Config, key: str, value: str) -> None:
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pragma: no cover - pytest-metadata is a dependency
        return
    config.stash.setdefault(metadata_key, {})[key] = value
