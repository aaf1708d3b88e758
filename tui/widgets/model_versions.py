"""The model screen's parts: the versions table, the alias moves under it and the report
view beside it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from dockyard.core.overview import NO_VALUE, archived_cell, as_utc, format_metric, human_age
from dockyard.core.text import visible
from dockyard.tui.text import data_text

if TYPE_CHECKING:
    from dockyard.core.registry import VersionInfo

TAG_MARK = "*"

VERSION_COLUMNS = ("Ver", "Aliases", "Metric", "Run", "Data", "Created", "Description")
METRIC_COLUMN = 2


class VersionsTable(DataTable[Text]):
    BINDINGS = [
        Binding("enter", "select_cursor", "Report", id="model-open-report"),
        Binding("j", "cursor_down", "Down", show=False, id="versions-cursor-down"),
        Binding("k", "cursor_up", "Up", show=False, id="versions-cursor-up"),
        Binding("g", "first_row", "First row", show=False, id="versions-first-row"),
        Binding("G", "last_row", "Last row", show=False, id="versions-last-row"),
    ]

    help_label = "Versions"

    #: The primary metric every version shares, which names the metric column.
    metric_heading: str | None = None

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def show_versions(self, versions: list[VersionInfo], tagged: list[int], now: datetime) -> None:
        """One row per version, the tagged ones marked (the cursor is the caller's)."""
        metrics = {info.primary_metric for info in versions}
        # One primary metric for every version (the usual case): it names the column.
        self.metric_heading = metrics.pop() if len(metrics) == 1 else None
        self.clear(columns=True)
        for index, heading in enumerate(VERSION_COLUMNS):
            if index == METRIC_COLUMN and self.metric_heading:
                heading = self.metric_heading
            self.add_column(data_text(heading), key=f"c{index}")
        for info in versions:
            self.add_row(*self.cells(info, info.version in tagged, now), key=str(info.version))

    def redraw_tag(self, info: VersionInfo, tagged: bool, now: datetime) -> None:
        """Mark or unmark one version's row."""
        cells = self.cells(info, tagged, now)
        self.update_cell(str(info.version), "c0", cells[0], update_width=True)

    def cells(self, info: VersionInfo, tagged: bool, now: datetime) -> list[Text]:
        """The row of ``info``; an archived version (shown by ``H``) dimmed and marked in
        the first cell, as in the home screen's panes."""
        archived = info.archived_at is not None
        version = Text(
            archived_cell(f"{TAG_MARK if tagged else ''}v{info.version}", archived),
            style="bold magenta" if tagged else "",
            no_wrap=True,
        )
        aliases = data_text(", ".join(info.aliases) or NO_VALUE, "bold" if info.aliases else "")
        created = as_utc(info.created_at)
        metric = (
            format_metric(None, info.primary_value)
            if self.metric_heading
            else format_metric(info.primary_metric, info.primary_value)
        )
        cells = [
            version,
            aliases,
            data_text(metric),
            Text(str(info.run_id)),
            data_text(info.dataset or NO_VALUE),
            Text(human_age(created, now), no_wrap=True),
            data_text(info.description or ""),
        ]
        if archived:
            for cell in cells:
                cell.stylize("dim")
        return cells


class AliasMoves(Static):
    """Every move of the model's aliases, newest first, with who moved it and when."""

    def show(self, history: list[dict[str, Any]], warning: str | None, now: datetime) -> None:
        """``warning`` (a broken audit chain) comes first, in full."""
        text = Text(no_wrap=True, overflow="ellipsis")
        if warning:
            # wraps, unlike the moves: the whole warning must be readable at 80 columns
            text = Text(warning + "\n", style="bold red", overflow="fold")
        if not history:
            text.append("No alias has been set yet (a sets one).", style="dim")
        for move in reversed(history):
            source, target = move.get("from"), move.get("to")
            if target is None:
                change = f" removed from v{source}"
            elif source is None:
                change = f" set on v{target}"
            else:
                change = f" v{source} -> v{target}"
            text.append(visible(str(move.get("alias", "?"))), style="bold")
            text.append(change)
            when = human_age(as_utc(move.get("at")), now)
            note = f" ({move['note']})" if move.get("note") else ""  # imported from MLflow
            text.append(visible(f"  {move.get('actor', '?')}, {when}{note}") + "\n", style="dim")
        text.rstrip()
        self.update(text)
        self.border_title = f"Alias moves ({len(history)})"


class ReportView(VerticalScroll):
    """The validation report; focused by enter, scrolled with j/k, left with esc."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False, id="report-down"),
        Binding("k", "scroll_up", "Up", show=False, id="report-up"),
        Binding("g", "scroll_home", "Top", show=False, id="report-top"),
        Binding("G", "scroll_end", "Bottom", show=False, id="report-bottom"),
    ]

    help_label = "Report"
