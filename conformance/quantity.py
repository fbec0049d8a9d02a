"""Kubernetes resource quantities (`788Gi`, `43800m`), parsed exactly as the API server's grammar allows."""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
# apimachinery's grammar: <signedNumber><suffix>; no spaces, no `K`, no `mi`, no Inf/NaN.
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)

QUANTITY_PATTERN = _QUANTITY.pattern


# A cluster repeats a few quantities thousands of times (every replica's `100m`, `128Mi`); Decimals are immutable.
@functools.lru_cache(maxsize=4096)
def parse_quantity(text: str) -> Decimal:
    """Return the value of a quantity string; ValueError names the text when it is not one."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (examples: 500m, 2, 788Gi, 1.5e3)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


def format_cores(value: Decimal) -> str:
    """Cores for people: `40.2` rather than `40200000000n`."""
    return f"{value:.1f}"


def format_bytes(value: Decimal) -> str:
    """Bytes for people, in binary units as kubectl shows memory."""
    for unit, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if abs(value) >= factor:
            return f"{value / factor:.1f}{unit}"
    return f"{value:.0f}"
