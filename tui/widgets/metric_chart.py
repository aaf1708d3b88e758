"""One metric's curve, drawn with plotext in braille dots, fed point by point.

The chart keeps the points it was given (a downsampled history, then the new points as
they arrive) and at most :data:`MAX_KEPT_POINTS` of them: past that, every other point of
the older part is dropped, so memory stays flat however long a run logs. Drawing thins the
points to about two per cell of width, so a redraw costs the same for 100 points or
100,000. This module imports plotext: load it lazily (the run screen does).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from dockyard.tui.text import visible

#: Points kept in memory; older ones are thinned past this.
MAX_KEPT_POINTS = 4000

#: Points drawn per cell of width (braille has two dot columns a cell).
POINTS_PER_CELL = 2


def thin(points: Sequence[tuple[int, float]], wanted: int) -> list[tuple[int, float]]:
    """About ``wanted`` evenly spaced points of ``points``, always keeping the last one."""
    if wanted <= 0 or len(points) <= wanted:
        return list(points)
    stride = len(points) / wanted
    picked = [points[int(index * stride)] for index in range(wanted - 1)]
    picked.append(points[-1])
    return picked


def step_ticks(first: int, last: int) -> list[int]:
    """Up to three whole steps to label the x axis with: first, middle, last."""
    if last <= first:
        return [first]
    if last - first == 1:
        return [first, last]
    return [first, (first + last) // 2, last]


class MetricChart(PlotextPlot):
    """A line chart of one metric against its step; ``empty_text`` when it has no points,
    and the value itself when it has one (a chart of one point says nothing)."""

    DEFAULT_CSS = """
    MetricChart {
        width: 1fr;
        height: 1fr;
    }
    """

    def __init__(
        self,
        *,
        empty_text: str = "No metrics yet",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.empty_text = empty_text
        self.key: str | None = None
        self._points: list[tuple[int, float]] = []

    @property
    def points(self) -> list[tuple[int, float]]:
        """The points held (after any thinning of old ones), oldest first."""
        return list(self._points)

    @property
    def last_step(self) -> int:
        """The step of the newest point, or -1 when there is none."""
        return self._points[-1][0] if self._points else -1

    def show_curve(self, key: str | None, points: Sequence[tuple[int, float]]) -> None:
        """Replace the curve with ``points`` of ``key``."""
        self.key = key
        self._points = list(points)
        self._bound_memory()
        self.refresh()

    def extend(self, points: Sequence[tuple[int, float]]) -> None:
        """Add points newer than the last one held (older or repeated steps are skipped)."""
        last = self.last_step
        fresh = [point for point in points if point[0] > last]
        if not fresh:
            return
        self._points.extend(fresh)
        self._bound_memory()
        self.refresh()

    def clear_curve(self, key: str | None = None) -> None:
        self.show_curve(key, [])

    def _bound_memory(self) -> None:
        if len(self._points) <= MAX_KEPT_POINTS:
            return
        # Thin the older half; the recent half keeps its full resolution.
        half = len(self._points) // 2
        self._points = self._points[:half:2] + self._points[half:]

    def render(self) -> RenderResult:
        if not self._points:
            return Text(self.empty_text, style="dim", justify="center")
        if len(self._points) == 1:
            # one point is a dot on axes that mean nothing: the number itself says more
            step, value = self._points[0]
            single = Text(justify="center")
            single.append(f"{visible(self.key or 'value')} = ")  # a key is data
            single.append(f"{value:.8g}", style="bold")
            single.append(f"\nlogged once (step {step})", style="dim")
            return single
        shown = thin(self._points, max(2, self.size.width * POINTS_PER_CELL))
        plt = self.plt
        plt.clear_data()
        plt.frame(False)
        plt.yfrequency(3)
        steps = [step for step, _ in shown]
        ticks = step_ticks(steps[0], steps[-1])
        plt.xticks([float(tick) for tick in ticks], [str(tick) for tick in ticks])
        plt.plot(steps, [value for _, value in shown], marker="braille")
        return super().render()
