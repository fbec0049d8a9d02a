"""Drift between runs: the failures that are new, resolved or unchanged against a baseline run.

`--compare=RUN_DIR` (or `--compare-latest` on nightly runs) reads the baseline's results.json; `--gate=new` gates on
the new failures only. Ids are stable: a check is its test name with id, a culprit `<check> :: <culprit name>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from conformance.errors import BadInput
from conformance.records import CheckRecord

RESULTS = "results.json"
DRIFT = "drift.json"
FORMAT = "cluster-conformance/drift/v1"
RESULTS_MAX_BYTES = 64 * 2**20
DETAIL_MAX = 300
FAILING = frozenset({"failed", "error"})
# Waived failures count as not failing, as they do for the gate.
NOT_FAILING = frozenset({"passed", "waived"})
KINDS = ("new", "resolved", "unchanged")

VerdictName = Literal["passed", "failed", "error", "waived", "skipped"]


# -- the baseline: a run directory's results.json ----------------------------------------------------------


class _Document(BaseModel):
    # Fields this module does not compare (requirement, evidence, ...) may come and go between suite versions.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _CulpritDoc(_Document):
    name: str
    observed: str = ""


class _WaiverDoc(_Document):
    culprits: list[str] = []


class _CheckDoc(_Document):
    name: str
    verdict: VerdictName
    culprits: list[_CulpritDoc] = []
    waiver: _WaiverDoc | None = None
    observed: str | None = None
    message: str = ""


class _ResultsDoc(_Document):
    profile: str | None = None
    profile_sha256: str | None = None
    checks: list[_CheckDoc]


@dataclass(frozen=True)
class CheckState:
    """One check's outcome as drift compares it: its verdict, failing culprits (name -> seen), waived culprits."""

    verdict: str
    culprits: dict[str, str]
    waived: frozenset[str] = frozenset()
    detail: str = ""  # what was seen, or why it could not be evaluated, for rows without a culprit

    @property
    def seen(self) -> str:
        return "; ".join(f"{name} {seen}" for name, seen in sorted(self.culprits.items())) or self.detail

    def culprit_verdict(self, culprit: str) -> str:
        """The verdict of one culprit id: failing with the check, waived, unknown (error, skipped), or passed."""
        if culprit in self.culprits:
            return self.verdict
        if culprit in self.waived:
            return "waived"
        return self.verdict if self.verdict in ("error", "skipped") else "passed"


def _merge(states: dict[str, CheckState], name: str, state: CheckState) -> None:
    # Names are unique in practice; if two records share one, the check fails when either does.
    old = states.get(name)
    if old is None:
        states[name] = state
        return
    rank = ("failed", "error", "skipped", "waived", "passed")
    verdict = min(old.verdict, state.verdict, key=lambda v: rank.index(v) if v in rank else len(rank))
    detail = "; ".join(d for d in (old.detail, state.detail) if d)
    states[name] = CheckState(verdict, {**old.culprits, **state.culprits}, old.waived | state.waived, detail)


def _detail(observed: str | None, message: str) -> str:
    # The first line of an error's message is its reason ("could not evaluate: ..."); tracebacks stay in reports.
    text = observed or (message.strip().splitlines() or [""])[0]
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


def states_of(records: Iterable[CheckRecord]) -> dict[str, CheckState]:
    """This run's checks by stable id."""
    states: dict[str, CheckState] = {}
    for record in records:
        waived = frozenset(record.waiver.culprits) if record.waiver else frozenset()
        culprits = {c.name: c.observed for c in record.culprits}
        detail = _detail(record.observed, record.message)
        _merge(states, record.name, CheckState(record.verdict, culprits, waived, detail))
    return states


@dataclass(frozen=True)
class Baseline:
    """A previous run to compare against, read before this run repoints `latest`."""

    run_dir: Path  # resolved: `reports/latest` is named by the run it pointed at
    option: str  # the option that chose it, for messages
    profile: str | None
    profile_sha256: str | None
    checks: dict[str, CheckState]

    @property
    def name(self) -> str:
        return self.run_dir.name


def load_baseline(path: Path, option: str) -> Baseline:
    """The run directory's results.json, or BadInput naming the option, the path and what is wrong."""
    if not path.is_dir():
        raise BadInput(f"{option}: no such run directory: {path}")
    run_dir = path.resolve()
    results = run_dir / RESULTS
    where = path / RESULTS
    try:
        size = results.stat().st_size
    except FileNotFoundError:
        raise BadInput(
            f"{option}: {path} has no {RESULTS} (not a run directory, or a run that did not finish)"
        ) from None
    except OSError as exc:
        raise BadInput(f"{option}: cannot read {where}: {exc.strerror or exc}") from None
    if size > RESULTS_MAX_BYTES:
        raise BadInput(f"{option}: {where} is malformed: larger than {RESULTS_MAX_BYTES // 2**20} MiB")
    try:
        data = json.loads(results.read_bytes())
    except OSError as exc:
        raise BadInput(f"{option}: cannot read {where}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BadInput(f"{option}: {where} is malformed: not JSON ({exc})") from None
    try:
        document = _ResultsDoc.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'document'}: {error['msg']}"
            for error in exc.errors()[:5]
        ]
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise BadInput(f"{option}: {where} is malformed: {'; '.join(problems)}{more}") from None
    checks: dict[str, CheckState] = {}
    for check in document.checks:
        waived = frozenset(check.waiver.culprits) if check.waiver else frozenset()
        culprits = {c.name: c.observed for c in check.culprits}
        _merge(checks, check.name, CheckState(check.verdict, culprits, waived, _detail(check.observed, check.message)))
    return Baseline(run_dir, option, document.profile, document.profile_sha256, checks)


# -- the comparison ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One failure id (a check, or a culprit of a check) and its verdict in the baseline and now."""

    check: str
    culprit: str | None
    before: str | None  # None: absent from the baseline
    now: str | None  # None: not in this run
    observed: str = ""  # what is seen now, or for resolved and not compared ones what was seen then

    @property
    def id(self) -> str:
        return self.check if self.culprit is None else f"{self.check} :: {self.culprit}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "check": self.check,
            "culprit": self.culprit,
            "before": self.before,
            "now": self.now,
            "observed": self.observed,
        }


@dataclass(frozen=True)
class Drift:
    baseline: Baseline
    new: tuple[Change, ...]
    resolved: tuple[Change, ...]
    unchanged: tuple[Change, ...]
    not_compared: tuple[Change, ...]  # failing in the baseline, not run (deselected) or skipped now
    profile_sha256: str | None = None  # this run's profile

    @property
    def new_failures(self) -> frozenset[str]:
        """Checks with a new failure id: newly failing, or failing again with a new culprit."""
        return frozenset(change.check for change in self.new)

    @property
    def profile_changed(self) -> bool:
        before, now = self.baseline.profile_sha256, self.profile_sha256
        return before is not None and now is not None and before != now

    def headline(self) -> str:
        kinds = [getattr(self, kind) for kind in KINDS]
        checks = [len({c.check for c in changes}) for changes in kinds]
        text = (
            f"drift against {self.baseline.name}: {len(self.new)} new, {len(self.resolved)} resolved, "
            f"{len(self.unchanged)} unchanged (in {checks[0]}, {checks[1]} and {checks[2]} checks)"
        )
        if self.not_compared:
            text += f"; {len(self.not_compared)} not compared (failing in the baseline, not run now)"
        return text

    def notes(self, profile: str | None) -> list[str]:
        """What a reader must know to trust the comparison: a different profile, or an edited one."""
        notes = []
        if self.baseline.profile is not None and profile is not None and self.baseline.profile != profile:
            notes.append(f"the baseline ran profile {self.baseline.profile}, this run {profile}")
        elif self.profile_changed:
            notes.append("the profile changed since the baseline (different sha256): expectations may differ")
        return notes

    def as_dict(self, run: str, profile: str, profile_sha256: str) -> dict[str, Any]:
        """drift.json: `run` is this run's directory name, `profile` its profile's (or fleet's) name."""
        return {
            "format": FORMAT,
            "baseline": {
                "run": self.baseline.name,
                "path": str(self.baseline.run_dir),
                "option": self.baseline.option,
                "profile": self.baseline.profile,
                "profile_sha256": self.baseline.profile_sha256,
                "checks": len(self.baseline.checks),
            },
            "current": {"run": run, "profile": profile, "profile_sha256": profile_sha256},
            "notes": self.notes(profile),
            "counts": {
                "new": len(self.new),
                "resolved": len(self.resolved),
                "unchanged": len(self.unchanged),
                "not_compared": len(self.not_compared),
            },
            "new_failing_checks": sorted(self.new_failures),
            **{kind: [c.as_dict() for c in getattr(self, kind)] for kind in (*KINDS, "not_compared")},
        }


def compare(baseline: Baseline, current: dict[str, CheckState], profile_sha256: str | None = None) -> Drift:
    """Classify every failure id of either run as new, resolved, unchanged or not compared."""
    new: list[Change] = []
    resolved: list[Change] = []
    unchanged: list[Change] = []
    not_compared: list[Change] = []

    def rows(check: str, state: CheckState, before: CheckState | None, now: CheckState | None) -> list[Change]:
        """One row per failing culprit of `state` (or the check itself when it names none)."""
        if not state.culprits:
            return [Change(check, None, before.verdict if before else None, now.verdict if now else None, state.seen)]
        return [
            Change(
                check,
                culprit,
                before.culprit_verdict(culprit) if before else None,
                now.culprit_verdict(culprit) if now else None,
                observed,
            )
            for culprit, observed in sorted(state.culprits.items())
        ]

    for check in sorted(baseline.checks.keys() | current.keys()):
        before, now = baseline.checks.get(check), current.get(check)
        failed_before = before is not None and before.verdict in FAILING
        if now is None or now.verdict not in FAILING | NOT_FAILING:
            # Deselected, or skipped: this run says nothing about the check, so nothing is resolved or new.
            if before is not None and failed_before:
                not_compared.extend(rows(check, before, before, now))
            continue
        failing_now = now.verdict in FAILING
        if failing_now and not failed_before:
            new.extend(rows(check, now, before, now))
        elif failed_before and not failing_now:
            assert before is not None
            resolved.extend(rows(check, before, before, now))
        elif failing_now and failed_before:
            assert before is not None
            if before.verdict == "failed" and now.verdict == "failed" and now.culprits:
                for change in rows(check, now, before, now):
                    (unchanged if change.culprit in before.culprits else new).append(change)
                gone = CheckState(before.verdict, {k: v for k, v in before.culprits.items() if k not in now.culprits})
                if gone.culprits:
                    resolved.extend(rows(check, gone, before, now))
            else:
                # An error on either side has no culprits to compare: the check stays failing, as one id.
                unchanged.append(Change(check, None, before.verdict, now.verdict, now.seen))
    return Drift(baseline, tuple(new), tuple(resolved), tuple(unchanged), tuple(not_compared), profile_sha256)


# -- rendering ---------------------------------------------------------------------------------------------


def _transition(change: Change) -> str:
    return f"{change.before or 'absent'} → {change.now or 'not run'}"


def terminal_lines(drift: Drift, profile: str | None) -> list[str]:
    lines = [drift.headline()]
    lines.extend(f"  note: {note}" for note in drift.notes(profile))
    lines.extend(f"  new: {c.id} ({_transition(c)}): {c.observed}" for c in drift.new)
    return lines
