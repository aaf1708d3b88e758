"""The monitor screen: one monitor's latest (or any earlier) result, column by column.

Opened by ``enter`` on a row of the Monitoring pane. The head says what the monitor is
and how it stands; the checks table lists each check of the result shown (statistic,
value, threshold, status); the charts follow the cursor: the reference vs batch
histogram of that column, and that statistic over the stored results with its
threshold drawn. The results table lists the earlier runs; ``enter`` there shows one.
Every read runs in a worker and reads stored results only. ``A`` acknowledges the open
alert (with a comment), ``r`` runs the monitor now, ``p`` pauses or resumes it, ``t``
opens the launch form to retrain the model on the newest data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from dockyard.core.workspace import Workspace
from dockyard.tui import monitor_actions, navigation
from dockyard.tui.errors import describe_error
from dockyard.tui.text import plain
from dockyard.tui.widgets.monitor_charts import HistogramChart, HistoryChart
from dockyard.tui.widgets.monitor_result import (
    ChecksTable,
    MonitorView,
    ResultsTable,
    check_label,
    head_text,
    read_monitor,
)

if TYPE_CHECKING:
    from dockyard.core.monitor_checks import CheckResult
    from dockyard.core.monitoring import AlertInfo


class MonitorLoaded(Message):
    def __init__(self, view: MonitorView) -> None:
        super().__init__()
        self.view = view


class MonitorLoadFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class RetrainReady(Message):
    def __init__(self, project: str, values: dict[str, str], dataset: str | None) -> None:
        super().__init__()
        self.project = project
        self.values = values
        self.dataset = dataset


class MonitorScreen(Screen[None]):
    """``MonitorScreen(workspace, 3, result_id=None, now=...)``."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding(
            "A",
            "acknowledge_alert",
            "Acknowledge",
            tooltip="Acknowledge the open alert, with a comment (audited)",
            id="monitor-ack",
        ),
        Binding("r", "run_monitor", "Run now", tooltip="Run the monitor now", id="monitor-run"),
        Binding("p", "toggle_pause", "Pause/resume", id="monitor-pause"),
        Binding(
            "t",
            "retrain",
            "Retrain",
            tooltip="Launch form prefilled to retrain the model on the newest data",
            id="monitor-retrain",
        ),
        Binding("tab", "switch_table", "Checks/results", show=False, id="monitor-switch"),
        Binding("R", "reload", "Refresh", show=False, id="monitor-refresh"),
    ]

    DEFAULT_CSS = """
    MonitorScreen #monitor-head { height: 2; padding: 0 1; }
    MonitorScreen #monitor-body { height: 1fr; }
    MonitorScreen #monitor-left { width: 1fr; }
    MonitorScreen #monitor-right { width: 1fr; }
    MonitorScreen ChecksTable { height: 2fr; border: round $foreground 30%; }
    MonitorScreen ResultsTable { height: 1fr; border: round $foreground 30%; }
    MonitorScreen ChecksTable:focus, MonitorScreen ResultsTable:focus { border: round $accent; }
    MonitorScreen HistogramChart, MonitorScreen HistoryChart {
        height: 1fr;
        border: round $foreground 30%;
    }
    """

    AUTO_FOCUS = "#monitor-checks"

    def __init__(
        self,
        workspace: Workspace,
        monitor_id: int,
        *,
        result_id: int | None = None,
        now: Callable[[], datetime],
    ) -> None:
        super().__init__(classes="monitor-screen")
        self.workspace = workspace
        self.monitor_id = monitor_id
        self.result_id = result_id
        self._now = now
        self.title = f"monitor {monitor_id}"
        self.view: MonitorView | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("Loading…", id="monitor-head")
        with Horizontal(id="monitor-body"):
            with Vertical(id="monitor-left"):
                yield ChecksTable(id="monitor-checks", cursor_type="row", zebra_stripes=False)
                yield ResultsTable(id="monitor-results", cursor_type="row")
            with Vertical(id="monitor-right"):
                yield HistogramChart(id="monitor-histogram")
                yield HistoryChart(id="monitor-history")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        checks = self.query_one(ChecksTable)
        checks.border_title = "Checks"
        results = self.query_one(ResultsTable)
        results.border_title = "Results (enter opens one)"
        self.query_one(HistogramChart).border_title = "Reference vs batch"
        self.query_one(HistoryChart).border_title = "History"
        self._load(self.result_id)

    # --- loading ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor-load")
    def _load(self, result_id: int | None) -> None:
        try:
            view = read_monitor(self.workspace, self.monitor_id, result_id)
        except Exception as error:
            self.post_message(MonitorLoadFailed(describe_error(error)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(MonitorLoaded(view))

    def on_monitor_loaded(self, message: MonitorLoaded) -> None:
        view = self.view = message.view
        self.result_id = view.shown.id if view.shown else None
        self.title = f"monitor {view.monitor.project}/{view.monitor.name}"
        self.query_one("#monitor-head", Static).update(head_text(view, self._now()))
        self.query_one(ChecksTable).show_result(view.shown)
        self.query_one(ResultsTable).show_runs(view.runs, self._now())
        self._show_charts()
        self.loaded = True
        self.refresh_bindings()

    def on_monitor_load_failed(self, message: MonitorLoadFailed) -> None:
        self.notify(
            f"Cannot read monitor {self.monitor_id}: {message.error}",
            title="Load failed",
            severity="error",
        )
        self.query_one("#monitor-head", Static).update(plain(f"{message.error} (R retries)"))
        self.loaded = True

    # --- the cursor drives the charts --------------------------------------------------

    def check_at_cursor(self) -> CheckResult | None:
        if self.view is None or self.view.shown is None or not self.view.shown.checks:
            return None
        row = self.query_one(ChecksTable).cursor_row
        checks = self.view.shown.checks
        return checks[row] if 0 <= row < len(checks) else None

    @on(DataTable.RowHighlighted, "#monitor-checks")
    def _check_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_charts()

    def _show_charts(self) -> None:
        check = self.check_at_cursor()
        histogram = self.query_one(HistogramChart)
        history = self.query_one(HistoryChart)
        if check is None:
            histogram.show("", {}, "No check in this result")
            history.show("", [], None)
            return
        column = check.column or check.check
        stored: dict[str, Any] = dict(check.extras.get("histogram") or {})
        histogram.show(column, stored, f"No histogram for {check.check} checks")
        assert self.view is not None
        points = [
            (run.id, float(match.value))
            for run in reversed(self.view.runs)
            for match in run.checks
            if match.check == check.check
            and match.column == check.column
            and match.value is not None
        ]
        history.show(f"{check_label(check)} {check.statistic}", points, check.threshold)

    @on(DataTable.RowSelected, "#monitor-results")
    def _result_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_result(int(event.row_key.value))

    def open_result(self, result_id: int) -> None:
        """Show an earlier (stored) result; nothing is recomputed."""
        self.result_id = result_id
        self.loaded = False
        self._load(result_id)
        self.set_focus(self.query_one(ChecksTable))

    # --- actions ------------------------------------------------------------------------

    def _open_alert(self) -> AlertInfo | None:
        if self.view is None or not self.view.alerts:
            return None
        shown = self.view.shown
        mine = [a for a in self.view.alerts if shown is not None and a.result_id == shown.id]
        return (mine or self.view.alerts)[0]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "acknowledge_alert":
            return self._open_alert() is not None
        if action == "retrain":
            return self.view is not None and (
                bool(self.view.alerts) or self.view.monitor.last_status == "alert"
            )
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self._load(self.result_id)

    def _reload_newest(self) -> None:
        self._load(None)

    def action_switch_table(self) -> None:
        checks, results = self.query_one(ChecksTable), self.query_one(ResultsTable)
        self.set_focus(results if self.focused is checks else checks)

    def action_acknowledge_alert(self) -> None:
        alert = self._open_alert()
        if alert is None:
            self.notify("No open alert on this monitor", severity="warning")
            return
        monitor_actions.ask_to_acknowledge(
            self, self.workspace, alert.id, alert.message, self.action_reload
        )

    def action_run_monitor(self) -> None:
        self.notify("Checking new batches…", title="Monitor run", timeout=3)
        monitor_actions.run_now(self, self.workspace, self.monitor_id, self._reload_newest)

    def action_toggle_pause(self) -> None:
        if self.view is None:
            return
        paused = not self.view.monitor.paused
        monitor_actions.set_paused(
            self, self.workspace, self.monitor_id, paused, self.action_reload
        )

    def action_retrain(self) -> None:
        self._plan_retrain()

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor-retrain")
    def _plan_retrain(self) -> None:
        from dockyard.core.monitoring import retrain_plan

        try:
            plan = retrain_plan(self.workspace, self.monitor_id)
        except Exception as error:
            self.notify(describe_error(error), title="Cannot retrain", severity="error")
            return
        self.post_message(RetrainReady(plan.project, plan.params, plan.dataset))

    def on_retrain_ready(self, message: RetrainReady) -> None:
        navigation.open_launch(
            self.app, project=message.project, values=message.values, dataset=message.dataset
        )
