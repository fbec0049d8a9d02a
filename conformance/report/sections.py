"""The auditor's part of report.html: verdict banner, failures by area, waivers, the requirement matrix, charts.

Each part is laid out by a template of conformance/report/templates from what is decided here (grouping,
ordering, counts, wording); Jinja's autoescape makes every value from a profile, a cluster or a test id text.
"""

from __future__ import annotations

import os
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from markupsafe import Markup

from conformance import gate
from conformance.check import Culprit
from conformance.cluster.state import ClusterState
from conformance.drift import Drift
from conformance.gate import Verdict
from conformance.profile.model_base import SEVERITIES
from conformance.quantity import format_bytes, format_cores
from conformance.records import CheckRecord, WaiverNote, evidence_path
from conformance.report import drift_section, svg, templating
from conformance.report.history import RunCounts, parse_run_name
from conformance.report.usage import NodeUsage, node_usage
from conformance.run.result import StabilityNote
from conformance.run.settings import Fleet, RunSettings

TREND_RUNS = 20  # the current run and up to 19 before it
MAX_CULPRIT_ROWS = 100
MAX_CHART_NODES = 30
DIGEST_SHOWN = 12  # hex digits of a profile's sha256 in the banner; the full digest is its tooltip
VERDICT_TEXT = {
    "passed": "passed",
    "failed": "failed",
    "error": "could not evaluate",
    "waived": "waived",
    "skipped": "skipped",
}
FAILING = ("failed", "error")  # the outcomes the failures section lists and the gate may count
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}
# Markers around the section, so tools and tests can find it in pytest-html's page (constant markup).
BEGIN = Markup("<!-- conformance summary -->")
END = Markup("<!-- /conformance summary -->")

Part = Callable[["RunView"], Markup]
Guard = Callable[[str, Part], Markup]


@dataclass
class RunView:
    """What the report is built from: the run's records, settings, collected state, verdict and earlier runs."""

    records: Sequence[CheckRecord]
    settings: RunSettings
    state: ClusterState | None
    verdict: Verdict  # the run's one verdict, as the exit code says it
    history: Sequence[RunCounts] = ()
    history_problems: Sequence[str] = ()
    deselected: int = 0  # checks of the profile not run (-k, -m, --deselect)
    fleet: Fleet | None = None  # several clusters in one run: the report adds a cluster × check matrix
    new_failures: frozenset[str] | None = None  # --gate=new: the checks failing anew, the only ones that gate
    drift: Drift | None = None  # --compare, --compare-latest: the failures against the baseline
    stability: Sequence[StabilityNote] = ()  # how settling and holding went
    history_source: str | None = None  # the kind of source the trend compares (snapshot, live, mixed)
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

    def gating(self, record: CheckRecord) -> bool:
        """Whether this record's outcome counts for the verdict (the gate the verdict applied)."""
        return gate.gating(record, self.verdict.gate, self.new_failures)


def evidence_href(name: str, cluster: str = "") -> str:
    """The evidence file of a name as conformance.plugin links it: resources by name, service bodies by path."""
    return urllib.parse.quote(evidence_path(name, cluster), safe="/._-~")


def _anchor(index: int) -> str:
    return f"cf-check-{index}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _render(template: str, **context: object) -> Markup:
    """A section's template, with what the shared macros (macros.html.j2) look up."""
    return templating.render(
        template, verdict_text=VERDICT_TEXT, evidence_href=evidence_href, anchor=_anchor, **context
    )


def note(text: str) -> Markup:
    """A muted line under a chart: what it leaves out, or why it is not drawn."""
    return templating.render("note.html.j2", text=text, warn=False)


def warning(text: str) -> Markup:
    """A line the reader must not miss, such as a part of the report that could not be built."""
    return templating.render("note.html.j2", text=text, warn=True)


# --- banner -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileRef:
    name: str
    path: str
    sha256: str

    @property
    def digest(self) -> str:
        return self.sha256[:DIGEST_SHOWN]


@dataclass(frozen=True)
class MemberFacts:
    cluster: str
    profile: ProfileRef
    source: str


@dataclass(frozen=True)
class FleetFacts:
    name: str
    source: str | None
    size: str
    members: Sequence[MemberFacts]


@dataclass(frozen=True)
class Collected:
    at: str
    known: bool  # False: the snapshot has no collection time, `at` is the time of evaluation
    from_snapshot: bool


@dataclass(frozen=True)
class BelowGate:
    index: int
    record: CheckRecord
    text: str


@dataclass(frozen=True)
class DriftLink:
    baseline: str
    counts: str


STABILITY_LABELS = {"settle": "Settle", "hold": "Hold"}


def _why(view: RunView) -> str:
    """The verdict in one sentence, from the checks; the banner puts the verdict's own reason, when set, above it."""
    counts, verdict = view.counts, view.verdict
    if not view.records:
        return "No check was run: nothing was judged, so nothing is vouched for"
    if verdict.failed or verdict.not_evaluated:
        parts = []
        if verdict.failed:
            parts.append(f"{_plural(verdict.failed, 'check')} failed")
        if verdict.not_evaluated:
            parts.append(f"{verdict.not_evaluated} could not be evaluated")
        areas = sorted({r.area for r in view.records if r.verdict in FAILING and view.gating(r)})
        return " and ".join(parts) + f", in {', '.join(areas)}"
    why = f"{_plural(counts['passed'], 'check')} passed"
    if counts["waived"]:
        tickets = sorted({r.waiver.ticket for r in view.records if r.waiver is not None})
        why += f"; {counts['waived']} failing under a waiver ({', '.join(tickets)}), counted as passing"
    return why


BASIS_TEXT = {
    "report": "stated by the report",
    "assumed": "assumed: the report does not state it",
    "observed": "observed on a cluster judged good, not stated by the report",
}


def _resting(view: RunView) -> str:
    """How many gating failures and could-not-evaluate checks rest on an assumption or an observation rather than
    on the report: a failure against an assumed value may be the profile's error, not the cluster's."""
    parts = []
    nouns = {"failed": ("failure", "failures"), "error": ("check", "checks")}
    for verdict, (one, many) in nouns.items():
        judged = [r for r in view.records if r.verdict == verdict and view.gating(r)]
        tail = " that could not be evaluated" if verdict == "error" else ""
        for basis, what in (("assumed", "an assumption"), ("observed", "an observed baseline")):
            n = sum(1 for r in judged if r.basis == basis)
            if n:
                verb = "rests" if n == 1 else "rest"
                noun = one if len(judged) == 1 else many
                parts.append(f"{n} of {len(judged)} {noun}{tail} {verb} on {what}, not on the report")
    return "; ".join(parts)


def _collected(state: ClusterState | None) -> Collected | None:
    if state is None:
        return None
    provenance = state.provenance
    return Collected(_when(provenance.collected_at), provenance.collected_at_known, provenance.mode == "snapshot")


def _source(settings: RunSettings, state: ClusterState | None) -> str:
    parts = [settings.source_label]
    if state is not None and state.provenance.context:
        parts.append(f"context {state.provenance.context}")
    if state is not None and state.provenance.server_version:
        parts.append(f"Kubernetes {state.provenance.server_version}")
    return " · ".join(parts)


def _fleet_facts(fleet: Fleet) -> FleetFacts:
    members = [
        MemberFacts(m.member, ProfileRef(m.profile.name, str(m.profile.path), m.profile.sha256), m.source_label)
        for m in fleet.members
    ]
    source = str(fleet.source) if fleet.source is not None else None
    return FleetFacts(fleet.name, source, _plural(len(fleet.members), "cluster"), members)


def banner(view: RunView) -> Markup:
    counts, settings, profile = view.counts, view.settings, view.settings.profile
    tiles = [("passed", counts["passed"]), ("failed", counts["failed"]), ("error", counts["error"])]
    tiles.append(("waived", counts["waived"]))
    if counts["skipped"]:
        tiles.append(("skipped", counts["skipped"]))
    below = [
        BelowGate(i, r, f"{VERDICT_TEXT[r.verdict]}, {r.severity}")
        for i, r in enumerate(view.records)
        if r.verdict in FAILING and not view.gating(r)
    ]
    nav = [
        *((("cf-fleet", "cluster × check matrix"),) if view.several else ()),
        ("cf-failures", "failures by area"),
        *((("cf-drift", "drift"),) if view.drift is not None else ()),
        ("cf-waived", "waivers"),
        ("cf-passed", "passed checks"),
        ("cf-matrix", "requirement → evidence → verdict → waiver matrix"),
        ("cf-charts", "charts"),
    ]
    return _render(
        "banner.html.j2",
        verdict=view.verdict,
        why=_why(view),
        resting=_resting(view),
        below=below,
        below_count=len(below),
        tiles=tiles,
        fleet=_fleet_facts(view.fleet) if view.fleet is not None and view.several else None,
        profile=ProfileRef(profile.name, str(profile.path), profile.sha256),
        extends=[p.name for p in profile.chain[1:]],
        source=_source(settings, view.state),
        collected=_collected(view.state),
        run=settings.run_dir.name,
        deselected=_plural(view.deselected, "check") if view.deselected else "",
        ran=len(view.records),
        # Settling and holding are the post-deploy gate's own story: the banner says it as the terminal does.
        stability=[(STABILITY_LABELS.get(n.kind, n.kind), n.ok, n.summary) for n in view.stability],
        drift=DriftLink(view.drift.baseline.name, drift_section.counts(view.drift)) if view.drift else None,
        nav=nav,
    )


# --- failures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CulpritRow:
    """A culprit as its table shows it: name, what was seen, and a line per failing container."""

    name: str
    seen: str
    notes: Sequence[str] = ()

    @classmethod
    def of(cls, culprit: Culprit) -> CulpritRow:
        return cls(culprit.name, culprit.observed, [c.describe() for c in culprit.containers])


@dataclass(frozen=True)
class Card:
    """One failing or could-not-evaluate check: its labelled lines and the culprit rows shown."""

    index: int
    record: CheckRecord
    gating: bool
    lines: Sequence[tuple[str, str, bool]]  # label, value, preformatted
    culprits: Sequence[CulpritRow]
    more: Sequence[CulpritRow]  # beyond MAX_CULPRIT_ROWS: folded, never left out


@dataclass(frozen=True)
class Area:
    name: str
    summary: str
    cards: Sequence[Card]


def _card(index: int, record: CheckRecord, gating: bool) -> Card:
    observed = record.observed
    if observed is not None and record.inspected is not None:
        observed += f" ({record.inspected} inspected)"
    lines: list[tuple[str, str | None]] = [
        ("Source", record.source),
        ("Basis", BASIS_TEXT.get(record.basis or "", record.basis)),
        ("Profile line", record.origin),
        ("Note", record.note),
        ("Expected", record.expected),
        ("Observed", observed),
    ]
    if record.verdict == "error":
        lines.append(("Reason", record.message.strip() or "(no reason recorded)"))
    if record.waiver is not None:
        w = record.waiver
        lines.append(("Partly waived", f"{w.ticket} ({w.owner}, until {w.expires}) covers {', '.join(w.culprits)}"))
    if record.remediation and record.verdict == "failed":
        # An error's fix is in its reason (the data it could not see), not the check's remediation.
        lines.append(("Remediation", record.remediation))
    rows = [CulpritRow.of(c) for c in record.culprits]
    return Card(
        index,
        record,
        gating,
        [(label, value, label in ("Reason", "Remediation")) for label, value in lines if value],
        rows[:MAX_CULPRIT_ROWS],
        rows[MAX_CULPRIT_ROWS:],
    )


def failures(view: RunView) -> Markup:
    """Every failure and could-not-evaluate check, gating or not: those below the gate are marked so."""
    by_area: dict[str, list[tuple[int, CheckRecord]]] = {}
    for index, record in enumerate(view.records):
        if record.verdict in FAILING:
            by_area.setdefault(record.area, []).append((index, record))

    def rank(item: tuple[int, CheckRecord]) -> tuple[int, int, str]:
        record = item[1]
        return SEVERITY_RANK.get(record.severity, len(SEVERITY_RANK)), record.verdict != "failed", record.name

    # The area holding the most severe problem comes first.
    names = sorted(by_area, key=lambda a: (min(rank(i)[:2] for i in by_area[a]), a))
    areas = []
    for name in names:
        items = sorted(by_area[name], key=rank)
        tally: Counter[str] = Counter(r.verdict for _, r in items)
        summary = [f"{tally[k]} {VERDICT_TEXT[k]}" for k in FAILING if tally[k]]
        below = sum(1 for _, r in items if not view.gating(r))
        if below:
            summary.append(f"{below} below the gate")
        cards = [_card(i, r, view.gating(r)) for i, r in items]
        areas.append(Area(name, ", ".join(summary), cards))
    return _render("failures.html.j2", areas=areas)


def drift(view: RunView) -> Markup:
    """The failures against the baseline (with --compare), right after this run's own."""
    return drift_section.section(view.drift, view.name) if view.drift is not None else Markup()


# --- waivers and passes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WaivedRow:
    index: int
    record: CheckRecord
    waiver: WaiverNote
    covers: str
    others_fail: bool  # a partial waiver: the check still fails on culprits it does not cover


def waived(view: RunView) -> Markup:
    rows = [
        WaivedRow(i, r, r.waiver, ", ".join(r.waiver.culprits) or "(all)", r.verdict == "failed")
        for i, r in enumerate(view.records)
        if r.waiver is not None
    ]
    return _render("waived.html.j2", rows=rows, count=len(rows))


def passed(view: RunView) -> Markup:
    ok = sorted((r for r in view.records if r.verdict == "passed"), key=lambda r: (r.area, r.name))
    skipped = [r for r in view.records if r.verdict == "skipped"]
    return _render(
        "passed.html.j2",
        title=f"{_plural(len(ok), 'check')} passed",
        passed=ok,
        skipped=skipped,
        skipped_title=f"{len(skipped)} skipped",
    )


@dataclass(frozen=True)
class MatrixRow:
    index: int
    record: CheckRecord
    linked: bool  # failing or could not evaluate: the check links to its card
    origin: str  # the profile file and line, short; "" when the check has none
    ticket: str


def matrix(view: RunView) -> Markup:
    indexed = sorted(enumerate(view.records), key=lambda item: (item[1].area, item[1].name))
    # Profiles sit together; the directory is in the banner, the file and line are what tell rows apart.
    directory = f"{view.settings.profile.path.parent}{os.sep}"
    rows = [
        MatrixRow(
            index,
            r,
            r.verdict in FAILING,
            r.origin.removeprefix(directory) if r.origin else "",
            r.waiver.ticket if r.waiver else "",
        )
        for index, r in indexed
    ]
    return _render("matrix.html.j2", rows=rows, title=_plural(len(rows), "check"))


@dataclass(frozen=True)
class FleetCell:
    index: int
    record: CheckRecord
    linked: bool


@dataclass(frozen=True)
class FleetRow:
    area: str
    check: str
    cells: Sequence[FleetCell | None]  # None: the check is not in that cluster's run


def fleet_matrix(view: RunView) -> Markup:
    """Rows are checks, columns the fleet's clusters: one glance says which cluster breaks which promise."""
    if view.fleet is None or not view.several:
        return Markup()
    clusters = [m.member for m in view.fleet.members]
    cells: dict[tuple[str, str], tuple[int, CheckRecord]] = {}
    areas: dict[str, str] = {}
    for index, r in enumerate(view.records):
        cells[(r.check, r.cluster)] = (index, r)
        areas.setdefault(r.check, r.area)

    def settled(check: str) -> bool:
        return all(cells[(check, c)][1].verdict in ("passed", "waived") for c in clusters if (check, c) in cells)

    def cell(check: str, cluster: str) -> FleetCell | None:
        found = cells.get((check, cluster))
        if found is None:
            return None
        return FleetCell(found[0], found[1], found[1].verdict in FAILING)

    # Checks that fail or cannot be evaluated somewhere come first, as in the rest of the report.
    rows = [
        FleetRow(areas[check], check, [cell(check, c) for c in clusters])
        for check in sorted(areas, key=lambda c: (settled(c), areas[c], c))
    ]
    totals = [_cluster_counts([r for r in view.records if r.cluster == c]) for c in clusters]
    title = f"{_plural(len(clusters), 'cluster')}, {_plural(len(rows), 'check')}"
    return _render("fleet_matrix.html.j2", title=title, clusters=clusters, rows=rows, totals=totals)


def _cluster_counts(records: Sequence[CheckRecord]) -> str:
    counts = Counter(r.verdict for r in records)
    return ", ".join(f"{counts[v]} {VERDICT_TEXT[v]}" for v in ("passed", "failed", "error", "waived") if counts[v])


# --- charts -------------------------------------------------------------------------------------


def _figure(caption: str, chart: Markup) -> Markup:
    return templating.render("figure.html.j2", caption=caption, chart=chart)


def _notes(texts: Iterable[str]) -> list[Markup]:
    return [note(text) for text in texts]


def area_chart(view: RunView) -> Markup:
    areas: dict[str, Counter[str]] = {}
    for record in view.records:
        areas.setdefault(record.area, Counter())[record.verdict] += 1
    if not areas:
        return note("Checks per area: no check ran.")
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


def node_chart(view: RunView) -> Markup:
    if view.several:
        return note(
            "Node utilization charts are drawn for single-cluster runs; each cluster's node metrics are in its "
            "evidence (evidence/CLUSTER/kubernetes/nodes.metrics.k8s.io.json)."
        )
    capacity = view.settings.profile.profile.capacity
    usage = capacity.usage if capacity is not None else None
    reading = node_usage(view.state)
    if reading.missing is not None:
        return note(f"Node utilization chart omitted: {reading.missing}.")
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
    return Markup().join([_figure(caption, svg.utilization_panels(panels)), *_notes(notes)])


SOURCE_TEXT = {"snapshot": "from snapshots", "live": "from live clusters", "mixed": "from snapshots and live clusters"}


def trend_chart(view: RunView) -> Markup:
    settings = view.settings
    what = f"fleet {view.name}" if view.several else f"profile {view.name}"
    if view.history_source is not None:
        # Like with like: a snapshot re-judged and a live cluster are different series.
        what += f" {SOURCE_TEXT.get(view.history_source, 'from ' + view.history_source)}"
    problems = _notes(view.history_problems)
    if not view.history:
        text = f"Trend: no earlier run of {what} under {settings.reports_root}; the chart appears from the second run."
        return Markup().join([note(text), *problems])
    parsed = parse_run_name(settings.run_dir.name, view.name)
    now = parsed[0] if parsed else datetime.now(UTC)
    points = [svg.TrendPoint(run.label, run.passed, run.failed, run.error) for run in view.history]
    counts = view.counts
    points.append(
        svg.TrendPoint(now.strftime("%m-%d %H:%M"), counts["passed"], counts["failed"], counts["error"], True)
    )
    points = points[-TREND_RUNS:]
    caption = f"Last {len(points)} runs of {what}, oldest to newest (UTC start times)"
    return Markup().join([_figure(caption, svg.trend(points)), *problems])


def charts(view: RunView, guard: Guard) -> Markup:
    parts = [guard("checks per area", area_chart), guard("node utilization", node_chart), guard("trend", trend_chart)]
    return templating.render("charts.html.j2", parts=parts)


def build(view: RunView, guard: Guard) -> str:
    """The whole auditor's section; `guard` renders one part, turning a bug in it into a visible note."""
    parts: Iterable[tuple[str, Part]] = (
        ("verdict banner", banner),
        ("cluster × check matrix", fleet_matrix),
        ("failures", failures),
        ("drift", drift),
        ("waivers", waived),
        ("passed checks", passed),
        ("matrix", matrix),
    )
    body = [guard(name, part) for name, part in parts]
    # A plain str leaves the templates: the redaction layer edits the page's text with str methods.
    return str(templating.render("summary.html.j2", begin=BEGIN, end=END, parts=[*body, charts(view, guard)]))
