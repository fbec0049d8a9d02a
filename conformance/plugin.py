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
from conformance.errors import BadInput, CouldNotEvaluate, ProfileError
from conformance.gate import GATES
from conformance.profile.loader import available_profiles, load_profile
from conformance.records import RECORDS_KEY, CheckRecord, WaiverNote
from conformance.settings import (
    EXIT_KEY,
    FINDING_KEY,
    NEW_FAILURES_KEY,
    RECORD_KEY,
    SETTINGS_KEY,
    VERDICT_KEY,
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
    group.addoption("--profile", metavar="NAME|PATH", help="Profile to judge the cluster against.")
    group.addoption("--snapshot", metavar="DIR", help="Evaluate captured state instead of a live cluster.")
    group.addoption("--kubeconfig", metavar="PATH", help="Kubeconfig (default: $KUBECONFIG, ~/.kube/config).")
    group.addoption("--kube-context", metavar="NAME", help="Kubeconfig context (default: current).")
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


def _profiles_dir(config: pytest.Config) -> Path:
    return Path(config.rootpath) / str(config.getini("conformance_profiles"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(spec): a conformance check")
    ref = config.getoption("profile")
    snapshot = config.getoption("snapshot")
    if ref is None:
        for flag in ("snapshot", "kubeconfig", "kube_context"):
            if config.getoption(flag):
                raise BadInput(f"--{flag.replace('_', '-')} needs --profile")
        return
    try:
        loaded = load_profile(ref, _profiles_dir(config))
    except ProfileError as exc:
        raise BadInput(str(exc)) from None

    gate = config.getoption("gate")
    if gate is not None and gate not in GATES:
        raise BadInput(f"--gate: {gate!r} is not one of {', '.join(GATES)}")
    if gate == "new" and not (config.getoption("compare", None) or config.getoption("compare_latest", None)):
        raise BadInput("--gate=new needs --compare=RUN_DIR or --compare-latest (the baseline to judge what is new)")

    target = None
    snapshot_path = None
    if snapshot is not None:
        if config.getoption("kube_context") or config.getoption("kubeconfig"):
            raise BadInput("--snapshot reads captured state; it cannot be combined with --kube-context or --kubeconfig")
        snapshot_path = Path(snapshot)
        if not snapshot_path.is_dir():
            raise BadInput(f"--snapshot: no such directory: {snapshot}")
        if not (snapshot_path / "kubernetes").is_dir():
            raise BadInput(f"--snapshot: {snapshot} has no kubernetes/ directory (see README: snapshot format)")
    else:
        try:
            target = load_target(config.getoption("kubeconfig"), config.getoption("kube_context"))
        except KubeconfigError as exc:
            raise BadInput(str(exc)) from None

    reports_root = Path(config.getoption("reports") or config.rootpath / str(config.getini("conformance_reports")))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = reports_root / f"{stamp}-{loaded.name}"
    if hasattr(config, "workerinput"):
        return
    counter = 1
    while run_dir.exists():
        counter += 1
        run_dir = reports_root / f"{stamp}-{loaded.name}-{counter}"
    run_dir.mkdir(parents=True)
    settings = RunSettings(loaded, snapshot_path, target, run_dir, reports_root)
    config.stash[SETTINGS_KEY] = settings

    option = config.option
    if not getattr(option, "htmlpath", None):
        option.htmlpath = str(run_dir / "report.html")
        option.self_contained_html = True
    if not getattr(option, "xmlpath", None):
        option.xmlpath = str(run_dir / "junit.xml")
    if not getattr(option, "allure_report_dir", None):
        option.allure_report_dir = str(run_dir / "allure-results")


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
    settings = metafunc.config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        metafunc.parametrize("expectation", [None], ids=[NOT_IN_PROFILE])
        return
    expanded = spec.expand(settings.profile.profile) or []
    if not expanded:
        metafunc.parametrize("expectation", [None], ids=[NOT_IN_PROFILE])
        return
    ids = [ident for ident, _ in expanded]
    metafunc.parametrize("expectation", [e for _, e in expanded], ids=ids)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    checks = [item for item in items if _spec(item) is not None]
    if not checks:
        return
    if SETTINGS_KEY not in config.stash:
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
    # Waivers are judged once every check they may cover has run.
    waiver_checks = [item for item in keep if (spec := _spec(item)) is not None and spec.area == "waivers"]
    items[:] = [item for item in keep if item not in waiver_checks] + waiver_checks
    rules.SELECTED.update(item.name for item in items)


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
        for key in ("area", "requirement", "severity", "source", "origin"):
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
        path = f"evidence/{name}" if "/" in name else f"evidence/kubernetes/{name}.json"
        result.append(extras.url(path, name=f"evidence: {name}"))
    return result


def pytest_deselected(items: list[pytest.Item]) -> None:
    rules.DESELECTED.update(item.name for item in items)


def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    # pytest-html inserts test ids unescaped; ids carry names from profiles and clusters.
    for index, cell in enumerate(cells):
        if cell.startswith('<td class="col-testId">'):
            inner = cell.removeprefix('<td class="col-testId">').removesuffix("</td>")
            cells[index] = f'<td class="col-testId">{html.escape(html.unescape(inner))}</td>'


def pytest_html_report_title(report: Any) -> None:
    config = getattr(report, "config", None)
    settings = config.stash.get(SETTINGS_KEY, None) if config is not None else None
    if settings is not None:
        report.title = f"Conformance: profile {settings.profile.name}, {settings.source_label}"


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        return None
    return [
        f"conformance: profile {settings.profile.name} ({settings.profile.path}), {settings.source_label}",
        f"conformance: run directory {settings.run_dir}",
    ]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The last line of the run, the one a CI log reader sees first: verdict, counts, report path."""
    settings = config.stash.get(SETTINGS_KEY, None)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if settings is None or reporter is None:
        return
    records = config.stash.get(RECORDS_KEY, [])
    counts = {v: sum(1 for r in records if r.verdict == v) for v in ("passed", "failed", "error", "waived")}
    code = config.stash.get(EXIT_KEY, None)
    word = {0: "PASSED", 1: "FAILED", 2: "NOT EVALUATED"}.get(code, f"exit {code}") if code is not None else "ENDED"
    result = config.stash.get(VERDICT_KEY, None)
    below = f", {result.below_gate} below the gate" if result is not None and result.below_gate else ""
    reporter.write_line(
        f"conformance {settings.profile.name}: {word} — {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['error']} could not evaluate, {counts['waived']} waived{below} — "
        f"report {settings.run_dir / 'report.html'}"
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
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        return
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
    _write_results(settings, records, int(session.exitstatus))


def _link_latest(settings: RunSettings) -> None:
    latest = settings.reports_root / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        os.symlink(settings.run_dir.name, latest, target_is_directory=True)
    except OSError:
        pass  # a filesystem without symlinks still gets the run directory itself


def _write_results(settings: RunSettings, records: list[CheckRecord], exit_code: int) -> None:
    """results.json: every check's record, machine-readable (drift comparison, dashboards, audits)."""
    from conformance import secrets

    document = {
        "profile": settings.profile.name,
        "profile_sha256": settings.profile.sha256,
        "exit_code": exit_code,
        "checks": [record.as_dict() for record in records],
    }
    body = json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n"
    (settings.run_dir / "results.json").write_text(secrets.redact_text(body), encoding="utf-8")
