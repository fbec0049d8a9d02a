"""The collection budget of a live run (`--budget`), and what collection had to retry or give up on, reported.

A pytest plugin module (registered in the root conftest): the option, the override of the profile's
`collection.budget`, rows in the report's environment table and lines in the terminal summary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import pytest

from conformance.cluster.live import CollectionReport, LiveState
from conformance.duration import parse_duration
from conformance.errors import BadInput
from conformance.options import duration_option, judges_clusters
from conformance.settings import FLEET_KEY, SETTINGS_KEY, STATES_KEY
from conformance.transport import seconds_text, short_reasons, summarize

BUDGET_SOURCE_KEY = pytest.StashKey[str]()


def parse_budget(text: str) -> timedelta:
    """A budget as typed on the command line; ValueError says why it is not one."""
    value = parse_duration(text)
    if value <= timedelta(0):
        raise ValueError(f"{text!r} leaves no time to collect anything (examples: 90s, 5m, 10m)")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "cluster conformance")
    group.addoption(
        "--budget",
        metavar="DURATION",
        help="Live runs: total time for collecting the cluster state (default: the profile's collection.budget, "
        "5m); no request or retry wait outlasts it, and what it cuts short is an error.",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # trylast: conformance.plugin's (tryfirst) pytest_configure has loaded the profile into the settings.
    override = duration_option(config, "budget", parse_budget)
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        if override is not None and not judges_clusters(config):
            raise BadInput("--budget needs --profile")
        return
    if override is None:
        config.stash[BUDGET_SOURCE_KEY] = "profile collection.budget"
        return
    # The cluster fixture collects with the profile's collection settings: the flag replaces the budget there,
    # for every cluster of a fleet.
    fleet = config.stash.get(FLEET_KEY, None)
    for member in fleet.members if fleet is not None else [settings]:
        profile = member.profile.profile
        collection = profile.collection.model_copy(update={"budget": override})
        member.profile = dataclasses.replace(
            member.profile, profile=profile.model_copy(update={"collection": collection})
        )
    config.stash[BUDGET_SOURCE_KEY] = "--budget"


def _reports(config: pytest.Config) -> list[tuple[str, CollectionReport]]:
    """Each live cluster's collection report, by fleet member ("" in a single-cluster run)."""
    states = config.stash.get(STATES_KEY, {})
    return [
        (member, state.collection)
        for member, state in states.items()
        if isinstance(state, LiveState) and state.collection is not None
    ]


def environment_rows(report: CollectionReport, source: str) -> dict[str, str]:
    """Rows for the report's environment table: the budget and its use, retries per source, what ran out."""
    rows = {
        "Collection budget": f"{seconds_text(report.budget)} ({source}); collection took {report.elapsed:.1f}s",
    }
    if report.retries:
        rows["Collection retries"] = "; ".join(f"{name}: {summarize(why)}" for name, why in report.retries.items())
    gave_up = sorted({*report.out_of_budget, *report.unfinished})
    if gave_up:
        rows["Collection budget ran out for"] = ", ".join(gave_up)
    return rows


def summary_lines(report: CollectionReport) -> list[str]:
    """Terminal lines: `collection: pods needed 2 retries (429)`, and every source the budget cut short."""
    lines = []
    for name, why in report.retries.items():
        noun = "retry" if len(why) == 1 else "retries"
        lines.append(f"collection: {name} needed {len(why)} {noun} ({short_reasons(why)})")
    for name in report.out_of_budget:
        if name not in report.unfinished:
            lines.append(f"collection: {name} gave up: the budget of {seconds_text(report.budget)} ran out")
    for name in report.unfinished:
        lines.append(f"collection: {name} did not finish within the budget of {seconds_text(report.budget)}")
    return lines


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, Any, Any]:
    # Outermost wrapper: the rows are in the environment table before conformance.secrets redacts and
    # escapes it and before pytest-html renders it (both later in this hook).
    config = session.config
    source = config.stash.get(BUDGET_SOURCE_KEY, "profile collection.budget")
    for member, report in _reports(config):
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:  # pragma: no cover - pytest-metadata is a dependency
            break
        metadata: dict[str, Any] = config.stash.setdefault(metadata_key, {})
        prefix = f"{member}: " if member else ""
        metadata.update({prefix + key: value for key, value in environment_rows(report, source).items()})
    return (yield)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    for member, report in _reports(config):
        for line in summary_lines(report):
            terminalreporter.write_line(f"{member}: {line}" if member else line)
