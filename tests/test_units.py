"""Quantities and durations: exact values, and strict rejection of what Kubernetes would reject."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from conformance.duration import format_duration, parse_duration
from conformance.quantity import format_bytes, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("788Gi", Decimal(788 * 2**30)),
        ("43800m", Decimal("43.8")),
        ("88", Decimal(88)),
        ("137682431n", Decimal("0.137682431")),
        ("1445400Ki", Decimal(1445400 * 1024)),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("2k", Decimal(2000)),
        ("3M", Decimal(3_000_000)),
        ("1Ei", Decimal(2**60)),
        ("250u", Decimal("0.00025")),
        ("+5", Decimal(5)),
        ("-1", Decimal(-1)),
    ],
)
def test_quantities(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["1K", "1mi", "Inf", "NaN", " 1", "1 ", "", "Gi", "1.2.3", "1Gb", "0x10", "1e"])
def test_what_kubernetes_rejects_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("30s", 30), ("1h30m", 5400), ("500ms", 0.5), ("1.5h", 5400), ("2h0m5s", 7205)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["5", "5 m", "five minutes", "5min", "-5m", "", "m5", "5M"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(minutes=5), "5m"), (timedelta(seconds=5400), "1h30m"), (timedelta(0), "0s")],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


def test_format_bytes() -> None:
    assert format_bytes(Decimal(788 * 2**30)) == "788.0Gi"
    assert format_bytes(Decimal(512)) == "512"
