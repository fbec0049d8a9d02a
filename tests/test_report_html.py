"""The auditor's part of report.html: verdict banner, failures by area, waivers, matrix and charts.

The suite runs as users run it (on the demo and on a drifted copy of it); the report it writes is read
back as text and rendered in headless Chromium.
"""

from __future__ import annotations

import html
import importlib
import json
import re
import struct
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance import gate
from conformance.check import Culprit, Finding
from conformance.cluster.state import ClusterState
from conformance.drift import Baseline, Change, Drift
from conformance.profile.loader import load_profile
from conformance.records import CheckRecord
from conformance.report import drift_section, extras, sections, templating
from conformance.report.history import earlier_runs, parse_run_name
from conformance.report.summary import render
from conformance.run.settings import RunSettings

from browser import CHROMIUM, MISSING, run_chromium
from conftest import DEMO, ROOT, Snapshot, run_suite

KONG_POD = "kong-884b8f4bd-sr4v7"
HOSTILE = "<img src=x onerror=alert(1)>"


def summary_of(report: Path) -> str:
    """The conformance section of a report.html, between its markers."""
    text = report.read_text()
    assert sections.BEGIN in text, "the conformance summary is missing from report.html"
    return text.split(sections.BEGIN, 1)[1].split(sections.END, 1)[0]


def areas_of(junit: Path) -> dict[str, str]:
    """Each check's area, from the CheckSpec on its test function (junit.xml names module and function)."""
    areas = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        function = getattr(importlib.import_module(case.get("classname", "")), name.split("[")[0])
        (spec,) = [m.args[0] for m in function.pytestmark if m.name == "check"]
        areas[name] = spec.area
    return areas


def section(html: str, element_id: str) -> str:
    """One part of the summary by id: the banner and failures are <section>s, the folded lists <details>."""
    start = html.index(f'id="{element_id}"')
    tag = html[html.rindex("<", 0, start) + 1 : start].split()[0]
    return html[start : html.index(f"</{tag}>", start)]


def banner_counts(html: str) -> dict[str, int]:
    banner = section(html, "cf-verdict")
    return {key: int(n) for key, n in re.findall(r'class="cf-n cf-n-(\w+)"><b>(\d+)</b>', banner)}


def svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


def assert_static_svg(svg: str) -> None:
    assert "<script" not in svg.lower()
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "href" not in svg
    assert "url(" not in svg
    assert "@import" not in svg


def crash_loop_kong(s: Snapshot) -> None:
    """Drift: Kong's proxy crash-loops (as in test_scenarios), Kong's status body is missing (could not evaluate),
    and a Grafana pod waits with a reason that is HTML."""
    for name, namespace, reason in ((KONG_POD, "kong", "CrashLoopBackOff"), (None, "monitoring", HOSTILE)):
        pod = s.get("pods", namespace, name) if name else s.pods(namespace, "grafana-")[0]
        for status in pod["status"]["containerStatuses"]:
            status.update(ready=False, started=False, restartCount=12, state={"waiting": {"reason": reason}})
        for condition in pod["status"]["conditions"]:
            if condition["type"] in ("Ready", "ContainersReady"):
                condition["status"] = "False"
    kong = s.get("deployments.apps", "kong", "kong")
    kong["status"].update(readyReplicas=1, availableReplicas=1)
    del s.files["kong/status.json"]


def test_demo_report_passes_with_waivers_matrix_and_charts(pytester: pytest.Pytester, demo: Snapshot) -> None:
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'demo')}")
    assert run.result.ret == 0
    html = summary_of(run.run_dir / "report.html")
    outcomes = run.outcomes

    assert "GATE PASSED" in html
    assert "GATE FAILED" not in html
    expected = {k: sum(1 for o in outcomes.values() if o.outcome == k) for k in ("passed", "failed", "error", "waived")}
    assert banner_counts(html) == expected
    assert expected["waived"] == 3
    banner = section(html, "cf-verdict")
    assert load_profile("prod", ROOT / "profiles").sha256[:12] in banner
    assert f"snapshot {pytester.path / 'demo'}" in banner
    assert "context 254carbon-prod" in banner
    assert "2025-10-22 03:30:00 UTC" in banner  # meta.json's collected_at

    assert "None: no check failed" in section(html, "cf-failures")
    waived = section(html, "cf-waived")
    for ticket, owner, reason in (
        ("PLAT-2201", "platform-networking", "Tunnel token invalid"),
        ("PLAT-2202", "data-streaming", "Container fails on startup without logs"),
        ("PLAT-2204", "portal-team", "Kiali and Doris were removed in stabilization"),
    ):
        row = next(r for r in waived.split("<tr>") if ticket in r)
        assert owner in row
        assert reason in row
        assert "2026-01-31" in row
    assert "Apache Doris, Kiali" in waived or "Kiali, Apache Doris" in waived

    matrix = section(html, "cf-matrix")
    rows = re.findall(r'<tr class="cf-row-(\w+)">(.*?)</tr>', matrix, flags=re.S)
    assert len(rows) == len(outcomes)
    assert {v for v, _ in rows} == {"passed", "waived"}
    links = re.findall(r'href="(evidence/[^"]+)"', matrix)
    assert len(links) > len(rows)  # most checks cite more than one file
    assert all((run.run_dir / link).is_file() for link in links), "matrix links to evidence the run did not write"
    waiver_cells = [m[0] for _, row in rows if (m := re.findall(r"<td>(PLAT-\d+)</td>$", row))]
    assert sorted(waiver_cells) == ["PLAT-2201", "PLAT-2202", "PLAT-2204"]

    charts = svgs(html)
    assert len(charts) == 2  # areas and node utilization; no trend on a first run
    for svg in charts:
        assert_static_svg(svg)
    assert "threshold 70%" in charts[1]
    assert "threshold 75%" in charts[1]
    assert "no earlier run of profile prod" in html


def test_failing_report_puts_failures_first_by_area_and_draws_the_trend(
    pytester: pytest.Pytester, demo: Snapshot
) -> None:
    first = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'demo')}")
    assert first.result.ret == 0
    crash_loop_kong(demo)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'drifted')}")
    assert run.result.ret == 1
    assert run.run_dir != first.run_dir
    html = summary_of(run.run_dir / "report.html")
    outcomes = run.outcomes
    areas = areas_of(run.run_dir / "junit.xml")

    assert "GATE FAILED" in html
    assert "GATE PASSED" not in html
    counts = {k: sum(1 for o in outcomes.values() if o.outcome == k) for k in ("passed", "failed", "error", "waived")}
    assert counts["failed"] >= 2
    assert counts["error"] >= 1
    assert banner_counts(html) == counts

    bad = {name: o for name, o in outcomes.items() if o.outcome in ("failed", "error")}
    passed_at = html.index('id="cf-passed"')
    seen_areas = re.findall(r'<div class="cf-area" data-area="([^"]+)">', html)
    assert len(seen_areas) == len(set(seen_areas)), "an area is listed twice"
    assert set(seen_areas) == {areas[name] for name in bad}
    for name, outcome in bad.items():
        escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        at = html.index(f"<code>{escaped}</code>")
        assert at < passed_at, f"{name} is listed after the passed checks"
        area_start = html.rfind('<div class="cf-area" data-area="', 0, at)
        assert html[area_start:].startswith(f'<div class="cf-area" data-area="{areas[name]}"')
        if outcome.outcome == "error":
            card = html[at : html.index("</article>", at)]
            assert "Reason" in card
            assert "kong/status.json" in card

    failures = section(html, "cf-failures")
    assert f"kong/{KONG_POD}" in failures
    assert "CrashLoopBackOff" in failures
    assert "<th>culprit</th><th>seen</th>" in failures
    assert "Remediation" in failures
    assert "Profile line" in failures
    assert "prod.yaml:" in failures
    assert re.search(r'cf-sev-(\w+)">\1</span> <code>test_workload_ready\[kong/Deployment/kong\]</code>', failures)
    assert HOSTILE not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html

    matrix = section(html, "cf-matrix")
    assert len(re.findall(r'<tr class="cf-row-', matrix)) == len(outcomes)

    charts = svgs(html)
    assert len(charts) == 3
    for svg in charts:
        assert_static_svg(svg)
    trend = charts[2]
    assert "this run" in trend
    assert trend.count("<circle") == 3 * 2  # passed, failed, error for both runs
    assert f">{counts['failed']}</text>" in trend


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_failing_report_renders_in_headless_chromium(pytester: pytest.Pytester, demo: Snapshot, tmp_path: Path) -> None:
    crash_loop_kong(demo)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'drifted')}")
    assert run.result.ret == 1
    png = screenshot(run.run_dir / "report.html", tmp_path)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2400)
    assert len(data) > 50_000, "the screenshot is nearly blank"


def screenshot(report: Path, tmp_path: Path) -> Path:
    png = tmp_path / "report.png"
    output = run_chromium(
        ["--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={png}", report.as_uri()],
        tmp_path / "chromium-profile",
    )
    assert png.is_file(), output.decode(errors="replace")[-2000:]
    return png


# --- rendering without a suite run --------------------------------------------------------------


def view(tmp_path: Path, records: list[CheckRecord], state: ClusterState | None, exitstatus: int = 0) -> str:
    loaded = load_profile("prod", ROOT / "profiles")
    settings = RunSettings(loaded, tmp_path / "snap", None, tmp_path / "20251022T033000Z-prod", tmp_path)
    return render(sections.RunView(records, settings, state, verdict=gate.verdict(records, "minor", None, exitstatus)))


def record(name: str, verdict: str, area: str = "pods") -> CheckRecord:
    return CheckRecord(f"x::{name}", name, area, "a requirement", "normal", verdict=verdict)  # type: ignore[arg-type]


def test_a_partial_run_without_collection_time_or_node_metrics_says_so(
    pytester: pytest.Pytester, demo: Snapshot
) -> None:
    del demo.files["meta.json"]
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}", "-k", "test_nodes")
    assert run.result.ret == 0
    html = summary_of(run.run_dir / "report.html")
    assert "GATE PASSED" in html
    assert "the snapshot records no collection time" in html
    deselected = re.search(r"(\d+) checks of the profile deselected</span>", html)
    assert deselected is not None
    assert int(deselected[1]) > 50  # everything but the node checks; not the profile's unused placeholders
    assert f"covers only the {len(run.outcomes)} that ran" in html
    assert "Node utilization chart omitted: nodes.metrics.k8s.io was not collected in this run" in html
    assert len(svgs(html)) == 1


def test_a_run_that_judged_nothing_or_did_not_finish_fails_the_gate(tmp_path: Path) -> None:
    assert "GATE FAILED" in view(tmp_path, [], None, exitstatus=5)
    assert "No check was run" in view(tmp_path, [], None, exitstatus=5)
    interrupted = view(tmp_path, [record("test_a[x]", "passed")], None, exitstatus=2)
    assert "GATE FAILED" in interrupted
    assert "exit status 2" in interrupted
    waived_only = view(tmp_path, [record("test_a[x]", "waived")], None)
    assert "GATE PASSED" in waived_only


def test_a_broken_part_becomes_a_note_not_a_missing_report(tmp_path: Path) -> None:
    broken = record("test_a[x]", "failed")
    broken.culprits = [None]  # type: ignore[list-item]  # what a bug upstream could hand over
    html = view(tmp_path, [broken], None)
    assert "GATE FAILED" in html
    assert "report section failures could not be built: AttributeError" in html
    assert 'id="cf-matrix"' in html


def test_the_banner_states_the_verdict_the_gate_gave(tmp_path: Path) -> None:
    """--gate=blocker with a minor failure exits 0: the banner says PASSED and names the failure below the gate."""
    minor = CheckRecord("x::test_b[y]", "test_b[y]", "pods", "a requirement", "minor", verdict="failed")
    records = [record("test_a[x]", "passed"), minor]
    loaded = load_profile("prod", ROOT / "profiles")
    settings = RunSettings(loaded, tmp_path / "snap", None, tmp_path / "20251022T033000Z-prod", tmp_path)
    html = render(sections.RunView(records, settings, None, verdict=gate.verdict(records, "blocker")))
    banner = section(html, "cf-verdict")
    assert 'id="cf-verdict" data-verdict="PASSED" data-gate="blocker" data-exit-code="0"' in html
    assert "GATE PASSED" in banner
    assert "GATE FAILED" not in html
    assert "gate blocker" in banner
    assert '<a href="#cf-check-1"><code>test_b[y]</code></a> (failed, minor)' in banner
    assert "below the gate" in section(html, "cf-check-1")  # still listed with the failures, marked
    assert banner_counts(html) == {"passed": 1, "failed": 1, "error": 0, "waived": 0}

    failing = view(tmp_path, records, None)  # the default gate, minor: the same failure fails the run
    assert 'data-verdict="FAILED" data-gate="minor" data-exit-code="1"' in failing
    assert "GATE FAILED" in failing
    assert "below the gate" not in failing


def test_the_drift_section_and_the_check_extras_escape_cluster_text(tmp_path: Path) -> None:
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    culprits = [Culprit(f"kong/{HOSTILE}", HOSTILE)]
    checked = CheckRecord("x::test_a[x]", "test_a[x]", "pods", f"no {HOSTILE}", "normal", remediation=HOSTILE)
    finding = extras.finding_html(checked, Finding("ready", f"1 of 2 {HOSTILE}", 2, culprits, ("pods",)))
    assert HOSTILE not in finding
    assert f"<tr><td>kong/{escaped}</td><td>{escaped}</td></tr>" in finding
    assert f"<p><b>Observed</b>: 1 of 2 {escaped} (2 inspected)</p>" in finding
    assert f"<p><b>Remediation</b>: {escaped}</p>" in finding
    assert extras.test_id_cell(f"test_a[{HOSTILE}]") == f'<td class="col-testId">test_a[{escaped}]</td>'

    change = Change(f"test_a[{HOSTILE}]", f"kong/{HOSTILE}", "passed", "failed", HOSTILE)
    gone = Change(f"test_b[{HOSTILE}]", None, "error", None)
    baseline = Baseline(tmp_path / "baseline-run", "--compare", "prod", None, {})
    drift = drift_section.render(Drift(baseline, (change,), (), (), (gone,)), "prod")
    assert HOSTILE not in drift
    assert f'<td>kong/{escaped}</td><td class="cf-nowrap">passed → failed</td><td>{escaped}</td>' in drift
    assert f"<code>test_b[{escaped}]</code> (error → not run)" in drift
    assert "<h3>New failures (1)</h3>" in drift
    assert "<h3>Resolved (0)</h3>" in drift


def test_templates_leave_escaping_on() -> None:
    assert templating.ENVIRONMENT.autoescape is True
    directory = Path(templating.__file__).parent / "templates"
    templates = sorted(directory.glob("*.j2"))
    assert templates
    for path in templates:
        text = path.read_text().replace(" ", "")
        assert "|safe" not in text, f"{path.name} marks a value safe"
        assert "autoescape" not in text, f"{path.name} turns autoescape off"


def write_junit(directory: Path, passed: int, failed: int, error: int) -> None:
    directory.mkdir(parents=True)
    cases = ["<testcase name='p'/>"] * passed
    cases += ["<testcase name='f'><failure message='x'/></testcase>"] * failed
    cases += ["<testcase name='e'><error message='x'/></testcase>"] * error
    cases += ["<testcase name='w'><skipped type='pytest.xfail' message='waived'/></testcase>"]
    (directory / "junit.xml").write_text(f"<testsuites><testsuite>{''.join(cases)}</testsuite></testsuites>")


def test_history_reads_only_earlier_runs_of_the_same_profile(tmp_path: Path) -> None:
    for i in range(25):
        write_junit(tmp_path / f"20251001T0000{i:02d}Z-prod", 80 + i, i % 3, i % 2)
    write_junit(tmp_path / "20251001T000030Z-prod", 1, 1, 1)
    write_junit(tmp_path / "20251001T000030Z-prod-2", 1, 1, 1)  # same second as another run
    write_junit(tmp_path / "20251001T000010Z-staging", 5, 5, 5)  # another profile
    write_junit(tmp_path / "20251001T000010Z-prod-eu", 5, 5, 5)  # another profile with a dash
    write_junit(tmp_path / "20251002T000000Z-prod", 9, 9, 9)  # started after the current run
    (tmp_path / "20251001T000011Z-prod" / "junit.xml").write_text("<testsuites><testsuite>")  # truncated
    # conformance.integrity's manifest: its counts win over junit.xml, and its profile name settles `prod-2`.
    manifest = {"format": "cluster-conformance/manifest/v1", "profile": {"name": "prod"}}
    manifest["run"] = {"outcomes": {"passed": 70, "failed": 7, "error": 0, "waived": 3, "skipped": 0}}
    (tmp_path / "20251001T000012Z-prod" / "manifest.json").write_text(json.dumps(manifest))
    write_junit(tmp_path / "20251001T000013Z-prod-2", 5, 5, 5)
    manifest["profile"] = {"name": "prod-2"}
    (tmp_path / "20251001T000013Z-prod-2" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "latest").symlink_to("20251001T000024Z-prod")
    current = tmp_path / "20251001T000030Z-prod"

    runs, problems = earlier_runs(tmp_path, "prod", tmp_path / "20251001T000030Z-prod-3", 19)
    assert [r.run for r in runs][-2:] == ["20251001T000030Z-prod", "20251001T000030Z-prod-2"]
    assert len(runs) == 19
    runs, problems = earlier_runs(tmp_path, "prod", current, 19)
    names = [r.run for r in runs]
    assert names == sorted(names)
    assert len(names) == 19
    assert names[-1] == "20251001T000024Z-prod"
    assert all(n.endswith("-prod") for n in names)  # not staging, prod-eu, nor the profile named prod-2
    assert next(r for r in runs if r.run.startswith("20251001T000012Z")).failed == 7  # manifest counts win
    assert problems == ["20251001T000011Z-prod: junit.xml unreadable (no element found: line 1, column 23)"]
    assert parse_run_name("20251001T000010Z-prod-eu", "prod") is None
    assert parse_run_name("20251001T000010Z-prod-eu", "prod-eu") is not None


# What pytest itself calls outcomes, and what of the suite's own Python a traceback would show.
PYTEST_WORDS = ("XFailed", "XPassed", "Expected failures", "Unexpected passes", "_pytest", "Traceback")
PYTHON = ("@check(", "def test_", "finding.conforms()", "evaluate=", "conformance/check.py")


class VisibleText(HTMLParser):
    """The text of a dumped DOM a reader can see: not inside <template>, <script> or <style>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in ("template", "script", "style")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("template", "script", "style")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def test_the_results_table_speaks_the_suites_words_and_shows_no_python(
    pytester: pytest.Pytester, demo: Snapshot, tmp_path: Path
) -> None:
    crash_loop_kong(demo)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'drifted')}")
    assert run.result.ret == 1
    report = run.run_dir / "report.html"
    page = report.read_text()
    # The server-rendered part of the page (the filters' labels) and every row's data (log, cells, extras).
    for text in (*PYTHON, "Expected failures", "Unexpected passes", "_pytest.outcomes"):
        assert text not in html.unescape(page), text
    # Allure's waived results: the waiver as message and trace, not pytest's exception and the check's source.
    for path in (run.run_dir / "allure-results").glob("*-result.json"):
        result = json.loads(path.read_text())
        if result["status"] == "skipped":
            details = result["statusDetails"]
            assert details["message"].startswith("XFAIL waived: "), details
            for text in (*PYTHON, "_pytest"):
                assert text not in details["message"] + details.get("trace", ""), (text, details)
    if not CHROMIUM.exists():
        pytest.skip(MISSING)
    output = run_chromium(["--virtual-time-budget=3000", "--dump-dom", f"{report.as_uri()}?collapsed="], tmp_path)
    seen = VisibleText()
    seen.feed(output.decode())
    text = seen.text
    for word in (*PYTEST_WORDS, *PYTHON):
        assert word not in text, f"{word!r} is shown in report.html"
    # Each row reads as the summary does: the verdict in the suite's words, a waived check with its waiver.
    assert "waived PLAT-2201" in text
    assert "could not evaluate conformance/kong/test_gateway.py::test_kong_database[kong-admin]" in text
    assert "failed conformance/kubernetes/test_pods.py::test_no_failing_pods[kong]" in text
    # pytest-html's filters count the same outcomes, named as the banner names them.
    assert re.search(r'<span class="xfailed">\s*3 waived,</span>', page), "pytest-html's filter for waived checks"
    assert re.search(r'<span class="error">\s*1 could not evaluate,</span>', page)


def write_manifest(directory: Path, source: str | None, passed: int, failed: int) -> None:
    """An earlier run as conformance.integrity records it: its profile, its source, its counts."""
    directory.mkdir(parents=True)
    manifest: dict[str, object] = {
        "format": "cluster-conformance/manifest/v1",
        "profile": {"name": "prod"},
        "run": {"outcomes": {"passed": passed, "failed": failed, "error": 0, "waived": 3, "skipped": 0}},
    }
    if source is not None:
        manifest["cluster"] = {"source": source, "context": "254carbon-prod"}
    (directory / "manifest.json").write_text(json.dumps(manifest))


def test_the_trend_compares_runs_of_the_same_kind_of_source(pytester: pytest.Pytester) -> None:
    reports = pytester.path / "reports"
    write_manifest(reports / "20250101T000000Z-prod", "snapshot", 80, 7)
    write_manifest(reports / "20250101T010000Z-prod", "live", 11, 40)
    write_manifest(reports / "20250101T020000Z-prod", "snapshot", 81, 6)
    write_manifest(reports / "20250101T030000Z-prod", "live", 12, 39)
    write_manifest(reports / "20250101T040000Z-prod", None, 1, 1)  # an older suite's manifest: source unknown
    run = run_suite(pytester, f"--snapshot={DEMO}")
    assert run.result.ret == 0
    html = summary_of(run.run_dir / "report.html")
    charts = section(html, "cf-charts")
    trend = svgs(charts)[-1]
    assert trend.count("<circle") == 3 * 3  # the two earlier snapshot runs and this one
    assert ">40</text>" not in trend  # a live run's failures are not this chart's
    assert "Last 3 runs of profile prod from snapshots, oldest to newest" in charts
    assert "Left out: 3 earlier runs from other kinds of source (2 live, 1 not recorded)" in charts

    # This run's manifest records its kind of source, for the next run's trend.
    assert json.loads((run.run_dir / "manifest.json").read_text())["run"]["source"] == "snapshot"
    runs, _ = earlier_runs(reports, "prod", run.run_dir, 19, source="live")
    assert [(r.run, r.failed) for r in runs] == [("20250101T010000Z-prod", 40), ("20250101T030000Z-prod", 39)]
