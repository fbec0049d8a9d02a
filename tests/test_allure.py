"""Allure results carry what the HTML report carries, and Allure 3 builds an HTML report from them offline.

The suite runs as users run it (the demo, and the demo with a crash loop, a missing kind and a waiver whose
ticket is a URL); the tests read allure-results as Allure does and compare it with the checks' specs, the
profile, the run's outcomes and its evidence files.
"""

from __future__ import annotations

import hashlib
import html
import importlib
import json
import mimetypes
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import __version__
from conformance.check import CheckSpec, Culprit
from conformance.profile.loader import load_profile
from conformance.records import CheckRecord, WaiverNote
from conformance.report.allure_labels import description_html, properties
from conformance.secrets import redact_text

from conftest import DEMO, ROOT, Snapshot, SuiteRun, run_suite

# Allure 3 from npm; .ci/run pre-installs the same version into the same cache directory.
ALLURE_NPM_VERSION = "3.18.0"
ALLURE_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cluster-conformance"
URL_TICKET = "https://tracker.example/browse/PLAT-2300"
KONG_POD = "kong/kong-884b8f4bd-sr4v7"


def read_results(directory: Path) -> dict[str, dict[str, Any]]:
    """Allure test results by test name with its id."""
    results: dict[str, dict[str, Any]] = {}
    for path in directory.glob("*-result.json"):
        result = json.loads(path.read_text())
        assert result["name"] not in results, f"two results for {result['name']}"
        results[result["name"]] = result
    return results


def labels(result: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


def parameter(result: dict[str, Any], name: str) -> str | None:
    values = [p["value"] for p in result.get("parameters", []) if p["name"] == name]
    assert len(values) <= 1
    return values[0] if values else None


@dataclass(frozen=True)
class Expected:
    area: str
    severity: str
    requirement: str
    source: str | None
    origin: str | None
    basis: str | None = None


def expected_checks(profile_ref: str) -> dict[str, Expected]:
    """What each check of a profile should be labelled with, from its CheckSpec and profile entry."""
    profile = load_profile(profile_ref, ROOT / "profiles").profile
    checks: dict[str, Expected] = {}
    for path in sorted((ROOT / "conformance").glob("*/test_*.py")):
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for function in vars(module).values():
            marks = [m for m in getattr(function, "pytestmark", []) if m.name == "check"]
            if not marks or not isinstance(spec := marks[0].args[0], CheckSpec):
                continue
            for ident, e in spec.expand(profile) or []:
                source = getattr(e, "source", None)
                # Reports show profile text as the redaction layer passes it (credential-shaped text masked).
                checks[f"{function.__name__}[{ident}]"] = Expected(
                    spec.area,
                    spec.severity_of(e),
                    redact_text(spec.describe(e)),
                    redact_text(source) if source else None,
                    getattr(e, "origin", None),
                    getattr(e, "basis", None),
                )
    return checks


def read_properties(text: str) -> dict[str, str]:
    """Java .properties as this suite writes them: one `key=value` per line, backslash escapes."""

    def unescape(raw: str) -> str:
        return (
            re.sub(
                r"\\(u[0-9a-fA-F]{4}|.)",
                lambda m: chr(int(m[1][1:], 16)) if m[1][0] == "u" else {"t": "\t", "n": "\n"}.get(m[1], m[1]),
                raw,
            )
            .encode("utf-16", "surrogatepass")
            .decode("utf-16")
        )

    values = {}
    for line in text.splitlines():
        key, value = re.split(r"(?<!\\)=", line, maxsplit=1)
        values[unescape(key)] = unescape(value)
    return values


def global_attachments(directory: Path) -> list[dict[str, Any]]:
    return [a for path in directory.glob("*-globals.json") for a in json.loads(path.read_text()).get("attachments", [])]


def evidence_named(result: dict[str, Any]) -> list[str]:
    return re.findall(r"<li>(evidence/[^<( ]+)", result.get("descriptionHtml", ""))


def check_common(run: SuiteRun, profile_ref: str, profile_name: str) -> dict[str, dict[str, Any]]:
    """What every run's results must carry; returns them by test name."""
    directory = run.run_dir / "allure-results"
    results = read_results(directory)
    expected = expected_checks(profile_ref)
    assert set(results) == set(run.outcomes) == set(expected)
    for name, result in results.items():
        check = expected[name]
        assert labels(result, "epic") == [f"Cluster conformance: {profile_name}"], name
        assert labels(result, "feature") == [check.area], name
        assert labels(result, "story") == [name.split("[")[0]], name
        assert labels(result, "severity") == [check.severity], name
        assert parameter(result, "profile line") == (repr(check.origin) if check.origin else None), name
        assert parameter(result, "source") == (repr(check.source) if check.source else None), name
        assert labels(result, "basis") == ([check.basis] if check.basis else []), name
        assert parameter(result, "basis") == (repr(check.basis) if check.basis else None), name
        description = html.unescape(result["descriptionHtml"])
        assert f"<b>Requirement</b>: {check.requirement}</p>" in description, name
        # Per check, only small attachments: its culprits (evidence is attached to the run, once).
        for attachment in result.get("attachments", []):
            assert attachment["name"] == "culprits", name
            assert attachment["type"] == "application/json"
            assert (directory / attachment["source"]).is_file()

    # Every evidence file a check used is attached to the run exactly once, byte for byte, with its MIME type.
    attached = global_attachments(directory)
    names = [a["name"] for a in attached]
    assert len(names) == len(set(names))
    assert set(names) == {path for result in results.values() for path in evidence_named(result)}
    for attachment in attached:
        source = directory / attachment["source"]
        assert source.read_bytes() == (run.run_dir / attachment["name"]).read_bytes()
        assert attachment["type"] == mimetypes.guess_type(attachment["name"])[0]

    executor = json.loads((directory / "executor.json").read_text())
    assert executor["name"] == "cluster-conformance"
    assert executor["type"] == "pytest"
    assert executor["buildName"] == run.run_dir.name
    assert executor["reportName"].startswith(f"Cluster conformance: profile {profile_name}, snapshot ")
    categories = json.loads((directory / "categories.json").read_text())
    assert [c["name"] for c in categories] == [
        "Waived (granted exceptions)",
        "Conformance failures",
        "Could not evaluate",
    ]
    return results


def check_waived(result: dict[str, Any], ticket: str, owner: str) -> None:
    """A waived check is skipped in Allure (never passed), tagged, and says whose exception it is until when."""
    assert result["status"] == "skipped"
    assert "waived" in labels(result, "tag")
    assert result["statusDetails"]["message"].startswith(f"XFAIL waived: {ticket} ({owner}, until ")
    description = result["descriptionHtml"]
    for text in ("<b>Verdict</b>: waived", f"ticket: {ticket}", f"owner: {owner}", "expires: 2026-01-31", "reason: "):
        assert text in description
    assert "<b>Remediation</b>: " in description
    assert parameter(result, "waiver ticket") == repr(ticket)


def test_demo_results_carry_the_report(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}")
    assert run.result.ret == 0
    results = check_common(run, "prod", "prod")
    waived = set(run.waived())
    assert len(waived) == 3
    for name, result in results.items():
        if name in waived:
            continue
        assert result["status"] == "passed", name
        assert "waived" not in labels(result, "tag"), name
        assert "<b>Remediation</b>" not in result["descriptionHtml"], name
    workload = "test_workload_ready[cloudflare-tunnel/Deployment/cloudflared]"
    check_waived(results[workload], "PLAT-2201", "platform-networking")
    assert not results[workload].get("links"), "a ticket that is not a URL is no link"
    portal = results["test_portal_targets[targets]"]
    check_waived(portal, "PLAT-2204", "portal-team")
    (attachment,) = portal["attachments"]
    table = json.loads((run.run_dir / "allure-results" / attachment["source"]).read_text())
    assert table["verdict"] == "waived"
    assert table["waived"] == {"ticket": "PLAT-2204", "culprits": ["Apache Doris", "Kiali"]}

    env = read_properties((run.run_dir / "allure-results" / "environment.properties").read_text(encoding="ascii"))
    profile = ROOT / "profiles" / "prod.yaml"
    meta = json.loads((DEMO / "meta.json").read_text())
    assert env["Profile"] == f"prod ({profile})"
    assert env["Profile sha256"] == hashlib.sha256(profile.read_bytes()).hexdigest()
    assert env["Source"] == f"snapshot {DEMO}"
    assert env["Server version"] == meta["server_version"]
    assert env["Collected at"] == meta["collected_at"]
    assert env["Suite version"] == __version__

    # pods.json is read by dozens of checks and stored once.
    pods = (run.run_dir / "evidence" / "kubernetes" / "pods.json").stat().st_size
    directory = run.run_dir / "allure-results"
    copies = [p for p in directory.glob("*-attachment.json") if p.stat().st_size == pods]
    assert len(copies) == 1
    readers = [r for r in results.values() if "evidence/kubernetes/pods.json" in evidence_named(r)]
    assert len(readers) > 40


def crash_loop(s: Snapshot) -> None:
    """The kong proxy container crash-loops: its Deployment has one ready replica of two."""
    pod = s.get("pods", "kong", "kong-884b8f4bd-sr4v7")
    for status in pod["status"]["containerStatuses"]:
        if status["name"] == "proxy":
            status.update(
                ready=False, started=False, restartCount=12, state={"waiting": {"reason": "CrashLoopBackOff"}}
            )
    for condition in pod["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["status"] = "False"
    s.get("deployments.apps", "kong", "kong")["status"].update(readyReplicas=1, availableReplicas=1)


def audit_profile(directory: Path) -> Path:
    """prod with one more waiver, whose ticket is a URL: the crash-looping kong pod."""
    prod = yaml.safe_load((ROOT / "profiles" / "prod.yaml").read_text())
    waiver = {
        "check": "test_no_failing_pods[kong]",
        "reason": "Proxy crash under investigation with the vendor",
        "owner": "api-gateway",
        "ticket": URL_TICKET,
        "expires": date(2026, 1, 31),
    }
    overlay = {
        "apiVersion": "conformance/v1alpha1",
        "kind": "Profile",
        "metadata": {"name": "prod-audit"},
        "extends": str(ROOT / "profiles" / "prod.yaml"),
        "waivers": [*prod["waivers"], waiver],
    }
    path = directory / "prod-audit.yaml"
    path.write_text(yaml.safe_dump(overlay, sort_keys=False))
    return path


def test_failed_error_and_waived_checks(demo: Snapshot, pytester: pytest.Pytester) -> None:
    crash_loop(demo)
    demo.drop("jobs.batch")
    snapshot = demo.write(pytester.path / "snapshot")
    profile = str(audit_profile(pytester.path))
    run = run_suite(pytester, f"--snapshot={snapshot}", profile=profile)
    assert run.result.ret == 1
    results = check_common(run, profile, "prod-audit")
    directory = run.run_dir / "allure-results"

    failed = results["test_workload_ready[kong/Deployment/kong]"]
    assert failed["status"] == "failed"
    assert "CrashLoopBackOff" in failed["statusDetails"]["message"]
    description = failed["descriptionHtml"]
    for label in ("Requirement", "Expected", "Observed", "Remediation"):
        assert f"<b>{label}</b>: " in description
    assert "<b>Verdict</b>: failed" in description
    assert "<td>kong-884b8f4bd-sr4v7</td><td>CrashLoopBackOff READY 1/2 (restarts 12)</td>" in description
    (attachment,) = failed["attachments"]
    table = json.loads((directory / attachment["source"]).read_text())
    assert table["verdict"] == "failed"
    assert [c["name"] for c in table["culprits"]] == ["Deployment kong/kong", "kong-884b8f4bd-sr4v7"]
    assert "evidence/kubernetes/deployments.apps.json" in table["evidence"]

    # Could not evaluate: a pytest setup error, which Allure calls broken; no culprits, the reason instead.
    broken = results["test_job_completed[kong/kong-migrations]"]
    assert broken["status"] == "broken"
    assert "snapshot has no kubernetes/jobs.batch.json" in broken["statusDetails"]["message"]
    assert (
        "<b>Could not evaluate</b>: jobs.batch: snapshot has no kubernetes/jobs.batch.json</p>"
        in (broken["descriptionHtml"])
    )
    assert "<b>Remediation</b>" not in broken["descriptionHtml"]
    assert not broken.get("attachments")

    waived = results["test_no_failing_pods[kong]"]
    check_waived(waived, URL_TICKET, "api-gateway")
    assert waived["links"] == [{"type": "issue", "url": URL_TICKET, "name": URL_TICKET}]
    (attachment,) = waived["attachments"]
    assert json.loads((directory / attachment["source"]).read_text())["waived"]["culprits"] == [KONG_POD]
    check_waived(
        results["test_workload_ready[cloudflare-tunnel/Deployment/cloudflared]"], "PLAT-2201", "platform-networking"
    )

    statuses = {r["status"] for r in results.values()}
    assert statuses == {"passed", "failed", "broken", "skipped"}
    outcomes = run.outcomes
    for name, result in results.items():
        expected = {"passed": "passed", "failed": "failed", "error": "broken", "waived": "skipped"}[
            outcomes[name].outcome
        ]
        assert result["status"] == expected, name


def test_description_escapes_cluster_text() -> None:
    record = CheckRecord(
        nodeid="conformance/kubernetes/test_pods.py::test_no_failing_pods[x]",
        name="test_no_failing_pods[x]",
        area="pods",
        requirement="No failing pods in <x>",
        severity="critical",
        verdict="waived",
        expected="no failing pods",
        observed="1 failing",
        inspected=3,
        culprits=[Culprit("x/<img src=x onerror=alert(1)>", "<script>alert(1)</script>")],
        evidence=["pods", "kong/status.json"],
        waiver=WaiverNote("<b>why</b>", "team & co", "T-1", "2026-01-31", ("x/a",)),
    )
    text = description_html(record, ["evidence/kubernetes/pods.json"], [])
    for raw in ("<script>", "<img", "<b>why</b>"):
        assert raw not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "team &amp; co" in text
    assert "evidence/kubernetes/pods.json (not written by this run)" in text


def test_properties_escape_what_java_and_allure_read() -> None:
    values = {"Profile sha256": "ab", "Source": "live ctx=a:b #1 \\ é 😀", "Lead": " x"}
    text = properties(values)
    assert text.isascii()
    assert read_properties(text) == values


def allure_cli() -> Path:
    """Allure 3's CLI from npm, installed once into the user cache (offline afterwards)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("Allure 3 is an npm package: node and npm are needed to build the Allure HTML report")
    target = ALLURE_CACHE / f"allure-{ALLURE_NPM_VERSION}"
    cli = target / "node_modules" / ".bin" / "allure"
    if cli.exists():
        return cli
    ALLURE_CACHE.mkdir(parents=True, exist_ok=True)
    staging = ALLURE_CACHE / f".allure-{ALLURE_NPM_VERSION}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        install = subprocess.run(
            ["npm", "install", "--prefix", str(staging), "--no-audit", "--no-fund", f"allure@{ALLURE_NPM_VERSION}"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert install.returncode == 0, f"npm install allure@{ALLURE_NPM_VERSION} failed:\n{install.stderr}"
        try:
            staging.rename(target)
        except OSError:
            if not cli.exists():  # not another process that installed it meanwhile
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cli


@pytest.mark.slow
def test_allure_html_report_builds(demo: Snapshot, pytester: pytest.Pytester) -> None:
    cli = allure_cli()
    crash_loop(demo)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}")
    assert run.result.ret == 1
    # Where the README builds it: beside the run's files, a directory the manifest names as derived.
    output = run.run_dir / "allure-report"
    built = subprocess.run(
        [str(cli), "generate", str(run.run_dir / "allure-results"), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "CI": "1"},
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (output / "index.html").is_file()
    # What Allure made of the results: the environment as written, every evidence file as a run attachment.
    environment = json.loads((output / "widgets" / "allure_environment.json").read_text())
    shown = {entry["name"]: entry["values"] for entry in environment}
    assert shown["Profile sha256"] == [hashlib.sha256((ROOT / "profiles" / "prod.yaml").read_bytes()).hexdigest()]
    assert shown["Collected at"] == ["2025-10-22T03:30:00Z"]
    globals_widget = json.loads((output / "widgets" / "globals.json").read_text())
    attached = global_attachments(run.run_dir / "allure-results")
    assert len(globals_widget["attachments"]) == len(attached) > 5
    summary = json.loads((output / "summary.json").read_text())
    assert summary["stats"]["failed"] >= 2
    assert summary["stats"]["skipped"] == 3
    verified = subprocess.run(
        [sys.executable, "-m", "conformance", "verify", str(run.run_dir)], capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "derived: allure-report/ (" in verified.stdout
