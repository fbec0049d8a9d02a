"""report.html: the auditor's summary (verdict banner, failures by area, drift, waivers, matrix, charts) above
pytest-html's own table, whose rows say each check's verdict in the suite's words with its finding as their
extra, and the title. Renderings of the run's RunResult."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pytest
from markupsafe import Markup

from conformance.check import Finding
from conformance.records import CheckRecord, evidence_path
from conformance.report import sections, table
from conformance.report.extras import finding_html, test_id_cell
from conformance.report.history import earlier_runs
from conformance.run.result import RunResult
from conformance.run.session import ConformanceRun


def render(view: sections.RunView, warn: Callable[[str], None] = lambda _: None) -> str:
    """The summary HTML; a part that raises is replaced by a visible note rather than costing the whole report."""

    def guard(name: str, part: sections.Part) -> Markup:
        try:
            return part(view)
        except Exception as exc:  # a bug in one chart must not leave the auditor without report.html
            message = f"report section {name} could not be built: {type(exc).__name__}: {exc}"
            warn(message)
            return sections.warning(message)

    return sections.build(view, guard)


class HtmlReport:
    """pytest-html's hooks for a conformance run."""

    def __init__(self, run: ConformanceRun) -> None:
        self.run = run
        self.result: RunResult | None = None

    def pytest_conformance_result(self, result: RunResult, config: pytest.Config) -> None:
        self.result = result

    def view(self) -> sections.RunView | None:
        """The run as the report shows it."""
        result = self.result
        if result is None:
            return None
        fleet = self.run.fleet
        settings = fleet.members[0]
        kind = fleet.source_kind
        history, problems = earlier_runs(
            settings.reports_root, result.name, result.run_dir, sections.TREND_RUNS - 1, source=kind
        )
        return sections.RunView(
            records=result.records,
            settings=settings,
            fleet=fleet,
            # A fleet's banner describes each cluster; the single state shown there is a single cluster's.
            state=None if result.several else self.run.states.get(settings.member),
            verdict=result.verdict,
            new_failures=result.new_failures,
            history=history,
            history_problems=problems,
            history_source=kind,
            deselected=len(result.deselected),
            drift=result.drift,
            stability=result.stability,
        )

    def pytest_conformance_check(
        self, item: pytest.Item, report: pytest.TestReport, record: CheckRecord, finding: Finding
    ) -> None:
        # pytest-html reads `extras` off the report; it is not a declared TestReport attribute.
        setattr(report, "extras", [*getattr(report, "extras", []), *_extras(record, finding)])  # noqa: B010

    # pytest-html owns these hooks' specs; optionalhook keeps the plugin loadable without it.
    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        view = self.view()
        if view is None:
            return
        reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")

        def warn(message: str) -> None:
            if reporter is not None:
                reporter.write_line(f"conformance: {message}", red=True)

        # The prefix sits above pytest-html's own counts and filters, which belong with its results table.
        prefix.append(render(view, warn))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"Conformance: {self.run.fleet.label}"
        outcomes = getattr(report, "outcomes", None)
        if isinstance(outcomes, dict):
            table.relabel(outcomes)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        table.header(cells)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        # pytest-html inserts test ids unescaped; ids carry names from profiles and clusters.
        for index, cell in enumerate(cells):
            if cell.startswith('<td class="col-testId">'):
                inner = cell.removeprefix('<td class="col-testId">').removesuffix("</td>")
                cells[index] = test_id_cell(html.unescape(inner))
        table.row(cells, self.run.record_for(report.nodeid), report)


def _extras(record: CheckRecord, finding: Finding) -> list[dict[str, Any]]:
    from pytest_html import extras

    result = [extras.html(finding_html(record, finding))]
    for name in finding.evidence:
        # Resources are named `pods`, `deployments.apps`; service bodies by their path, `kong/status.json`.
        result.append(extras.url(evidence_path(name, record.cluster), name=f"evidence: {name}"))
    return result
