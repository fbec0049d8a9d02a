"""Markup from the cluster is shown as text in report.html, never run: checked in headless Chromium.

HTML payloads go into a container's status reason, a pod's name, a namespace label value, the server
version and a recorded collection error of a snapshot; the suite runs on it, and the DOM Chromium builds
from report.html (pytest-html renders its rows with script) must hold the payloads as text only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.cluster.resources import KNOWN

from browser import CHROMIUM, MISSING, run_chromium
from conftest import Snapshot, run_suite

IMG = """<img src=x onerror="document.body.setAttribute('data-pwned','1')">"""
SCRIPT = """<script>document.body.setAttribute('data-pwned','1')</script>"""


@dataclass
class Dom(HTMLParser):
    """What matters of a dumped DOM: images, scripts, attributes named data-pwned, result rows, the text."""

    images: list[dict[str, str | None]] = field(default_factory=list)
    rows: int = 0  # result rows' detail rows (culprit tables, logs), rendered by the report's script
    collapsed: int = 0
    scripts: list[str] = field(default_factory=list)
    pwned: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    _in_script: bool = False

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        self.pwned += [tag for name, _ in attrs if name == "data-pwned"]
        classes = (dict(attrs).get("class") or "").split()
        if tag == "tr" and "extras-row" in classes:
            self.rows += 1
            self.collapsed += "hidden" in classes

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def dump_dom(report: Path, profile_dir: Path, query: str = "") -> Dom:
    """The DOM after report.html's own script has run (rows rendered from its JSON blob)."""
    output = run_chromium(["--virtual-time-budget=3000", "--dump-dom", report.as_uri() + query], profile_dir)
    dom = Dom()
    dom.feed(output.decode())
    dom.close()
    return dom


def poison(s: Snapshot) -> None:
    """Payloads where cluster text reaches the report: culprit names and observations, messages, environment."""
    # A container status reason: the failing pod's STATUS column in kubectl's words.
    pod = s.get("pods", "monitoring", "loki-0")
    status = pod["status"]["containerStatuses"][0]
    status.update(ready=False, started=False, restartCount=3, state={"waiting": {"reason": IMG, "message": SCRIPT}})
    for condition in pod["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["status"] = "False"
    # A pod name: the culprit's name.
    twin = json.loads(json.dumps(s.get("pods", "monitoring", "promtail-dhv7q")))
    twin["metadata"]["name"] = SCRIPT
    twin["status"]["containerStatuses"][0].update(
        ready=False, restartCount=9, state={"waiting": {"reason": "CrashLoopBackOff"}}
    )
    s.add("pods", twin)
    # A namespace label value the profile expects (kong: istio-injection=enabled): the failure quotes it.
    s.get("namespaces", "", "kong")["metadata"]["labels"]["istio-injection"] = SCRIPT
    # The environment table: server version, and the reason recorded for a resource that was unreadable.
    meta = s.files["meta.json"]
    meta["server_version"] = IMG
    meta["errors"] = {KNOWN["jobs.batch"].name: f"forbidden: {IMG}"}


def chromium_or_skip() -> None:
    if not CHROMIUM.is_file():
        pytest.skip(MISSING)


def test_cluster_markup_is_text_in_the_rendered_report(
    demo: Snapshot, pytester: pytest.Pytester, tmp_path: Path
) -> None:
    chromium_or_skip()
    poison(demo)
    run = run_suite(pytester, f"--snapshot={demo.write(tmp_path / 'snapshot')}")
    outcomes = run.outcomes
    # The payloads took the paths they were put on: failure messages, culprits, an error, the environment.
    assert outcomes["test_no_failing_pods[monitoring]"].outcome == "failed"
    assert IMG in outcomes["test_no_failing_pods[monitoring]"].message
    assert f"monitoring/{SCRIPT}" in outcomes["test_no_failing_pods[monitoring]"].message
    assert outcomes["test_namespace_labels[kong]"].outcome == "failed"
    assert SCRIPT in outcomes["test_namespace_labels[kong]"].message
    assert outcomes["test_job_completed[kong/kong-migrations]"].outcome == "error"
    assert IMG in outcomes["test_job_completed[kong/kong-migrations]"].message
    report = run.run_dir / "report.html"

    # Default view (passed rows collapsed), and every row expanded (`?collapsed=` empties the categories).
    for query in ("", "?collapsed="):
        dom = dump_dom(report, tmp_path / f"chromium{len(query)}", query)
        assert not [i for i in dom.images if i.get("src") == "x"], f"{query}: an injected <img> was rendered"
        assert not [s for s in dom.scripts if "data-pwned" in s], f"{query}: an injected <script> was rendered"
        assert not dom.pwned, f"{query}: an injected handler ran (data-pwned set on {dom.pwned})"
        # Rows are built by script from the JSON blob: they are there, expanded where asked.
        assert dom.rows > len(outcomes), f"{query}: {dom.rows} rows rendered for {len(outcomes)} checks"
        assert (dom.collapsed > 0) if not query else (dom.collapsed == 0), f"{query}: {dom.collapsed} collapsed"
        text = " ".join(" ".join(dom.text).split())
        # Shown as text: in the failure logs and culprit tables of the rendered rows, and the environment.
        assert text.count(IMG) >= 3, f"{query}: {text.count(IMG)} times"
        assert text.count(SCRIPT) >= 2, f"{query}: {text.count(SCRIPT)} times"
        assert f"culprit seen monitoring/loki-0 {IMG} READY 0/1" in text, query
        assert f"Server version {IMG}" in text, query
        assert f"Resources unavailable jobs.batch: forbidden: {IMG}" in text, query
