"""The compare screen's table: its cells (what each item was, its params, its metrics
against the baseline) and the page that scrolls the whole comparison."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import ScrollableContainer

from dockyard.core.overview import NO_VALUE, human_duration, human_size
from dockyard.core.text import visible
from dockyard.tui.text import data_text

if TYPE_CHECKING:
    from dockyard.core.comparison import Comparison, Row

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
