"""What a live collection had to retry or give up on within its budget (`--budget`, else the profile's
`collection.budget`), and an API server it could not use at all, as rows of the report's environment table and
lines of the terminal summary."""

from __future__ import annotations

from conformance.cluster.live import CollectionReport
from conformance.transport import seconds_text, short_reasons, summarize


def environment_rows(report: CollectionReport, source: str) -> dict[str, str]:
    """Rows for the report's environment table: the budget and its use, retries per source, what ran out."""
    rows = {
        "Collection budget": f"{seconds_text(report.budget)} ({source}); collection took {report.elapsed:.1f}s",
    }
    if report.unreachable is not None:
        rows["API server"] = f"{report.unreachable}: nothing was read through it"
    if report.retries:
        rows["Collection retries"] = "; ".join(f"{name}: {summarize(why)}" for name, why in report.retries.items())
    gave_up = sorted({*report.out_of_budget, *report.unfinished})
    if gave_up:
        rows["Collection budget ran out for"] = ", ".join(gave_up)
    return rows


def summary_lines(report: CollectionReport) -> list[str]:
    """Terminal lines: `collection: pods needed 2 retries (429)`, and every source the budget cut short; first,
    once, an API server that could not be used at all."""
    lines = [f"collection: {report.unreachable}: nothing was read through it"] if report.unreachable else []
    for name, why in report.retries.items():
        noun = "retry" if len(why) == 1 else "retries"
        lines.append(f"collection: {name} needed {len(why)} {noun} ({short_reasons(why)})")
    for name in report.out_of_budget:
        if name not in report.unfinished:
            lines.append(f"collection: {name} gave up: the budget of {seconds_text(report.budget)} ran out")
    for name in report.unfinished:
        lines.append(f"collection: {name} did not finish within the budget of {seconds_text(report.budget)}")
    return lines
