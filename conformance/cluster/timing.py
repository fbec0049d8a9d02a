"""Timestamps and conditions of objects, and how long a state has lasted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from conformance.cluster.snapshot import parse_timestamp
from conformance.errors import MalformedObject


def timestamp(obj: dict[str, Any], text: Any, field: str, owner: str) -> datetime:
    if not isinstance(text, str):
        raise MalformedObject(f"{owner}: {field} is missing")
    try:
        return parse_timestamp(text)
    except ValueError:
        raise MalformedObject(f"{owner}: {field} {text!r} is not an RFC 3339 time") from None


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for entry in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(entry, dict) and entry.get("type") == kind:
            return entry
    return None


def human_age(delta: timedelta) -> str:
    """kubectl's AGE style: 45s, 12m, 3h, 2d."""
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
