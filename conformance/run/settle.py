"""Post-deploy rollouts: --settle re-collects until the Kubernetes checks pass, --hold watches pods for regressions.

The plan (options resolved against the profile) and the live collection the run makes for a cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from conformance.check import Selected
from conformance.cluster.live import CollectionReport, LiveState, collect_live
from conformance.cluster.resources import PODS, Resource
from conformance.cluster.state import ClusterState
from conformance.duration import format_duration
from conformance.errors import BadInput, CouldNotEvaluate, NothingToInspect
from conformance.profile.model import Pods, Profile, Waiver
from conformance.run.settings import RunSettings
from conformance.services.source import ServiceSource
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


def plan_for(
    settings: RunSettings, several: bool, settle_option: timedelta | None, hold_option: timedelta | None
) -> Plan:
    """What one cluster of the run waits for: --settle/--hold, else the profile's collection defaults.

    Settling and holding judge one live cluster right after its own deploy: refused with a snapshot or in a fleet,
    where the profile's defaults are noted and not applied."""
    collection = settings.profile.profile.collection
    if several or settings.snapshot is not None:
        why = "waits on one cluster after its deploy; run it per cluster, not with a fleet"
        if not several:
            why = "waits on a live cluster; a snapshot (--snapshot) never changes"
        for option, value in (("--settle", settle_option), ("--hold", hold_option)):
            if value is not None:
                raise BadInput(f"{option} {why}")
        where = f"{settings.member}: " if several else ""
        applies = "to a fleet run" if several else "to a snapshot"
        of = f" of profile {settings.profile.name}" if several else " of the profile"
        notes = tuple(
            f"{where}collection.{name} {format_duration(value)}{of} does not apply {applies}"
            for name, value in (("settle", collection.settle), ("hold", collection.hold))
            if value is not None and (not several or settings.snapshot is None)
        )
        return Plan(None, None, collection.settle_interval, notes)
    settle = settle_option if settle_option is not None else collection.settle
    window = hold_option if hold_option is not None else collection.hold
    # A zero window turns the feature off, so `--settle=0s` overrides a profile default.
    return Plan(settle or None, window or None, collection.settle_interval)


def header_lines(plan: Plan) -> list[str]:
    """The terminal header's lines for the plan: notes, and the waits."""
    lines = [f"conformance: {note}" for note in plan.notes]
    waits = []
    if plan.settle is not None:
        waits.append(f"settle up to {format_duration(plan.settle)}")
    if plan.hold is not None:
        waits.append(f"hold {format_duration(plan.hold)}")
    if waits:
        lines.append(f"conformance: {', then '.join(waits)} (re-collect every {format_duration(plan.interval)})")
    return lines


@dataclass
class Waited:
    """What settling and holding saw for one cluster; the run reports it and attaches the hold outcome."""

    settle: SettleOutcome | None = None
    hold: hold.HoldOutcome | None = None


def collect(
    plan: Plan,
    checks: Sequence[Selected],
    settings: RunSettings,
    resources: Sequence[Resource],
    sources: Sequence[ServiceSource],
    show: Callable[[str], None],
    waited: Waited,
    progress: Callable[[str], None] | None = None,
) -> ClusterState:
    """The live state the checks judge: collected once, or after settling and holding when the run asks to.

    `checks` are the selected checks of this cluster; what settling and holding saw goes into `waited`, and the
    hold outcome is attached to the state the stability check judges."""
    assert settings.target is not None
    profile = settings.profile.profile
    discovered: dict[str, str] = {}  # API group versions, asked once for every collection of this run
    holding = plan.hold is not None and any(c.spec.area == "stability" for c in checks)
    if plan.hold is not None and not holding:
        show(f"holding: skipped, {hold.CHECK_NAME} is not selected in this run")
    if plan.settle is None and not holding:
        return collect_live(settings.target, profile, resources, sources, progress, discovered=discovered)
    if plan.settle is not None:
        outcome, state = settle(
            show, kubernetes_checks(checks), settings, plan.settle, plan.interval, resources, progress, discovered
        )
        waited.settle = outcome
    else:
        state = collect_live(settings.target, profile, resources, (), progress, discovered=discovered)
    if holding:
        assert plan.hold is not None
        watched, state = watch(show, settings, plan.hold, plan.interval, state, resources, discovered)
        waited.hold = watched
        state.attach(hold.OUTCOME, watched)
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
                unreachable=ours.unreachable or theirs.unreachable,
            )


def settle(
    show: Callable[[str], None],
    checks: Sequence[Selected],
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


def kubernetes_checks(checks: Sequence[Selected]) -> list[Selected]:
    """The selected checks that judge Kubernetes objects only."""
    kept = []
    for selected in checks:
        if selected.spec.area in NOT_SETTLING:
            continue
        needs = selected.spec.needs(selected.expectation)
        if needs and all(isinstance(need, Resource) for need in needs):
            kept.append(selected)
    return kept


def pending_checks(checks: Sequence[Selected], state: ClusterState, profile: Profile) -> list[Pending]:
    """The checks that would not pass on `state` (failing, or unable to evaluate); waived culprits do not count."""
    pending = []
    today = state.now.date()
    for name, spec, expectation in ((c.name, c.spec, c.expectation) for c in checks):
        try:
            finding = spec.judge(state, expectation, profile)
        except NothingToInspect as exc:
            pending.append(Pending(name, str(exc)))
            continue
        except CouldNotEvaluate as exc:
            pending.append(Pending(name, f"could not evaluate: {exc}"))
            continue
        except Exception as exc:  # a check's own bug shows in its evaluation later; here it only means "not yet"
            pending.append(Pending(name, f"{type(exc).__name__}: {exc}"))
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
