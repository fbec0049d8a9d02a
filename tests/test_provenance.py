"""Provenance: every expectation of prod says what it rests on, the report's sections exist, and every output shows
the basis beside the verdict."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest

from conformance import gate
from conformance.errors import ProfileError
from conformance.profile.loader import load_profile
from conformance.profile.model_base import BASES
from conformance.profile.provenance import traced_entries, unmarked
from conformance.records import CheckRecord
from conformance.report import sections
from conformance.report.summary import render
from conformance.run.settings import RunSettings

from conftest import ROOT, Snapshot, run_suite

PROFILES = ROOT / "profiles"
# The Cluster Stabilization Report prod.yaml encodes, as it was handed over.
REPORT = ROOT / "docs" / "stabilization-report.md"


def report_labels() -> list[str]:
    """The report's headings and bold labels, without emoji and markup: what a `source` may name."""
    text = REPORT.read_text(encoding="utf-8")
    labels = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    labels += re.findall(r"\*\*([^*]+)\*\*", text)
    return [re.sub(r"[^\w\s()/:.,+-]", "", label).strip().rstrip(":") for label in labels]


def named_sections(source: str) -> list[tuple[str, bool]]:
    """What each clause of a source names, without a parenthesis: with ` › `, its first segment, a section (True);
    without, words the report says (False)."""
    clauses = [clause.strip() for clause in source.split(";") if clause.strip()]
    return [(re.sub(r"\(.*", "", clause.split(" › ")[0]).strip(), " › " in clause) for clause in clauses]


def in_report(name: str, is_section: bool, labels: list[str], text: str) -> bool:
    if any(name.lower() in label.lower() for label in labels):
        return True
    return not is_section and " ".join(name.split()).lower() in text


def test_every_expectation_of_prod_says_what_it_rests_on() -> None:
    profile = load_profile("prod", PROFILES).profile
    entries = list(traced_entries(profile))
    assert len(entries) > 50  # the walk reaches into lists and services, not just the top level
    assert unmarked(profile) == []
    for path, entry in entries:
        assert entry.basis in BASES, path
        if entry.basis == "report":
            assert entry.source, path
        if entry.basis == "assumed":
            assert entry.note, f"{path}: an assumption needs a note saying what is assumed and why"


def test_every_report_source_of_prod_names_a_section_of_the_report() -> None:
    labels = report_labels()
    assert "Kept Running (All Critical Services)" in labels
    text = " ".join(REPORT.read_text(encoding="utf-8").split()).lower()
    profile = load_profile("prod", PROFILES).profile
    missing = [
        (path, name)
        for path, entry in traced_entries(profile)
        if entry.basis == "report" and entry.source is not None
        for name, is_section in named_sections(entry.source)
        if not in_report(name, is_section, labels, text)
    ]
    assert missing == []


def test_the_section_match_rejects_what_the_report_does_not_have() -> None:
    labels = report_labels()
    text = " ".join(REPORT.read_text(encoding="utf-8").split()).lower()
    assert named_sections("Monitoring › Grafana: 3 new dashboards; Istio System (4 pods)") == [
        ("Monitoring", True),
        ("Istio System", False),
    ]
    assert in_report("Admin API: ACCESSIBLE", False, labels, text)
    assert not in_report("Grafana Dashboards", True, labels, text)
    assert not in_report("Topics: 12/12 created", True, labels, text)  # words of the report, not a section
    assert not in_report("Ingress Gateway: RUNNING", False, labels, text)


def test_the_prod_values_the_report_does_not_state_are_marked_assumed() -> None:
    profile = load_profile("prod", PROFILES).profile
    assert profile.workloads is not None
    assert profile.services is not None
    by_name = {w.name: w for w in profile.workloads.required}
    for name in ("datahub-mae-consumer", "dolphinscheduler-worker", "minio", "trino-coordinator", "grafana", "portal"):
        assert by_name[name].basis == "assumed", name
    services = profile.services
    assert services.prometheus is not None
    assert services.prometheus.basis == "assumed"
    assert services.grafana is not None
    assert services.grafana.basis == "assumed"
    assert services.jaeger is not None
    assert services.jaeger.basis == "assumed"
    assert "istio-ingressgateway" not in services.jaeger.services  # the report's istio-system has no gateway
    assert profile.storage is not None
    assert profile.storage.basis == "assumed"
    assert profile.capacity is not None
    assert profile.capacity.basis == "assumed"
    # The report's "788GB", in its own words (decimal), not 788Gi.
    assert profile.nodes is not None
    assert profile.nodes.min_capacity is not None
    assert profile.nodes.min_capacity.memory == Decimal(788 * 10**9)


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("apiVersion: conformance/v1alpha1\nkind: Profile\n" + body)
    return path


def test_a_source_implies_basis_report_and_free_profiles_need_neither(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "metadata: {name: free}\njobs:\n  completed:\n"
        "    - {namespace: kong, name: a, source: 'API Gateway › Migrations: COMPLETE'}\n"
        "    - {namespace: kong, name: b}\n"
        "    - {namespace: kong, name: c, basis: observed, observed_at: 2025-10-22T03:30:00Z}\n",
    )
    jobs = load_profile(str(path), PROFILES).profile.jobs
    assert jobs is not None
    assert [j.basis for j in jobs.completed] == ["report", None, "observed"]
    observed_at = jobs.completed[2].observed_at
    assert observed_at is not None
    assert observed_at.isoformat() == "2025-10-22T03:30:00+00:00"


def test_required_provenance_lists_every_unmarked_entry_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "metadata: {name: strict, provenance: required}\npods:\n  grace: 5m\njobs:\n  completed:\n"
        "    - {namespace: kong, name: a, basis: assumed, note: why}\n"
        "    - {namespace: kong, name: b}\n",
    )
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path), PROFILES)
    assert [p.split(": ", 2)[:2] for p in caught.value.problems] == [
        [f"{path}:4", "pods"],
        [f"{path}:9", "jobs.completed[1]"],
    ]


def test_an_overlay_of_prod_does_not_inherit_required_provenance(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"extends: {PROFILES / 'prod.yaml'}\nmetadata: {{name: lab}}\njobs:\n  completed:\n"
        "    - {namespace: lab, name: smoke}\n",
    )
    loaded = load_profile(str(path), PROFILES)
    assert loaded.profile.metadata.provenance == "optional"


# --- outputs ---------------------------------------------------------------------------------------


def failed(name: str, basis: str | None, note: str | None = None) -> CheckRecord:
    return CheckRecord(
        f"x::{name}", name, "workloads", "a requirement", "normal", basis=basis, note=note, verdict="failed"
    )


def test_the_banner_counts_failures_resting_on_assumptions_and_the_card_shows_the_badge(tmp_path: Path) -> None:
    records = [
        failed("test_a[assumed]", "assumed", note="The name <minio> is assumed"),
        failed("test_b[stated]", "report"),
        CheckRecord("x::test_c[ok]", "test_c[ok]", "pods", "a requirement", "normal", basis="assumed", note="why"),
    ]
    loaded = load_profile("prod", PROFILES)
    settings = RunSettings(loaded, tmp_path / "snap", None, tmp_path / "20251022T033000Z-prod", tmp_path)
    html = render(sections.RunView(records, settings, None, verdict=gate.verdict(records, "minor", None, 1)))
    banner = html[html.index('id="cf-verdict"') : html.index("</section>", html.index('id="cf-verdict"'))]
    assert "1 of 2 failures rests on an assumption, not on the report." in banner
    card = html[html.index('id="cf-failures"') :]
    assert 'class="cf-basis cf-basis-assumed" title="The name &lt;minio&gt; is assumed">assumed</span>' in card
    assert "assumed: the report does not state it" in card
    passed = html[html.index('id="cf-passed"') :]
    assert 'class="cf-basis cf-basis-assumed" title="why">assumed</span>' in passed

    stated_only = render(sections.RunView(records[1:], settings, None, verdict=gate.verdict(records[1:], "minor")))
    assert "rests on an assumption" not in stated_only
    assert "rest on an assumption" not in stated_only


def test_a_record_round_trips_its_basis() -> None:
    record = failed("test_a[x]", "assumed")
    assert CheckRecord.from_dict(json.loads(json.dumps(record.as_dict()))).basis == "assumed"


def test_results_junit_and_report_carry_the_basis_of_a_failing_assumed_check(
    pytester: pytest.Pytester, demo: Snapshot
) -> None:
    """minio's workload is assumed, kong-postgres' is the report's: both fail; every output says which is which."""
    demo.get("deployments.apps", "data-platform", "minio")["status"].update(readyReplicas=0, availableReplicas=0)
    demo.get("statefulsets.apps", "kong", "kong-postgres")["status"].update(readyReplicas=0, availableReplicas=0)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snap')}", "-k", "test_workload_ready")
    assert run.result.ret == 1
    checks = {c["name"]: c for c in json.loads((run.run_dir / "results.json").read_text())["checks"]}
    minio, kong_postgres = (
        "test_workload_ready[data-platform/Deployment/minio]",
        "test_workload_ready[kong/StatefulSet/kong-postgres]",
    )
    assert (checks[minio]["verdict"], checks[minio]["basis"]) == ("failed", "assumed")
    assert (checks[kong_postgres]["verdict"], checks[kong_postgres]["basis"]) == ("failed", "report")

    cases = {c.get("name"): c for c in ET.parse(run.run_dir / "junit.xml").getroot().iter("testcase")}
    basis = {
        name: [p.get("value") for p in case.iter("property") if p.get("name") == "basis"]
        for name, case in cases.items()
    }
    assert basis[minio] == ["assumed"]
    assert basis[kong_postgres] == ["report"]

    failures = [c for c in checks.values() if c["verdict"] == "failed"]
    assumed = sum(1 for c in failures if c["basis"] == "assumed")
    verb = "rests" if assumed == 1 else "rest"
    html = (run.run_dir / "report.html").read_text()
    assert f"{assumed} of {len(failures)} failures {verb} on an assumption, not on the report" in html
