"""The run screen: one run's status, its log tailing live, a live metric curve, its record.

Every :data:`POLL_SECONDS` a thread worker reads what is new, and only that
(``tui/run_poll.py``); the first read of a long history is downsampled in SQL
(``core.metrics``), the first read of a long log starts near its end. Polling pauses
while another screen or a modal is on top, backs off when the store keeps failing, and
stops after the poll that finds the run ended (that poll reads the status first, so it
has everything). The parts are widgets of their own: ``widgets/run_header.py``,
``widgets/run_details.py``, ``widgets/run_log.py`` and ``widgets/run_metrics.py``.

This module imports plotext (through the chart): the app imports it on first use only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from dockyard.core.run_logs import LOG_MAX_LINES
from dockyard.tui import navigation, run_actions
from dockyard.tui.errors import describe_error
from dockyard.tui.run_poll import (
    PollRequest,
    RunLogRead,
    RunPolled,
    RunPoller,
    RunPollFailed,
)
from dockyard.tui.text import markup
from dockyard.tui.widgets.metric_chart import MetricChart
from dockyard.tui.widgets.run_details import DetailsTable, detail_rows
from dockyard.tui.widgets.run_header import RunHeader
from dockyard.tui.widgets.run_log import RunLog
from dockyard.tui.widgets.run_metrics import MetricsBox

if TYPE_CHECKING:
    from dockyard.core.runs import ArtifactInfo, RunInfo
    from dockyard.core.workspace import Workspace
    from dockyard.tui.app import DockyardApp

#: Seconds between two polls of a live run: new lines and points show within 1 s.
POLL_SECONDS = 0.5

#: After repeated failures, wait at most this many polls before trying again.
MAX_BACKOFF_POLLS = 16

#: Artifacts are re-read every this many polls while the run is live (and when it ends).
ARTIFACT_EVERY_POLLS = 10

ACTIVE_STATUSES = run_actions.ACTIVE_STATUSES


class RunScreen(Screen[None]):
    """``RunScreen(run_id)``: the run's header, curve, details and log, kept live."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding(
            "x", "cancel_run", "Cancel run", tooltip="Cancel this run (asks first)", id="cancel-run"
        ),
        Binding(
            "R",
            "retry_run",
            "Retry",
            tooltip="Queue this run again as it was, and watch it (once it has ended)",
            id="retry-run",
        ),
        Binding(
            "e",
            "clone_run",
            "Clone+edit",
            tooltip="Clone with edits: the launch form with this run's values",
            id="clone-run",
        ),
        Binding("l", "focus_log", "Log", tooltip="Focus the log (j/k, g/G)", id="focus-log"),
        Binding(
            "m", "next_metric", "Next metric", tooltip="Chart the next metric", id="next-metric"
        ),
        Binding("d", "focus_details", "Details", show=False, id="focus-details"),
        Binding("r", "refresh_run", "Read again", show=False, id="refresh-run"),
    ]

    CSS = """
    RunScreen #run-header {
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    RunScreen #run-top {
        height: 4fr;
        min-height: 7;
    }
    RunScreen .run-panel {
        border: round $foreground 30%;
        border-title-color: $foreground;
        padding: 0;
    }
    RunScreen .run-panel:focus, RunScreen .run-panel:focus-within {
        border: heavy $border;
        border-title-style: bold;
    }
    RunScreen #run-chart-box {
        width: 1fr;
    }
    RunScreen #run-details {
        width: 36;
        background: transparent;
        scrollbar-size-horizontal: 0;
        scrollbar-size-vertical: 1;
    }
    RunScreen.-wide #run-details {
        width: 52;
    }
    RunScreen #run-log {
        height: 5fr;
        padding: 0 1;
        overflow-x: auto;
        background: transparent;
        scrollbar-size-vertical: 1;
    }
    """

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    AUTO_FOCUS = "#run-log"

    def __init__(self, run_id: int, *, poll_seconds: float | None = None) -> None:
        super().__init__(classes="run-screen")
        self.run_id = run_id
        self.title = f"run {run_id}"
        self.poll_seconds = POLL_SECONDS if poll_seconds is None else poll_seconds
        self.info: RunInfo | None = None
        self.latest: dict[str, tuple[int, float]] = {}
        self.artifacts: list[ArtifactInfo] = []
        self.final = False
        self.polls = 0
        self._poller: RunPoller | None = None
        self._timer: Timer | None = None
        self._worker: Worker[None] | None = None
        self._poll_again = False
        self._failed_polls = 0
        self._skip_polls = 0
        self._failing = False

    # --- the app's services -------------------------------------------------------------------

    @property
    def dockyard(self) -> DockyardApp:
        return cast("DockyardApp", self.app)

    @property
    def workspace(self) -> Workspace:
        return self.dockyard.workspace

    def now(self) -> datetime:
        return self.dockyard.now()

    # --- composition --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield RunHeader(markup("[b]Run $id[/b] · loading…", id=self.run_id), id="run-header")
        with Horizontal(id="run-top"):
            yield MetricsBox(id="run-chart-box", classes="run-panel")
            yield DetailsTable()
        yield RunLog(max_lines=LOG_MAX_LINES, highlight=False, id="run-log")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        details = self.query_one(DetailsTable)
        details.add_class("run-panel")
        details.border_title = "Details"
        log = self.query_one(RunLog)
        log.add_class("run-panel")
        log.border_title = "Log"
        self._timer = self.set_interval(self.poll_seconds, self._tick, name="run-poll")
        self.poll_now()

    @property
    def metrics(self) -> MetricsBox:
        return self.query_one(MetricsBox)

    @property
    def chart(self) -> MetricChart:
        return self.metrics.chart

    @property
    def log_view(self) -> RunLog:
        return self.query_one(RunLog)

    # --- polling ------------------------------------------------------------------------------

    def _tick(self) -> None:
        if not self.is_active or self.final:
            return  # covered by help, a modal or another screen; or nothing more to read
        if self._skip_polls > 0:
            self._skip_polls -= 1
            return
        self.poll_now()

    def poll_now(self) -> None:
        """Start a poll, or ask for one right after the poll under way."""
        if self._worker is not None and self._worker.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        ):
            self._poll_again = True  # on_worker_state_changed starts it
            return
        self._poll_again = False
        request = PollRequest(
            run_id=self.run_id,
            curve_key=self.metrics.curve_key,
            curve_after=self.metrics.curve_after,
            with_artifacts=self.polls % ARTIFACT_EVERY_POLLS == 0 or self.final,
        )
        self._worker = self.run_worker(
            lambda: self._poll(request),
            thread=True,
            exit_on_error=False,
            group="run-poll",
            name=f"poll run {self.run_id}",
        )

    def _poll(self, request: PollRequest) -> None:
        """Worker thread: read what is new since ``request``; post one message."""
        if self._poller is None:
            self._poller = RunPoller(self.workspace)
        try:
            snapshot = self._poller.poll(
                request, lambda early: self.post_message(RunLogRead(early))
            )
        except Exception as error:
            self.post_message(RunPollFailed(describe_error(error)))
            return
        self.post_message(RunPolled(snapshot))

    def on_run_polled(self, message: RunPolled) -> None:
        snap = message.snapshot
        self.polls += 1
        self._failed_polls = 0
        self._failing = False
        self.info = snap.info
        self.latest = snap.latest
        if snap.artifacts is not None:
            self.artifacts = snap.artifacts
        self.log_view.append(snap.log, self.run_id)
        if self.metrics.show_snapshot(snap):
            self._poll_again = True
        self.query_one(RunHeader).show_run(snap.info, self.now())
        self.query_one(DetailsTable).show_rows(detail_rows(snap.info, self.latest, self.artifacts))
        was_final = self.final
        self.final = snap.info.status not in ACTIVE_STATUSES
        if self.final and not snap.latest:
            self.chart.empty_text = f"Run {self.run_id} reported no metrics"
            self.chart.refresh()
        if self.final != was_final:
            self.refresh_bindings()
        if self.final and self._timer is not None:
            self._timer.pause()
        if snap.log.more or self._poll_again:
            self.poll_now()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._worker and event.worker.is_finished and self._poll_again:
            self.poll_now()

    def on_run_log_read(self, message: RunLogRead) -> None:
        self.log_view.append(message.chunk, self.run_id)

    def on_run_poll_failed(self, message: RunPollFailed) -> None:
        if not self._failing:
            self._failing = True
            self.notify(
                f"Cannot read run {self.run_id}: {message.error}",
                title="Load failed",
                severity="error",
                timeout=8,
                markup=False,
            )
        self._failed_polls += 1
        self._skip_polls = min(2 ** (self._failed_polls - 1), MAX_BACKOFF_POLLS)

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_screen_resume(self) -> None:
        if self._timer is not None and not self.final:
            self._timer.resume()
            self.poll_now()

    # --- drawing ------------------------------------------------------------------------------

    # --- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer x while the run is live and R once it has ended."""
        if action == "cancel_run":
            return self.info is None or self.info.status in ACTIVE_STATUSES
        if action == "retry_run":
            return self.info is not None and self.info.status not in ACTIVE_STATUSES
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_refresh_run(self) -> None:
        """Read the run now (also once it has ended, when the timer has stopped)."""
        self._skip_polls = 0
        self.poll_now()

    def action_focus_log(self) -> None:
        self.set_focus(self.log_view)

    def action_focus_details(self) -> None:
        self.set_focus(self.query_one(DetailsTable))

    def action_next_metric(self) -> None:
        if not self.metrics.next_metric():
            self.notify(f"Run {self.run_id} has no metrics yet", severity="warning")
            return
        self.poll_now()

    def action_cancel_run(self) -> None:
        info = self.info
        if info is None:
            return
        run_actions.ask_to_cancel(
            self,
            self.workspace,
            run_id=info.id,
            project=info.project,
            status=info.status,
            on_done=self._after_cancel,
        )

    def _after_cancel(self) -> None:
        if self._timer is not None and not self.final:
            self._timer.resume()
        self.poll_now()

    def action_retry_run(self) -> None:
        info = self.info
        if info is None:
            return
        run_actions.retry(
            self, self.workspace, run_id=info.id, status=info.status, on_done=self._show_retry
        )

    def _show_retry(self, retried: RunInfo) -> None:
        """Watch the new run in place of this one."""
        if self.is_current:
            self.app.switch_screen(RunScreen(retried.id, poll_seconds=self.poll_seconds))

    def action_clone_run(self) -> None:
        info = self.info
        if info is None:
            return
        navigation.open_launch(
            self.app,
            project=info.project,
            values=info.params,
            from_run=info.id,
            dataset=info.dataset,
        )
