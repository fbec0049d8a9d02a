"""The gate verdict: which outcomes fail a run, and the exit code that says so. Computed once per run.

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
DEFAULT_GATE: Gate = "minor"
WORDS = {PASSED: "PASSED", FAILED: "FAILED", NOT_EVALUATED: "NOT EVALUATED"}


def gating(record: CheckRecord, gate: Gate, new_failures: frozenset[str] | None = None) -> bool:
    """Whether this record's outcome decides the gate: severity at or above the gate, or new since a baseline."""
    if gate == "new":
        return new_failures is not None and record.name in new_failures
    rank: dict[str, int] = {severity: index for index, severity in enumerate(SEVERITIES)}
    return rank.get(record.severity, len(SEVERITIES)) <= rank[gate]


@dataclass(frozen=True)
class Verdict:
    """The run's one verdict: the gate applied, what it counted, and the exit code every output shows."""

    code: int
    gate: Gate
    failed: int  # gating failures
    not_evaluated: int  # gating checks that could not evaluate
    below_gate: int  # failures and errors reported but not gating
    judged: int = 0  # checks with a verdict (passed, failed, error, waived)
    reason: str = ""  # why the code is not the checks' own (pytest's: interrupted, nothing collected, ...)

    @property
    def word(self) -> str:
        """PASSED, FAILED or NOT EVALUATED, as the exit code says. A run pytest ended on its own (interrupted,
        nothing collected, an internal error) did not pass, whatever its code: FAILED, with `reason` saying why."""
        if self.reason and self.code != PASSED:
            return "FAILED"
        return WORDS.get(self.code, "FAILED")

    @property
    def passed(self) -> bool:
        return self.code == PASSED

    @property
    def gate_text(self) -> str:
        """How reports name the gate that was applied."""
        if self.gate == "new":
            return "gate new (only failures absent from the baseline fail the run)"
        if self.gate == DEFAULT_GATE:
            return "gate minor (every failure fails the run)"
        return f"gate {self.gate} (failures of severity {self.gate} and above fail the run)"

    def as_dict(self) -> dict[str, object]:
        return {
            "verdict": self.word,
            "exit_code": self.code,
            "gate": self.gate,
            "gating_failed": self.failed,
            "gating_not_evaluated": self.not_evaluated,
            "below_gate": self.below_gate,
            "reason": self.reason or None,
        }


PYTEST_REASONS = {
    2: "pytest was interrupted (collection errors?)",
    3: "pytest had an internal error",
    4: "pytest usage error",
    5: "no checks were collected",
}


def verdict(
    records: Iterable[CheckRecord],
    gate: Gate,
    new_failures: frozenset[str] | None = None,
    pytest_status: int = 0,
) -> Verdict:
    """The verdict of a run's records under a gate; pytest's own status where pytest decided the run's end.

    A run whose checks all finished keeps their verdict; a failure outside the checks (a crashed fixture teardown)
    keeps pytest's code 1; an interrupted run, an internal error or a run that collected nothing keeps pytest's code.
    """
    failed = errors = below = judged = 0
    for record in records:
        if record.verdict in ("passed", "failed", "error", "waived"):
            judged += 1
        if record.verdict not in ("failed", "error"):
            continue
        if not gating(record, gate, new_failures):
            below += 1
        elif record.verdict == "failed":
            failed += 1
        else:
            errors += 1
    code = FAILED if failed else NOT_EVALUATED if errors else PASSED
    reason = ""
    if pytest_status not in (0, 1):
        code, reason = (
            pytest_status,
            PYTEST_REASONS.get(pytest_status, f"pytest ended with exit status {pytest_status}"),
        )
    elif pytest_status == 1 and not failed and not errors and not below:
        code, reason = FAILED, "a failure outside the checks (a fixture or plugin error); see the terminal log"
    elif not judged and pytest_status == 0:
        code, reason = 5, PYTEST_REASONS[5]
    return Verdict(code, gate, failed, errors, below, judged, reason)
