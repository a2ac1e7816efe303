"""Chart geometry for server-drawn SVG (no JavaScript, no inline styles).

The app runs under a strict Content Security Policy, so charts are plain SVG
markup rendered by a template (``coordination/_charts.html``) from the numbers
computed here; colours come from CSS classes. Every chart also gets a text
alternative (``<title>``/``<desc>``) and a data table next to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .services import MonthCount, StepCount

WIDTH = 640
HEIGHT = 280
LEFT = 44  # room for the axis labels
RIGHT = 12
TOP = 24  # room for the value above the highest bar
BOTTOM = 52  # room for two lines of category labels


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Bar:
    label: str
    sublabel: str
    value: int
    x: float
    y: float
    width: float
    height: float
    highlight: bool = False

    @property
    def center(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class Point:
    label: str
    sublabel: str
    value: int
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    """What the SVG template needs: the frame, the axis and the marks."""

    id: str
    title: str
    desc: str
    width: int
    height: int
    baseline: float
    left: float
    right: float
    ticks: list[Tick]
    bars: list[Bar]
    points: list[Point]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def area(self) -> str:
        """The polyline closed along the baseline, for a soft fill under the line."""
        if not self.points:
            return ""
        return f"{self.points[0].x:.1f},{self.baseline:.1f} {self.polyline} {self.points[-1].x:.1f},{self.baseline:.1f}"


def nice_max(value: int) -> int:
    """A round axis maximum at or above ``value``: 1, 2, 5 or 10 times a power of ten."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _ticks(top: int, baseline: float, plot_height: float) -> list[Tick]:
    """Whole-number gridlines from 0 to ``top`` (a ``nice_max``): at most six."""
    step = top // 5 if top >= 5 and top % 5 == 0 else 1
    values = list(range(0, top + 1, step))
    return [Tick(baseline - plot_height * v / top, v) for v in values]


def _frame() -> tuple[float, float, float, float]:
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = HEIGHT - BOTTOM
    return plot_width, plot_height, baseline, float(LEFT)


def _chart(chart_id: str, title: str, desc: str, top: int, *, bars: list[Bar] | None = None,
           points: list[Point] | None = None) -> Chart:
    """The shared frame and axis around a chart's marks."""
    _width, plot_height, baseline, left = _frame()
    return Chart(chart_id, title, desc, WIDTH, HEIGHT, baseline, left, WIDTH - RIGHT,
                 _ticks(top, baseline, plot_height), bars or [], points or [])


def bar_chart(
    chart_id: str, title: str, desc: str, items: list[tuple[str, str, int]], highlight: int | None = None
) -> Chart:
    """Vertical bars; ``items`` are (label, second label line, value)."""
    plot_width, plot_height, baseline, left = _frame()
    top = nice_max(max((v for _l, _s, v in items), default=0))
    slot = plot_width / max(1, len(items))
    width = slot * 0.62
    bars = []
    for index, (label, sublabel, value) in enumerate(items):
        height = plot_height * value / top
        x = left + index * slot + (slot - width) / 2
        bars.append(
            Bar(
                label,
                sublabel,
                value,
                round(x, 1),
                round(baseline - height, 1),
                round(width, 1),
                round(height, 1),
                highlight == index,
            )
        )
    return _chart(chart_id, title, desc, top, bars=bars)


def line_chart(chart_id: str, title: str, desc: str, items: list[tuple[str, str, int]]) -> Chart:
    """A line with a marker and value per point; ``items`` as in ``bar_chart``."""
    plot_width, plot_height, baseline, left = _frame()
    top = nice_max(max((v for _l, _s, v in items), default=0))
    slot = plot_width / max(1, len(items))
    points = [
        Point(
            label,
            sublabel,
            value,
            round(left + slot * (index + 0.5), 1),
            round(baseline - plot_height * value / top, 1),
        )
        for index, (label, sublabel, value) in enumerate(items)
    ]
    return _chart(chart_id, title, desc, top, points=points)


def charts_for(counts: Sequence[StepCount], months: Sequence[MonthCount]) -> tuple[Chart, Chart]:
    """The dashboard's two charts: where partnerships are now, and progress per month.
    A function of its arguments and the language only (the figures fragment calls it)."""
    from ..i18n import format_day as format_date
    from ..i18n import gettext as _
    from .services import DONE

    step_items = [
        (_("Stap %(n)d", n=c.step) if c.step != DONE else _("Ronde"), "" if c.step != DONE else _("afgerond"), c.count)
        for c in counts
    ]
    spoken = "; ".join(
        (
            _("stap %(n)d: %(count)d", n=c.step, count=c.count)
            if c.step != DONE
            else _("ronde afgerond: %(count)d", count=c.count)
        )
        for c in counts
    )
    steps = bar_chart(
        "chart-steps",
        _("Samenwerkingen per huidige stap"),
        _("Staafdiagram met het aantal samenwerkingen per stap waar ze nu het verst zijn: %(list)s.", list=spoken),
        step_items,
        highlight=len(step_items) - 1,
    )
    # The last month is the current one, counted so far: said so, so that a low count
    # early in the month does not read as a drop.
    so_far = _("tot nu")
    last = len(months) - 1
    month_items = [
        (format_date(m.month, "LLL").rstrip("."),
         so_far if i == last else str(m.month.year) if i == 0 or m.month.month == 1 else "", m.count)
        for i, m in enumerate(months)
    ]
    spoken_months = "; ".join(
        f"{format_date(m.month, 'LLLL yyyy')}{f' ({so_far})' if i == last else ''}: {m.count}"
        for i, m in enumerate(months))
    per_month = line_chart(
        "chart-months",
        _("Afgeronde stappen per maand"),
        _(
            "Lijndiagram van het aantal afgeronde stappen per maand in de afgelopen twaalf maanden "
            "(stap 1 tot en met 3 tellen per organisatie): %(list)s.",
            list=spoken_months,
        ),
        month_items,
    )
    return steps, per_month
