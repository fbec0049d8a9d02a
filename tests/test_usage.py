"""How the suite answers bad input and what a run leaves behind: usage errors, selection, the report."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest

from conformance.gate import BAD_INPUT

from conftest import DEMO, ROOT, Snapshot, run_suite


def no_traceback(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    assert "INTERNALERROR" not in text


def test_checks_without_a_profile_ask_for_one(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml"), str(ROOT / "conformance")
    )
    assert result.ret == BAD_INPUT
    result.stderr.fnmatch_lines(
        ["ERROR: conformance checks need --profile=NAME or --profile=PATH (available: prod, staging)*"]
    )
    no_traceback(result)


def test_unknown_profile_lists_the_available_ones(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}", profile="prdo")
    assert run.result.ret == BAD_INPUT
    run.result.stderr.fnmatch_lines(
        ["ERROR: profile prdo: 1 problem", "  unknown profile; available in *: prod, staging"]
    )
    no_traceback(run.result)


def test_bad_profile_stops_the_run_before_any_check(pytester: pytest.Pytester) -> None:
    bad = ROOT / "tests" / "profiles" / "bad-wrong-type.yaml"
    run = run_suite(pytester, f"--snapshot={DEMO}", profile=str(bad))
    assert run.result.ret == BAD_INPUT
    assert f"ERROR: profile {bad}: 1 problem\n  {bad}:7: workloads.required[0].replicas: expected an integer" in (
        run.result.stderr.str()
    )
    assert "passed" not in run.result.stdout.str()
    no_traceback(run.result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--snapshot=/nonexistent/dir"], "ERROR: --snapshot: no such directory: /nonexistent/dir"),
        ([f"--snapshot={DEMO}", "--kube-context=prod"], "ERROR: --snapshot reads captured state*"),
        ([f"--snapshot={ROOT / 'profiles'}"], "ERROR: --snapshot: * has no kubernetes/ directory*"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str, pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, *args)
    assert run.result.ret == BAD_INPUT
    run.result.stderr.fnmatch_lines([message])
    no_traceback(run.result)


def test_selection_collects_only_what_the_selected_checks_read(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}", "-k", "test_nodes")
    assert run.result.ret == 0
    files = sorted(p.name for p in (run.run_dir / "evidence" / "kubernetes").iterdir())
    assert files == ["nodes.json"]
    assert set(run.outcomes) == {
        "test_nodes[count]",
        "test_nodes[ready]",
        "test_nodes[no-pressure]",
        "test_nodes[capacity]",
    }


def test_run_directory_layout_and_latest_link(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}")
    assert re.fullmatch(r"\d{8}T\d{6}Z-prod", run.run_dir.name)
    for name in ("report.html", "junit.xml", "allure-results", "evidence/meta.json", "evidence/kubernetes/pods.json"):
        assert (run.run_dir / name).exists(), name
    latest = run.run_dir.parent / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == run.run_dir.resolve()
    meta = json.loads((run.run_dir / "evidence" / "meta.json").read_text())
    assert meta["collected_at"] == "2025-10-22T03:30:00Z"
    assert list((run.run_dir / "allure-results").glob("*-result.json"))


def test_report_escapes_cluster_text_and_shows_the_environment(demo: Snapshot, pytester: pytest.Pytester) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    pod = demo.get("pods", "kong", "kong-884b8f4bd-sr4v7")
    for status in pod["status"]["containerStatuses"]:
        status.update(ready=False, state={"waiting": {"reason": hostile, "message": hostile}})
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}")
    assert run.result.ret == 1
    html = (run.run_dir / "report.html").read_text()
    assert hostile not in html
    # The results live in an HTML-escaped JSON attribute; the culprit HTML inside it is escaped once more.
    assert "&amp;lt;img src=x onerror=alert(1)&amp;gt;" in html
    for text in ("Profile sha256", "Suite version", "Collected at", "2025-10-22T03:30:00Z", "Server version"):
        assert text in html, text
    assert "culprits" in html
    assert "evidence/kubernetes/pods.json" in html


def test_snapshot_without_meta_says_now_is_evaluation_time(pytester: pytest.Pytester, demo: Snapshot) -> None:
    del demo.files["meta.json"]
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}", "-k", "test_nodes")
    assert run.result.ret == 0
    assert "evaluation time: snapshot has no meta.json collected_at" in (run.run_dir / "report.html").read_text()
    meta = json.loads((run.run_dir / "evidence" / "meta.json").read_text())
    assert meta.get("collected_at_unknown") is True


def test_suite_tests_need_no_profile(pytestconfig: pytest.Config) -> None:
    # This very test runs under `pytest tests` without --profile; the plugin stays out of the way. getoption
    # raises if the plugin did not register --profile, so the test proves the plugin was loaded and let it run.
    assert not pytestconfig.getoption("profile")


def test_exit_codes_say_what_happened(demo: Snapshot, pytester: pytest.Pytester) -> None:
    """0 all passed, 1 a check failed, 2 only could-not-evaluate, 3 bad input, 4 pytest usage, 5 nothing ran."""
    assert run_suite(pytester, f"--snapshot={DEMO}").result.ret == 0
    assert run_suite(pytester, f"--snapshot={DEMO}", "-k", "nothing_matches_this").result.ret == 5
    assert run_suite(pytester, f"--snapshot={DEMO}", "--no-such-option").result.ret == 4
    assert run_suite(pytester, f"--snapshot={DEMO}", "--gate=everything").result.ret == BAD_INPUT
    demo.drop("jobs.batch")
    only_errors = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'no-jobs')}", "-k", "test_job")
    assert only_errors.result.ret == 2
    only_errors.result.stdout.fnmatch_lines(["conformance prod: NOT EVALUATED — 0 passed, 0 failed, 1 could not*"])


def test_gate_chooses_which_severities_fail(demo: Snapshot, pytester: pytest.Pytester) -> None:
    # A normal-severity failure (a namespace label) and nothing else.
    del demo.get("namespaces", "", "kong")["metadata"]["labels"]["istio-injection"]
    snapshot = f"--snapshot={demo.write(pytester.path / 'label')}"
    everything = run_suite(pytester, snapshot)
    assert everything.result.ret == 1
    critical = run_suite(pytester, snapshot, "--gate=critical")
    assert critical.result.ret == 0
    critical.result.stdout.fnmatch_lines(["conformance prod: PASSED — * 1 failed, * 1 below the gate — report *"])
    # The failure is still reported, only the gate ignores it.
    assert critical.outcomes["test_namespace_labels[kong]"].outcome == "failed"
    assert critical.result.stdout.lines[-1].startswith("conformance prod: PASSED")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget=soon"], "ERROR: --budget: 'soon' is not a duration*"),
        (["--settle=5m"], "ERROR: --settle waits on a live cluster; a snapshot (--snapshot) never changes"),
    ],
    ids=["budget", "settle"],
)
def test_bad_input_leaves_nothing_behind(args: list[str], message: str, pytester: pytest.Pytester) -> None:
    """Every option is judged before the run directory is made: one message, exit 3, no report, no directory."""
    run = run_suite(pytester, f"--snapshot={DEMO}", *args)
    assert run.result.ret == BAD_INPUT
    errors = [line for line in run.result.stderr.lines if line.startswith("ERROR")]
    assert len(errors) == 1, errors
    assert fnmatch.fnmatch(errors[0], message), errors
    reports = pytester.path / "reports"
    assert not reports.exists() or not any(reports.iterdir())
    output = run.result.stdout.lines + run.result.stderr.lines
    assert not [line for line in output if "report" in line], output
    no_traceback(run.result)


def test_collect_only_judges_nothing_and_writes_nothing(pytester: pytest.Pytester) -> None:
    """--collect-only lists the checks a run would judge; it is no run: no directory, no latest, no verdict."""
    reports = pytester.path / "reports"
    before = run_suite(pytester, f"--snapshot={DEMO}", "-k", "test_nodes")
    assert before.result.ret == 0
    first = (reports / "latest").resolve()

    listed = run_suite(pytester, f"--snapshot={DEMO}", "--collect-only", "-q")
    assert listed.result.ret == 0
    assert "conformance/nodes/test_nodes.py::test_nodes[count]" in listed.result.stdout.lines
    listed.result.stdout.fnmatch_lines(["117 tests collected*"])
    assert sorted(p.name for p in reports.iterdir()) == sorted([first.name, "latest"])
    assert (reports / "latest").resolve() == first
    output = listed.result.stdout.str() + listed.result.stderr.str()
    assert "conformance prod:" not in output
    assert "run directory" not in output
    assert "report.html" not in output
    no_traceback(listed.result)
