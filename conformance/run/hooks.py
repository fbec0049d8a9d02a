"""The suite's own hooks, for its outputs and for plugins that extend it (added with `pluginmanager.add_hookspecs`,
as pytest-html adds its own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conformance.check import Finding
    from conformance.records import CheckRecord
    from conformance.run.result import RunResult

hookspec = pytest.hookspec


@hookspec
def pytest_conformance_check(
    item: pytest.Item, report: pytest.TestReport, record: CheckRecord, finding: Finding
) -> None:
    """A check has been judged (its call phase): `record` is final but for the verdict pytest gives it; outputs
    add what they show per check (pytest-html's extras) to `report`."""


@hookspec
def pytest_conformance_result(result: RunResult, config: pytest.Config) -> None:
    """The run's result, published once when the session ends, before pytest-html, junitxml and the terminal
    summary write: every output that shows a verdict renders this one (results.json, drift.json, junit
    properties, Allure's run files, the report's banner)."""


@hookspec
def pytest_conformance_finished(result: RunResult, config: pytest.Config) -> None:
    """Every file of the run has been written (the last plugin's unconfigure included): seal it (the integrity
    manifest) and say the last line."""
