"""Remediation hints as small templates, filled per culprit with the object it names.

A check declares its hint once (`remediation="kubectl rollout status {kind}/{name} -n {namespace}"`); each culprit
fills it with what is known of its object, so on-call reads `kubectl rollout status deployment/kong -n kong`
next to the culprit instead of a placeholder. The syntax:

- `{field}`: a value of the culprit: `kind`, `name`, `namespace`, `container`, or one of its details by key. An
  unknown value keeps the generic spelling (`KIND`, `NAME`, `NS`, `CONTAINER`, else the key in capitals), so the
  hint still reads as a command to adapt.
- `[...]`: an optional part, kept only when every field in it is known (`kubectl logs {name}[ -c {container}]`).

Values come from the cluster: one a shell would read as more than a word is quoted, so a pasted hint runs only
the command it shows.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

GENERIC = {"kind": "KIND", "name": "NAME", "namespace": "NS", "container": "CONTAINER"}
_TOKEN = re.compile(r"\{([^{}\[\]]*)\}|\[|\]|[{}]")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAIN = re.compile(r"[A-Za-z0-9_./:@%+=,-]+\Z")


def validate(template: str) -> None:
    """Raise ValueError for braces or brackets that do not pair, or a field that is not a name."""
    depth = 0
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token == "[":
            depth += 1
            if depth > 1:
                raise ValueError(f"remediation template {template!r}: optional parts do not nest")
        elif token == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"remediation template {template!r}: ']' without '['")
        elif match.group(1) is None or not _FIELD.match(match.group(1)):
            raise ValueError(f"remediation template {template!r}: {token!r} is not a {{field}}")
    if depth:
        raise ValueError(f"remediation template {template!r}: '[' without ']'")


def _value(text: str) -> str:
    return text if _PLAIN.match(text) else shlex.quote(text)


def fill(template: str, values: Mapping[str, str]) -> str:
    """The template with `values` filled in: optional parts dropped unless complete, unknown fields generic."""
    out: list[str] = []
    optional: list[str] | None = None
    complete = True
    for part in re.split(r"(\{[^{}]*\}|\[|\])", template):
        if part == "[":
            optional, complete = [], True
        elif part == "]":
            if optional is not None and complete:
                out.extend(optional)
            optional = None
        else:
            if part.startswith("{") and part.endswith("}"):
                key = part[1:-1]
                known = values.get(key)
                complete = complete and bool(known)
                part = _value(known) if known else GENERIC.get(key, key.upper())
            (out if optional is None else optional).append(part)
    return "".join(out)


def generic(template: str) -> str:
    """The hint for a culprit nothing is known of: placeholders in capitals, optional parts left out."""
    return fill(template, {})
