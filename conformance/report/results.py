"""The run's machine-readable files: results.json (every check's record and the verdict), drift.json, and the
verdict as junit.xml testsuite properties. Renderings of the run's one RunResult."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance import secrets
from conformance.drift import DRIFT, RESULTS
from conformance.run.result import RunResult


def results_document(result: RunResult) -> dict[str, Any]:
    verdict = result.verdict
    document: dict[str, Any] = {
        "profile": result.name,
        "profile_sha256": result.profile_sha256,
        "verdict": verdict.word,
        "gate": verdict.gate,
        "exit_code": verdict.code,
        "below_gate": verdict.below_gate,
    }
    if verdict.reason:
        document["reason"] = verdict.reason
    if result.several:
        document["clusters"] = [
            {"name": m.name, "profile": m.profile, "profile_sha256": m.profile_sha256, "source": m.source}
            for m in result.members
        ]
    document["checks"] = [record.as_dict() for record in result.records]
    return document


def _write_json(path: Any, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n"
    path.write_text(secrets.redact_text(body), encoding="utf-8")


class ResultFiles:
    """results.json and drift.json in the run directory, and the verdict in junit.xml."""

    def pytest_conformance_result(self, result: RunResult, config: pytest.Config) -> None:
        _write_json(result.run_dir / RESULTS, results_document(result))
        if result.drift is not None:
            try:
                _write_json(
                    result.run_dir / DRIFT,
                    result.drift.as_dict(result.run_dir.name, result.name, result.profile_sha256),
                )
            except OSError as exc:
                reporter = config.pluginmanager.get_plugin("terminalreporter")
                if reporter is not None:
                    reporter.write_line(f"conformance: could not write {DRIFT}: {exc}", red=True)
        # junitxml writes its file in its own sessionfinish, after this: its global properties go in the testsuite.
        for plugin in config.pluginmanager.get_plugins():
            add = getattr(plugin, "add_global_property", None)
            if callable(add) and hasattr(plugin, "global_properties"):
                add("conformance_verdict", result.verdict.word)
                add("conformance_gate", result.verdict.gate)
                add("conformance_exit_code", str(result.verdict.code))
