"""The run screen's metrics panel: the curve of one metric at a time, ``m`` for the next.

The panel chooses the charted metric (the primary one while the user has not pressed
``m``, else the one chosen) and titles itself with that metric's latest value; the poll
reads the points of :attr:`MetricsBox.curve_key` after :attr:`MetricsBox.curve_after`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical

from dockyard.tui.text import plain
from dockyard.tui.widgets.metric_chart import MetricChart
from dockyard.tui.widgets.run_details import metric_point, ordered_keys

if TYPE_CHECKING:
    from dockyard.tui.run_poll import RunSnapshot


class MetricsBox(Vertical):
    """The bordered box around the run's :class:`MetricChart`."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.curve_key: str | None = None
        self.curve_loaded = False
        self.key_chosen = False  # m pressed: stop preferring the primary metric
        self.latest: dict[str, tuple[int, float]] = {}
        self.primary: str | None = None

    def compose(self) -> ComposeResult:
        yield MetricChart(
            id="run-chart",
            empty_text="No metrics yet: the run reports them with the tracking client",
        )

    def on_mount(self) -> None:
        self.border_title = "Metrics"

    @property
    def chart(self) -> MetricChart:
        return self.query_one(MetricChart)

    @property
    def curve_after(self) -> int:
        """The last step drawn, or -1 to read the whole (downsampled) curve."""
        return self.chart.last_step if self.curve_loaded else -1

    def show_snapshot(self, snap: RunSnapshot) -> bool:
        """Draw what a poll read; True if the panel wants another poll at once (the
        primary metric showed up after another was charted)."""
        chart = self.chart
        self.latest = snap.latest
        self.primary = primary = snap.info.primary_metric
        if not self.key_chosen and primary in snap.latest and self.curve_key not in (None, primary):
            # The primary metric showed up after another: chart it from the next poll.
            self.curve_key = primary
            self.curve_loaded = False
            chart.clear_curve(primary)
            self.show_title()
            return True
        if self.curve_key is None and snap.curve_key is not None:
            self.curve_key = snap.curve_key
        if snap.curve_key is None or snap.curve_key != self.curve_key:
            self.show_title()
            return False  # drawn for a metric the user has moved away from
        if snap.request.curve_after < 0:
            chart.show_curve(snap.curve_key, snap.curve_points)
            self.curve_loaded = True
        elif self.curve_loaded:
            chart.extend(snap.curve_points)
        self.show_title()
        return False

    def next_metric(self) -> bool:
        """Chart the next metric (``m``); False if there is none yet."""
        keys = ordered_keys(self.latest, self.primary)
        if not keys:
            return False
        index = keys.index(self.curve_key) + 1 if self.curve_key in keys else 0
        self.key_chosen = True
        self.curve_key = keys[index % len(keys)]
        self.curve_loaded = False
        self.chart.clear_curve(self.curve_key)
        self.show_title()
        return True

    def show_title(self) -> None:
        keys = ordered_keys(self.latest, self.primary)
        key = self.curve_key
        if key is None or key not in self.latest:
            self.border_title = "Metrics"
            self.border_subtitle = ""
            return
        step, value = self.latest[key]
        self.border_title = plain(f"{key} {metric_point(step, value)}")
        position = keys.index(key) + 1
        self.border_subtitle = f"{position}/{len(keys)} · m next"
