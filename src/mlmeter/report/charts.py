"""Inline SVG charts for the HTML report: line/step/scatter charts and histograms, with readable axes.

Pure string building, no plotting library: a chart is a few hundred elements whatever the run's size, because
it is drawn from the summaries in ``result.json``. Each point carries a ``<title>`` so hovering shows its value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")
W, H = 680, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 46


@dataclass(frozen=True)
class Series:
    name: str
    x: Sequence[float]
    y: Sequence[float]
    style: str = "line"  # line | step | points
    color: str = ""
    labels: Sequence[str] = field(default=())
    """Per-point hover text (default: the coordinates)."""


@dataclass(frozen=True)
class Mark:
    """A labelled reference line: vertical at ``x`` or horizontal at ``y``."""

    value: float
    label: str
    vertical: bool = True
    color: str = "#6b7280"


def fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6 or a < 1e-3:
        return f"{v:.3g}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    mults = (1, 2, 5) if b - a <= 3 else (1,)
    return [m * 10**e for e in range(a, b + 1) for m in mults if lo <= m * 10**e <= hi]


class _Axis:
    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool, integer: bool = False) -> None:
        if log:
            lo, hi = math.log10(max(lo, 1e-300)), math.log10(max(hi, 1e-300))
        if integer:
            lo, hi = lo - 0.5, hi + 0.5
        if hi <= lo:
            lo, hi = lo - 1, hi + 1
        self.lo, self.hi, self.a, self.b, self.log, self.integer = lo, hi, a, b, log, integer

    def __call__(self, v: float) -> float:
        if self.log:
            v = math.log10(max(v, 1e-300))
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)

    def ticks(self) -> list[float]:
        if self.log:
            return log_ticks(10**self.lo, 10**self.hi)
        if self.integer:
            return [float(t) for t in range(math.ceil(self.lo), math.floor(self.hi) + 1,
                                            max(1, math.ceil((self.hi - self.lo) / 10)))]
        return nice_ticks(self.lo, self.hi)


def _frame(title: str, x_label: str, y_label: str, body: list[str], kind: str) -> str:
    return (f'<figure class="chart" data-chart="{escape(kind)}"><svg xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">'
            f'<text x="{W / 2}" y="18" class="ct">{escape(title)}</text>' + "".join(body) +
            f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" class="al">{escape(x_label)}</text>'
            f'<text transform="translate(14 {(TOP + H - BOTTOM) / 2}) rotate(-90)" class="al">{escape(y_label)}</text>'
            "</svg></figure>")


def _axes(xa: _Axis, ya: _Axis) -> list[str]:
    out = [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" class="pa"/>']
    for t in ya.ticks():
        y = ya(t)
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="gr"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="ty">{fmt(t)}</text>')
    for t in xa.ticks():
        x = xa(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" class="gr"/>'
                   f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" class="tx">{fmt(t)}</text>')
    return out


def _marks(marks: Sequence[Mark], xa: _Axis, ya: _Axis) -> list[str]:
    out = []
    for i, m in enumerate(marks):
        if m.vertical:
            x = xa(m.value)
            if not LEFT <= x <= W - RIGHT:
                continue
            right = x > LEFT + 0.7 * (W - LEFT - RIGHT)  # labels near the right edge grow leftwards
            anchor = ' text-anchor="end"' if right else ""
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="{m.color}" '
                       f'class="mk"><title>{escape(m.label)}</title></line>'
                       f'<text x="{x - 3 if right else x + 3:.1f}" y="{TOP + 12 + 12 * (i % 3)}" class="ml" '
                       f'fill="{m.color}"{anchor}>{escape(m.label)}</text>')
        else:
            y = ya(m.value)
            if not TOP <= y <= H - BOTTOM:
                continue
            out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{m.color}" '
                       f'class="mk"><title>{escape(m.label)}</title></line>'
                       f'<text x="{W - RIGHT - 4}" y="{y - 4:.1f}" class="ml" text-anchor="end" fill="{m.color}">'
                       f"{escape(m.label)}</text>")
    return out


def xy_chart(title: str, series: Sequence[Series], x_label: str, y_label: str, *, marks: Sequence[Mark] = (),
             log_x: bool = False, log_y: bool = False, y_zero: bool = True, integer_x: bool = False) -> str:
    """Lines, steps or points; an empty chart says "no data" rather than failing. ``integer_x``: whole-number
    ticks with half a step of room at either end (run numbers)."""
    pts = [(x, y) for s in series for x, y in zip(s.x, s.y, strict=False)
           if math.isfinite(x) and math.isfinite(y) and (not log_x or x > 0) and (not log_y or y > 0)]
    if not pts:
        return _frame(title, x_label, y_label, [f'<text x="{W / 2}" y="{H / 2}" class="ct">no data</text>'], "empty")
    xs = [p[0] for p in pts] + [m.value for m in marks if m.vertical]
    ys = [p[1] for p in pts] + [m.value for m in marks if not m.vertical]
    if log_y:
        ylo, yhi = min(ys), max(ys)
    elif y_zero:
        ylo, yhi = min(0.0, min(ys)), max(ys) * 1.08
    else:  # room above and below the data, so nothing sits on the frame
        pad = 0.15 * (max(ys) - min(ys)) or 0.05 * abs(max(ys)) or 1.0
        ylo, yhi = min(ys) - pad, max(ys) + pad
    xa = _Axis(min(xs), max(xs), LEFT, W - RIGHT, log_x, integer_x)
    ya = _Axis(ylo, yhi, H - BOTTOM, TOP, log_y)
    body = _axes(xa, ya)
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        coords = [(xa(x), ya(y), x, y, j) for j, (x, y) in enumerate(zip(s.x, s.y, strict=False))
                  if math.isfinite(x) and math.isfinite(y) and (not log_x or x > 0) and (not log_y or y > 0)]
        if not coords:
            continue
        if s.style in ("line", "step"):
            d = []
            for k, (px, py, *_rest) in enumerate(coords):
                if k and s.style == "step":
                    d.append(f"H{px:.1f}V{py:.1f}")
                else:
                    d.append(f"{'L' if k else 'M'}{px:.1f},{py:.1f}")
            body.append(f'<path d="{"".join(d)}" fill="none" stroke="{color}" class="ln">'
                        f"<title>{escape(s.name)}</title></path>")
        if s.style == "points" or len(coords) <= 60:
            for px, py, x, y, j in coords:
                label = s.labels[j] if j < len(s.labels) else f"{s.name}: {fmt(x)}, {fmt(y)}"
                body.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{3.5 if s.style == "points" else 2.5}" '
                            f'fill="{color}"><title>{escape(label)}</title></circle>')
    body += _marks(marks, xa, ya)
    if len(series) > 1:
        step = min(150.0, (W - LEFT - RIGHT - 16) / len(series))
        for i, s in enumerate(series):
            color = s.color or PALETTE[i % len(PALETTE)]
            x = LEFT + 8 + i * step
            body.append(f'<rect x="{x}" y="{TOP + 4}" width="10" height="10" fill="{color}"/>'
                        f'<text x="{x + 14}" y="{TOP + 13}" class="lg">{escape(s.name)}</text>')
    return _frame(title, x_label, y_label, body, "xy")


def histogram(title: str, edges: Sequence[float], counts: Sequence[int], x_label: str, *,
              marks: Sequence[Mark] = (), log_x: bool = True) -> str:
    """Bars between consecutive ``edges``; a log x axis suits latencies spanning decades."""
    if not counts or len(edges) != len(counts) + 1 or (log_x and edges[0] <= 0):
        return _frame(title, x_label, "samples", [f'<text x="{W / 2}" y="{H / 2}" class="ct">no data</text>'], "empty")
    xa = _Axis(edges[0], edges[-1], LEFT, W - RIGHT, log_x)
    ya = _Axis(0, max(counts) * 1.08 or 1, H - BOTTOM, TOP, False)
    body = _axes(xa, ya)
    for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True):
        if c == 0:
            continue
        x0, x1, y = xa(lo), xa(hi), ya(c)
        body.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 0.5, 0.5):.1f}" '
                    f'height="{H - BOTTOM - y:.1f}" class="bar"><title>{fmt(lo)}–{fmt(hi)}: {c:,}</title></rect>')
    body += _marks(marks, xa, ya)
    return _frame(title, x_label, "samples", body, "histogram")


def bars(title: str, labels: Sequence[str], values: Sequence[float], y_label: str, *,
         marks: Sequence[Mark] = ()) -> str:
    """One bar per label (epochs, runs), with optional horizontal reference lines."""
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return _frame(title, "", y_label, [f'<text x="{W / 2}" y="{H / 2}" class="ct">no data</text>'], "empty")
    top = max(vals + [m.value for m in marks if not m.vertical]) * 1.1 or 1
    ya = _Axis(min(0.0, min(vals)), top, H - BOTTOM, TOP, False)
    body = [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" class="pa"/>']
    for t in ya.ticks():
        body.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{ya(t):.1f}" y2="{ya(t):.1f}" class="gr"/>'
                    f'<text x="{LEFT - 6}" y="{ya(t) + 4:.1f}" class="ty">{fmt(t)}</text>')
    slot = (W - LEFT - RIGHT) / len(values)
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        if not math.isfinite(v):
            continue
        x, y = LEFT + i * slot + slot * 0.15, ya(v)
        body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{ya(0) - y:.1f}" class="bar">'
                    f"<title>{escape(lab)}: {fmt(v)}</title></rect>")
        if len(values) <= 24:
            body.append(f'<text x="{x + slot * 0.35:.1f}" y="{H - BOTTOM + 16}" class="tx">{escape(lab)}</text>')
    xa = _Axis(0, 1, LEFT, W - RIGHT, False)
    body += _marks(marks, xa, ya)
    return _frame(title, "", y_label, body, "bars")
