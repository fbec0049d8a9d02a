"""Static inline SVG charts for the HTML report: no scripts, no fonts, nothing fetched; every label escaped.

The geometry is computed here as a list of shapes with their coordinates already formatted; the one template,
chart.svg.j2, only writes them out, so every label passes Jinja's autoescape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from markupsafe import Markup

from conformance.report.templating import render

SVG_NS = "http://www.w3.org/2000/svg"

# Colour-blind-safe hues; every segment also carries its count as text, so colour is never the only cue.
COLOURS: dict[str, str] = {
    "passed": "#2e7d32",
    "waived": "#1f6fb2",
    "failed": "#c62828",
    "error": "#e07b00",
    "skipped": "#8c8c8c",
}
LABELS: dict[str, str] = {
    "passed": "passed",
    "waived": "waived",
    "failed": "failed",
    "error": "could not evaluate",
    "skipped": "skipped",
}
ORDER = ("passed", "waived", "failed", "error", "skipped")
MUTED = "#57606a"
INK = "#1f2328"
GRID = "#d0d7de"


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


@dataclass(frozen=True)
class Text:
    kind: ClassVar[str] = "text"
    x: str
    y: str
    text: str
    anchor: str
    size: int
    fill: str
    bold: bool


@dataclass(frozen=True)
class Rect:
    kind: ClassVar[str] = "rect"
    x: str
    y: str
    width: str
    height: str
    fill: str
    title: str | None


@dataclass(frozen=True)
class Line:
    kind: ClassVar[str] = "line"
    x1: str
    y1: str
    x2: str
    y2: str
    stroke: str
    width: str | None = None
    dash: str | None = None


@dataclass(frozen=True)
class Polyline:
    kind: ClassVar[str] = "polyline"
    points: str
    stroke: str


@dataclass(frozen=True)
class Circle:
    kind: ClassVar[str] = "circle"
    cx: str
    cy: str
    r: str
    fill: str


Shape = Text | Rect | Line | Polyline | Circle


def _text(
    x: float, y: float, text: str, *, anchor: str = "start", size: int = 12, fill: str = INK, bold: bool = False
) -> Text:
    return Text(_num(x), _num(y), text, anchor, size, fill, bold)


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str | None = None) -> Rect:
    return Rect(_num(x), _num(y), _num(max(w, 0)), _num(h), fill, title or None)


def _line(
    x1: float, y1: float, x2: float, y2: float, stroke: str, width: str | None = None, dash: str | None = None
) -> Line:
    return Line(_num(x1), _num(y1), _num(x2), _num(y2), stroke, width, dash)


def _svg(width: float, height: float, label: str, shapes: Sequence[Shape]) -> Markup:
    return render("chart.svg.j2", ns=SVG_NS, width=_num(width), height=_num(height), label=label, shapes=shapes)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _legend(x: float, y: float, keys: Sequence[str]) -> tuple[list[Shape], float]:
    shapes: list[Shape] = []
    for key in keys:
        shapes.append(_rect(x, y - 10, 12, 12, COLOURS[key]))
        shapes.append(_text(x + 16, y, LABELS[key]))
        x += 16 + 6.5 * len(LABELS[key]) + 16
    return shapes, x


def area_bars(areas: Mapping[str, Mapping[str, int]]) -> Markup:
    """One horizontal stacked bar per area (passed, waived, failed, error, skipped), scaled to the largest area."""
    label_w, bar_w, note_w, row_h = 130, 440, 250, 24
    width = label_w + bar_w + note_w
    present = [k for k in ORDER if any(c.get(k, 0) for c in areas.values())] or ["passed"]
    legend, _ = _legend(label_w, 16, present)
    body = list(legend)
    largest = max((sum(c.values()) for c in areas.values()), default=0) or 1
    y = 32.0
    for area, counts in areas.items():
        total = sum(counts.values())
        body.append(_text(label_w - 8, y + 13, _clip(area, 18), anchor="end", bold=True))
        x = float(label_w)
        for key in ORDER:
            n = counts.get(key, 0)
            if not n:
                continue
            w = bar_w * n / largest
            body.append(_rect(x, y + 2, w, row_h - 6, COLOURS[key], f"{area}: {n} {LABELS[key]}"))
            if w >= 16:
                body.append(_text(x + w / 2, y + 14, str(n), anchor="middle", size=11, fill="#ffffff", bold=True))
            x += w
        bad = [f"{counts[k]} {LABELS[k]}" for k in ("failed", "error", "waived") if counts.get(k)]
        note = f"{total} check{'s' if total != 1 else ''}" + (": " + ", ".join(bad) if bad else ", all passed")
        body.append(_text(x + 8, y + 14, note, fill=MUTED if not bad else INK, size=11))
        y += row_h
    return _svg(width, y + 6, "Checks per area: passed, waived, failed, could not evaluate", body)


@dataclass(frozen=True)
class Bar:
    """One bar of the utilization chart: a share of allocatable, with the text to print beside it."""

    label: str
    ratio: float
    detail: str
    emphasis: bool = False


def utilization_panels(panels: Sequence[tuple[str, Sequence[Bar], float | None]]) -> Markup:
    """Per-node shares of allocatable, one panel per resource, with the profile's threshold as a dashed line.

    panels: (title, bars, threshold ratio or None when the profile sets none).
    """
    label_w, bar_w, note_w, row_h = 170, 380, 260, 22
    width = label_w + bar_w + note_w
    scale_max = max([1.0] + [b.ratio for _, bars, _ in panels for b in bars] + [t or 0 for *_, t in panels])
    body: list[Shape] = []
    y = 0.0
    for title, bars, threshold in panels:
        y += 18
        body.append(_text(0, y, title, bold=True, size=13))
        y += 8
        top = y
        for bar in bars:
            over = threshold is not None and bar.ratio > threshold
            colour = COLOURS["failed"] if over else "#4a6fa5"
            body.append(_text(label_w - 8, y + 14, _clip(bar.label, 26), anchor="end", bold=bar.emphasis))
            body.append(_rect(label_w, y + 3, bar_w, row_h - 6, "#eef1f4"))
            body.append(_rect(label_w, y + 3, bar_w * bar.ratio / scale_max, row_h - 6, colour, bar.label))
            state = " — over threshold" if over else ""
            body.append(_text(label_w + bar_w + 8, y + 14, f"{bar.ratio:.0%} {bar.detail}{state}", size=11))
            y += row_h
        # Axis: 0%, 50%, 100% of allocatable (and beyond, when a node is overcommitted).
        for tick in (0.0, 0.5, 1.0) + ((scale_max,) if scale_max > 1.0 else ()):
            x = label_w + bar_w * tick / scale_max
            body.append(_line(x, top, x, y + 2, GRID))
            body.append(_text(x, y + 14, f"{tick:.0%}", anchor="middle", size=10, fill=MUTED))
        if threshold is not None:
            x = label_w + bar_w * threshold / scale_max
            body.append(_line(x, top - 4, x, y + 2, COLOURS["failed"], width="2", dash="5 3"))
            body.append(_text(x + 4, top + 2, f"threshold {threshold:.0%}", size=10, fill=COLOURS["failed"]))
        y += 22
    return _svg(width, y, "Node utilization against the profile thresholds", body)


@dataclass(frozen=True)
class TrendPoint:
    """One run of the profile: its counts and a short label (`10-22 03:30`)."""

    label: str
    passed: int
    failed: int
    error: int
    current: bool = False


def trend(points: Sequence[TrendPoint]) -> Markup:
    """Passed, failed and could-not-evaluate counts per run, oldest to newest, one row each on its own scale.

    Separate rows keep a handful of failures visible next to a hundred passes.
    """
    label_w, step, row_h, pad = 150, 46, 64, 16
    width = label_w + step * max(len(points), 1) + pad
    series = (("passed", "passed"), ("failed", "failed"), ("error", "could not evaluate"))
    body: list[Shape] = []
    y = 8.0
    xs = [label_w + step * i + step / 2 for i in range(len(points))]
    for index, point in enumerate(points):
        if point.current:
            body.append(_rect(xs[index] - step / 2 + 2, 2, step - 4, row_h * len(series) + 14, "#fff6d6"))
    for key, title in series:
        values = [int(getattr(p, key)) for p in points]
        top = max([*values, 1])
        base = y + row_h - 10
        body.append(_text(0, y + row_h / 2, title, bold=True, fill=COLOURS[key]))
        body.append(_text(0, y + row_h / 2 + 15, f"this run: {values[-1] if values else 0}", size=11, fill=MUTED))
        body.append(_line(label_w, base, width - pad, base, GRID))
        coords = [(x, base - (row_h - 28) * v / top) for x, v in zip(xs, values, strict=True)]
        if len(coords) > 1:
            body.append(Polyline(" ".join(f"{_num(x)},{_num(cy)}" for x, cy in coords), COLOURS[key]))
        for (x, cy), v in zip(coords, values, strict=True):
            body.append(Circle(_num(x), _num(cy), "3.5", COLOURS[key]))
            body.append(_text(x, cy - 7, str(v), anchor="middle", size=10, fill=INK))
        y += row_h
    for x, point in zip(xs, points, strict=True):
        date, _, clock = point.label.partition(" ")
        body.append(_text(x, y + 12, "this run" if point.current else date, anchor="middle", size=10, fill=MUTED))
        body.append(_text(x, y + 24, clock, anchor="middle", size=10, fill=MUTED))
    return _svg(width, y + 30, "Passed, failed and could-not-evaluate counts of the last runs of this profile", body)
