"""The redaction layer as a pytest plugin: every report, message and environment row of a conformance run passes
through conformance.secrets before pytest, pytest-html, junitxml or Allure sees it; the terminal too."""

from __future__ import annotations

import contextlib
import dataclasses
import html
import os
import sys
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any, TextIO, cast

import pytest

from conformance.check import Finding
from conformance.profile.services import Credential
from conformance.run.items import FINDING_KEY, RECORD_KEY
from conformance.secrets import RedactingStream, redact_exception, redact_text, redact_value, register


def install(config: pytest.Config, profiles: Iterable[Any]) -> None:
    """Redact the terminal and every report of this run (before the terminal plugin builds its reporter)."""
    if config.pluginmanager.has_plugin(_ReportRedaction.NAME):
        return
    if not isinstance(sys.stdout, RedactingStream):
        # Only the terminal reporter keeps this object: pytest's capture restores the original
        # sys.stdout when it suspends, so test output is not double-processed.
        sys.stdout = cast(TextIO, RedactingStream(sys.stdout))
    config.pluginmanager.register(_ReportRedaction(profiles), _ReportRedaction.NAME)
    config.pluginmanager.register(_OuterRedaction(), _OuterRedaction.NAME)


def _credentials_in(value: Any, seen: set[int]) -> Iterable[Any]:
    """Every Credential reference in a (pydantic) profile section."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, Credential):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _credentials_in(item, seen)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _credentials_in(item, seen)
    elif hasattr(value, "__pydantic_fields__"):
        for name in type(value).__pydantic_fields__:
            yield from _credentials_in(getattr(value, name, None), seen)


def register_profile_credentials(profile: Any) -> None:
    """Register the values of the credentials a profile references (env or file) that are present.

    A live run registers them as it reads them; a snapshot run reads none, yet its evidence may have
    been captured with them."""
    for ref in _credentials_in(getattr(profile, "services", None), set()):
        if getattr(ref, "env", None):
            register(os.environ.get(ref.env))
        elif getattr(ref, "file", None):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                register(Path(ref.file).read_text(encoding="utf-8"))


def _redact_report(report: pytest.TestReport | pytest.CollectReport) -> None:
    seen: set[int] = set()
    longrepr = report.longrepr
    if isinstance(longrepr, (str, tuple)):
        report.longrepr = redact_value(longrepr, seen)
    elif longrepr is not None:
        redact_value(longrepr, seen)
    report.sections = [(title, redact_text(content)) for title, content in report.sections]
    if isinstance(report, pytest.TestReport):
        report.user_properties = [(name, redact_value(value, seen)) for name, value in report.user_properties]
        wasxfail = getattr(report, "wasxfail", None)
        if isinstance(wasxfail, str):
            report.wasxfail = redact_text(wasxfail)
    for attribute in ("extras", "extra"):
        extras = getattr(report, attribute, None)
        if isinstance(extras, list):
            redact_value(extras, seen)


def _redact_finding(item: pytest.Item) -> None:
    finding = item.stash.get(FINDING_KEY, None)
    if not isinstance(finding, Finding):
        return
    culprits = [c.replace_text(redact_text) for c in finding.culprits]
    item.stash[FINDING_KEY] = dataclasses.replace(
        finding, expected=redact_text(finding.expected), observed=redact_text(finding.observed), culprits=culprits
    )


def _redact_record(item: pytest.Item) -> None:
    record = item.stash.get(RECORD_KEY, None)
    if record is None:
        return
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if isinstance(value, str):
            setattr(record, field.name, redact_text(value))
    record.culprits = [c.replace_text(redact_text) for c in record.culprits]
    if record.waiver is not None:
        waiver = record.waiver
        record.waiver = dataclasses.replace(
            waiver, reason=redact_text(waiver.reason), culprits=tuple(redact_text(c) for c in waiver.culprits)
        )


class _ReportRedaction:
    """Hooks that pass reports, records, the HTML report's parts and the run's files through the layer.

    Registered from pytest_configure, after every conftest plugin: among hooks of equal priority pluggy
    calls the last registered first, so this holds the innermost trylast wrappers (and _OuterRedaction,
    registered with it, the outermost tryfirst one).
    """

    NAME = "conformance-secrets"

    # pluggy orders a hook's implementations as [non-wrappers][wrappers], each part sorted trylast ..
    # tryfirst, and calls them from the end: the tryfirst wrapper is entered first and resumed LAST, the
    # trylast wrapper is entered last and resumed FIRST, right after the non-wrapper that made the report
    # (pytest's runner). So "after the other wrappers have filled the report" is tryfirst, not trylast,
    # and one wrapper cannot do both jobs:
    # - this trylast (innermost) one cleans the fresh report, the exception and the finding before any
    #   other wrapper reads them: conformance.plugin copies the message and the finding into the check
    #   record and the HTML extras, allure-pytest copies call.excinfo.exconly() and longreprtext into
    #   allure-results, pytest's skipping copies xfail reasons;
    # - _OuterRedaction's tryfirst (outermost) one cleans what those wrappers added (extras,
    #   user_properties, the record) before pytest_runtest_logreport hands the report to the terminal,
    #   junitxml and pytest-html.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.excinfo is not None:
            redact_exception(call.excinfo.value)
        _redact_report(report)
        _redact_finding(item)
        return report

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, Any]:
        report = yield
        _redact_report(report)
        return report

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
        # Innermost: the exception is clean before allure-pytest's fixture wrapper records its message.
        try:
            return (yield)
        except BaseException as exc:
            redact_exception(exc)
            raise

    def __init__(self, profiles: Iterable[Any]) -> None:
        self.profiles = list(profiles)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        for profile in self.profiles:
            register_profile_credentials(profile)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, Any, Any]:
        # The innermost wrapper: the environment table pytest-html renders (server versions, resources
        # unavailable with the API server's reasons) is redacted and escaped after the run has written its rows.
        # The run's files are swept by the run itself, after every writer.
        config = session.config
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:  # pragma: no cover - pytest-metadata is a dependency
            pass
        else:
            metadata = config.stash.get(metadata_key, None)
            if isinstance(metadata, dict):
                redact_value(metadata)
                escape_environment(metadata)
        return (yield)

    @pytest.hookimpl(trylast=True, optionalhook=True)  # pytest-html's hook
    def pytest_html_report_title(self, report: Any) -> None:
        title = getattr(report, "title", None)
        if isinstance(title, str):
            report.title = redact_text(title)

    @pytest.hookimpl(trylast=True, optionalhook=True)  # pytest-html's hook
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        for part in (prefix, summary, postfix):
            redact_value(part)

    @pytest.hookimpl(trylast=True, optionalhook=True)  # pytest-html's hook
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        redact_value(cells)

    @pytest.hookimpl(trylast=True, optionalhook=True)  # pytest-html's hook
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        redact_value(data)


def escape_environment(metadata: dict[str, Any]) -> None:
    """HTML-escape the environment table in place: pytest-html's script renders its values with innerHTML,
    and they carry text from the cluster (server version, the API server's reasons for unreadable
    resources) and from a snapshot's meta.json."""

    def escaped(value: Any) -> Any:
        if isinstance(value, str):
            return html.escape(value)
        if isinstance(value, dict):
            return {html.escape(str(k)): escaped(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [escaped(v) for v in value]
        return value

    for key in list(metadata):
        metadata[key] = escaped(metadata[key])


class _OuterRedaction:
    """The outermost wrappers: makereport (see _ReportRedaction for the ordering), and unconfigure."""

    NAME = "conformance-secrets-outer"

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        _redact_report(report)
        _redact_record(item)
        return report
