"""pytest plugin: the auditor's summary in report.html (verdict banner, failures by area, waivers, matrix, charts).

The HTML itself is built by conformance.report.sections from the run's CheckRecords.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.plugin import NOT_IN_PROFILE
from conformance.records import RECORDS_KEY, CheckRecord
from conformance.report import sections
from conformance.report.history import earlier_runs
from conformance.settings import FLEET_KEY, SETTINGS_KEY, primary_state

# Checks left out of this run by -k/-m or --deselect: a verdict over a subset must say so.
DESELECTED_KEY = pytest.StashKey[list[str]]()


def pytest_deselected(items: list[pytest.Item]) -> None:
    if not items:
        return
    names = items[0].config.stash.setdefault(DESELECTED_KEY, [])
    # conformance.plugin deselects the placeholders of checks the profile does not ask for; they are not checks.
    names.extend(item.name for item in items if not item.name.endswith(f"[{NOT_IN_PROFILE}]"))


def view_of(session: pytest.Session) -> sections.RunView | None:
    """The run as the report shows it, or None outside a conformance run (the suite's own tests)."""
    config = session.config
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        return None
    records: list[CheckRecord] = config.stash.get(RECORDS_KEY, [])
    fleet = config.stash.get(FLEET_KEY, None)
    several = fleet is not None and fleet.several
    name = fleet.name if fleet is not None and several else settings.profile.name
    history, problems = earlier_runs(settings.reports_root, name, settings.run_dir, sections.TREND_RUNS - 1)
    return sections.RunView(
        records=records,
        settings=settings,
        fleet=fleet,
        # A fleet's banner describes each cluster; the single state shown there is a single cluster's.
        state=None if several else primary_state(config),
        exitstatus=int(getattr(session, "exitstatus", 0) or 0),
        history=history,
        history_problems=problems,
        deselected=len(config.stash.get(DESELECTED_KEY, [])),
    )


def render(view: sections.RunView, warn: Callable[[str], None] = lambda _: None) -> str:
    """The summary HTML; a part that raises is replaced by a visible note rather than costing the whole report."""

    def guard(name: str, part: Callable[[sections.RunView], str]) -> str:
        try:
            return part(view)
        except Exception as exc:  # a bug in one chart must not leave the auditor without report.html
            message = f"report section {name} could not be built: {type(exc).__name__}: {exc}"
            warn(message)
            return f'<p class="cf-warn">{sections.esc(message)}</p>'

    return sections.build(view, guard)


# pytest-html owns this hook's spec; optionalhook keeps the plugin loadable without it.
@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], session: pytest.Session) -> None:
    view = view_of(session)
    if view is None:
        return
    reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")

    def warn(message: str) -> None:
        if reporter is not None:
            reporter.write_line(f"conformance: {message}", red=True)

    # The prefix sits above pytest-html's own counts and filters, which belong with its results table.
    prefix.append(render(view, warn))
