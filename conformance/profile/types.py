"""Strict scalar types for values people type into profiles: quantities, durations, ratios, names."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, StrictInt, WithJsonSchema

from conformance.duration import DURATION_PATTERN, format_duration, parse_duration
from conformance.quantity import QUANTITY_PATTERN, parse_quantity


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a duration string such as 30s, 5m or 1h30m")
    return parse_duration(value)


def _quantity(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    # Integers are exact; floats are not, so they must be written as strings ("0.5" or "500m").
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, str):
        raise ValueError("expected a quantity such as 88, 43800m or 788Gi (write fractions as strings)")
    return parse_quantity(value)


def _ratio(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a ratio between 0 and 1, such as 0.75")
    if not 0 <= value <= 1:
        raise ValueError(f"expected a ratio between 0 and 1, got {value}")
    return float(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "5m", "1h30m"]}),
]
Quantity = Annotated[
    Decimal,
    BeforeValidator(_quantity),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": f"^{QUANTITY_PATTERN}$"},
                {"type": "integer", "minimum": 0},
            ],
            "examples": ["88", "43800m", "788Gi"],
        }
    ),
]
Ratio = Annotated[
    float,
    BeforeValidator(_ratio),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
]

# RFC 1123 labels: what Kubernetes accepts for namespaces and most object names.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# `plural` or `plural.group`, the names kubectl and the snapshot files use.
RESOURCE = r"^[a-z0-9]+(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
Namespace = Annotated[str, Field(pattern=DNS_LABEL, max_length=63, strict=True)]
ObjectName = Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253, strict=True)]
ResourceName = Annotated[str, Field(pattern=RESOURCE, strict=True)]
Count = Annotated[StrictInt, Field(ge=0)]


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[str, Field(strict=True), AfterValidator(_non_blank)]
