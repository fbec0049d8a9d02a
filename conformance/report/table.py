"""pytest-html's results table in the suite's words: every check's row says its verdict as the summary does
(`waived PLAT-2201`, `could not evaluate`), never pytest's (`XFailed`, `Expected failures`).

pytest-html's script files, filters and sorts rows by the text of the cell of class `col-result` (hydrated
into the row's `result`), which must stay pytest's outcome. Each row therefore shows the verdict in that
cell and ends with an inert `<template>` cell carrying pytest's outcome: pytest-html hydrates sortable cells
in order, so the last `col-result` is the one its script reads, and a template's content is never shown.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from conformance.records import CheckRecord
from conformance.report.sections import VERDICT_TEXT
from conformance.report.templating import render

# pytest-html's filter labels, by its outcome keys, for the outcomes a conformance run has.
OUTCOME_LABELS = {
    "failed": "failed",
    "passed": "passed",
    "skipped": "skipped",
    "xfailed": "waived",
    "xpassed": "passed despite a waiver",
    "error": "could not evaluate",
}
_CELL = re.compile(r'<td class="col-result">(.*?)</td>', re.S)


def header(cells: list[str]) -> None:
    """The table's columns: the verdict and the check, and the hidden column pytest-html's script sorts by."""
    for index, cell in enumerate(cells):
        if 'data-column-type="result"' in cell:
            cells[index] = cell.replace(">Result<", ">Verdict<")
        elif 'data-column-type="testId"' in cell:
            cells[index] = cell.replace(">Test<", ">Check<")
    cells.append(str(render("table_outcome_header.html.j2")))


def verdict_of(record: CheckRecord, report: Any) -> str | None:
    """The verdict a report's row shows: the check's for its call (or the setup that could not evaluate it)."""
    if report.when == "call" or (report.when == "setup" and report.failed):
        return record.verdict
    return None


def row(cells: list[str], record: CheckRecord | None, report: Any) -> None:
    """A row's cells: the verdict (with the waiver's ticket) for a check, and pytest's outcome, hidden."""
    index = next((i for i, cell in enumerate(cells) if cell.startswith('<td class="col-result">')), None)
    if index is None:
        return
    match = _CELL.match(cells[index])
    outcome = match.group(1) if match else ""
    verdict = verdict_of(record, report) if record is not None else None
    if verdict is not None:
        waiver = record.waiver if record is not None and verdict == "waived" else None
        ticket = waiver.ticket if waiver is not None else ""
        text = VERDICT_TEXT.get(verdict, verdict)
        cells[index] = str(render("table_verdict_cell.html.j2", verdict=verdict, text=text, ticket=ticket))
    cells.append(str(render("table_outcome_cell.html.j2", outcome=outcome)))


def relabel(outcomes: MutableMapping[str, Any]) -> None:
    """pytest-html's filters (`3 Expected failures`) named as the banner names the verdicts (`3 waived`)."""
    for key, label in OUTCOME_LABELS.items():
        entry = outcomes.get(key)
        if isinstance(entry, dict) and "label" in entry:
            entry["label"] = label
