"""The run as one object: created in pytest_configure, registered once, and the owner of everything a run holds.

`ConformanceRun` holds the fleet (each member's complete settings), the collected states, the waiver ledgers,
the settle and hold outcomes, the check records and, when the session ends, the one `RunResult` with the one
verdict, which it publishes through `pytest_conformance_result` for every output to render. Its methods are the
hook implementations, as pytest-xdist's DSession's are.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__, drift, gate, secrets
from conformance.check import Finding, Selected, spec_of
from conformance.checkout import git_revision
from conformance.cluster.identity import live_identity, snapshot_identity
from conformance.cluster.live import CollectionReport, LiveState
from conformance.cluster.resources import Resource
from conformance.cluster.state import ClusterState
from conformance.errors import BadInput, CouldNotEvaluate, NothingToInspect
from conformance.records import META, CheckRecord, WaiverNote, evidence_path
from conformance.run import budget, settle
from conformance.run import items as item_info
from conformance.run.collect import collect_state
from conformance.run.members import resolve_fleet, with_windows
from conformance.run.options import collect_only, duration_option, is_controller, is_worker, parse_budget
from conformance.run.result import Identity, MemberResult, RunResult, StabilityNote, count_outcomes
from conformance.run.settings import Fleet, RunSettings
from conformance.waivers import rules
from conformance.written import WrittenFiles

RUN_DIR_INPUT = "conformance_run_dir"


class _Crash:
    def __init__(self, message: str) -> None:
        self.path, self.lineno, self.message = "", 0, message


class CouldNotEvaluateRepr:
    """The longrepr of an error or waived outcome: the reason alone, which summaries and junit show as the message."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.reprcrash = _Crash(message)

    def toterminal(self, tw: Any) -> None:
        tw.line(self.message)

    def __str__(self) -> str:
        return self.message


def run_of(config: pytest.Config) -> ConformanceRun | None:
    """The run of this pytest invocation; None when it judges no cluster (the suite's own tests)."""
    found = config.pluginmanager.get_plugin(ConformanceRun.NAME)
    return found if isinstance(found, ConformanceRun) else None


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
        # States are collected inside a check's setup, where pytest captures output: progress must reach
        # the operator now, not in a captured section shown only if that check fails.
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return show


def _metadata(config: pytest.Config) -> dict[str, Any]:
    """pytest-metadata's environment table (pytest-html renders it); a plain dict when it is not installed."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pragma: no cover - pytest-metadata is a dependency
        return {}
    table: dict[str, Any] = config.stash.setdefault(metadata_key, {})
    return table


class ConformanceRun:
    NAME = "conformance-run"

    def __init__(
        self,
        config: pytest.Config,
        fleet: Fleet,
        gate_name: gate.Gate,
        baseline: drift.Baseline | None,
        plans: dict[str, settle.Plan],
        budget_source: str,
    ) -> None:
        self.config = config
        self.fleet = fleet
        self.gate = gate_name
        self.baseline = baseline
        self.plans = plans
        self.budget_source = budget_source
        self.worker = is_worker(config)
        self.written = WrittenFiles()
        self.states: dict[str, ClusterState] = {}
        self.ledgers: dict[str, rules.Ledger] = {m.member: rules.Ledger() for m in fleet.members}
        self.waited: dict[str, settle.Waited] = {m.member: settle.Waited() for m in fleet.members}
        self.records: list[CheckRecord] = []
        self.selected: list[Selected] = []
        self.not_configured: list[str] = []
        self.deselected: list[str] = []
        self.started_at = datetime.now(UTC)
        self.git = git_revision(Path(config.rootpath)) if not self.worker else None
        self.collection_seconds = 0.0
        self.result: RunResult | None = None

    # -- creation: every option and input judged before anything is written ----------------------------

    @classmethod
    def create(cls, config: pytest.Config) -> ConformanceRun:
        chosen = config.getoption("gate") or gate.DEFAULT_GATE
        if chosen not in gate.GATES:
            raise BadInput(f"--gate: {chosen!r} is not one of {', '.join(gate.GATES)}")
        compare: str | None = config.getoption("compare", None)
        latest = bool(config.getoption("compare_latest", False))
        if compare and latest:
            raise BadInput("--compare and --compare-latest choose the baseline two ways: give one")
        if chosen == "new" and not (compare or latest):
            raise BadInput("--gate=new needs --compare=RUN_DIR or --compare-latest (the baseline to judge what is new)")
        budget_override = duration_option(config, "budget", parse_budget)
        settle_option, hold_option = duration_option(config, "settle"), duration_option(config, "hold")
        for name in config.getoption("redact_env") or ():
            if name not in os.environ:
                # A misspelt name would redact nothing, silently: say so before anything runs.
                raise BadInput(f"--redact-env {name}: no such environment variable")
        worker_dir = getattr(config, "workerinput", {}).get(RUN_DIR_INPUT)
        fleet = resolve_fleet(config, Path(worker_dir) if worker_dir else None, budget_override)
        plans = {m.member: settle.plan_for(m, fleet.several, settle_option, hold_option) for m in fleet.members}
        # The profile as this run applies it: the stability check expands from the hold window that will run.
        members = tuple(
            RunSettings(
                with_windows(m.profile, plans[m.member].settle, plans[m.member].hold),
                m.snapshot,
                m.target,
                m.run_dir,
                m.reports_root,
                m.member,
            )
            for m in fleet.members
        )
        fleet = Fleet(fleet.name, members, fleet.source)
        baseline = None
        if not is_worker(config):
            # Read before this run points `latest` at itself.
            if compare:
                baseline = drift.load_baseline(Path(config.invocation_params.dir, compare), "--compare")
            elif latest and (fleet.reports_root / "latest").exists():
                # No previous run (or one since removed, a dangling link): a first nightly run compares with nothing.
                baseline = drift.load_baseline(fleet.reports_root / "latest", "--compare-latest")
            if not collect_only(config):  # a listing of the checks is no run: it leaves no directory
                fleet.run_dir.mkdir(parents=True)
        for name in config.getoption("redact_env") or ():
            secrets.register(os.environ[name])
        source = "--budget" if budget_override is not None else "profile collection.budget"
        return cls(config, fleet, chosen, baseline, plans, source)

    @property
    def run_dir(self) -> Path:
        return self.fleet.run_dir

    def point_outputs(self) -> None:
        """pytest-html, junitxml and allure-pytest write into the run directory unless told otherwise."""
        option = self.config.option
        if not getattr(option, "htmlpath", None):
            option.htmlpath = str(self.run_dir / "report.html")
            option.self_contained_html = True
        if not getattr(option, "xmlpath", None):
            option.xmlpath = str(self.run_dir / "junit.xml")
        if not getattr(option, "allure_report_dir", None):
            option.allure_report_dir = str(self.run_dir / "allure-results")

    # -- xdist -------------------------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: every worker writes its evidence into the controller's run directory."""
        node.workerinput[RUN_DIR_INPUT] = str(self.run_dir)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """pytest-xdist: all checks of one cluster go to one worker, which collects that cluster once."""
        from conformance.run.scheduling import ClusterScheduling  # xdist's scheduler, only where xdist runs

        return ClusterScheduling(config, log, [m.member for m in self.fleet.members])

    # -- the session -------------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        fleet = self.fleet
        lines = [
            f"conformance: {m.member + ': ' if m.member else ''}profile {m.profile.name} ({m.profile.path}), "
            f"{m.source_label}"
            for m in fleet.members
        ]
        if fleet.several:
            lines.insert(0, f"conformance: {fleet.label}")
        if not collect_only(config):
            lines.append(f"conformance: run directory {self.run_dir}")
        for plan in dict.fromkeys(self.plans.values()):
            lines += settle.header_lines(plan)
        return lines

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # pytest-metadata creates its table in its own pytest_configure; add to it once it exists.
        first = self.fleet.members[0]
        _metadata(self.config).update(
            {
                "Profile": f"{first.profile.name} ({first.profile.path})",
                "Profile sha256": first.profile.sha256,
                "Source": first.source_label,
                "Suite version": __version__,
            }
        )
        notes = [note for plan in self.plans.values() for note in plan.notes]
        if notes:
            _metadata(self.config)["Settle and hold"] = "; ".join(notes)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        spec = spec_of(metafunc.definition)
        if spec is None or "expectation" not in metafunc.fixturenames:
            return
        pairs = [(m.member, ident, e) for m in self.fleet.members for ident, e in spec.expand(m.profile.profile) or []]
        if not pairs:
            metafunc.parametrize("expectation", [None], ids=[item_info.NOT_IN_PROFILE])
        elif self.fleet.several:
            # Ids read `test_x[prod-eu:kong/Deployment/kong]`: the cluster first, then the check's own id.
            metafunc.parametrize(
                ("member", "expectation"),
                [(m, e) for m, _, e in pairs],
                ids=[f"{m}:{ident}" for m, ident, _ in pairs],
            )
        else:
            metafunc.parametrize("expectation", [e for _, _, e in pairs], ids=[ident for _, ident, _ in pairs])

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        keep = []
        for item in items:
            if item_info.not_configured(item):
                # Not a deselection: the profile does not configure the check, so it is no part of the run.
                self.not_configured.append(item.name.split("[", 1)[0])
            else:
                keep.append(item)
        order = {m.member: index for index, m in enumerate(self.fleet.members)}

        # One cluster after the other; within each, waivers are judged once every check they may cover has run.
        def position(item: pytest.Item) -> tuple[int, bool]:
            spec = spec_of(item)
            return order.get(item_info.member_of(item), 0), spec is not None and spec.area == "waivers"

        items[:] = sorted(keep, key=position)
        for item in items:
            chosen = item_info.selected(item)
            if chosen is not None:
                self.selected.append(chosen)
                self.ledgers[chosen.member].selected.add(chosen.name)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            chosen = item_info.selected(item)
            if chosen is not None:
                self.ledgers[chosen.member].deselected.add(chosen.name)
                self.deselected.append(item.name)

    # -- judging a check -----------------------------------------------------------------------------------

    def state_for(self, settings: RunSettings) -> ClusterState:
        """The state of a check's cluster, collected once: the first check of each cluster collects it."""
        member = settings.member
        if member not in self.states:
            # A fleet's checks run one cluster after the other (ordered so above): the first check of a cluster
            # means every check of the clusters before it has run, so their objects can go.
            for earlier in self.states.values():
                earlier.release()
            started = time.monotonic()
            checks = [c for c in self.selected if c.member == member]
            state = collect_state(
                settings, checks, self.plans[member], self.waited[member], self.written, say(self.config)
            )
            self.collection_seconds += time.monotonic() - started
            state.attach(rules.LEDGER, self.ledgers[member])
            self.states[member] = state
            self._record_environment(state, member)
        return self.states[member]

    def judge(self, item: pytest.Item, member: str, expectation: Any) -> Finding:
        """Evaluate one check of one cluster: what cannot be observed is an error, not a failure."""
        __tracebackhide__ = True
        spec = spec_of(item)
        if spec is None:
            raise TypeError(f"{item.nodeid}: the finding fixture serves @check tests only")
        settings = self.fleet.member(member)
        profile = settings.profile.profile
        state = self.state_for(settings)
        name = item_info.check_name(item)
        ledger = self.ledgers[member]
        try:
            result = spec.judge(state, expectation, profile)
        except NothingToInspect:
            raise  # it was seen, and there was nothing: its waivers can still be judged
        except CouldNotEvaluate:
            ledger.errored.add(name)
            raise
        finally:
            ledger.judged.add(name)
        result = rules.apply(spec.remediate(result), profile.waivers, name, state.now.date(), ledger)
        item.stash[item_info.FINDING_KEY] = result
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report: pytest.TestReport = yield
        spec = spec_of(item)
        if spec is None:
            return report
        expectation = item_info.expectation_of(item)
        if call.when == "setup":
            record = CheckRecord(
                nodeid=item.nodeid,
                name=item.name,
                cluster=item_info.member_of(item),
                area=spec.area,
                requirement=spec.describe(expectation),
                severity=spec.severity_of(expectation),
                source=getattr(expectation, "source", None),
                note=getattr(expectation, "note", None),
                origin=getattr(expectation, "origin", None),
                basis=getattr(expectation, "basis", None),
                remediation=spec.generic_remediation,
            )
            item.stash[item_info.RECORD_KEY] = record
            # junitxml writes the properties of the item (copied into the teardown report), not of each report.
            for key in ("cluster", "area", "requirement", "severity", "source", "origin", "basis"):
                value = getattr(record, key)
                if value:
                    item.user_properties.append((key if key != "origin" else "profile_line", value))
            if call.excinfo is not None:
                record.verdict = "error"
                if isinstance(call.excinfo.value, CouldNotEvaluate):
                    # Setup failures are errors; keep the message to the reason, not a traceback.
                    reason = CouldNotEvaluateRepr(f"could not evaluate: {call.excinfo.value}")
                    report.longrepr = reason  # type: ignore[assignment]  # duck-types TerminalRepr (private)
                record.message = str(report.longreprtext)
                record.evidence = self._attempted(spec.needs, expectation, record.cluster)
        current = item.stash.get(item_info.RECORD_KEY, None)
        if call.when == "call" and current is not None:
            record = current
            finding = item.stash.get(item_info.FINDING_KEY, None)
            if finding is not None:
                record.expected, record.observed, record.inspected = (
                    finding.expected,
                    finding.observed,
                    finding.inspected,
                )
                record.culprits, record.evidence = list(finding.culprits), list(finding.evidence)
                record.remediation = finding.remediation(record.remediation)
                active = [a for a in finding.applied if not a.expired]
                if active:
                    w = active[0].waiver
                    record.waiver = WaiverNote(w.reason, w.owner, w.ticket, str(w.expires), active[0].culprits)
                item.user_properties.append(("inspected", str(finding.inspected)))
                self.config.hook.pytest_conformance_check(item=item, report=report, record=record, finding=finding)
            if report.failed:
                record.verdict, record.message = "failed", str(report.longreprtext)
            elif hasattr(report, "wasxfail"):
                record.verdict, record.message = "waived", str(report.wasxfail)
                # The waiver is the whole story: not pytest's XFailed traceback through the check's source.
                report.longrepr = CouldNotEvaluateRepr(record.message)  # type: ignore[assignment]
            elif report.skipped:
                record.verdict = "skipped"
            record.duration = report.duration
        if call.when == "teardown" and current is not None:
            self.records.append(current)
        return report

    def _attempted(self, needs: Callable[[Any], Any], expectation: Any, cluster: str) -> list[str]:
        """The evidence behind a check that could not evaluate: what was collected of what it reads, and
        meta.json, which records why each missing source is missing."""
        try:
            names = [need.name for need in needs(expectation) if isinstance(need, Resource)]
        except Exception:  # the expectation itself may be what could not be read; meta.json still says why
            names = []
        return [name for name in [*names, META] if (self.run_dir / evidence_path(name, cluster)).is_file()]

    def record_for(self, nodeid: str) -> CheckRecord | None:
        """The record of a check once its teardown report is made."""
        return next((r for r in reversed(self.records) if r.nodeid == nodeid), None)

    # tryfirst: on a worker, before xdist serializes the report for the controller (after every makereport
    # wrapper, the secrets layer's included, has finished the record); on the controller, before the
    # reporters that read records (Allure) see the report.
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Brings each check's record from the pytest-xdist worker that ran it to the controller."""
        if report.when != "teardown":
            return
        attribute = "conformance_record"
        if self.worker:
            record = self.record_for(report.nodeid)
            if record is not None:
                setattr(report, attribute, record.as_dict())
        elif is_controller(self.config):
            data = getattr(report, attribute, None)
            if isinstance(data, dict):
                self.records.append(CheckRecord.from_dict(data))

    # -- the end: one verdict, published once -----------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, Any, Any]:
        # The outermost wrapper: the result exists before every other sessionfinish (pytest-html renders the
        # banner from it, junitxml writes its properties) and the run's files are swept after all of them.
        # Workers report to the controller, which concludes; a worker's own exit status must stay pytest's
        # (xdist reads 2 from a worker as an interrupt).
        if not self.worker and not collect_only(self.config):  # --collect-only judges nothing: no verdict, no latest
            self.result = self._conclude(int(exitstatus))
            session.exitstatus = self.result.exit_code
            self._link_latest()
            self.config.hook.pytest_conformance_result(result=self.result, config=self.config)
        try:
            return (yield)
        finally:
            self.sweep()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_unconfigure(self, config: pytest.Config) -> Generator[None, None, None]:
        # Writing after yield, the outermost wrapper: after every plugin's unconfigure, so every file is there.
        try:
            return (yield)
        finally:
            if self.result is not None and self.run_dir.is_dir():
                config.hook.pytest_conformance_finished(result=self.result, config=config)
                self.sweep()

    def _conclude(self, pytest_status: int) -> RunResult:
        records = tuple(self.records)
        found = drift.compare(self.baseline, drift.states_of(records), self.fleet.sha256) if self.baseline else None
        new_failures = found.new_failures if found is not None else None
        if found is None and self.gate == "new":
            # No baseline yet: against nothing, every failing check is new (so --gate=new gates on all of them).
            new_failures = frozenset(r.name for r in records if r.verdict in drift.FAILING)
        verdict = gate.verdict(records, self.gate, new_failures, pytest_status)
        members = tuple(
            MemberResult(
                m.member,
                m.profile.name,
                m.profile.sha256,
                m.source_label,
                count_outcomes(tuple(r for r in records if r.cluster == m.member)),
            )
            for m in self.fleet.members
        )
        self._environment_of_collections()
        return RunResult(
            name=self.fleet.name if self.fleet.several else self.fleet.members[0].profile.name,
            several=self.fleet.several,
            run_dir=self.run_dir,
            records=records,
            verdict=verdict,
            members=members,
            profile_sha256=self.fleet.sha256,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            collection_seconds=self.collection_seconds,
            drift=found,
            new_failures=new_failures,
            stability=self._stability(),
            not_configured=tuple(self.not_configured),
            deselected=tuple(self.deselected),
            counts=count_outcomes(records),
            identities=self._identities(),
            collections=tuple(self.collections()),
            git=self.git,
        )

    def _stability(self) -> tuple[StabilityNote, ...]:
        notes = []
        for member, waited in self.waited.items():
            prefix = f"{member}: " if member else ""
            if waited.settle is not None:
                notes.append(StabilityNote("settle", waited.settle.settled, prefix + waited.settle.summary))
            if waited.hold is not None:
                ok = not waited.hold.regressions and waited.hold.baseline_error is None
                notes.append(StabilityNote("hold", ok, prefix + waited.hold.summary))
        return tuple(notes)

    def _identities(self) -> dict[str, Identity]:
        """Each cluster's identity and the run's; with pytest-xdist the states stay on the workers, and the
        lookups then ask the clusters (or snapshots) directly."""
        found = {}
        for member in self.fleet.members:
            state = self.states.get(member.member)
            try:
                if member.snapshot is not None:
                    found[member.member] = Identity(*snapshot_identity(member.snapshot, state))
                elif member.target is not None:
                    collection = member.profile.profile.collection
                    found[member.member] = Identity(*live_identity(member.target, collection, state))
            except Exception as exc:  # bookkeeping must never turn a verdict into a crash
                found[member.member] = Identity(None, None, secrets.redact_text(f"{type(exc).__name__}: {exc}"))
        return found

    def _link_latest(self) -> None:
        latest = self.fleet.reports_root / "latest"
        try:
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            os.symlink(self.run_dir.name, latest, target_is_directory=True)
        except OSError:
            pass  # a filesystem without symlinks still gets the run directory itself

    def sweep(self) -> None:
        """The last line of defence: a registered secret that escaped redaction is removed from the run's files."""
        if self.worker:
            return  # the controller sweeps the run directory once every worker has finished
        option = self.config.option
        roots = [self.run_dir] + [
            Path(value)
            for name in ("htmlpath", "xmlpath", "allure_report_dir")
            if (value := getattr(option, name, None))
        ]
        files = dict.fromkeys(path for root in roots for path in secrets.files_under(root))
        changed = secrets.scrub_files(files, self.written.clean)
        if changed:
            # Names only: where a secret was found is the lead; the value never leaves the redaction layer.
            names = ", ".join(str(p) for p in changed)
            print(f"conformance: removed a registered secret that escaped redaction from {names}", file=sys.stderr)

    # -- the environment table ------------------------------------------------------------------------------

    def _record_environment(self, state: ClusterState, member: str) -> None:
        provenance = state.provenance
        when = provenance.collected_at.isoformat().replace("+00:00", "Z")
        # In a fleet each cluster's rows carry its name; pytest-metadata brings workers' rows to the report.
        prefix = f"{member}: " if member else ""
        table = _metadata(self.config)
        table[prefix + "Server version"] = provenance.server_version or "unknown"
        table[prefix + "Collected at"] = (
            when
            if provenance.collected_at_known
            else f"{when} (evaluation time: snapshot has no meta.json collected_at)"
        )
        table[prefix + "Resources read"] = ", ".join(
            f"{name} ({stats.objects})" for name, stats in sorted(state.stats.items())
        )
        if state.errors:
            table[prefix + "Resources unavailable"] = "; ".join(str(e) for e in state.errors.values())
        waited = self.waited[member]
        if waited.settle is not None:
            table["Settle"] = waited.settle.summary
        if waited.hold is not None:
            table["Hold"] = waited.hold.summary

    def collections(self) -> list[tuple[str, CollectionReport]]:
        """Each live cluster's collection report, by fleet member ("" in a single-cluster run)."""
        return [
            (member, state.collection)
            for member, state in self.states.items()
            if isinstance(state, LiveState) and state.collection is not None
        ]

    def _environment_of_collections(self) -> None:
        table = _metadata(self.config)
        for member, report in self.collections():
            prefix = f"{member}: " if member else ""
            table.update(
                {prefix + key: value for key, value in budget.environment_rows(report, self.budget_source).items()}
            )
