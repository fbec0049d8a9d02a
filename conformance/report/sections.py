"""The auditor's part of report.html: verdict banner, failures by area, waivers, the requirement matrix, charts.

Everything here is plain HTML and inline SVG built from the run's CheckRecords; every value that comes
from a profile, a cluster or a test id is escaped.
"""

from __future__ import annotations

import os
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from conformance.cluster.state import ClusterState
from conformance.profile.model_base import SEVERITIES
from conformance.quantity import format_bytes, format_cores
from conformance.records import CheckRecord, evidence_path
from conformance.report import svg
from conformance.report.history import RunCounts, parse_run_name
from conformance.report.usage import NodeUsage, node_usage
from conformance.settings import Fleet, RunSettings

esc = svg.esc
TREND_RUNS = 20  # the current run and up to 19 before it
MAX_CULPRIT_ROWS = 100
MAX_CHART_NODES = 30
VERDICT_TEXT = {
    "passed": "passed",
    "failed": "failed",
    "error": "could not evaluate",
    "waived": "waived",
    "skipped": "skipped",
}
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass
class RunView:
    """What the report is built from: the run's records, settings, collected state and earlier runs."""

    records: Sequence[CheckRecord]
    settings: RunSettings
    state: ClusterState | None
    exitstatus: int = 0
    history: Sequence[RunCounts] = ()
    history_problems: Sequence[str] = ()
    deselected: int = 0  # checks of the profile not run (-k, -m, --deselect)
    fleet: Fleet | None = None  # several clusters in one run: the report adds a cluster × check matrix
    counts: Counter[str] = field(init=False)

    def __post_init__(self) -> None:
        self.counts = Counter(r.verdict for r in self.records)

    @property
    def several(self) -> bool:
        return self.fleet is not None and self.fleet.several

    @property
    def name(self) -> str:
        """What run directories of this run are named after: the profile, or the fleet."""
        return self.fleet.name if self.fleet is not None and self.several else self.settings.profile.name

    @property
    def gate_passed(self) -> bool:
        """Failed or could-not-evaluate checks fail the gate; so does a run that judged nothing or did not finish."""
        judged = self.counts["passed"] + self.counts["waived"]
        return not self.counts["failed"] and not self.counts["error"] and judged > 0 and self.exitstatus == 0


def evidence_href(name: str, cluster: str = "") -> str:
    """The evidence file of a name as conformance.plugin links it: resources by name, service bodies by path."""
    return urllib.parse.quote(evidence_path(name, cluster), safe="/._-~")


def _evidence_links(record: CheckRecord) -> str:
    return " ".join(
        f'<a class="cf-ev" href="{esc(evidence_href(n, record.cluster))}">{esc(n)}</a>' for n in record.evidence
    )


def _anchor(index: int) -> str:
    return f"cf-check-{index}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _badge(verdict: str) -> str:
    return f'<span class="cf-badge cf-b-{esc(verdict)}">{esc(VERDICT_TEXT.get(verdict, verdict))}</span>'


def _severity(severity: str) -> str:
    return f'<span class="cf-sev cf-sev-{esc(severity)}">{esc(severity)}</span>'


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- banner -------------------------------------------------------------------------------------


def _exit_reason(code: int) -> str:
    names = {2: "interrupted (collection errors?)", 3: "internal error", 4: "usage error", 5: "no checks collected"}
    return names.get(code, "checks failed")


def banner(view: RunView) -> str:
    counts, settings = view.counts, view.settings
    passed = view.gate_passed
    bad_areas = sorted({r.area for r in view.records if r.verdict in ("failed", "error")})
    if passed:
        why = f"{_plural(counts['passed'], 'check')} passed"
        if counts["waived"]:
            tickets = sorted({r.waiver.ticket for r in view.records if r.waiver is not None})
            why += f"; {counts['waived']} failing under a waiver ({', '.join(tickets)}), counted as passing"
    elif not view.records:
        why = "No check was run: nothing was judged, so nothing is vouched for"
    elif counts["failed"] or counts["error"]:
        parts = []
        if counts["failed"]:
            parts.append(f"{_plural(counts['failed'], 'check')} failed")
        if counts["error"]:
            parts.append(f"{counts['error']} could not be evaluated")
        why = " and ".join(parts) + f", in {', '.join(bad_areas)}"
    else:
        why = f"pytest ended with exit status {view.exitstatus}: {_exit_reason(view.exitstatus)}"

    tiles = [("passed", counts["passed"]), ("failed", counts["failed"]), ("error", counts["error"])]
    tiles.append(("waived", counts["waived"]))
    if counts["skipped"]:
        tiles.append(("skipped", counts["skipped"]))
    tile_html = "".join(
        f'<li class="cf-n cf-n-{key}"><b>{n}</b><span>{esc(VERDICT_TEXT[key])}</span></li>' for key, n in tiles
    )

    profile = settings.profile
    profile_text = (
        f"<b>{esc(profile.name)}</b> ({esc(profile.path)}) · sha256 "
        f'<code title="{esc(profile.sha256)}">{esc(profile.sha256[:12])}</code>'
    )
    if len(profile.chain) > 1:
        profile_text += " · extends " + " → ".join(esc(p.name) for p in profile.chain[1:])
    source = esc(settings.source_label)
    state = view.state
    if state is not None:
        extra = [f"context {state.provenance.context}" if state.provenance.context else ""]
        extra.append(f"Kubernetes {state.provenance.server_version}" if state.provenance.server_version else "")
        source += "".join(f" · {esc(e)}" for e in extra if e)
        if state.provenance.collected_at_known:
            collected = esc(_when(state.provenance.collected_at))
            if state.provenance.mode == "snapshot":
                collected += " (from the snapshot's meta.json)"
        else:
            collected = (
                '<span class="cf-warn">the snapshot records no collection time</span> (no collected_at in '
                "meta.json): grace periods and waiver expiry were measured against the time of evaluation, "
                f"{esc(_when(state.provenance.collected_at))}"
            )
    else:
        collected = '<span class="cf-warn">no cluster state was collected in this run</span>'
    facts = [
        ("Profile", profile_text),
        ("Source", source),
        ("Collected", collected),
        ("Run", esc(settings.run_dir.name)),
    ]
    if view.fleet is not None and view.several:
        fleet = view.fleet
        clusters = "".join(
            f"<li><b>{esc(m.member)}</b>: profile {esc(m.profile.name)} ({esc(m.profile.path)}) · sha256 "
            f'<code title="{esc(m.profile.sha256)}">{esc(m.profile.sha256[:12])}</code> · {esc(m.source_label)}</li>'
            for m in fleet.members
        )
        origin = f" from {esc(fleet.source)}" if fleet.source is not None else ""
        facts = [
            ("Fleet", f"<b>{esc(fleet.name)}</b>{origin}: {_plural(len(fleet.members), 'cluster')}<ul>{clusters}</ul>"),
            ("Run", esc(settings.run_dir.name)),
        ]
    if view.deselected:
        selection = (
            f'<span class="cf-warn">{_plural(view.deselected, "check")} of the profile deselected</span> '
            f"(-k, -m or --deselect): this verdict covers only the {len(view.records)} that ran"
        )
        facts.append(("Selection", selection))
    rows = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in facts)
    nav = " · ".join(
        f'<a href="#{target}">{label}</a>'
        for target, label in (
            *((("cf-fleet", "cluster × check matrix"),) if view.several else ()),
            ("cf-failures", "failures by area"),
            ("cf-waived", "waivers"),
            ("cf-passed", "passed checks"),
            ("cf-matrix", "requirement → evidence → verdict → waiver matrix"),
            ("cf-charts", "charts"),
        )
    )
    state_class = "cf-pass" if passed else "cf-fail"
    return (
        f'<section class="cf-banner {state_class}" id="cf-verdict">'
        f'<div class="cf-verdict">{"GATE PASSED" if passed else "GATE FAILED"}</div>'
        f'<p class="cf-why">{esc(why)}.</p>'
        f'<ul class="cf-counts">{tile_html}</ul>'
        f'<table class="cf-facts">{rows}</table>'
        f'<p class="cf-nav">Jump to: {nav}</p>'
        "</section>"
    )


# --- failures -----------------------------------------------------------------------------------


def _culprits(record: CheckRecord) -> str:
    if not record.culprits:
        return ""
    shown = record.culprits[:MAX_CULPRIT_ROWS]
    rows = "".join(f"<tr><td>{esc(c.name)}</td><td>{esc(c.observed)}</td></tr>" for c in shown)
    more = len(record.culprits) - len(shown)
    if more:
        rows += f'<tr><td colspan="2">… and {more} more (every culprit is in the check\'s row below)</td></tr>'
    return (
        '<table class="cf-table cf-culprits"><thead><tr><th>culprit</th><th>seen</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _card(index: int, record: CheckRecord) -> str:
    observed = record.observed
    if observed is not None and record.inspected is not None:
        observed += f" ({record.inspected} inspected)"
    lines: list[tuple[str, str | None]] = [
        ("Source", record.source),
        ("Profile line", record.origin),
        ("Note", record.note),
        ("Expected", record.expected),
        ("Observed", observed),
    ]
    if record.verdict == "error":
        lines.append(("Reason", record.message.strip() or "(no reason recorded)"))
    if record.waiver is not None:
        w = record.waiver
        covers = ", ".join(dict.fromkeys(w.culprits))
        lines.append(("Partly waived", f"{w.ticket} ({w.owner}, until {w.expires}) covers {covers}"))
    if record.remediation and record.verdict == "failed":
        # An error's fix is in its reason (the data it could not see), not the check's remediation.
        lines.append(("Remediation", record.remediation))
    rows = "".join(
        f"<tr><th>{label}</th><td{' class=cf-pre' if label == 'Reason' else ''}>{esc(value)}</td></tr>"
        for label, value in lines
        if value
    )
    if record.evidence:
        rows += f"<tr><th>Evidence</th><td>{_evidence_links(record)}</td></tr>"
    return (
        f'<article class="cf-check cf-c-{esc(record.verdict)}" id="{_anchor(index)}">'
        f"<h4>{_badge(record.verdict)} {_severity(record.severity)} <code>{esc(record.name)}</code></h4>"
        f'<p class="cf-req">{esc(record.requirement)}</p>'
        f'<table class="cf-kv">{rows}</table>{_culprits(record)}</article>'
    )


def failures(view: RunView) -> str:
    bad = [(i, r) for i, r in enumerate(view.records) if r.verdict in ("failed", "error")]
    if not bad:
        return (
            '<section id="cf-failures"><h2>Failures by area</h2>'
            "<p>None: no check failed and every check could be evaluated.</p></section>"
        )
    by_area: dict[str, list[tuple[int, CheckRecord]]] = {}
    for index, record in bad:
        by_area.setdefault(record.area, []).append((index, record))

    def rank(item: tuple[int, CheckRecord]) -> tuple[int, int, str]:
        record = item[1]
        return SEVERITY_RANK.get(record.severity, len(SEVERITY_RANK)), record.verdict != "failed", record.name

    # The area holding the most severe problem comes first.
    areas = sorted(by_area, key=lambda a: (min(rank(i)[:2] for i in by_area[a]), a))
    parts = ['<section id="cf-failures"><h2>Failures and checks that could not be evaluated, by area</h2>']
    for area in areas:
        items = sorted(by_area[area], key=rank)
        tally = Counter(r.verdict for _, r in items)
        summary = ", ".join(f"{tally[k]} {VERDICT_TEXT[k]}" for k in ("failed", "error") if tally[k])
        parts.append(
            f'<div class="cf-area" data-area="{esc(area)}"><h3>{esc(area)} <small>{esc(summary)}</small></h3>'
            + "".join(_card(i, r) for i, r in items)
            + "</div>"
        )
    parts.append("</section>")
    return "".join(parts)


# --- waivers and passes ---------------------------------------------------------------------------


def waived(view: RunView) -> str:
    covered = [(i, r) for i, r in enumerate(view.records) if r.waiver is not None]
    if not covered:
        return '<section id="cf-waived"><h2>Waived</h2><p>No waiver covered a failure in this run.</p></section>'
    rows = []
    for index, record in covered:
        w = record.waiver
        assert w is not None
        verdict = _badge(record.verdict)
        if record.verdict == "failed":
            verdict += f' <a href="#{_anchor(index)}">(other culprits fail)</a>'
        rows.append(
            "<tr>"
            f"<td><code>{esc(record.name)}</code><br><small>{esc(record.requirement)}</small></td>"
            f"<td>{verdict}</td><td>{esc(w.reason)}</td><td>{esc(w.owner)}</td>"
            f'<td class="cf-ticket">{esc(w.ticket)}</td><td class="cf-nowrap">{esc(w.expires)}</td>'
            f"<td>{esc(', '.join(dict.fromkeys(w.culprits))) or '(all)'}</td>"
            "</tr>"
        )
    return (
        f'<section id="cf-waived"><h2>Waived ({len(covered)})</h2>'
        "<p>Failures the profile grants as exceptions until the waiver expires; they do not fail the gate.</p>"
        '<table class="cf-table cf-waivers"><thead><tr><th>check</th><th>verdict</th><th>reason</th>'
        "<th>owner</th><th>ticket</th><th>expires</th><th>culprits covered</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def passed(view: RunView) -> str:
    ok = sorted((r for r in view.records if r.verdict == "passed"), key=lambda r: (r.area, r.name))
    skipped = [r for r in view.records if r.verdict == "skipped"]
    rows = "".join(
        f"<tr><td>{esc(r.area)}</td><td><code>{esc(r.name)}</code></td><td>{esc(r.requirement)}</td>"
        f"<td>{esc(r.observed or '')}</td></tr>"
        for r in ok
    )
    html = (
        f'<details id="cf-passed" class="cf-fold"><summary>{_plural(len(ok), "check")} passed</summary>'
        '<table class="cf-table"><thead><tr><th>area</th><th>check</th><th>requirement</th><th>observed</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></details>"
    )
    if skipped:
        items = "".join(f"<li><code>{esc(r.name)}</code>: {esc(r.message or 'skipped')}</li>" for r in skipped)
        html += f'<details class="cf-fold"><summary>{len(skipped)} skipped</summary><ul>{items}</ul></details>'
    return html


def matrix(view: RunView) -> str:
    indexed = sorted(enumerate(view.records), key=lambda item: (item[1].area, item[1].name))
    rows = []
    for index, r in indexed:
        name = f"<code>{esc(r.name)}</code>"
        if r.verdict in ("failed", "error"):
            name = f'<a href="#{_anchor(index)}">{name}</a>'
        source = esc(r.source or "")
        if r.origin:
            # Profiles sit together; the directory is in the banner, the file and line are what tell rows apart.
            short = r.origin.removeprefix(f"{view.settings.profile.path.parent}{os.sep}")
            source += f'<br><small class="cf-muted" title="{esc(r.origin)}">{esc(short)}</small>'
        rows.append(
            f'<tr class="cf-row-{esc(r.verdict)}"><td>{esc(r.area)}</td><td>{name}</td><td>{esc(r.requirement)}</td>'
            f"<td>{source}</td><td>{esc(r.severity)}</td><td>{_badge(r.verdict)}</td>"
            f"<td>{_evidence_links(r)}</td><td>{esc(r.waiver.ticket) if r.waiver else ''}</td></tr>"
        )
    return (
        f'<details id="cf-matrix" class="cf-fold"><summary>Requirement → evidence → verdict → waiver matrix '
        f"({_plural(len(rows), 'check')})</summary>"
        '<table class="cf-table cf-matrix"><thead><tr><th>area</th><th>check</th><th>requirement</th>'
        "<th>source</th><th>severity</th><th>verdict</th><th>evidence</th><th>waiver</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></details>"
    )


def fleet_matrix(view: RunView) -> str:
    """Rows are checks, columns the fleet's clusters: one glance says which cluster breaks which promise."""
    if view.fleet is None or not view.several:
        return ""
    clusters = [m.member for m in view.fleet.members]
    cells: dict[tuple[str, str], tuple[int, CheckRecord]] = {}
    areas: dict[str, str] = {}
    for index, r in enumerate(view.records):
        cells[(r.check, r.cluster)] = (index, r)
        areas.setdefault(r.check, r.area)

    def settled(check: str) -> bool:
        return all(cells[(check, c)][1].verdict in ("passed", "waived") for c in clusters if (check, c) in cells)

    rows = []
    # Checks that fail or cannot be evaluated somewhere come first, as in the rest of the report.
    for check in sorted(areas, key=lambda c: (settled(c), areas[c], c)):
        tds = []
        for cluster in clusters:
            found = cells.get((check, cluster))
            if found is None:
                tds.append('<td class="cf-muted" title="not in this cluster\'s profile or not selected">—</td>')
                continue
            index, r = found
            badge = _badge(r.verdict)
            if r.verdict in ("failed", "error"):
                badge = f'<a href="#{_anchor(index)}">{badge}</a>'
            tds.append(f'<td class="cf-row-{esc(r.verdict)}">{badge}</td>')
        rows.append(f"<tr><td>{esc(areas[check])}</td><td><code>{esc(check)}</code></td>{''.join(tds)}</tr>")
    head = "".join(f"<th>{esc(c)}</th>" for c in clusters)
    totals = "".join(f"<td>{_cluster_counts([r for r in view.records if r.cluster == c])}</td>" for c in clusters)
    return (
        f'<section id="cf-fleet"><h2>Cluster × check matrix ({_plural(len(clusters), "cluster")}, '
        f"{_plural(len(rows), 'check')})</h2>"
        '<table class="cf-table cf-fleet"><thead><tr><th>area</th><th>check</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f"<tfoot><tr><th></th><th>per cluster</th>{totals}</tr></tfoot></table></section>"
    )


def _cluster_counts(records: Sequence[CheckRecord]) -> str:
    counts = Counter(r.verdict for r in records)
    return ", ".join(
        f"{counts[v]} {esc(VERDICT_TEXT[v])}" for v in ("passed", "failed", "error", "waived") if counts[v]
    )


# --- charts -------------------------------------------------------------------------------------


def _figure(title: str, body: str) -> str:
    return f'<figure class="cf-figure"><figcaption>{esc(title)}</figcaption>{body}</figure>'


def _note(text: str) -> str:
    return f'<p class="cf-note">{esc(text)}</p>'


def area_chart(view: RunView) -> str:
    areas: dict[str, Counter[str]] = {}
    for record in view.records:
        areas.setdefault(record.area, Counter())[record.verdict] += 1
    if not areas:
        return _note("Checks per area: no check ran.")
    ordered = dict(sorted(areas.items()))
    return _figure("Checks per area", svg.area_bars(ordered))


def _bars(shown: Sequence[NodeUsage], every: Sequence[NodeUsage], resource: str) -> list[svg.Bar]:
    """A cluster-wide bar over every node (what the capacity check judges), then one bar per shown node."""

    def pick(n: NodeUsage) -> tuple[Decimal, Decimal]:
        return (n.cpu_used, n.cpu_allocatable) if resource == "cpu" else (n.memory_used, n.memory_allocatable)

    def bar(label: str, used: Decimal, allocatable: Decimal, emphasis: bool = False) -> svg.Bar:
        if resource == "cpu":
            detail = f"({format_cores(used)} of {format_cores(allocatable)} cores)"
        else:
            detail = f"({format_bytes(used)} of {format_bytes(allocatable)})"
        return svg.Bar(label, float(used / allocatable) if allocatable else 0.0, detail, emphasis)

    used_total = sum((pick(n)[0] for n in every), Decimal(0))
    allocatable_total = sum((pick(n)[1] for n in every), Decimal(0))
    label = f"all {len(every)} nodes" if len(every) != 1 else "the node"
    return [bar(label, used_total, allocatable_total, emphasis=True), *(bar(n.name, *pick(n)) for n in shown)]


def _busiest(node: NodeUsage) -> Decimal:
    cpu = node.cpu_used / node.cpu_allocatable if node.cpu_allocatable else Decimal(0)
    memory = node.memory_used / node.memory_allocatable if node.memory_allocatable else Decimal(0)
    return max(cpu, memory)


def node_chart(view: RunView) -> str:
    if view.several:
        return _note(
            "Node utilization charts are drawn for single-cluster runs; each cluster's node metrics are in its "
            "evidence (evidence/CLUSTER/kubernetes/nodes.metrics.k8s.io.json)."
        )
    capacity = view.settings.profile.profile.capacity
    usage = capacity.usage if capacity is not None else None
    reading = node_usage(view.state)
    if reading.missing is not None:
        return _note(f"Node utilization chart omitted: {reading.missing}.")
    every = reading.nodes
    notes = [f"Left out: {gap}." for gap in reading.gaps]
    shown = sorted(every, key=_busiest, reverse=True)[:MAX_CHART_NODES]
    if len(shown) < len(every):
        notes.append(f"The {MAX_CHART_NODES} busiest of {len(every)} nodes are shown; the totals cover all.")
    shown.sort(key=lambda n: n.name)
    if usage is None:
        notes.append("The profile sets no capacity.usage thresholds, so no threshold line is drawn.")
    elif capacity is not None and capacity.source_of_usage == "prometheus":
        notes.append("The usage checks judge Prometheus' node ratios; this chart shows metrics.k8s.io, as kubectl top.")
    panels: list[tuple[str, Sequence[svg.Bar], float | None]] = [
        ("CPU usage / allocatable", _bars(shown, every, "cpu"), usage.cpu if usage is not None else None),
        (
            "Memory usage / allocatable (working set)",
            _bars(shown, every, "memory"),
            usage.memory if usage is not None else None,
        ),
    ]
    caption = "Node utilization (metrics.k8s.io, as kubectl top nodes) against the profile's capacity.usage"
    return _figure(caption, svg.utilization_panels(panels)) + "".join(_note(n) for n in notes)


def trend_chart(view: RunView) -> str:
    settings = view.settings
    what = f"fleet {view.name}" if view.several else f"profile {view.name}"
    if not view.history:
        note = f"Trend: no earlier run of {what} under {settings.reports_root}; the chart appears from the second run."
        return _note(note) + "".join(_note(p) for p in view.history_problems)
    parsed = parse_run_name(settings.run_dir.name, view.name)
    now = parsed[0] if parsed else datetime.now(UTC)
    points = [svg.TrendPoint(run.label, run.passed, run.failed, run.error) for run in view.history]
    counts = view.counts
    points.append(
        svg.TrendPoint(now.strftime("%m-%d %H:%M"), counts["passed"], counts["failed"], counts["error"], True)
    )
    points = points[-TREND_RUNS:]
    caption = f"Last {len(points)} runs of {what}, oldest to newest (UTC start times)"
    return _figure(caption, svg.trend(points)) + "".join(_note(p) for p in view.history_problems)


def charts(view: RunView, guard: Callable[[str, Callable[[RunView], str]], str]) -> str:
    return (
        '<section id="cf-charts"><h2>Charts</h2>'
        + guard("checks per area", area_chart)
        + guard("node utilization", node_chart)
        + guard("trend", trend_chart)
        + "</section>"
    )


# Markers around the section, so tools and tests can find it in pytest-html's page.
BEGIN = "<!-- conformance summary -->"
END = "<!-- /conformance summary -->"
STYLE = """
<style>
/* pytest-html puts its environment table before the summary; move it below so the verdict comes first. */
body { display: flex; flex-direction: column; }
#environment-header, #environment { order: 1; }
#results-table, footer { order: 2; }
.cf { color: #1f2328; font-size: 13px; line-height: 1.45; max-width: 1280px; margin-bottom: 18px; }
.cf h2 { font-size: 18px; margin: 22px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.cf h3 { font-size: 15px; margin: 14px 0 6px; text-transform: none; }
.cf h3 small { font-weight: normal; color: #57606a; margin-left: 6px; }
.cf h4 { font-size: 13px; margin: 0 0 4px; font-weight: normal; }
.cf p { color: #1f2328; margin: 4px 0; }
.cf a { color: #0b5cad; }
.cf code { font-family: Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere; }
.cf-banner { border: 2px solid; border-radius: 8px; padding: 12px 18px; margin: 6px 0 10px; }
.cf-pass { background: #eaf6ec; border-color: #2e7d32; }
.cf-fail { background: #fdecec; border-color: #c62828; }
.cf-verdict { font-size: 30px; font-weight: 800; letter-spacing: 1px; }
.cf-pass .cf-verdict { color: #1b5e20; }
.cf-fail .cf-verdict { color: #b71c1c; }
.cf-why { font-size: 14px; }
.cf-counts { list-style: none; display: flex; gap: 10px; padding: 0; margin: 10px 0; flex-wrap: wrap; }
.cf-n { background: #fff; border: 1px solid #d0d7de; border-left: 6px solid; border-radius: 6px; padding: 4px 12px;
  min-width: 110px; }
.cf-n b { display: block; font-size: 22px; }
.cf-n span { color: #57606a; }
.cf-n-passed { border-left-color: #2e7d32; }
.cf-n-failed { border-left-color: #c62828; }
.cf-n-error { border-left-color: #e07b00; }
.cf-n-waived { border-left-color: #1f6fb2; }
.cf-n-skipped { border-left-color: #8c8c8c; }
.cf-facts th, .cf-kv th { text-align: left; padding: 2px 14px 2px 0; vertical-align: top; color: #57606a;
  font-weight: 600; white-space: nowrap; }
.cf-facts td, .cf-kv td { padding: 2px 0; vertical-align: top; }
.cf-warn { color: #b35c00; font-weight: 600; }
.cf-nav { margin-top: 8px; }
.cf-check { border: 1px solid #d0d7de; border-left: 5px solid; border-radius: 6px; padding: 8px 12px; margin: 8px 0;
  background: #fff; }
.cf-c-failed { border-left-color: #c62828; }
.cf-c-error { border-left-color: #e07b00; }
.cf-req { font-weight: 600; }
.cf-pre { white-space: pre-wrap; font-family: Menlo, Consolas, monospace; font-size: 12px; }
.cf-badge { display: inline-block; padding: 1px 7px; border-radius: 10px; color: #fff; font-size: 11px;
  font-weight: 700; text-transform: uppercase; white-space: nowrap; }
.cf-b-passed { background: #2e7d32; }
.cf-b-failed { background: #c62828; }
.cf-b-error { background: #e07b00; }
.cf-b-waived { background: #1f6fb2; }
.cf-b-skipped { background: #8c8c8c; }
.cf-sev { display: inline-block; padding: 0 6px; border: 1px solid #8c959f; border-radius: 10px; font-size: 11px;
  color: #424a53; }
.cf-sev-blocker, .cf-sev-critical { border-color: #b71c1c; color: #b71c1c; font-weight: 700; }
.cf-table { border-collapse: collapse; margin: 6px 0; width: 100%; }
.cf-table th, .cf-table td { border: 1px solid #d0d7de; padding: 3px 7px; text-align: left; vertical-align: top;
  color: #1f2328; }
.cf-table thead th { background: #f0f3f6; }
.cf-culprits { width: auto; min-width: 50%; }
.cf-matrix td:nth-child(2), .cf-waivers td:first-child { min-width: 230px; }
.cf-matrix td:nth-child(7) { min-width: 140px; }
.cf-matrix .cf-row-failed td, .cf-matrix .cf-row-error td { background: #fff3f3; }
.cf-fleet td { white-space: nowrap; }
.cf-fleet .cf-row-failed, .cf-fleet .cf-row-error { background: #fff3f3; }
.cf-fold { margin: 12px 0; }
.cf-fold > summary { cursor: pointer; font-size: 15px; font-weight: 600; padding: 6px 0; }
.cf-ticket, .cf-nowrap { white-space: nowrap; font-weight: 600; }
.cf-muted, .cf-note { color: #57606a; }
.cf-ev { margin-right: 6px; display: inline-block; overflow-wrap: anywhere; }
.cf-table small { overflow-wrap: anywhere; }
.cf-figure { margin: 10px 0 6px; }
.cf-figure figcaption { font-weight: 600; margin-bottom: 4px; }
.cf-chart { display: block; max-width: 100%; height: auto; }
</style>
"""


def build(view: RunView, guard: Callable[[str, Callable[[RunView], str]], str]) -> str:
    """The whole auditor's section; `guard` renders one part, turning a bug in it into a visible note."""
    parts: Iterable[tuple[str, Callable[[RunView], str]]] = (
        ("verdict banner", banner),
        ("cluster × check matrix", fleet_matrix),
        ("failures", failures),
        ("waivers", waived),
        ("passed checks", passed),
        ("matrix", matrix),
    )
    body = "".join(guard(name, part) for name, part in parts)
    return f'{STYLE}{BEGIN}<div class="cf">{body}{charts(view, guard)}</div>{END}'
