"""Allure results that carry what the HTML report carries: labels, severity, description, evidence, environment.

Each check's result gets epic/feature/story/severity labels, a description with the requirement, what was
expected and observed, the remediation and any waiver, and its culprits as JSON. Evidence files are attached
once per run as run-level (global) attachments: Allure 3 links an attachment file to one result only, and
copying pods.json into every check that reads it would multiply the run's size by the number of checks.
"""

from __future__ import annotations

import html
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
from conformance.options import is_controller, is_worker
from conformance.records import RECORDS_KEY, CheckRecord, evidence_path
from conformance.settings import SETTINGS_KEY, RunSettings, primary_state

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


def pytest_configure(config: pytest.Config) -> None:
    # conformance.plugin (tryfirst) has set the run's settings and pointed allure-pytest at the run directory.
    if config.stash.get(SETTINGS_KEY, None) is not None and results_dir(config) is not None:
        config.pluginmanager.register(AllureRun(config), AllureRun.NAME)


class AllureRun:
    """Per run: completes each check's Allure result from its record, then writes the run-level files."""

    NAME = "conformance-allure"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = config.stash[SETTINGS_KEY]

    # The teardown report is the first point where a check's record is final and has passed through every
    # makereport wrapper (the secrets layer's included), and the allure test result is still open:
    # allure-pytest closes it after pytest_runtest_logfinish, so allure.dynamic applies to this check.
    # With pytest-xdist the check ran on a worker, which labels it there; the controller only writes the run files.
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown" or is_controller(self.config):
            return
        record = _record_of(self.config, report.nodeid)
        if record is not None:
            _label(self.settings, record)
            _describe(self.settings, record)

    # tryfirst: these files are part of the run's output, so they exist before any other sessionfinish hook
    # seals or scrubs the run directory.
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        directory = results_dir(self.config)
        # allure-pytest registers its listener only when it writes results (not with -p no:allure_pytest).
        if directory is None or self.config.pluginmanager.get_plugin("allure_listener") is None:
            return
        if is_worker(self.config):
            return
        directory.mkdir(parents=True, exist_ok=True)
        # Each evidence file some check used, once, in first-use order.
        used = {
            evidence_path(name, record.cluster): None
            for record in self.config.stash.get(RECORDS_KEY, [])
            for name in record.evidence
        }
        for path in used:
            if (self.settings.run_dir / path).is_file():
                attach_evidence(self.settings.run_dir / path, path)
        (directory / "environment.properties").write_text(
            properties(environment(self.config, self.settings)), encoding="ascii"
        )
        (directory / "executor.json").write_text(json.dumps(executor(self.settings), indent=2) + "\n", encoding="utf-8")
        (directory / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n", encoding="utf-8")


def _record_of(config: pytest.Config, nodeid: str) -> CheckRecord | None:
    # conformance.plugin appends the record when the check's teardown report is made, just before this.
    records = config.stash.get(RECORDS_KEY, [])
    return next((r for r in reversed(records) if r.nodeid == nodeid), None)


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
            "culprits": [
                {"name": c.name, "observed": c.observed, **({"details": c.details} if c.details else {})}
                for c in record.culprits
            ],
            "waived": {"ticket": waiver.ticket, "culprits": waived_names} if waiver is not None else None,
            "evidence": paths,
        }
        allure.attach(
            orjson.dumps(table, option=orjson.OPT_INDENT_2),
            name="culprits",
            attachment_type=allure.attachment_type.JSON,
        )


def description_html(record: CheckRecord, evidence: list[str], present: list[str]) -> str:
    """The check as the HTML report shows it; every value is escaped (it may come from the cluster)."""
    esc = html.escape
    observed = record.observed
    if observed is not None and record.inspected is not None:
        observed = f"{observed} ({record.inspected} inspected)"
    lines: list[tuple[str, str | None]] = [
        ("Requirement", record.requirement),
        ("Verdict", {"error": "could not evaluate"}.get(record.verdict, record.verdict)),
        ("Severity", record.severity),
        ("Source", record.source),
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
    parts = [f"<p><b>{label}</b>: {esc(value)}</p>" for label, value in lines if value]
    waiver = record.waiver
    if waiver is not None:
        covers = ", ".join(waiver.culprits) or "all culprits"
        parts.append(
            "<p><b>Waiver</b>:</p><ul>"
            + "".join(
                f"<li>{label}: {esc(value)}</li>"
                for label, value in (
                    ("ticket", waiver.ticket),
                    ("owner", waiver.owner),
                    ("expires", waiver.expires),
                    ("reason", waiver.reason),
                    ("covers", covers),
                )
            )
            + "</ul>"
        )
    if record.culprits:
        rows = "".join(
            f"<tr><td>{esc(c.name)}</td><td>{esc(c.observed)}</td></tr>" for c in record.culprits[:MAX_CULPRIT_ROWS]
        )
        more = len(record.culprits) - MAX_CULPRIT_ROWS
        parts.append(
            "<table><thead><tr><th>culprit</th><th>seen</th></tr></thead><tbody>"
            + rows
            + "</tbody></table>"
            + (f"<p>and {more} more: see the culprits attachment</p>" if more > 0 else "")
        )
    if evidence:
        items = "".join(
            f"<li>{esc(path)}" + ("" if path in present else " (not written by this run)") + "</li>"
            for path in evidence
        )
        parts.append(
            "<p><b>Evidence</b> (in the run directory; attached once to the run, not to each check):</p>"
            f"<ul>{items}</ul>"
        )
    return "".join(parts)


def attach_evidence(source: Path, name: str) -> None:
    """One run-level attachment per evidence file, with its MIME type."""
    kind = {".json": allure.attachment_type.JSON, ".txt": allure.attachment_type.TEXT}.get(source.suffix)
    if kind is not None:
        _global_attach.file(str(source), name=name, attachment_type=kind)
    else:
        mime = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        _global_attach.file(str(source), name=name, attachment_type=mime, extension=source.suffix[1:] or None)


def environment(config: pytest.Config, settings: RunSettings) -> dict[str, str]:
    """What the HTML report's environment section says, for Allure's environment widget."""
    profile = settings.profile
    values = {
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
    state = primary_state(config)
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


def executor(settings: RunSettings) -> dict[str, str]:
    return {
        "name": EXECUTOR_NAME,
        "type": "pytest",
        "buildName": settings.run_dir.name,
        "reportName": secrets.redact_text(
            f"Cluster conformance: profile {settings.profile.name}, {settings.source_label}"
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
