"""The compare screen: 2 to 10 model versions or runs side by side, the first as baseline.

One table (one column per item): what each was (project, dataset, run, training time,
model size), its parameters (rows that differ marked; ``d`` folds the identical ones
away) and its metrics with the change against the baseline, marked better ``(+)`` or
worse ``(-)`` by each metric's direction as well as coloured. Under it the metric curves
of every item overlaid in one chart (``m`` cycles the metric), and the confusion matrices
side by side when the runs logged them.

:func:`core.comparison.compare` runs in a worker and downsamples curves in SQL, so ten
versions with 100,000 points each still read about a thousand rows.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual_plotext import PlotextPlot

from dockyard.core.text import visible
from dockyard.core.workspace import Workspace
from dockyard.tui.errors import describe_error
from dockyard.tui.text import data_text, plain
from dockyard.tui.widgets.compare_table import (
    DIFFERS_MARK,
    ComparePage,
    confusion_text,
    info_cell,
    metric_cell,
    param_cell,
    row_label,
    visible_rows,
)

if TYPE_CHECKING:
    from dockyard.core.comparison import Comparison

#: One marker per series, so the overlaid curves stay apart without colour.
SERIES_MARKERS = ("*", "+", "o", "x", "#", "@", "%", "&", "=", "~")

# --- messages ---------------------------------------------------------------------------------


class ComparisonLoaded(Message):
    def __init__(self, comparison: Comparison, seconds: float) -> None:
        super().__init__()
        self.comparison = comparison
        self.seconds = seconds


class CompareFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class CompareScreen(Screen[None]):
    """``CompareScreen(workspace, ["wine@1", "wine@3", "run:12"])``; the first is the baseline."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("d", "toggle_differences", "Diff only", id="compare-differences"),
        Binding("m", "next_metric", "Next curve", id="compare-next-metric"),
        Binding("M", "previous_metric", "Previous curve", show=False, id="compare-prev-metric"),
    ]

    AUTO_FOCUS = "#compare-page"

    DEFAULT_CSS = """
    CompareScreen #compare-legend { height: auto; padding: 0 1; color: $text-muted; }
    CompareScreen #compare-page { height: 1fr; }
    CompareScreen #compare-table { height: auto; width: auto; }
    CompareScreen .compare-section { height: auto; padding: 1 1 0 1; }
    CompareScreen #compare-chart { height: 16; min-width: 60; }
    CompareScreen #confusions { height: auto; width: auto; }
    CompareScreen .confusion {
        width: auto;
        height: auto;
        border: round $foreground 30%;
        padding: 0 1;
        margin-right: 1;
    }
    """

    def __init__(self, workspace: Workspace, refs: list[str], *, points: int = 100) -> None:
        super().__init__(classes="compare-screen")
        self.workspace = workspace
        self.refs = list(refs)
        self.points = points
        self.title = "compare"
        self.comparison: Comparison | None = None
        self.differences_only = True
        self.metric_index = 0
        self.started = time.perf_counter()
        #: Seconds from opening the screen to the table and chart drawn (None until then).
        self.shown_after: float | None = None
        #: Seconds the worker spent in core.comparison.compare.
        self.load_seconds: float | None = None
        #: Seconds from opening the screen to the first screen update that shows them.
        self.painted_after: float | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="compare", classes="box"):
            yield Static("Comparing…", id="compare-legend")
            with ComparePage(id="compare-page"):
                yield DataTable[Text](id="compare-table", cursor_type="none", zebra_stripes=True)
                yield Static("", id="curves-title", classes="compare-section")
                yield PlotextPlot(id="compare-chart")
                yield Static("", id="confusions-title", classes="compare-section")
                yield Horizontal(id="confusions")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.started = time.perf_counter()
        names = ", ".join(self.refs)
        self.query_one("#compare", Vertical).border_title = plain(f"Compare {names}")
        self.query_one("#compare-chart", PlotextPlot).display = False
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def _load(self) -> None:
        from dockyard.core.comparison import compare

        started = time.perf_counter()
        try:
            comparison = compare(self.workspace, self.refs, points=self.points)
        except Exception as error:
            self.post_message(CompareFailed(describe_error(error)))
            return
        self.post_message(ComparisonLoaded(comparison, time.perf_counter() - started))

    # --- results ----------------------------------------------------------------------------

    def on_comparison_loaded(self, message: ComparisonLoaded) -> None:
        self.comparison = message.comparison
        self.load_seconds = message.seconds
        labels = message.comparison.labels
        self.query_one("#compare", Vertical).border_title = plain(
            f"Compare {len(labels)} · baseline {labels[0]}"
        )
        self._draw_table()
        self._draw_chart()
        self._draw_confusions()
        self.shown_after = time.perf_counter() - self.started
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        self.painted_after = time.perf_counter() - self.started

    def on_compare_failed(self, message: CompareFailed) -> None:
        self.notify(message.error, title="Cannot compare", severity="error", timeout=8)
        self.query_one("#compare-legend", Static).update(
            data_text(f"Cannot compare: {message.error} (esc goes back)", no_wrap=False)
        )

    # --- drawing ----------------------------------------------------------------------------

    def _draw_table(self) -> None:
        comparison = self.comparison
        if comparison is None:
            return
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        table.add_column("", key="name")
        for index, label in enumerate(comparison.labels):
            heading = f"{label} (baseline)" if index == 0 else label
            table.add_column(data_text(heading, "bold"), key=f"item{index}")
        rows = visible_rows(comparison, self.differences_only)
        count = len(comparison.items)
        section = None
        for row in rows:
            if row.section != section and row.section in ("param", "metric"):
                heading = "Parameters" if row.section == "param" else "Metrics"
                table.add_row(
                    Text(heading, style="bold underline"),
                    *(Text("") for _ in range(count)),
                    key=f"section-{row.section}",
                )
            section = row.section
            draw = {"info": info_cell, "param": param_cell, "metric": metric_cell}[row.section]
            table.add_row(
                row_label(row),
                *(draw(row, index) for index in range(count)),
                key=f"{row.section}:{row.name}",
            )
        hidden = len(comparison.rows) - len(rows)
        self._draw_legend(hidden)

    def _draw_legend(self, hidden: int) -> None:
        comparison = self.comparison
        assert comparison is not None
        text = Text(no_wrap=False)
        text.append("vs baseline: ")
        text.append("(+) better", style="green")
        text.append(" · ")
        text.append("(-) worse", style="red")
        text.append(" · (=) same · ")
        text.append(f"{DIFFERS_MARK} differs", style="bold yellow")
        if self.differences_only and hidden:
            text.append(f" · {hidden} identical rows folded (d shows them)", style="dim")
        elif not self.differences_only:
            text.append(" · all rows (d folds the identical ones)", style="dim")
        datasets = [item.dataset for item in comparison.items]
        if len(set(datasets)) > 1:
            base = datasets[0]
            other = next(d for d in datasets if d != base)
            if base and other:
                command = visible(f"dockyard data diff {base} {other}")
                text.append(f"\ndata differs: `{command}`", style="dim")
        self.query_one("#compare-legend", Static).update(text)

    def _curve_names(self) -> list[str]:
        return sorted(self.comparison.curves) if self.comparison else []

    def _draw_chart(self) -> None:
        comparison = self.comparison
        if comparison is None:
            return
        chart = self.query_one("#compare-chart", PlotextPlot)
        title = self.query_one("#curves-title", Static)
        names = self._curve_names()
        if not names:
            chart.display = False
            title.update(
                Text("No metric was logged over steps by every item: no curves to overlay.")
            )
            return
        self.metric_index %= len(names)
        metric = names[self.metric_index]
        title.update(
            Text.assemble(
                ("Curves: ", "bold"),
                (visible(metric), "bold"),
                f"  ({self.metric_index + 1} of {len(names)}, m: next metric)",
            )
        )
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        for index, (label, points) in enumerate(
            zip(comparison.labels, comparison.curves[metric], strict=False)
        ):
            if not points:
                continue
            steps = [step for step, _value in points]
            values = [value for _step, value in points]
            marker = SERIES_MARKERS[index % len(SERIES_MARKERS)]
            plt.plot(steps, values, label=visible(f"{marker} {label}"), marker=marker)
        plt.xlabel("step")
        chart.display = True
        chart.refresh()

    def _draw_confusions(self) -> None:
        comparison = self.comparison
        if comparison is None:
            return
        box = self.query_one("#confusions", Horizontal)
        title = self.query_one("#confusions-title", Static)
        box.remove_children()
        present = [item for item in comparison.items if item.confusion]
        if not present:
            title.display = False
            box.display = False
            return
        title.update(Text("Confusion matrices (rows: true class)", style="bold"))
        panels = []
        for item in present:
            assert item.confusion is not None
            panel = Static(confusion_text(item.confusion), classes="confusion")
            panel.border_title = plain(item.label)
            panels.append(panel)
        box.mount_all(panels)

    # --- actions ----------------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss()

    def action_toggle_differences(self) -> None:
        self.differences_only = not self.differences_only
        self._draw_table()  # the legend says which it is now

    def action_next_metric(self) -> None:
        self._step_metric(1)

    def action_previous_metric(self) -> None:
        self._step_metric(-1)

    def _step_metric(self, step: int) -> None:
        names = self._curve_names()
        if len(names) < 2:
            self.notify(
                "Only one metric has curves" if names else "No curves to cycle",
                severity="warning",
                timeout=3,
            )
            return
        self.metric_index = (self.metric_index + step) % len(names)
        self._draw_chart()
        # At 80x24 the chart is below the table: bring it into view to show the change.
        self.query_one("#compare-chart", PlotextPlot).scroll_visible(animate=False)
