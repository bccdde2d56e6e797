"""The geometry of the coverage-over-time chart: months along x, coverage 0-100% up y, one line
per area and the target across. Drawn by the template as inline SVG (markup, which the pages'
Content-Security-Policy allows; colours come from the stylesheet's classes)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 24, 24, 40
SERIES_COLOURS = 8  # .series-0 … .series-7 in app.css; the total is drawn in its own class


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    month: str
    ratio: float | None


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[Point, ...]
    css: str

    @property
    def path(self) -> str:
        """SVG polyline points; a month without communities breaks nothing (it is left out)."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points if p.ratio is not None)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    series: tuple[Series, ...]
    x_labels: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]
    target_y: float
    target_label: str
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM


def _y(ratio: float) -> float:
    return TOP + (1 - ratio) * (HEIGHT - TOP - BOTTOM)


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * index / (count - 1) if count > 1 else span / 2)


def month_label(month: str, first: bool) -> str:
    """``2026-01`` as 1月, with its year on the first month shown and on every January."""
    year, number = month.split("-")
    return f"{year}年{int(number)}月" if first or number == "01" else f"{int(number)}月"


def chart(months: list[str], lines: list[tuple[str, list[float | None]]], target: float) -> Chart:
    """``lines``: (name, coverage ratio per month) — the scope's own line first."""
    series = []
    for n, (name, ratios) in enumerate(lines):
        points = tuple(
            Point(_x(i, len(months)), _y(r) if r is not None else 0.0, month, r)
            for i, (month, r) in enumerate(zip(months, ratios, strict=True))
        )
        series.append(Series(name, points, "total" if n == 0 else f"series-{(n - 1) % SERIES_COLOURS}"))
    step = max(1, len(months) // 4)  # about four labels fit under a phone's chart
    x_labels = tuple((_x(i, len(months)), month_label(m, i == 0)) for i, m in enumerate(months) if i % step == 0)
    y_ticks = tuple((_y(v / 100), f"{v}%") for v in (0, 25, 50, 75, 100))
    return Chart(WIDTH, HEIGHT, tuple(series), x_labels, y_ticks, _y(target), f"目标 {target * 100:g}%")
