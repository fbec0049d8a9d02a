"""The pytest plugin (entry point `pytest11: conformance`): options, the suite's hookspecs, and the run.

A conformance run (`--profile` or `--fleet`) creates one ConformanceRun, registers it, and registers the outputs
that render its result. Any other pytest invocation (the suite's own tests) gets the options and nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

import pytest

from conformance import gate, registry, secrets
from conformance.errors import BadInput
from conformance.integrity import Manifest
from conformance.report.allure_labels import AllureRun, results_dir
from conformance.report.results import ResultFiles
from conformance.report.summary import HtmlReport
from conformance.report.terminal import TerminalSummary
from conformance.run import hooks, secrecy
from conformance.run.members import profiles_dir
from conformance.run.options import add_options, collect_only, is_worker, judges_clusters, refuse_without_profile
from conformance.run.session import ConformanceRun

# The checks' fixtures, as part of the plugin: `pytest --profile=...` works from any directory.
pytest_plugins = ["conformance.run.fixtures"]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # tryfirst: before the terminal plugin builds its reporter on sys.stdout (the redaction layer wraps it), and
    # before pytest-html, junitxml and allure-pytest read where to write.
    config.addinivalue_line("markers", "check(spec): a conformance check")
    if not judges_clusters(config):
        refuse_without_profile(config)
        return
    run = ConformanceRun.create(config)
    config.pluginmanager.register(run, ConformanceRun.NAME)
    secrecy.install(config, [m.profile.profile for m in run.fleet.members])
    if collect_only(config):
        return  # the checks are listed, as pytest lists tests: no run directory, no report, no verdict
    if not is_worker(config):
        run.point_outputs()
    # On xdist workers too: checks are judged there, and their per-check outputs (extras, Allure labels) with them;
    # the result hooks only ever fire on the controller.
    for output in (ResultFiles(), HtmlReport(run), TerminalSummary(), Manifest(run.fleet, run.written.digest)):
        config.pluginmanager.register(output, f"conformance-{type(output).__name__.lower()}")
    if results_dir(config) is not None:
        config.pluginmanager.register(AllureRun(config, run), AllureRun.NAME)


def pytest_collection(session: pytest.Session) -> None:
    """A conformance run collects the registry's check modules unless paths were given: from a checkout or from
    an installed package alike."""
    config = session.config
    if judges_clusters(config) and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(path) for path in registry.module_paths()]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if judges_clusters(config) or not any(registry_item(item) for item in items):
        return
    from conformance.profile.loader import available_profiles

    available = ", ".join(available_profiles(profiles_dir(config))) or "none found"
    raise BadInput(
        f"conformance checks need --profile=NAME or --profile=PATH (available: {available}); "
        "the suite's own tests run with `pytest tests`"
    )


def registry_item(item: pytest.Item) -> bool:
    return item.get_closest_marker("check") is not None


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, Any, Any]:
    """Bad input of ours (profile, options, snapshot, kubeconfig) ends with exit code 3, one message, no traceback."""
    try:
        return (yield)
    except BadInput as exc:
        for line in exc.args:
            sys.stderr.write(f"ERROR: {secrets.redact_text(str(line))}\n")
        return gate.BAD_INPUT
