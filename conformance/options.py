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
