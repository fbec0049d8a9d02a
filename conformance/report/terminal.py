"""What the terminal says of a run: collection retries, settling and holding, drift, checks the profile does not
configure, and the last line, the one a CI log reader sees first. Renderings of the run's RunResult."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import secrets
from conformance.drift import DRIFT, terminal_lines
from conformance.run.budget import summary_lines
from conformance.run.result import RunResult, counts_text

MAX_NAMED = 8


class TerminalSummary:
    def __init__(self) -> None:
        self.result: RunResult | None = None

    def pytest_conformance_result(self, result: RunResult, config: pytest.Config) -> None:
        self.result = result

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        result = self.result
        if result is None:
            return
        write = terminalreporter.write_line
        for member, report in result.collections:
            for line in summary_lines(report):
                write(f"{member}: {line}" if member else line)
        # Settling and holding are the post-deploy gate's own story: said even under -q.
        for note in result.stability:
            write(f"conformance: {note.summary}", red=not note.ok, green=note.ok)
        if result.not_configured:
            names = sorted(set(result.not_configured))
            shown = ", ".join(names[:MAX_NAMED]) + (
                f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
            )
            noun = "check" if len(names) == 1 else "checks"
            write(f"conformance: {len(names)} {noun} not configured by this profile: {shown}")
        if result.drift is not None:
            terminalreporter.write_sep("-", "drift")
            for index, line in enumerate(terminal_lines(result.drift, result.name)):
                write(secrets.redact_text(line), red=index > 0 and line.startswith("  new:"))
            write(f"  details: {result.run_dir / DRIFT}")

    def pytest_conformance_finished(self, result: RunResult, config: pytest.Config) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        if result.several:
            for member in result.members:
                reporter.write_line(f"  {member.name}: {counts_text(member.counts)}")
        reporter.write_line(result.last_line())
