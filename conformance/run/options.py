"""The suite's command-line surface in one place: every option, and reading their values (a bad one is BadInput
naming the flag, exit code 3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from conformance.duration import parse_duration
from conformance.errors import BadInput

# Options that say where a cluster's state comes from: once for every profile, or once per profile.
SOURCES = ("snapshot", "kubeconfig", "kube_context")


def add_options(parser: pytest.Parser) -> None:
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
    group.addoption(
        "--profiles-dir",
        metavar="DIR",
        help="Directory of named profiles (default: the conformance_profiles ini value, profiles/).",
    )
    group.addoption("--reports", metavar="DIR", help="Where run directories go (default: reports/).")
    group.addoption(
        "--gate",
        metavar="SEVERITY|new",
        help="Which failures fail the run: blocker, critical, normal, minor (that severity and above; "
        "default minor, i.e. all), or new (only failures absent from the --compare baseline).",
    )
    group.addoption(
        "--compare",
        metavar="RUN_DIR",
        help="Compare with an earlier run (a run directory, or reports/latest): list new, resolved and "
        "unchanged failures; --gate=new then fails only on new ones.",
    )
    group.addoption(
        "--compare-latest",
        action="store_true",
        default=False,
        help="Nightly runs: compare with <reports>/latest when there is one (no comparison otherwise).",
    )
    group.addoption(
        "--budget",
        metavar="DURATION",
        help="Live runs: total time for collecting the cluster state (default: the profile's collection.budget, "
        "5m); no request or retry wait outlasts it, and what it cuts short is an error.",
    )
    group.addoption(
        "--settle",
        metavar="DURATION",
        help="Live runs: re-collect until the Kubernetes checks pass, for at most this long (e.g. 5m); "
        "default: the profile's collection.settle.",
    )
    group.addoption(
        "--hold",
        metavar="DURATION",
        help="Live runs: then watch pods this long (e.g. 2m) and fail test_stable_during_hold on any new "
        "restart, failing, vanished or replaced pod; default: the profile's collection.hold.",
    )
    group.addoption(
        "--redact-env",
        action="append",
        default=[],
        metavar="NAME",
        help="Treat the value of environment variable NAME as a secret: redacted from everything the run "
        "writes (repeatable; for snapshot runs, which read no kubeconfig or credentials).",
    )
    parser.addini("conformance_profiles", "Directory of named profiles.", default="profiles")
    parser.addini("conformance_reports", "Directory for run reports.", default="reports")


def flag(dest: str) -> str:
    return f"--{dest.replace('_', '-')}"


def duration_option(
    config: pytest.Config, name: str, parse: Callable[[str], timedelta] = parse_duration
) -> timedelta | None:
    """The option `--NAME` as a duration, None when not given."""
    text: str | None = config.getoption(name, None)
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise BadInput(f"--{name}: {exc}") from None


def parse_budget(text: str) -> timedelta:
    """A budget as typed on the command line; ValueError says why it is not one."""
    value = parse_duration(text)
    if value <= timedelta(0):
        raise ValueError(f"{text!r} leaves no time to collect anything (examples: 90s, 5m, 10m)")
    return value


def judges_clusters(config: pytest.Config) -> bool:
    """Whether this invocation runs checks: a profile (`--profile`, repeatable) or a fleet (`--fleet`)."""
    return bool(config.getoption("profile", None) or config.getoption("fleet", None))


def refuse_without_profile(config: pytest.Config) -> None:
    """Options that only mean something in a conformance run are refused without --profile or --fleet."""
    for dest in (*SOURCES, "budget", "settle", "hold", "compare", "compare_latest", "gate"):
        if config.getoption(dest, None):
            raise BadInput(f"{flag(dest)} needs --profile")


def collect_only(config: pytest.Config) -> bool:
    """`--collect-only`: the checks a run would judge are listed; nothing is judged, nothing is written."""
    return bool(config.getoption("collectonly", False))


def is_worker(config: pytest.Config) -> bool:
    """An xdist worker: it runs checks, while the controller writes the run's reports."""
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """The xdist controller: its workers run the checks; records and reports reach it from them."""
    return config.pluginmanager.has_plugin("dsession")
