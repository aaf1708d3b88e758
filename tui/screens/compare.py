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
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual_plotext import PlotextPlot

from dockyard.core.overview import NO_VALUE, human_duration, human_size
from dockyard.core.text import visible
from dockyard.core.workspace import Workspace
from dockyard.tui.errors import describe_error
from dockyard.tui.text import data_text, plain

if TYPE_CHECKING:
    from dockyard.core.comparison import Comparison, Row

#: One marker per series, so the overlaid curves stay apart without colour.
SERIES_MARKERS = ("*", "+", "o", "x", "#", "@", "%", "&", "=", "~")

VERDICT_MARKS = {"better": "+", "worse": "-", "same": "="}
VERDICT_STYLES = {"better": "green", "worse": "red", "same": ""}

#: Row names of core.comparison shown with a friendlier label and unit formatting.
INFO_LABELS = {"training time (s)": "training time", "model size (bytes)": "model size"}

DIFFERS_MARK = "≠"


def _plain(value: Any) -> str:
    """A value as text, control characters made visible (params and names are data)."""
    if value is None:
        return NO_VALUE
    if isinstance(value, float):
        return f"{value:.4g}"
    return visible(str(value))


def info_cell(row: Row, index: int) -> Text:
    """A cell of the project/dataset/run/time/size rows."""
    value = row.values[index]
    if row.name == "training time (s)":
        # Tenths under a minute, so two runs of "11s" that differ do not look equal.
        shown = f"{value:.1f}s" if value is not None and value < 60 else human_duration(value)
        return Text(shown, no_wrap=True)
    if row.name == "model size (bytes)":
        return Text(human_size(value) if value is not None else "- (a run)", no_wrap=True)
    if row.name == "dataset":
        shown = value or "unversioned"
        if index == 0:
            return data_text(shown)
        if value == row.values[0]:
            return Text("same", style="dim", no_wrap=True)
        return data_text(f"{shown} {DIFFERS_MARK}", "bold yellow")
    if row.name == "run":
        return Text(f"run {value}", no_wrap=True)
    style = "bold yellow" if row.differs and index > 0 and value != row.values[0] else ""
    return Text(_plain(value), style=style, no_wrap=True)


def param_cell(row: Row, index: int) -> Text:
    value = row.values[index]
    differs = row.differs and index > 0 and value != row.values[0]
    return Text(_plain(value), style="bold yellow" if differs else "", no_wrap=True)


def metric_cell(row: Row, index: int) -> Text:
    """``0.9874 (+0.0062 +)``: the value, its change against the baseline and the verdict
    as a mark, as the command line prints it; colour repeats the verdict."""
    value = row.values[index]
    if value is None:
        return Text(NO_VALUE, style="dim", no_wrap=True)
    text = Text(_plain(value), no_wrap=True)
    if index == 0:
        return text
    delta = row.deltas[index] if index < len(row.deltas) else None
    verdict = row.verdicts[index] if index < len(row.verdicts) else None
    if delta is None or verdict is None:
        return text
    mark = VERDICT_MARKS.get(verdict, "?")
    change = f" ({mark})" if verdict == "same" else f" ({delta:+.3g} {mark})"
    text.append(change, style=VERDICT_STYLES.get(verdict, ""))
    if verdict != "same":
        text.stylize("bold")
    return text


def row_label(row: Row) -> Text:
    name = visible(INFO_LABELS.get(row.name, row.name))
    if row.differs and row.section != "metric":
        return Text(f"{DIFFERS_MARK} {name}", style="bold", no_wrap=True)
    return Text(f"  {name}", no_wrap=True)


def visible_rows(comparison: Comparison, differences_only: bool) -> list[Row]:
    """The rows to draw: metrics always; info and params only when they differ, if asked
    (the run row always, it names each column's run)."""
    return [
        row
        for row in comparison.rows
        if not differences_only or row.section == "metric" or row.differs or row.name == "run"
    ]


def confusion_text(confusion: dict[str, Any]) -> Text:
    """A confusion matrix as a grid: rows are the true classes (numbered and named),
    columns the predicted ones (by number, so long class names do not widen every
    column); the diagonal, the correct predictions, in bold."""
    matrix = confusion.get("matrix") or []
    cells = [[visible(str(value)) for value in row] for row in matrix]
    size = max([len(cells), *(len(row) for row in cells)])
    names = [
        visible(str(name)) for name in (confusion.get("names") or confusion.get("labels") or [])
    ]
    names += [""] * (size - len(names))
    width = max([len(str(size - 1)), *(len(c) for row in cells for c in row)])
    labels = [f"{index} {name}".rstrip() for index, name in enumerate(names[:size])]
    label_width = max([len(label) for label in labels] + [1])
    text = Text(no_wrap=True)
    text.append(" " * (label_width + 1) + "predicted\n", style="dim")
    text.append(" " * (label_width + 1))
    text.append(" ".join(f"{index:>{width}}" for index in range(size)) + "\n", style="dim")
    for index, row in enumerate(cells):
        text.append(f"{labels[index]:<{label_width}} ", style="dim")
        for column, value in enumerate(row):
            text.append(f"{value:>{width}}", style="bold" if column == index else "")
            if column < len(row) - 1:
                text.append(" ")
        text.append("\n")
    text.rstrip()
    return text


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


# --- widgets ---------------------------------------------------------------------------------


class ComparePage(ScrollableContainer):
    """The whole comparison scrolls as one page: j/k, h/l, g/G, arrows and page keys."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False, id="compare-down"),
        Binding("k", "scroll_up", "Up", show=False, id="compare-up"),
        Binding("h", "scroll_left", "Left", show=False, id="compare-left"),
        Binding("l", "scroll_right", "Right", show=False, id="compare-right"),
        Binding("g", "scroll_home", "Top", show=False, id="compare-top"),
        Binding("G", "scroll_end", "Bottom", show=False, id="compare-bottom"),
    ]

    help_label = "Comparison"


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
