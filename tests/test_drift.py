"""Drift between runs: --compare and --compare-latest list new, resolved and unchanged failures; --gate=new."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_scenarios import crash_loop, label_removed, set_waiting

from conformance.drift import Baseline, CheckState, compare, load_baseline
from conformance.errors import BadInput
from conformance.gate import BAD_INPUT

from conftest import Snapshot, run_suite

HOSTILE = "<img src=x onerror=alert(1)>"
CRASHED = "kong-884b8f4bd-sr4v7"
OTHER = "kong-884b8f4bd-8w7tx"
CRASH_LOOP_IDS = {
    f"test_no_failing_pods[kong] :: kong/{CRASHED}",
    "test_workload_ready[kong/Deployment/kong] :: Deployment kong/kong",
    f"test_workload_ready[kong/Deployment/kong] :: {CRASHED}",
}
LABEL_ID = "test_namespace_labels[kong] :: kong label istio-injection"


def snapshot_of(demo: Snapshot, pytester: pytest.Pytester, name: str, *mutations: Any) -> Path:
    copy = Snapshot(demo.files)
    for mutate in mutations:
        mutate(copy)
    return copy.write(pytester.path / name)


def drift_of(run_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((run_dir / "drift.json").read_text())
    return document


def ids(drift: dict[str, Any], kind: str) -> set[str]:
    return {change["id"] for change in drift[kind]}


def no_traceback(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    assert "INTERNALERROR" not in text


def test_compare_latest_lists_resolved_and_new_failures(demo: Snapshot, pytester: pytest.Pytester) -> None:
    # Nightly 1: kong crash-loops; nothing to compare with yet, so a normal run.
    first = run_suite(pytester, f"--snapshot={snapshot_of(demo, pytester, 'crash', crash_loop)}", "--compare-latest")
    assert first.result.ret == 1
    assert "drift against" not in first.result.stdout.str()
    assert not (first.run_dir / "drift.json").exists()
    assert (first.run_dir / "results.json").exists()

    # Nightly 2: kong fixed, but the kong namespace lost its istio-injection label.
    label = snapshot_of(demo, pytester, "label", label_removed)
    second = run_suite(pytester, f"--snapshot={label}", "--compare-latest")
    assert second.run_dir != first.run_dir
    assert second.result.ret == 1
    drift = drift_of(second.run_dir)
    assert drift["baseline"]["run"] == first.run_dir.name  # `latest` read before this run repointed it
    assert drift["baseline"]["option"] == "--compare-latest"
    assert drift["current"]["run"] == second.run_dir.name
    assert drift["counts"] == {"new": 1, "resolved": 3, "unchanged": 0, "not_compared": 0}
    assert ids(drift, "new") == {LABEL_ID}
    assert ids(drift, "resolved") == CRASH_LOOP_IDS
    assert drift["new_failing_checks"] == ["test_namespace_labels[kong]"]
    (new,) = drift["new"]
    assert new == {
        "id": LABEL_ID,
        "check": "test_namespace_labels[kong]",
        "culprit": "kong label istio-injection",
        "before": "passed",
        "now": "failed",
        "observed": "is not set, expected 'enabled'",
    }
    assert all(c["before"] == "failed" and c["now"] == "passed" for c in drift["resolved"])
    assert drift["notes"] == []
    second.result.stdout.fnmatch_lines(
        [
            f"drift against {first.run_dir.name}: 1 new, 3 resolved, 0 unchanged (in 1, 2 and 0 checks)",
            f"  new: {LABEL_ID} (passed → failed): is not set, expected 'enabled'",
        ]
    )
    # The manifest is written after drift.json, so it pins it.
    manifest = json.loads((second.run_dir / "manifest.json").read_text())
    assert "drift.json" in json.dumps(manifest)

    html = (second.run_dir / "report.html").read_text()
    drift_html = html[html.index('<section id="cf-drift"') :]
    drift_html = drift_html[: drift_html.index("</section>")]
    assert f"<h2>Drift against {first.run_dir.name}</h2>" in drift_html
    assert "<h3>New failures (1)</h3>" in drift_html
    assert "<h3>Resolved (3)</h3>" in drift_html
    assert "<h3>Unchanged failures (0)</h3>" in drift_html
    assert '<td>kong label istio-injection</td><td class="cf-nowrap">passed → failed</td>' in drift_html
    # With the summary, after the failures, and linked from the banner.
    summary = html[html.index("<!-- conformance summary -->") : html.index("<!-- /conformance summary -->")]
    assert summary.index('id="cf-failures"') < summary.index('<section id="cf-drift"') < summary.index('id="cf-waived"')
    assert '<a href="#cf-drift">1 new, 3 resolved, 0 unchanged</a>' in summary[: summary.index("</section>")]


def test_gate_new_passes_when_every_failure_is_unchanged(demo: Snapshot, pytester: pytest.Pytester) -> None:
    crash = snapshot_of(demo, pytester, "crash", crash_loop)
    first = run_suite(pytester, f"--snapshot={crash}")
    assert first.result.ret == 1

    latest = pytester.path / "reports" / "latest"
    again = run_suite(pytester, f"--snapshot={crash}", f"--compare={latest}", "--gate=new")
    assert again.result.ret == 0
    # Not new is not passed: the failures are still reported as failures.
    assert {k: v.outcome for k, v in again.not_passed().items()} == {
        "test_no_failing_pods[kong]": "failed",
        "test_workload_ready[kong/Deployment/kong]": "failed",
    }
    drift = drift_of(again.run_dir)
    assert drift["baseline"]["run"] == first.run_dir.name
    assert drift["counts"] == {"new": 0, "resolved": 0, "unchanged": 3, "not_compared": 0}
    assert ids(drift, "unchanged") == CRASH_LOOP_IDS
    assert all(c["before"] == c["now"] == "failed" for c in drift["unchanged"])
    again.result.stdout.fnmatch_lines([f"drift against {first.run_dir.name}: 0 new, 0 resolved, 3 unchanged*"])

    # Checks left out of this run are neither resolved nor new: they were not compared.
    subset = run_suite(
        pytester, f"--snapshot={crash}", f"--compare={first.run_dir}", "--gate=new", "-k", "not test_no_failing_pods"
    )
    assert subset.result.ret == 0
    drift = drift_of(subset.run_dir)
    assert drift["counts"] == {"new": 0, "resolved": 0, "unchanged": 2, "not_compared": 1}
    assert ids(drift, "not_compared") == {f"test_no_failing_pods[kong] :: kong/{CRASHED}"}
    assert drift["not_compared"][0]["now"] is None
    subset.result.stdout.fnmatch_lines(["drift against *: 0 new, 0 resolved, 2 unchanged *; 1 not compared *"])


def crash_other(s: Snapshot) -> None:
    set_waiting(s.get("pods", "kong", OTHER), "proxy", "CrashLoopBackOff", restarts=3)


def test_gate_new_fails_on_a_new_culprit_of_a_check_that_already_failed(
    demo: Snapshot, pytester: pytest.Pytester
) -> None:
    first = run_suite(pytester, f"--snapshot={snapshot_of(demo, pytester, 'crash', crash_loop)}")
    worse = snapshot_of(demo, pytester, "worse", crash_loop, crash_other)
    run = run_suite(pytester, f"--snapshot={worse}", f"--compare={first.run_dir}", "--gate=new")
    assert run.result.ret == 1
    drift = drift_of(run.run_dir)
    assert f"test_no_failing_pods[kong] :: kong/{OTHER}" in ids(drift, "new")
    assert f"test_no_failing_pods[kong] :: kong/{CRASHED}" in ids(drift, "unchanged")
    assert "test_no_failing_pods[kong]" in drift["new_failing_checks"]
    new = next(c for c in drift["new"] if c["culprit"] == f"kong/{OTHER}")
    assert (new["before"], new["now"]) == ("passed", "failed")
    line = f"\n  new: test_no_failing_pods[kong] :: kong/{OTHER} (passed → failed): CrashLoopBackOff"
    assert line in run.result.stdout.str()


def test_drift_section_escapes_names_and_lists_checks_not_compared(demo: Snapshot, pytester: pytest.Pytester) -> None:
    # A baseline is a file on disk: its names are data, whatever they contain.
    baseline = pytester.path / "baseline-run"
    baseline.mkdir()
    hostile_check = f"test_gone[{HOSTILE}]"
    (baseline / "results.json").write_text(
        json.dumps(
            {
                "profile": "prod",
                "profile_sha256": "0" * 64,
                "exit_code": 1,
                "checks": [
                    {
                        "name": "test_no_failing_pods[kong]",
                        "verdict": "failed",
                        "culprits": [{"name": f"kong/{HOSTILE}", "observed": "<b>CrashLoopBackOff</b>"}],
                    },
                    {"name": hostile_check, "verdict": "error", "culprits": []},
                ],
            }
        )
    )
    run = run_suite(pytester, f"--snapshot={snapshot_of(demo, pytester, 'demo')}", f"--compare={baseline}")
    assert run.result.ret == 0  # the demo passes
    drift = drift_of(run.run_dir)
    assert ids(drift, "resolved") == {f"test_no_failing_pods[kong] :: kong/{HOSTILE}"}
    assert ids(drift, "not_compared") == {hostile_check}
    assert drift["notes"] == ["the profile changed since the baseline (different sha256): expectations may differ"]

    html = (run.run_dir / "report.html").read_text()
    start = html.index('<section id="cf-drift"')
    section = html[start : html.index("</section>", start)]
    assert HOSTILE not in html
    assert "<b>CrashLoopBackOff" not in html
    assert "<h2>Drift against baseline-run</h2>" in section
    assert "<td>kong/&lt;img src=x onerror=alert(1)&gt;</td>" in section
    assert "&lt;b&gt;CrashLoopBackOff&lt;/b&gt;" in section
    assert "<code>test_gone[&lt;img src=x onerror=alert(1)&gt;]</code> (error → not run)" in section
    assert "the profile changed since the baseline" in section


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("none", ["--compare=nope"], "ERROR: --compare: no such run directory: */nope"),
        ("empty", ["--compare=old"], "ERROR: --compare: */old has no results.json (not a run directory*"),
        ("not-json", ["--compare=old"], "ERROR: --compare: */old/results.json is malformed: not JSON*"),
        (
            "bad-shape",
            ["--compare=old"],
            "ERROR: --compare: */old/results.json is malformed: checks.0.name: Input should be a valid string; "
            "checks.0.verdict: Input should be 'passed', 'failed', 'error', 'waived' or 'skipped'",
        ),
        ("empty", ["--compare=old", "--compare-latest"], "ERROR: --compare and --compare-latest choose*"),
        (
            "latest-not-json",
            ["--compare-latest"],
            "ERROR: --compare-latest: */reports/latest/results.json is malformed: not JSON*",
        ),
    ],
)
def test_a_bad_baseline_is_bad_input(setup: str, args: list[str], message: str, pytester: pytest.Pytester) -> None:
    old = pytester.path / "old"
    if setup != "none":
        old.mkdir()
    if setup == "not-json":
        (old / "results.json").write_text('{"checks": [')
    if setup == "bad-shape":
        (old / "results.json").write_text(json.dumps({"checks": [{"name": 7, "verdict": "fine"}]}))
    if setup == "latest-not-json":
        reports = pytester.path / "reports"
        (reports / "20250101T000000Z-prod").mkdir(parents=True)
        (reports / "20250101T000000Z-prod" / "results.json").write_text("garbage")
        (reports / "latest").symlink_to("20250101T000000Z-prod")
    run = run_suite(pytester, f"--snapshot={Path(__file__).parent.parent / 'snapshots' / '254carbon'}", *args)
    assert run.result.ret == BAD_INPUT
    run.result.stderr.fnmatch_lines([message])
    no_traceback(run.result)
    if setup != "latest-not-json":
        # --compare is read before the run starts: no run directory is left behind.
        assert not (pytester.path / "reports").exists()


# -- the comparison itself, on states as runs record them ----------------------------------------------------


def test_compare_classifies_every_transition(tmp_path: Path) -> None:
    before = {
        "a[fixed]": CheckState("failed", {"x": "down"}),
        "b[waived-now]": CheckState("failed", {"x": "down"}),
        "c[error-both]": CheckState("error", {}),
        "d[error-to-failed]": CheckState("error", {}),
        "e[failed-to-error]": CheckState("failed", {"x": "down"}),
        "f[skipped-now]": CheckState("failed", {"x": "down"}),
        "g[passed-before]": CheckState("passed", {}),
        "h[culprits]": CheckState("failed", {"x": "down", "y": "down"}, frozenset({"w"})),
        "i[waived-before]": CheckState("waived", {}, frozenset({"x"})),
    }
    now = {
        "a[fixed]": CheckState("passed", {}),
        "b[waived-now]": CheckState("waived", {}, frozenset({"x"})),
        "c[error-both]": CheckState("error", {}),
        "d[error-to-failed]": CheckState("failed", {"x": "down"}),
        "e[failed-to-error]": CheckState("error", {}),
        "f[skipped-now]": CheckState("skipped", {}),
        "g[passed-before]": CheckState("error", {}, detail="could not evaluate: no pods.json"),
        "h[culprits]": CheckState("failed", {"y": "still down", "w": "no longer waived"}),
        "i[waived-before]": CheckState("failed", {"x": "down"}),
        "j[absent-before]": CheckState("failed", {"z": "down"}),
    }
    drift = compare(Baseline(tmp_path, "--compare", "prod", None, before), now)

    def table(changes: tuple[Any, ...]) -> set[tuple[str, str | None, str | None]]:
        return {(c.id, c.before, c.now) for c in changes}

    assert table(drift.new) == {
        ("g[passed-before]", "passed", "error"),
        ("h[culprits] :: w", "waived", "failed"),
        ("i[waived-before] :: x", "waived", "failed"),
        ("j[absent-before] :: z", None, "failed"),
    }
    assert table(drift.resolved) == {
        ("a[fixed] :: x", "failed", "passed"),
        ("b[waived-now] :: x", "failed", "waived"),
        ("h[culprits] :: x", "failed", "passed"),
    }
    assert table(drift.unchanged) == {
        ("c[error-both]", "error", "error"),
        ("d[error-to-failed]", "error", "failed"),
        ("e[failed-to-error]", "failed", "error"),
        ("h[culprits] :: y", "failed", "failed"),
    }
    assert table(drift.not_compared) == {("f[skipped-now] :: x", "failed", "skipped")}
    assert drift.new_failures == {"g[passed-before]", "h[culprits]", "i[waived-before]", "j[absent-before]"}
    unchanged = next(c for c in drift.unchanged if c.culprit == "y")
    assert unchanged.observed == "still down"
    assert next(c for c in drift.new if c.check == "g[passed-before]").observed == "could not evaluate: no pods.json"
    assert next(c for c in drift.unchanged if c.check == "d[error-to-failed]").observed == "x down"


def test_load_baseline_follows_the_latest_link(tmp_path: Path) -> None:
    run = tmp_path / "20250101T000000Z-prod"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"profile": "prod", "checks": [{"name": "t[x]", "verdict": "error"}]}))
    (tmp_path / "latest").symlink_to(run.name)
    baseline = load_baseline(tmp_path / "latest", "--compare")
    assert baseline.name == run.name
    assert baseline.checks == {"t[x]": CheckState("error", {})}
    (run / "results.json").write_text("{}")
    with pytest.raises(BadInput, match=r"--compare: .*/results.json is malformed: checks: Field required"):
        load_baseline(run, "--compare")


def test_the_banner_links_the_drift_and_jump_to_lists_it(tmp_path: Path) -> None:
    from conformance import gate
    from conformance.drift import Change, Drift
    from conformance.profile.loader import load_profile
    from conformance.records import CheckRecord
    from conformance.report import sections
    from conformance.report.summary import render
    from conformance.run.settings import RunSettings

    from conftest import ROOT

    loaded = load_profile("prod", ROOT / "profiles")
    settings = RunSettings(loaded, tmp_path / "snap", None, tmp_path / "20251022T033000Z-prod", tmp_path)
    records = [CheckRecord("x::test_a[x]", "test_a[x]", "pods", "a requirement", "normal", verdict="failed")]
    baseline = Baseline(tmp_path / "20251021T033000Z-prod", "--compare-latest", "prod", None, {})
    found = Drift(baseline, (Change("test_a[x]", None, "passed", "failed"),), (), (), ())
    verdict = gate.verdict(records, "new", found.new_failures)
    html = render(
        sections.RunView(records, settings, None, verdict=verdict, drift=found, new_failures=found.new_failures)
    )
    banner = html[html.index('id="cf-verdict"') : html.index("</section>")]
    assert "Drift against 20251021T033000Z-prod" in banner
    assert '<a href="#cf-drift">1 new, 0 resolved, 0 unchanged</a>' in banner
    nav = banner[banner.index('class="cf-nav"') :]
    assert '<a href="#cf-failures">failures by area</a> · <a href="#cf-drift">drift</a>' in nav
    assert html.index('id="cf-failures"') < html.index('<section id="cf-drift"') < html.index('id="cf-waived"')
    # Without a comparison there is no drift to link.
    plain = render(sections.RunView(records, settings, None, verdict=gate.verdict(records, "minor", None)))
    assert "cf-drift" not in plain
