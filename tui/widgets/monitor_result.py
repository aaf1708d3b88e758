"""The monitor screen's parts: what it reads (:class:`MonitorView`), its two-line head and
its checks and results tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from dockyard.core.overview import NO_VALUE, as_utc, human_age
from dockyard.core.text import visible
from dockyard.core.workspace import Workspace
from dockyard.tui.text import data_text

if TYPE_CHECKING:
    from dockyard.core.monitor_checks import CheckResult
    from dockyard.core.monitoring import AlertInfo, MonitorInfo, MonitorRun

#: Stored results the screen reads (newest first); the history chart spans them.
HISTORY_LIMIT = 50

STATUS_STYLES = {"ok": "green", "warn": "yellow", "alert": "bold red", "error": "bold red"}


@dataclass(frozen=True)
class MonitorView:
    """What the screen shows, read in one worker."""

    monitor: MonitorInfo
    runs: list[MonitorRun]  # newest first
    shown: MonitorRun | None
    alerts: list[AlertInfo]  # open alerts of this monitor, newest first


def read_monitor(workspace: Workspace, monitor_id: int, result_id: int | None) -> MonitorView:
    """The monitor, its last results, the one to show (``result_id`` or the newest) and
    its open alerts."""
    from dockyard.core.monitoring import get_monitor, get_result, list_alerts, monitor_history

    monitor = get_monitor(workspace, monitor_id)
    runs = monitor_history(workspace, monitor_id, limit=HISTORY_LIMIT)
    shown = next((r for r in runs if r.id == result_id), None) if result_id else None
    if shown is None:
        shown = get_result(workspace, result_id) if result_id else (runs[0] if runs else None)
    alerts = [a for a in list_alerts(workspace) if a.monitor_id == monitor_id]
    return MonitorView(monitor, runs, shown, alerts)


def _number(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.4g}"


def head_text(view: MonitorView, now: datetime) -> Text:
    """Two lines: the monitor and its state; the result shown."""
    info = view.monitor
    text = Text(no_wrap=True, overflow="ellipsis")
    state = "paused" if info.paused else (info.last_status or "never run")
    text.append(f" {state.upper()} ", style=f"reverse {STATUS_STYLES.get(state, 'bold')}")
    text.append(f" {visible(info.project)}/{visible(info.name)}", style="bold")
    text.append(f" · {visible(info.kind)} · {visible(info.schedule)}")
    if view.alerts:
        noun = "open alert" if len(view.alerts) == 1 else "open alerts"
        text.append(f" · {len(view.alerts)} {noun}", style="bold red")
    text.append("\n")
    run = view.shown
    if run is None:
        text.append("No result yet: r runs the monitor now", style="dim")
        return text
    newest = bool(view.runs) and view.runs[0].id == run.id
    text.append(f"result {run.id}" + ("" if newest else " (earlier run)"), style="bold")
    text.append(f" · {human_age(as_utc(run.started_at), now)} · {visible(run.batch_path)}")
    if run.rows is not None:
        text.append(f" · {run.rows:,} rows")
    if run.model_ref:
        text.append(f" · {visible(run.model_ref)}")
    return text


def check_label(check: CheckResult) -> str:
    return f"{check.check} {check.column}" if check.column else check.check


def fill_table(
    table: DataTable[Text],
    headings: tuple[str, ...],
    rows: list[list[Text]],
    keys: list[str] | None = None,
) -> None:
    """Replace a table's rows; each column as wide as its widest cell (measured here, so
    the layout does not depend on when the table measures itself)."""
    table.clear(columns=True)
    for index, heading in enumerate(headings):
        width = max([len(heading)] + [row[index].cell_len for row in rows if len(row) > index])
        table.add_column(heading, key=f"c{index}", width=min(width, 60))
    for index, cells in enumerate(rows):
        table.add_row(*cells, key=keys[index] if keys else None)


class ChecksTable(DataTable[Text]):
    """The checks of the result shown; the cursor picks the column the charts show."""

    help_label = "Checks"

    def show_result(self, run: MonitorRun | None) -> None:
        """One row per check of ``run``; a result without checks says why in one row."""
        row = self.cursor_row
        check_rows = [
            [
                data_text(check_label(check)),
                data_text(check.status, STATUS_STYLES.get(check.status, "")),
                data_text(_number(check.value)),
                data_text(_number(check.threshold)),
                data_text(check.statistic),
            ]
            for check in (run.checks if run else ())
        ]
        if run is not None and not run.checks:
            reason = run.error or run.summary or run.status
            check_rows.append([data_text(reason)] + [data_text("")] * 4)
        fill_table(self, ("Check", "Status", "Value", "Limit", "Statistic"), check_rows)
        if self.row_count:
            self.move_cursor(row=min(row, self.row_count - 1), animate=False)


class ResultsTable(DataTable[Text]):
    """The monitor's stored results, newest first; enter shows one."""

    help_label = "Results"

    def show_runs(self, runs: list[MonitorRun], now: datetime) -> None:
        rows = [
            [
                data_text(run.id),
                data_text(human_age(as_utc(run.started_at), now)),
                data_text(run.status, STATUS_STYLES.get(run.status, "")),
                data_text(run.batch_path.rsplit("/", 1)[-1]),
            ]
            for run in runs
        ]
        fill_table(self, ("Id", "Ran", "Status", "Batch"), rows, keys=[str(r.id) for r in runs])
