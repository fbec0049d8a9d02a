"""One run, one verdict: every output a run leaves behind states the same verdict, gate and exit code.

Each case runs the suite as users do and reads back every output: the exit status, the terminal's last line,
report.html's banner, results.json, junit.xml, Allure's environment.properties and executor.json, and
manifest.json. `assert_one_verdict` compares what they all claim in one assertion, so a failure shows every
output's claim side by side.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from test_scenarios import crash_loop

from conftest import DEMO, ROOT, Snapshot, SuiteRun, run_suite

WORDS = ("NOT EVALUATED", "PASSED", "FAILED")  # NOT EVALUATED first: the alternation must not stop early
GATES = ("blocker", "critical", "normal", "minor", "new")
WORD = "|".join(WORDS)
FIELDS = ("verdict", "gate", "exit code")
MISSING = "<missing>"
FLEET = ROOT / "profiles" / "fleets" / "254carbon-demo.yaml"
# The crash loop's failures, both of severity critical (below --gate=blocker).
CRASH_LOOP_FAILURES = {"test_no_failing_pods[kong]", "test_workload_ready[kong/Deployment/kong]"}
# The checks the prod profile waives in the demo, and nothing else.
WAIVED_ONLY = "test_workload_ready and (cloudflared or kafka-connect) or test_portal_targets"

Claim = dict[str, object]  # field (verdict, gate, exit code) -> what one output says; only fields it states


# -- reading each output ---------------------------------------------------------------------------------------


def code_of(value: object) -> object:
    """An exit code as an int when it is one; anything else as found, so the table shows it."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return MISSING if value is None else value


def terminal_line(run: SuiteRun) -> re.Match[str]:
    """The last stdout line starting with `conformance `: `conformance <name>: <WORD> — ...`."""
    lines = [line for line in run.result.stdout.lines if line.startswith("conformance ")]
    if not lines:
        raise LookupError("no line starts with 'conformance '")
    match = re.match(rf"conformance (?P<name>.+?): (?P<word>{WORD})\b(?P<rest>.*)", lines[-1])
    if match is None:
        raise ValueError(f"not `conformance <name>: <WORD> — ...`: {lines[-1]!r}")
    return match


@dataclass(frozen=True)
class Banner:
    attrs: dict[str, str | None]
    text: str  # the banner's text, whitespace collapsed


class _BannerParser(HTMLParser):
    """Every element with id="cf-verdict": its attributes and its text (up to its own end tag)."""

    def __init__(self) -> None:
        super().__init__()
        self.banners: list[Banner] = []
        self._open: int | None = None  # index of the banner being read
        self._tag = ""  # its tag name, and how deep such tags nest inside it
        self._depth = 0
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if dict(attrs).get("id") == "cf-verdict":
            self.banners.append(Banner(dict(attrs), ""))  # a nested one is counted too: "exactly one" fails
            if self._open is None:
                self._open, self._tag, self._depth, self._text = len(self.banners) - 1, tag, 0, []
        if self._open is not None and tag == self._tag:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._open is None or tag != self._tag:
            return
        self._depth -= 1
        if self._depth == 0:
            banner = self.banners[self._open]
            self.banners[self._open] = Banner(banner.attrs, " ".join(" ".join(self._text).split()))
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)


def banner_of(run: SuiteRun) -> Banner:
    """report.html's one verdict banner; more or fewer than one is an error."""
    parser = _BannerParser()
    parser.feed((run.run_dir / "report.html").read_text())
    parser.close()
    if len(parser.banners) != 1:
        raise ValueError(f'{len(parser.banners)} elements with id="cf-verdict", expected exactly one')
    return parser.banners[0]


def one_of(found: list[str]) -> str:
    """The one distinct value a text names, or what it names instead."""
    distinct = sorted(set(found))
    if len(distinct) == 1:
        return distinct[0]
    return f"<ambiguous: {', '.join(distinct)}>" if distinct else MISSING


def json_of(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: not a JSON object")
    return document


def junit_properties(path: Path) -> dict[str, str]:
    """The run-level <properties> of junit.xml's one <testsuite> (not the per-testcase ones)."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if len(suites) != 1:
        raise ValueError(f"{len(suites)} <testsuite> elements, expected one")
    return {p.get("name", ""): p.get("value", "") for p in suites[0].findall("properties/property")}


_PROPERTY_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        escaped = match[1]
        if len(escaped) == 5:  # \uXXXX
            return chr(int(escaped[1:], 16))
        return _PROPERTY_ESCAPES.get(escaped, escaped)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", one, text, flags=re.S)


def _logical_lines(text: str) -> Iterator[str]:
    """Java properties lines: comments and blank lines dropped, `\\`-continued lines joined."""
    pending: str | None = None
    for raw in text.splitlines():
        line = raw.lstrip(" \t\f")
        if pending is None and (not line or line[0] in "#!"):
            continue
        continued = (len(line) - len(line.rstrip("\\"))) % 2 == 1
        line = line[:-1] if continued else line
        pending = line if pending is None else pending + line
        if not continued:
            yield pending
            pending = None
    if pending is not None:
        yield pending


def read_properties(path: Path) -> dict[str, str]:
    """A Java .properties file: `key = value`, `key: value` or `key value`; `\\ ` escapes a space in a key."""
    properties: dict[str, str] = {}
    for line in _logical_lines(path.read_text(encoding="utf-8")):
        match = re.match(r"((?:\\.|[^\s:=\\])*)[ \t\f]*[:=]?[ \t\f]*(.*)", line, flags=re.S)
        assert match is not None  # every line matches: both groups may be empty
        properties[_unescape(match[1])] = _unescape(match[2])
    return properties


def claims_of(run: SuiteRun) -> dict[str, Claim]:
    """What each output says the run's verdict, gate and exit code are."""

    def terminal() -> Claim:
        return {"verdict": terminal_line(run)["word"]}

    def banner_attributes() -> Claim:
        attrs = banner_of(run).attrs
        return {
            "verdict": attrs.get("data-verdict") or MISSING,
            "gate": attrs.get("data-gate") or MISSING,
            "exit code": code_of(attrs.get("data-exit-code")),
        }

    def banner_text() -> Claim:
        text = banner_of(run).text
        return {
            "verdict": one_of(re.findall(rf"\bGATE ({WORD})\b", text)),
            "gate": one_of(re.findall(rf"\bgate ({'|'.join(GATES)})\b", text)),
        }

    def results() -> Claim:
        document = json_of(run.run_dir / "results.json")
        return {
            "verdict": document.get("verdict", MISSING),
            "gate": document.get("gate", MISSING),
            "exit code": document.get("exit_code", MISSING),
        }

    def junit() -> Claim:
        properties = junit_properties(run.run_dir / "junit.xml")
        return {
            "verdict": properties.get("conformance_verdict", MISSING),
            "gate": properties.get("conformance_gate", MISSING),
            "exit code": code_of(properties.get("conformance_exit_code")),
        }

    def allure_environment() -> Claim:
        properties = read_properties(run.run_dir / "allure-results" / "environment.properties")
        return {
            "verdict": properties.get("Verdict", MISSING),
            "gate": properties.get("Gate", MISSING),
            "exit code": code_of(properties.get("Exit code")),
        }

    def allure_executor() -> Claim:
        name = str(json_of(run.run_dir / "allure-results" / "executor.json").get("reportName", ""))
        return {"verdict": one_of(re.findall(rf"\b({WORD})\b", name))}

    def manifest() -> Claim:
        document = json_of(run.run_dir / "manifest.json").get("run", {})
        return {
            "verdict": document.get("verdict", MISSING),
            "gate": document.get("gate", MISSING),
            "exit code": document.get("exit_code", MISSING),
        }

    readers: dict[str, Callable[[], Claim]] = {
        "exit status": lambda: {"exit code": int(run.result.ret)},
        "terminal last line": terminal,
        "report.html banner data-*": banner_attributes,
        "report.html banner text": banner_text,
        "results.json": results,
        "junit.xml properties": junit,
        "allure environment.properties": allure_environment,
        "allure executor.json reportName": allure_executor,
        "manifest.json run": manifest,
    }
    claims: dict[str, Claim] = {}
    for output, read in readers.items():
        try:
            claims[output] = read()
        except Exception as problem:  # an unreadable output is a row of the table, not the end of the comparison
            claims[output] = {"unreadable": f"{type(problem).__name__}: {problem}"}
    return claims


def assert_one_verdict(run: SuiteRun, word: str, code: int, gate: str) -> None:
    """Every output states `word`, `code` and `gate` (each what the contract has it state); one assertion for all."""
    expected: Claim = {"verdict": word, "gate": gate, "exit code": code}
    claims = claims_of(run)
    wrong = {
        output: claim
        for output, claim in claims.items()
        if "unreadable" in claim or any(value != expected[field] for field, value in claim.items())
    }
    width = max(map(len, claims)) + 2
    rows = [
        f"{'output':<{width}}" + "".join(f"{f:<16}" for f in FIELDS),
        f"{'expected':<{width}}" + "".join(f"{expected[f]!s:<16}" for f in FIELDS),
    ]
    for output, claim in claims.items():
        if "unreadable" in claim:
            cells = f"unreadable: {claim['unreadable']}  "
        else:
            cells = "".join(f"{claim.get(f, '·')!s:<16}" for f in FIELDS)  # · the output does not state it
        rows.append(f"{output:<{width}}{cells}{'<-' if output in wrong else ''}")
    table = "\n".join(row.rstrip() for row in rows)
    if wrong:
        pytest.fail(f"{len(wrong)} of {len(claims)} outputs disagree with {word}, exit {code}, gate {gate}:\n{table}")


# -- the matrix ------------------------------------------------------------------------------------------------


def snapshot(demo: Snapshot, pytester: pytest.Pytester, name: str, *mutations: Callable[[Snapshot], None]) -> str:
    copy = Snapshot(demo.files)
    for mutate in mutations:
        mutate(copy)
    return f"--snapshot={copy.write(pytester.path / name)}"


def no_jobs(s: Snapshot) -> None:
    s.drop("jobs.batch")  # test_job_completed reads it: could not evaluate


@pytest.mark.parametrize(
    ("mutations", "args", "word", "code", "outcomes"),
    [
        pytest.param((), (), "PASSED", 0, {"passed", "waived"}, id="pass"),
        pytest.param((crash_loop,), (), "FAILED", 1, {"passed", "waived", "failed"}, id="fail"),
        pytest.param((no_jobs,), (), "NOT EVALUATED", 2, {"passed", "waived", "error"}, id="only-could-not-evaluate"),
        pytest.param((), ("-k", WAIVED_ONLY), "PASSED", 0, {"waived"}, id="waived-only"),
    ],
)
def test_one_run_states_one_verdict_everywhere(
    demo: Snapshot,
    pytester: pytest.Pytester,
    mutations: tuple[Callable[[Snapshot], None], ...],
    args: tuple[str, ...],
    word: str,
    code: int,
    outcomes: set[str],
) -> None:
    run = run_suite(pytester, snapshot(demo, pytester, "snapshot", *mutations), *args)
    # The case is the one intended: the checks' outcomes are as described.
    assert {o.outcome for o in run.outcomes.values()} == outcomes, run.result.stdout.str()
    if "waived" in outcomes:
        assert len(run.waived()) == 3
    assert_one_verdict(run, word, code, "minor")
    assert terminal_line(run)["name"] == "prod"


def test_failures_below_the_gate_pass_and_the_banner_lists_them(demo: Snapshot, pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, snapshot(demo, pytester, "crash", crash_loop), "--gate=blocker")
    severities = {c["name"]: c["severity"] for c in json_of(run.run_dir / "results.json")["checks"]}
    assert {name: o.outcome for name, o in run.not_passed().items()} == dict.fromkeys(CRASH_LOOP_FAILURES, "failed")
    assert {severities[name] for name in CRASH_LOOP_FAILURES} == {"critical"}  # below blocker
    assert_one_verdict(run, "PASSED", 0, "blocker")
    # The report item: a PASSED banner naming the gate and the failures below it.
    banner = banner_of(run).text
    assert "GATE PASSED" in banner
    assert "gate blocker" in banner
    assert {name for name in CRASH_LOOP_FAILURES if name in banner} == CRASH_LOOP_FAILURES, banner


def test_gate_new_fails_on_a_new_failure(demo: Snapshot, pytester: pytest.Pytester) -> None:
    before = run_suite(pytester, f"--snapshot={DEMO}")
    assert before.result.ret == 0
    crash = snapshot(demo, pytester, "crash", crash_loop)
    run = run_suite(pytester, crash, f"--compare={before.run_dir}", "--gate=new")
    assert set(json_of(run.run_dir / "drift.json")["new_failing_checks"]) == CRASH_LOOP_FAILURES
    assert_one_verdict(run, "FAILED", 1, "new")


def test_gate_new_passes_when_the_failures_are_unchanged(demo: Snapshot, pytester: pytest.Pytester) -> None:
    crash = snapshot(demo, pytester, "crash", crash_loop)
    before = run_suite(pytester, crash)
    assert before.result.ret == 1
    run = run_suite(pytester, crash, f"--compare={before.run_dir}", "--gate=new")
    assert json_of(run.run_dir / "drift.json")["new_failing_checks"] == []
    assert set(run.not_passed()) == CRASH_LOOP_FAILURES  # still failures, only not new
    assert_one_verdict(run, "PASSED", 0, "new")


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["sequential", "xdist"])
def test_a_fleet_with_one_failing_member_fails(pytester: pytest.Pytester, workers: tuple[str, ...]) -> None:
    run = run_suite(pytester, f"--fleet={FLEET}", *workers, profile=None)
    # One line per cluster before the last, with that cluster's own counts as results.json records them.
    lines = {
        m["cluster"]: int(m["failed"])
        for line in run.result.stdout.lines
        if (m := re.match(r"^\s+(?P<cluster>[\w-]+): \d+ passed, (?P<failed>\d+) failed, \d+ could not", line))
    }
    checks = json_of(run.run_dir / "results.json")["checks"]
    recorded = {c: sum(k["cluster"] == c and k["verdict"] == "failed" for k in checks) for c in ("prod", "staging")}
    assert lines == recorded == {"prod": 0, "staging": 2}, run.result.stdout.str()
    assert_one_verdict(run, "FAILED", 1, "minor")
    assert terminal_line(run)["name"] == "fleet 254carbon-demo"


# -- the readers themselves, on outputs written to the contract ---------------------------------------------------


def contract_run(directory: Path, gate_in_properties: str = "blocker") -> SuiteRun:
    """A run directory and terminal as the contract has them, for a PASSED run under --gate=blocker."""
    (directory / "allure-results").mkdir(parents=True)
    (directory / "report.html").write_text(
        '<html><body><section id="cf-header"><h1>Report</h1></section><!-- conformance summary -->'
        '<section class="cf-banner cf-pass" id="cf-verdict" data-verdict="PASSED" data-gate="blocker" '
        'data-exit-code="0"><div class="cf-verdict">GATE PASSED</div><p>gate blocker (failures of severity blocker '
        "and above fail the run)</p><section><p>2 below the gate:</p><ul><li><code>test_no_failing_pods[kong]</code>"
        "</li><li><code>test_workload_ready[kong/Deployment/kong]</code></li></ul></section><br></section>"
        '<section id="cf-failures"><h2>Failures by area</h2><p>GATE FAILED is not the banner</p></section>'
        "</body></html>"
    )
    verdict = {"verdict": "PASSED", "gate": "blocker", "exit_code": 0}
    (directory / "results.json").write_text(json.dumps({"profile": "prod", **verdict, "checks": []}))
    (directory / "junit.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest"><properties>'
        '<property name="conformance_verdict" value="PASSED"/><property name="conformance_gate" value="blocker"/>'
        '<property name="conformance_exit_code" value="0"/></properties><testcase name="t[x]"><properties>'
        '<property name="conformance_verdict" value="FAILED"/></properties></testcase></testsuite></testsuites>'
    )
    (directory / "allure-results" / "environment.properties").write_text(
        "# written by the suite\nProfile = prod\nVerdict = PASSED\n"
        f"Gate = {gate_in_properties}\nExit\\ code = 0\nSource = snapshot \\\n    /snapshots/254carbon\n"
    )
    (directory / "allure-results" / "executor.json").write_text(
        json.dumps({"name": "cluster-conformance", "reportName": "Cluster conformance: profile prod — PASSED"})
    )
    (directory / "manifest.json").write_text(json.dumps({"run": {"directory": directory.name, **verdict}}))
    stdout = [
        "conformance: profile prod (profiles/prod.yaml), snapshot snapshots/254carbon",
        "conformance prod: PASSED — 85 passed, 2 failed, 0 could not evaluate, 3 waived, 2 below the gate — report x",
        "",
    ]
    return SuiteRun(pytest.RunResult(0, stdout, [], 0.1), directory)


def test_the_readers_follow_the_contract(tmp_path: Path) -> None:
    run = contract_run(tmp_path / "agree")
    assert_one_verdict(run, "PASSED", 0, "blocker")
    assert terminal_line(run)["name"] == "prod"
    banner = banner_of(run)
    assert "test_workload_ready[kong/Deployment/kong]" in banner.text
    assert "GATE FAILED" not in banner.text  # the banner ends at its own end tag, not at a nested one
    properties = read_properties(run.run_dir / "allure-results" / "environment.properties")
    assert properties["Exit code"] == "0"
    assert properties["Source"] == "snapshot /snapshots/254carbon"  # a continued line
    # One output out of line: the failure names it, and shows every output's claim.
    with pytest.raises(pytest.fail.Exception) as disagreement:
        assert_one_verdict(contract_run(tmp_path / "disagree", gate_in_properties="minor"), "PASSED", 0, "blocker")
    message = str(disagreement.value)
    assert message.startswith("1 of 9 outputs disagree with PASSED, exit 0, gate blocker:")
    assert re.search(r"allure environment.properties +PASSED +minor +0 +<-", message)
    assert re.search(r"manifest.json run +PASSED +blocker +0$", message, flags=re.M)
