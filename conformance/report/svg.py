"""Static inline SVG charts for the HTML report: no scripts, no fonts, nothing fetched; every label escaped."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _text(
    x: float, y: float, text: str, *, anchor: str = "start", size: int = 12, fill: str = INK, bold: bool = False
) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{weight}>'
        f"{esc(text)}</text>"
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str | None = None, extra: str = "") -> str:
    tooltip = f"<title>{esc(title)}</title>" if title else ""
    return (
        f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(max(w, 0))}" height="{_num(h)}" fill="{fill}"{extra}>'
        f"{tooltip}</rect>"
    )


def _svg(width: float, height: float, label: str, body: Sequence[str]) -> str:
    return (
        f'<svg xmlns="{SVG_NS}" class="cf-chart" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" role="img" aria-label="{esc(label)}" '
        f'font-family="Helvetica, Arial, sans-serif"><title>{esc(label)}</title>' + "".join(body) + "</svg>"
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _legend(x: float, y: float, keys: Sequence[str]) -> tuple[list[str], float]:
    parts: list[str] = []
    for key in keys:
        parts.append(_rect(x, y - 10, 12, 12, COLOURS[key]))
        parts.append(_text(x + 16, y, LABELS[key]))
        x += 16 + 6.5 * len(LABELS[key]) + 16
    return parts, x


def area_bars(areas: Mapping[str, Mapping[str, int]]) -> str:
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


def utilization_panels(panels: Sequence[tuple[str, Sequence[Bar], float | None]]) -> str:
    """Per-node shares of allocatable, one panel per resource, with the profile's threshold as a dashed line.

    panels: (title, bars, threshold ratio or None when the profile sets none).
    """
    label_w, bar_w, note_w, row_h = 170, 380, 260, 22
    width = label_w + bar_w + note_w
    scale_max = max([1.0] + [b.ratio for _, bars, _ in panels for b in bars] + [t or 0 for *_, t in panels])
    body: list[str] = []
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
            body.append(f'<line x1="{_num(x)}" y1="{_num(top)}" x2="{_num(x)}" y2="{_num(y + 2)}" stroke="{GRID}"/>')
            body.append(_text(x, y + 14, f"{tick:.0%}", anchor="middle", size=10, fill=MUTED))
        if threshold is not None:
            x = label_w + bar_w * threshold / scale_max
            body.append(
                f'<line x1="{_num(x)}" y1="{_num(top - 4)}" x2="{_num(x)}" y2="{_num(y + 2)}" '
                f'stroke="{COLOURS["failed"]}" stroke-width="2" stroke-dasharray="5 3"/>'
            )
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


def trend(points: Sequence[TrendPoint]) -> str:
    """Passed, failed and could-not-evaluate counts per run, oldest to newest, one row each on its own scale.

    Separate rows keep a handful of failures visible next to a hundred passes.
    """
    label_w, step, row_h, pad = 150, 46, 64, 16
    width = label_w + step * max(len(points), 1) + pad
    series = (("passed", "passed"), ("failed", "failed"), ("error", "could not evaluate"))
    body: list[str] = []
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
        body.append(
            f'<line x1="{label_w}" y1="{_num(base)}" x2="{_num(width - pad)}" y2="{_num(base)}" stroke="{GRID}"/>'
        )
        coords = [(x, base - (row_h - 28) * v / top) for x, v in zip(xs, values, strict=True)]
        if len(coords) > 1:
            path = " ".join(f"{_num(x)},{_num(cy)}" for x, cy in coords)
            body.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[key]}" stroke-width="2"/>')
        for (x, cy), v in zip(coords, values, strict=True):
            body.append(f'<circle cx="{_num(x)}" cy="{_num(cy)}" r="3.5" fill="{COLOURS[key]}"/>')
            body.append(_text(x, cy - 7, str(v), anchor="middle", size=10, fill=INK))
        y += row_h
    for x, point in zip(xs, points, strict=True):
        date, _, clock = point.label.partition(" ")
        body.append(_text(x, y + 12, "this run" if point.current else date, anchor="middle", size=10, fill=MUTED))
        body.append(_text(x, y + 24, clock, anchor="middle", size=10, fill=MUTED))
    return _svg(width, y + 30, "Passed, failed and could-not-evaluate counts of the last runs of this profile", body)
