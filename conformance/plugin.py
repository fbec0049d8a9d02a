"""The pytest plugin: options, run directory, check expansion from the profile, outcome reporting."""

from __future__ import annotations

import html
import json
import os
import sys
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__, gate
from conformance.check import CheckSpec
from conformance.cluster.live import KubeconfigError, load_target
from conformance.cluster.resources import Resource
from conformance.errors import BadInput, CouldNotEvaluate, ProfileError
from conformance.gate import GATES
from conformance.options import is_controller, is_worker, judges_clusters
from conformance.profile.fleet import FleetError, MemberSpec, load_fleet
from conformance.profile.loader import available_profiles, load_profile
from conformance.records import META, RECORDS_KEY, CheckRecord, WaiverNote, evidence_path, within_cluster
from conformance.settings import (
    EXIT_KEY,
    FINDING_KEY,
    FLEET_KEY,
    NEW_FAILURES_KEY,
    RECORD_KEY,
    SETTINGS_KEY,
    VERDICT_KEY,
    Fleet,
    RunSettings,
)
from conformance.waivers import rules

NOT_IN_PROFILE = "not-in-profile"


@dataclass(frozen=True)
class _Crash:
    path: str
    lineno: int
    message: str


class CouldNotEvaluateRepr:
    """The longrepr of an error outcome: the reason alone, which summaries and junit show as the message."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.reprcrash = _Crash("", 0, message)

    def toterminal(self, tw: Any) -> None:
        tw.line(self.message)

    def __str__(self) -> str:
        return self.message


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "cluster conformance")
    group.addoption(
        "--profile",
        action="append",
        metavar="NAME|PATH",
        help="Profile to judge the cluster against; repeat to judge several clusters in one run (a fleet).",
    )
    group.addoption(
        "--fleet", metavar="PATH", help="Fleet file: several clusters, each with its own profile, in one run."
    )
    group.addoption(
        "--snapshot",
        action="append",
        metavar="DIR",
        help="Evaluate captured state instead of a live cluster (with several --profile: once, or once per profile).",
    )
    group.addoption(
        "--kubeconfig",
        action="append",
        metavar="PATH",
        help="Kubeconfig (default: $KUBECONFIG, ~/.kube/config); with several --profile: once, or once per profile.",
    )
    group.addoption(
        "--kube-context",
        action="append",
        metavar="NAME",
        help="Kubeconfig context (default: current); with several --profile: once, or once per profile.",
    )
    group.addoption("--reports", metavar="DIR", help="Where run directories go (default: reports/).")
    group.addoption(
        "--gate",
        metavar="SEVERITY|new",
        help="Which failures fail the run: blocker, critical, normal, minor (that severity and above; "
        "default minor, i.e. all), or new (only failures absent from the --compare baseline).",
    )
    parser.addini("conformance_profiles", "Directory of named profiles.", default="profiles")
    parser.addini("conformance_reports", "Directory for run reports.", default="reports")


def _spec(item: pytest.Item | pytest.Function) -> CheckSpec | None:
    marker = item.get_closest_marker("check")
    if marker is None or not marker.args or not isinstance(marker.args[0], CheckSpec):
        return None
    return marker.args[0]


def member_of(item: pytest.Item) -> str:
    """The fleet member a check judges ("" in a single-cluster run)."""
    callspec = getattr(item, "callspec", None)
    return str(callspec.params.get("member", "")) if callspec is not None else ""


def check_name(item: pytest.Item) -> str:
    """The check's name within its cluster (`test_x[kong/Deployment/kong]`), what waivers and settling match."""
    return within_cluster(item.name, member_of(item))


def _profiles_dir(config: pytest.Config) -> Path:
    return Path(config.rootpath) / str(config.getini("conformance_profiles"))


_SOURCES = ("snapshot", "kubeconfig", "kube_context")


def _flag(dest: str) -> str:
    return f"--{dest.replace('_', '-')}"


def _member_specs(config: pytest.Config) -> tuple[list[MemberSpec], Path | None, str | None]:
    """The clusters this run judges: from --fleet, or one per --profile with its snapshot or kubeconfig."""
    refs: list[str] = config.getoption("profile") or []
    fleet_file: str | None = config.getoption("fleet")
    given = {dest: list(config.getoption(dest) or []) for dest in _SOURCES}
    if fleet_file is not None:
        clash = [_flag(dest) for dest, values in given.items() if values] + (["--profile"] if refs else [])
        if clash:
            raise BadInput(f"--fleet names each cluster's profile and source; it cannot be combined with {clash[0]}")
        path = Path(config.invocation_params.dir, fleet_file)
        try:
            fleet, specs = load_fleet(path)
        except FleetError as exc:
            raise BadInput(str(exc)) from None
        return specs, path, fleet.metadata.name
    for dest, values in given.items():
        if len(values) > 1 and len(values) != len(refs):
            raise BadInput(
                f"{_flag(dest)} is given {len(values)} times for {len(refs)} profiles: "
                "give it once (for every profile) or once per profile, in the same order"
            )

    def nth(dest: str, index: int) -> str | None:
        values = given[dest]
        return values[index] if len(values) > 1 else (values[0] if values else None)

    specs = [
        MemberSpec("", ref, nth("snapshot", i), nth("kube_context", i), nth("kubeconfig", i))
        for i, ref in enumerate(refs)
    ]
    return specs, None, None


def _member(config: pytest.Config, spec: MemberSpec, run_dir: Path, reports_root: Path) -> RunSettings:
    where = f"fleet cluster {spec.name}: " if spec.name else ""
    try:
        loaded = load_profile(spec.profile, _profiles_dir(config))
    except ProfileError as exc:
        raise BadInput(f"{where}{exc}") from None
    target = None
    snapshot_path = None
    if spec.snapshot is not None:
        if spec.context or spec.kubeconfig:
            raise BadInput("--snapshot reads captured state; it cannot be combined with --kube-context or --kubeconfig")
        snapshot_path = Path(config.invocation_params.dir, spec.snapshot)
        if not snapshot_path.is_dir():
            raise BadInput(f"{where}--snapshot: no such directory: {spec.snapshot}")
        if not (snapshot_path / "kubernetes").is_dir():
            raise BadInput(
                f"{where}--snapshot: {spec.snapshot} has no kubernetes/ directory (see README: snapshot format)"
            )
    else:
        try:
            target = load_target(spec.kubeconfig, spec.context)
        except KubeconfigError as exc:
            raise BadInput(f"{where}{exc}") from None
    return RunSettings(loaded, snapshot_path, target, run_dir, reports_root, member=spec.name)


def _name_members(members: list[RunSettings], from_file: bool) -> None:
    """Several --profile: each cluster is named after its profile, and the names must differ."""
    if from_file or len(members) < 2:
        return
    names = [m.profile.name for m in members]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BadInput(
            f"--profile: several clusters would be named {repeated[0]}; a fleet file (--fleet) names each cluster"
        )
    for member in members:
        member.member = member.profile.name


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(spec): a conformance check")
    rules.LEDGERS.clear()
    if not judges_clusters(config):
        for dest in _SOURCES:
            if config.getoption(dest):
                raise BadInput(f"{_flag(dest)} needs --profile")
        return
    gate = config.getoption("gate")
    if gate is not None and gate not in GATES:
        raise BadInput(f"--gate: {gate!r} is not one of {', '.join(GATES)}")
    if gate == "new" and not (config.getoption("compare", None) or config.getoption("compare_latest", None)):
        raise BadInput("--gate=new needs --compare=RUN_DIR or --compare-latest (the baseline to judge what is new)")

    specs, fleet_file, fleet_name = _member_specs(config)
    reports_root = Path(config.getoption("reports") or config.rootpath / str(config.getini("conformance_reports")))
    # Workers write into the controller's run directory (set by pytest_configure_node below).
    worker_dir = getattr(config, "workerinput", {}).get(RUN_DIR_INPUT)
    placeholder = Path(worker_dir) if worker_dir else reports_root
    members = [_member(config, spec, placeholder, reports_root) for spec in specs]
    _name_members(members, fleet_file is not None)
    fleet = Fleet(fleet_name or "+".join(m.profile.name for m in members), members, fleet_file)
    config.stash[FLEET_KEY] = fleet
    config.stash[SETTINGS_KEY] = members[0]
    config.pluginmanager.register(RecordRelay(config), RecordRelay.NAME)
    if is_worker(config):
        return
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = reports_root / f"{stamp}-{fleet.name}"
    counter = 1
    while run_dir.exists():
        counter += 1
        run_dir = reports_root / f"{stamp}-{fleet.name}-{counter}"
    run_dir.mkdir(parents=True)
    for member in members:
        member.run_dir = run_dir

    option = config.option
    if not getattr(option, "htmlpath", None):
        option.htmlpath = str(run_dir / "report.html")
        option.self_contained_html = True
    if not getattr(option, "xmlpath", None):
        option.xmlpath = str(run_dir / "junit.xml")
    if not getattr(option, "allure_report_dir", None):
        option.allure_report_dir = str(run_dir / "allure-results")


RUN_DIR_INPUT = "conformance_run_dir"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker writes its evidence into the controller's run directory."""
    settings = node.config.stash.get(SETTINGS_KEY, None)
    if settings is not None:
        node.workerinput[RUN_DIR_INPUT] = str(settings.run_dir)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist: all checks of one cluster go to one worker, which collects that cluster once."""
    fleet = config.stash.get(FLEET_KEY, None)
    if fleet is None:
        return None
    from conformance.scheduling import ClusterScheduling

    return ClusterScheduling(config, log, [m.member for m in fleet.members])


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # pytest-metadata creates its table in its own pytest_configure; add to it once it exists.
    settings = session.config.stash.get(SETTINGS_KEY, None)
    if settings is not None:
        _environment(session.config, settings)


def _environment(config: pytest.Config, settings: RunSettings) -> None:
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pragma: no cover - pytest-metadata is a dependency
        return
    metadata: dict[str, Any] = config.stash.setdefault(metadata_key, {})
    metadata.update(
        {
            "Profile": f"{settings.profile.name} ({settings.profile.path})",
            "Profile sha256": settings.profile.sha256,
            "Source": settings.source_label,
            "Suite version": __version__,
        }
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    spec = _spec(metafunc.definition)
    if spec is None or "expectation" not in metafunc.fixturenames:
        return
    fleet = metafunc.config.stash.get(FLEET_KEY, None)
    members = fleet.members if fleet is not None else []
    pairs = [(m.member, ident, e) for m in members for ident, e in spec.expand(m.profile.profile) or []]
    if not pairs:
        metafunc.parametrize("expectation", [None], ids=[NOT_IN_PROFILE])
    elif fleet is not None and fleet.several:
        # Ids read `test_x[prod-eu:kong/Deployment/kong]`: the cluster first, then the check's own id.
        metafunc.parametrize(
            ("member", "expectation"), [(m, e) for m, _, e in pairs], ids=[f"{m}:{ident}" for m, ident, _ in pairs]
        )
    else:
        metafunc.parametrize("expectation", [e for _, _, e in pairs], ids=[ident for _, ident, _ in pairs])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    checks = [item for item in items if _spec(item) is not None]
    if not checks:
        return
    fleet = config.stash.get(FLEET_KEY, None)
    if fleet is None:
        available = ", ".join(available_profiles(_profiles_dir(config))) or "none found"
        raise BadInput(
            f"conformance checks need --profile=NAME or --profile=PATH (available: {available}); "
            "the suite's own tests run with `pytest tests`"
        )
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.id.endswith(NOT_IN_PROFILE) and callspec.params.get("expectation") is None:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    # One cluster after the other; within each, waivers are judged once every check they may cover has run.
    order = {m.member: index for index, m in enumerate(fleet.members)}

    def position(item: pytest.Item) -> tuple[int, bool]:
        spec = _spec(item)
        return order.get(member_of(item), 0), spec is not None and spec.area == "waivers"

    items[:] = sorted(keep, key=position)
    for item in items:
        rules.ledger(member_of(item)).selected.add(check_name(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    spec = _spec(item)
    if spec is None:
        return report
    callspec = getattr(item, "callspec", None)
    expectation = callspec.params.get("expectation") if callspec is not None else None
    if call.when == "setup":
        record = CheckRecord(
            nodeid=item.nodeid,
            name=item.name,
            cluster=member_of(item),
            area=spec.area,
            requirement=spec.describe(expectation),
            severity=spec.severity_of(expectation),
            source=getattr(expectation, "source", None),
            note=getattr(expectation, "note", None),
            origin=getattr(expectation, "origin", None),
            remediation=spec.remediation,
        )
        item.stash[RECORD_KEY] = record
        # junitxml writes the properties of the item (copied into the teardown report), not of each report.
        for key in ("cluster", "area", "requirement", "severity", "source", "origin"):
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
            record.evidence = _attempted(item.config, spec, expectation, record.cluster)
    current = item.stash.get(RECORD_KEY, None)
    if call.when == "call" and current is not None:
        record = current
        finding = item.stash.get(FINDING_KEY, None)
        if finding is not None:
            record.expected, record.observed, record.inspected = finding.expected, finding.observed, finding.inspected
            record.culprits, record.evidence = list(finding.culprits), list(finding.evidence)
            active = [a for a in finding.applied if not a.expired]
            if active:
                w = active[0].waiver
                record.waiver = WaiverNote(w.reason, w.owner, w.ticket, str(w.expires), active[0].culprits)
            item.user_properties.append(("inspected", str(finding.inspected)))
            # pytest-html reads `extras` off the report; it is not a declared TestReport attribute.
            setattr(report, "extras", [*getattr(report, "extras", []), *_extras(spec, record, finding)])  # noqa: B010
        if report.failed:
            record.verdict, record.message = "failed", str(report.longreprtext)
        elif hasattr(report, "wasxfail"):
            record.verdict, record.message = "waived", str(report.wasxfail)
        elif report.skipped:
            record.verdict = "skipped"
        record.duration = report.duration
    if call.when == "teardown" and current is not None:
        item.config.stash.setdefault(RECORDS_KEY, []).append(current)
    return report


def _attempted(config: pytest.Config, spec: CheckSpec, expectation: Any, cluster: str) -> list[str]:
    """The evidence behind a check that could not evaluate: what was collected of what it reads, and meta.json,
    which records why each missing source is missing."""
    fleet = config.stash.get(FLEET_KEY, None)
    if fleet is None:
        return []
    run_dir = fleet.member(cluster).run_dir
    try:
        names = [need.name for need in spec.reads(expectation) if isinstance(need, Resource)]
    except Exception:  # the expectation itself may be what could not be read; meta.json still says why
        names = []
    return [name for name in [*names, META] if (run_dir / evidence_path(name, cluster)).is_file()]


def _extras(spec: CheckSpec, record: CheckRecord, finding: Any) -> list[dict[str, Any]]:
    from pytest_html import extras

    escape = html.escape
    rows = "".join(f"<tr><td>{escape(c.name)}</td><td>{escape(c.observed)}</td></tr>" for c in finding.culprits)
    table = (
        f"<table class='culprits'><thead><tr><th>culprit</th><th>seen</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else ""
    )
    rows_waived = "".join(f"<li>{escape(a.describe())}</li>" for a in finding.applied)
    lines = [
        ("Requirement", record.requirement),
        ("Severity", record.severity),
        ("Source", record.source),
        ("Profile", record.origin),
        ("Note", record.note),
        ("Expected", finding.expected),
        ("Observed", f"{finding.observed} ({finding.inspected} inspected)"),
        ("Remediation", record.remediation if finding.culprits or finding.applied else None),
    ]
    body = (
        "<div class='finding'>"
        + "".join(f"<p><b>{label}</b>: {escape(str(value))}</p>" for label, value in lines if value)
        + (f"<p><b>Waivers</b>:</p><ul>{rows_waived}</ul>" if rows_waived else "")
        + table
        + "</div>"
    )
    result = [extras.html(body)]
    for name in finding.evidence:
        # Resources are named `pods`, `deployments.apps`; service bodies by their path, `kong/status.json`.
        result.append(extras.url(evidence_path(name, record.cluster), name=f"evidence: {name}"))
    return result


class RecordRelay:
    """Brings each check's record from the pytest-xdist worker that ran it to the controller, which reports.

    Without xdist the record is made and kept in this process (pytest_runtest_makereport above).
    """

    NAME = "conformance-records"
    ATTRIBUTE = "conformance_record"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    # tryfirst: on a worker, before xdist serializes the report for the controller (after every makereport
    # wrapper, the secrets layer's included, has finished the record); on the controller, before the
    # reporters that read records (Allure) see the report.
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        if is_worker(self.config):
            records = self.config.stash.get(RECORDS_KEY, [])
            record = next((r for r in reversed(records) if r.nodeid == report.nodeid), None)
            if record is not None:
                setattr(report, self.ATTRIBUTE, record.as_dict())
        elif is_controller(self.config):
            data = getattr(report, self.ATTRIBUTE, None)
            if isinstance(data, dict):
                self.config.stash.setdefault(RECORDS_KEY, []).append(CheckRecord.from_dict(data))


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        rules.ledger(member_of(item)).deselected.add(check_name(item))


def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    # pytest-html inserts test ids unescaped; ids carry names from profiles and clusters.
    for index, cell in enumerate(cells):
        if cell.startswith('<td class="col-testId">'):
            inner = cell.removeprefix('<td class="col-testId">').removesuffix("</td>")
            cells[index] = f'<td class="col-testId">{html.escape(html.unescape(inner))}</td>'


def pytest_html_report_title(report: Any) -> None:
    config = getattr(report, "config", None)
    fleet = config.stash.get(FLEET_KEY, None) if config is not None else None
    if fleet is not None:
        report.title = f"Conformance: {fleet.label}"


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    fleet = config.stash.get(FLEET_KEY, None)
    if fleet is None:
        return None
    lines = [
        f"conformance: {m.member + ': ' if m.member else ''}profile {m.profile.name} ({m.profile.path}), "
        f"{m.source_label}"
        for m in fleet.members
    ]
    if fleet.several:
        lines.insert(0, f"conformance: {fleet.label}")
    return [*lines, f"conformance: run directory {fleet.members[0].run_dir}"]


def _counts(records: list[CheckRecord]) -> str:
    counts = {v: sum(1 for r in records if r.verdict == v) for v in ("passed", "failed", "error", "waived")}
    return (
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} could not evaluate, "
        f"{counts['waived']} waived"
    )


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The last line of the run, the one a CI log reader sees first: verdict, counts, report path."""
    fleet = config.stash.get(FLEET_KEY, None)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if fleet is None or reporter is None or is_worker(config):
        return
    records = config.stash.get(RECORDS_KEY, [])
    code = config.stash.get(EXIT_KEY, None)
    word = {0: "PASSED", 1: "FAILED", 2: "NOT EVALUATED"}.get(code, f"exit {code}") if code is not None else "ENDED"
    result = config.stash.get(VERDICT_KEY, None)
    below = f", {result.below_gate} below the gate" if result is not None and result.below_gate else ""
    name = f"fleet {fleet.name}" if fleet.several else fleet.members[0].profile.name
    if fleet.several:
        for m in fleet.members:
            reporter.write_line(f"  {m.member}: {_counts([r for r in records if r.cluster == m.member])}")
    reporter.write_line(
        f"conformance {name}: {word} — {_counts(records)}{below} — report {fleet.members[0].run_dir / 'report.html'}"
    )


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, Any, Any]:
    """Bad input of ours (profile, options, snapshot, kubeconfig) ends with exit code 3, one message, no traceback."""
    try:
        return (yield)
    except BadInput as exc:
        from conformance import secrets

        for line in exc.args:
            sys.stderr.write(f"ERROR: {secrets.redact_text(str(line))}\n")
        return gate.BAD_INPUT


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Replace pytest's pass/fail with the gate's verdict (before reporters and the manifest read it)."""
    config = session.config
    fleet = config.stash.get(FLEET_KEY, None)
    # Workers report to the controller, which writes the run's files; a worker's own exit status must stay
    # pytest's (xdist reads 2 from a worker as an interrupt).
    if fleet is None or is_worker(config):
        return
    settings = fleet.members[0]
    _link_latest(settings)
    records = config.stash.get(RECORDS_KEY, [])
    if records and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        result = gate.verdict(records, config.getoption("gate") or "minor", config.stash.get(NEW_FAILURES_KEY, None))
        # A failure outside the checks (a crashed fixture teardown, say) keeps pytest's own code 1.
        failed_elsewhere = exitstatus == pytest.ExitCode.TESTS_FAILED and not any(
            r.verdict in ("failed", "error") for r in records
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed_elsewhere else result.code
        config.stash[VERDICT_KEY] = result
    config.stash[EXIT_KEY] = int(session.exitstatus)
    _write_results(fleet, records, int(session.exitstatus))


def _link_latest(settings: RunSettings) -> None:
    latest = settings.reports_root / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        os.symlink(settings.run_dir.name, latest, target_is_directory=True)
    except OSError:
        pass  # a filesystem without symlinks still gets the run directory itself


def _write_results(fleet: Fleet, records: list[CheckRecord], exit_code: int) -> None:
    """results.json: every check's record, machine-readable (drift comparison, dashboards, audits)."""
    from conformance import secrets

    first = fleet.members[0]
    document: dict[str, Any] = {
        "profile": fleet.name if fleet.several else first.profile.name,
        "profile_sha256": fleet.sha256,
        "exit_code": exit_code,
    }
    if fleet.several:
        document["clusters"] = [
            {"name": m.member, "profile": m.profile.name, "profile_sha256": m.profile.sha256, "source": m.source_label}
            for m in fleet.members
        ]
    document["checks"] = [record.as_dict() for record in records]
    body = json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n"
    (first.run_dir / "results.json").write_text(secrets.redact_text(body), encoding="utf-8")
