"""Label selectors as workloads carry them (`matchLabels` and `matchExpressions`)."""

from __future__ import annotations

from typing import Any

from conformance.errors import MalformedObject


def selector_matches(selector: dict[str, Any], labels: dict[str, str], owner: str) -> bool:
    """Whether labels satisfy a LabelSelector; an empty selector matches nothing, as for workloads."""
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expression in expressions:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In":
            ok = labels.get(key) in values
        elif operator == "NotIn":
            ok = labels.get(key) not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise MalformedObject(f"{owner}: selector operator {operator!r} is not one Kubernetes defines")
        if not ok:
            return False
    return True
