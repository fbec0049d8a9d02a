"""Reading the suite's own option values: a bad value is BadInput naming the flag (exit 3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from conformance.duration import parse_duration
from conformance.errors import BadInput


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


def judges_clusters(config: pytest.Config) -> bool:
    """Whether this invocation runs checks: a profile (`--profile`, repeatable) or a fleet (`--fleet`)."""
    return bool(config.getoption("profile", None) or config.getoption("fleet", None))


def is_worker(config: pytest.Config) -> bool:
    """An xdist worker: it runs checks, while the controller writes the run's reports."""
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """The xdist controller: its workers run the checks; records and reports reach it from them."""
    return config.pluginmanager.has_plugin("dsession")
