"""Server-rendered SVG charts for the dashboards: the geometry of horizontal bar charts and line charts, drawn by
the macros of ``web/templates/dashboards/charts.html``. No scripts, no external services; every chart sits next
to the table with the same numbers (a chart is never the only way to read one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

BAR_HEIGHT = 22
BAR_GAP = 8
LABEL_WIDTH = 150
BAR_AREA = 200
VALUE_WIDTH = 70
LINE_WIDTH, LINE_HEIGHT, LINE_PAD_LEFT, LINE_PAD_BOTTOM, LINE_PAD_TOP = 560, 240, 48, 36, 12


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the value as read in the table
    y: float
    width: float


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    label_width: int = LABEL_WIDTH
    bar_height: int = BAR_HEIGHT


def bar_chart(items: list[tuple[str, float | None, str]], *, maximum: float | None = None) -> BarChart:
    """Bars for ``(label, value, text)``; a None value draws no bar (its text says why)."""
    top = maximum if maximum is not None else max((v for _, v, _ in items if v is not None), default=0) or 1
    bars = []
    for i, (label, value, text) in enumerate(items):
        width = 0.0 if value is None or top <= 0 else max(0.0, min(1.0, value / top)) * BAR_AREA
        bars.append(Bar(label=label, text=text, y=i * (BAR_HEIGHT + BAR_GAP), width=round(width, 1)))
    height = max(1, len(items)) * (BAR_HEIGHT + BAR_GAP)
    return BarChart(bars=bars, width=LABEL_WIDTH + BAR_AREA + VALUE_WIDTH, height=height)


@dataclass(frozen=True)
class Tick:
    pos: float
    text: str


@dataclass(frozen=True)
class LineChart:
    lines: list[tuple[str, str]]  # (css class, SVG points)
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    width: int = LINE_WIDTH
    height: int = LINE_HEIGHT
    left: int = LINE_PAD_LEFT
    bottom: int = LINE_HEIGHT - LINE_PAD_BOTTOM
    top: int = LINE_PAD_TOP


def _nice_top(value: float) -> float:
    if value <= 0:
        return 1
    step = 10 ** max(0, len(str(int(value))) - 1)
    return float(((int(value) // step) + 1) * step)


def line_chart(moments: list[datetime], series: list[tuple[str, list[int]]], label: callable) -> LineChart:
    """Lines over time; ``series`` is ``(css class, values)`` per line, ``label(moment)`` writes an x tick."""
    top = _nice_top(max((max(v, default=0) for _, v in series), default=0))
    plot_w = LINE_WIDTH - LINE_PAD_LEFT - 12
    plot_h = LINE_HEIGHT - LINE_PAD_BOTTOM - LINE_PAD_TOP
    n = len(moments)

    def x(i: int) -> float:
        return round(LINE_PAD_LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2), 1)

    def y(v: float) -> float:
        return round(LINE_PAD_TOP + plot_h * (1 - v / top), 1)

    lines = [(css, " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values))) for css, values in series]
    y_ticks = [Tick(y(top * k / 4), f"{int(top * k / 4):,}") for k in range(5)]
    every = max(1, (n + 5) // 6)
    x_ticks = [Tick(x(i), label(m)) for i, m in enumerate(moments) if i % every == 0 or i == n - 1]
    return LineChart(lines=lines, y_ticks=y_ticks, x_ticks=x_ticks)
