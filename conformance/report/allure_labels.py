"""Allure results that carry what the HTML report carries: labels, severity, description, evidence, environment.

Each check's result gets epic/feature/story/severity labels, a description with the requirement, what was
expected and observed, the remediation and any waiver, and its culprits as JSON. Evidence files are attached
once per run as run-level (global) attachments: Allure 3 links an attachment file to one result only, and
copying pods.json into every check that reads it would multiply the run's size by the number of checks.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
from pathlib import Path
from typing import Any

import allure
import orjson
import pytest

from conformance import __version__, secrets
from conformance.check import Culprit
from conformance.cluster.state import ClusterState
from conformance.records import CheckRecord, evidence_path
from conformance.report import templating
from conformance.report.sections import CulpritRow
from conformance.run.options import is_controller
from conformance.run.result import RunResult
from conformance.run.session import ConformanceRun
from conformance.run.settings import RunSettings

SEVERITIES = {"blocker", "critical", "normal", "minor", "trivial"}
EXECUTOR_NAME = "cluster-conformance"
# Culprit rows shown in the description; the full list is always in the culprits attachment.
MAX_CULPRIT_ROWS = 50
_URL = re.compile(r"https?://\S+\Z")

# allure's public API is untyped; calls through these aliases satisfy mypy --strict.
_dynamic: Any = allure.dynamic
_global_attach: Any = allure.global_attach


def results_dir(config: pytest.Config) -> Path | None:
    """The allure-results directory of this run, or None when allure-pytest is not writing results."""
    directory = getattr(config.option, "allure_report_dir", None)
    return Path(os.path.abspath(directory)) if directory else None


def epic(settings: RunSettings) -> str:
    return f"Cluster conformance: {settings.profile.name}"


def story(record: CheckRecord) -> str:
    return record.name.split("[", 1)[0]


class AllureRun:
    """Per run: completes each check's Allure result from its record, then writes the run-level files."""

    NAME = "conformance-allure"

    def __init__(self, config: pytest.Config, run: ConformanceRun) -> None:
        self.config = config
        self.run = run
        self.settings = run.fleet.members[0]

    # The teardown report is the first point where a check's record is final and has passed through every
    # makereport wrapper (the secrets layer's included), and the allure test result is still open:
    # allure-pytest closes it after pytest_runtest_logfinish, so allure.dynamic applies to this check.
    # With pytest-xdist the check ran on a worker, which labels it there; the controller only writes the run files.
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown" or is_controller(self.config):
            return
        record = self.run.record_for(report.nodeid)
        if record is not None:
            _label(self.settings, record)
            _describe(self.settings, record)
            if record.verdict == "waived":
                _waived_status(self.config, record)

    def pytest_conformance_result(self, result: RunResult, config: pytest.Config) -> None:
        directory = results_dir(config)
        # allure-pytest registers its listener only when it writes results (not with -p no:allure_pytest).
        if directory is None or config.pluginmanager.get_plugin("allure_listener") is None:
            return
        directory.mkdir(parents=True, exist_ok=True)
        # Each evidence file some check used, once, in first-use order.
        used = {evidence_path(name, record.cluster): None for record in result.records for name in record.evidence}
        for path in used:
            if (result.run_dir / path).is_file():
                attach_evidence(result.run_dir / path, path)
        state = None if result.several else self.run.states.get(self.settings.member)
        (directory / "environment.properties").write_text(
            properties(environment(self.settings, state, result)), encoding="ascii"
        )
        (directory / "executor.json").write_text(
            json.dumps(executor(self.settings, result), indent=2) + "\n", encoding="utf-8"
        )
        (directory / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n", encoding="utf-8")


def _label(settings: RunSettings, record: CheckRecord) -> None:
    _dynamic.epic(epic(settings))
    if record.cluster:
        _dynamic.parent_suite(record.cluster)
    _dynamic.feature(record.area)
    _dynamic.story(story(record))
    _dynamic.severity(allure.severity_level(record.severity if record.severity in SEVERITIES else "normal"))
    # Excluded parameters never enter Allure's history id, so editing a profile line keeps a check's history.
    if record.origin:
        _dynamic.parameter("profile line", record.origin, excluded=True)
    if record.source:
        _dynamic.parameter("source", record.source, excluded=True)
        if _URL.match(record.source):
            _dynamic.link(record.source, name="source")
    if record.basis:
        # A label filters (all checks resting on assumptions); the parameter shows beside the verdict.
        _dynamic.label("basis", record.basis)
        _dynamic.parameter("basis", record.basis, excluded=True)


def _waived_status(config: pytest.Config, record: CheckRecord) -> None:
    """A waived check's status message is its waiver: allure-pytest appends pytest's own words for the xfail
    (`_pytest.outcomes.XFailed: ...`). The test result is the one allure.dynamic edits (still open here)."""
    listener: Any = config.pluginmanager.get_plugin("allure_listener")
    reporter = getattr(listener, "allure_logger", None)
    result = reporter.get_test(None) if reporter is not None else None
    details = getattr(result, "statusDetails", None)
    if details is not None:
        details.message = f"XFAIL {record.message}"  # the categories match "XFAIL waived: ..."
        details.trace = record.message


def _describe(settings: RunSettings, record: CheckRecord) -> None:
    """Tag, waiver, description and culprits of a finished check."""
    if record.verdict == "waived":
        _dynamic.tag("waived")
    waiver = record.waiver
    if waiver is not None:
        _dynamic.parameter("waiver ticket", waiver.ticket, excluded=True)
        if _URL.match(waiver.ticket):
            _dynamic.issue(waiver.ticket, name=waiver.ticket)
    paths = [evidence_path(name, record.cluster) for name in record.evidence]
    present = [path for path in paths if (settings.run_dir / path).is_file()]
    _dynamic.description_html(description_html(record, paths, present))
    waived_names = list(waiver.culprits) if waiver is not None else []
    if record.culprits or waived_names:
        table = {
            "check": record.name,
            "verdict": record.verdict,
            "culprits": [_culprit(c) for c in record.culprits],
            "waived": {"ticket": waiver.ticket, "culprits": waived_names} if waiver is not None else None,
            "evidence": paths,
        }
        allure.attach(
            orjson.dumps(table, option=orjson.OPT_INDENT_2),
            name="culprits",
            attachment_type=allure.attachment_type.JSON,
        )


def _culprit(culprit: Culprit) -> dict[str, Any]:
    """A culprit as results.json has it, without an empty details mapping."""
    data = culprit.as_dict()
    if not data["details"]:
        del data["details"]
    return data


def description_html(record: CheckRecord, evidence: list[str], present: list[str]) -> str:
    """The check as the HTML report shows it, laid out by allure_description.html.j2 with autoescape (values may
    come from the cluster)."""
    observed = record.observed
    if observed is not None and record.inspected is not None:
        observed = f"{observed} ({record.inspected} inspected)"
    lines: list[tuple[str, str | None]] = [
        ("Requirement", record.requirement),
        ("Verdict", {"error": "could not evaluate"}.get(record.verdict, record.verdict)),
        ("Severity", record.severity),
        ("Source", record.source),
        ("Basis", record.basis),
        ("Profile", record.origin),
        ("Note", record.note),
        ("Expected", record.expected),
        ("Observed", observed),
        (
            "Could not evaluate",
            record.message.removeprefix("could not evaluate: ") if record.verdict == "error" else None,
        ),
        ("Remediation", record.remediation if record.verdict in ("failed", "waived") else None),
    ]
    waiver = record.waiver
    waiver_lines = (
        [
            ("ticket", waiver.ticket),
            ("owner", waiver.owner),
            ("expires", waiver.expires),
            ("reason", waiver.reason),
            ("covers", ", ".join(waiver.culprits) or "all culprits"),
        ]
        if waiver is not None
        else []
    )
    body = templating.render(
        "allure_description.html.j2",
        lines=[(label, value) for label, value in lines if value],
        waiver=waiver_lines,
        culprits=[CulpritRow.of(c) for c in record.culprits[:MAX_CULPRIT_ROWS]],
        more=max(len(record.culprits) - MAX_CULPRIT_ROWS, 0),
        evidence=[(path, path in present) for path in evidence],
    )
    # A plain str: allure writes it into the result's JSON, after the redaction layer has edited it as text.
    return str(body)


def attach_evidence(source: Path, name: str) -> None:
    """One run-level attachment per evidence file, with its MIME type."""
    kind = {".json": allure.attachment_type.JSON, ".txt": allure.attachment_type.TEXT}.get(source.suffix)
    if kind is not None:
        _global_attach.file(str(source), name=name, attachment_type=kind)
    else:
        mime = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        _global_attach.file(str(source), name=name, attachment_type=mime, extension=source.suffix[1:] or None)


def environment(settings: RunSettings, state: ClusterState | None, result: RunResult) -> dict[str, str]:
    """What the HTML report's environment section says, for Allure's environment widget, and the verdict."""
    profile = settings.profile
    values = {
        "Verdict": result.verdict.word,
        "Gate": result.verdict.gate,
        "Exit code": str(result.verdict.code),
        "Profile": f"{profile.name} ({profile.path})",
        "Profile sha256": profile.sha256,
        "Source": settings.source_label,
        "Server version": "unknown (no cluster state was collected)",
        "Collected at": "unknown (no cluster state was collected)",
        "Suite version": __version__,
        "Run directory": settings.run_dir.name,
    }
    if len(profile.chain) > 1:
        values["Profile chain"] = " extends ".join(str(p) for p in profile.chain)
    if state is not None:
        provenance = state.provenance
        when = provenance.collected_at.isoformat().replace("+00:00", "Z")
        values["Server version"] = provenance.server_version or "unknown"
        values["Collected at"] = (
            when
            if provenance.collected_at_known
            else f"{when} (evaluation time: snapshot has no meta.json collected_at)"
        )
    # Server URLs can carry credentials (userinfo); everything written passes the redaction layer.
    return {key: secrets.redact_text(value) for key, value in values.items()}


def executor(settings: RunSettings, result: RunResult) -> dict[str, str]:
    return {
        "name": EXECUTOR_NAME,
        "type": "pytest",
        "buildName": settings.run_dir.name,
        "reportName": secrets.redact_text(
            f"Cluster conformance: profile {settings.profile.name}, {settings.source_label}: "
            f"{result.verdict.word} ({result.verdict.gate_text})"
        ),
    }


# Allure 2 and Allure 3's classic report group results by these; without them failures read "Product
# defects" and could-not-evaluate "Test defects". Messages are allure-pytest's: "XFAIL <reason>" for xfails.
CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Waived (granted exceptions)",
        "matchedStatuses": ["skipped"],
        "messageRegex": r"XFAIL waived:[\s\S]*",
    },
    {"name": "Conformance failures", "matchedStatuses": ["failed"]},
    {"name": "Could not evaluate", "matchedStatuses": ["broken"]},
]


def properties(values: dict[str, str]) -> str:
    """Java .properties text (ISO 8859-1 with \\u escapes), as Allure 2 and Allure 3 both read it."""

    def escape(text: str, key: bool) -> str:
        out = []
        for index, char in enumerate(text):
            if char == "\\":
                out.append("\\\\")
            elif char in "\t\n\r\f":
                out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[char])
            elif (key and char in "=: #!") or (char == " " and index == 0):
                out.append("\\" + char)
            elif not 0x20 <= ord(char) < 0x7F:
                out.extend(f"\\u{unit:04x}" for unit in _utf16(char))
            else:
                out.append(char)
        return "".join(out)

    return "".join(f"{escape(key, True)}={escape(value, False)}\n" for key, value in values.items())


def _utf16(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
