"""The gate verdict: which outcomes fail a run, and the exit code that says so.

    0  every gating check passed (waived failures count as passed)
    1  at least one gating check failed
    2  no gating failure, but at least one gating check could not evaluate
    3  bad profile, option, snapshot or kubeconfig (nothing was judged)

pytest's own codes are kept where pytest decides them: 2 interrupted, 3 internal error, 4 usage error
(unknown options), 5 nothing collected, so "nothing ran" is never 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from conformance.profile.model_base import SEVERITIES
from conformance.records import CheckRecord

PASSED, FAILED, NOT_EVALUATED, BAD_INPUT = 0, 1, 2, 3
Gate = Literal["blocker", "critical", "normal", "minor", "new"]
GATES: tuple[str, ...] = (*SEVERITIES, "new")


def gating(record: CheckRecord, gate: Gate, new_failures: frozenset[str] | None = None) -> bool:
    """Whether this record's outcome decides the gate: severity at or above the gate, or new since a baseline."""
    if gate == "new":
        return new_failures is not None and record.name in new_failures
    rank: dict[str, int] = {severity: index for index, severity in enumerate(SEVERITIES)}
    return rank.get(record.severity, len(SEVERITIES)) <= rank[gate]


@dataclass(frozen=True)
class Verdict:
    code: int
    failed: int
    not_evaluated: int
    below_gate: int  # failures and errors reported but not gating

    @property
    def word(self) -> str:
        return {PASSED: "PASSED", FAILED: "FAILED", NOT_EVALUATED: "NOT EVALUATED"}.get(self.code, "FAILED")


def verdict(records: Iterable[CheckRecord], gate: Gate, new_failures: frozenset[str] | None = None) -> Verdict:
    failed = errors = below = 0
    for record in records:
        if record.verdict not in ("failed", "error"):
            continue
        if not gating(record, gate, new_failures):
            below += 1
        elif record.verdict == "failed":
            failed += 1
        else:
            errors += 1
    code = FAILED if failed else NOT_EVALUATED if errors else PASSED
    return Verdict(code, failed, errors, below)
