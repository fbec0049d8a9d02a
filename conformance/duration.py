"""Durations typed by people (`5m`, `1h30m`, `500ms`), in Go's notation as Kubernetes tools use it."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)")
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|h|m|s))+$"


def parse_duration(text: str) -> timedelta:
    """Return the duration; ValueError names the text when it is not one."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration (examples: 30s, 5m, 1h30m, 500ms)")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))


def format_duration(value: timedelta) -> str:
    """The shortest exact rendering, as operators write it (`5m`, `1h30m`, `45s`)."""
    total = int(value.total_seconds())
    if total == 0 and value.total_seconds() > 0:
        return f"{round(value.total_seconds() * 1000)}ms"
    parts = []
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts)
