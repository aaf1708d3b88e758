"""The run screen: one run's status, its log tailing live, a live metric curve, its record.

Every :data:`POLL_SECONDS` a thread worker reads what is new, and only that: the run's
row (status, times), the log bytes past the offset already shown, each metric's newest
point (one index seek per key) and the points of the charted metric after the last step
drawn. The first read of a long history is downsampled in SQL (``core.metrics``), the
first read of a long log starts near its end. Polling pauses while another screen or a
modal is on top, backs off when the store keeps failing, and stops after the poll that
finds the run ended (that poll reads the status first, so it has everything).

This module imports plotext (through the chart): the app imports it on first use only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Self, cast

from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Log
from textual.worker import Worker, WorkerState

from dockyard.core.code import summary as code_summary
from dockyard.core.overview import as_utc, human_age, human_duration, human_size
from dockyard.core.run_logs import LOG_MAX_LINES, LogChunk, LogTail, log_source
from dockyard.core.text import visible
from dockyard.tui import run_actions
from dockyard.tui.text import data_text, markup, plain
from dockyard.tui.widgets.metric_chart import MetricChart

if TYPE_CHECKING:
    from dockyard.core.runs import ArtifactInfo, RunInfo
    from dockyard.core.workspace import Workspace
    from dockyard.tui.app import DockyardApp

#: Seconds between two polls of a live run: new lines and points show within 1 s.
POLL_SECONDS = 0.5

#: After repeated failures, wait at most this many polls before trying again.
MAX_BACKOFF_POLLS = 16

#: A metric's history is downsampled in SQL to about this many points when first drawn.
CURVE_POINTS = 1000

#: Artifacts are re-read every this many polls while the run is live (and when it ends).
ARTIFACT_EVERY_POLLS = 10

ACTIVE_STATUSES = run_actions.ACTIVE_STATUSES


# --- reading (worker threads) ---------------------------------------------------------------


@dataclass(frozen=True)
class PollRequest:
    """What the screen has drawn so far, so the worker reads only what is newer."""

    run_id: int
    curve_key: str | None
    curve_after: int  # -1: draw the whole (downsampled) curve
    with_artifacts: bool


@dataclass
class RunSnapshot:
    """One poll's findings; ``curve_points`` are after ``request.curve_after``."""

    request: PollRequest
    info: RunInfo
    log: LogChunk
    latest: dict[str, tuple[int, float]]
    curve_key: str | None = None
    curve_points: list[tuple[int, float]] = field(default_factory=list)
    artifacts: list[ArtifactInfo] | None = None


def ordered_keys(latest: dict[str, tuple[int, float]], primary: str | None) -> list[str]:
    """Metric keys in the order ``m`` cycles them: the primary metric, then the curves
    (keys logged at more than one step), then single values, each by name."""
    return sorted(latest, key=lambda key: (key != primary, latest[key][0] == 0, key))


def read_curve(
    workspace: Workspace, run_id: int, key: str, after_step: int
) -> list[tuple[int, float]]:
    """The points of ``key`` after ``after_step``; the whole curve, downsampled, for -1."""
    if after_step >= 0:
        from dockyard.core.runs import metric_history

        return metric_history(workspace, run_id, key, after_step)
    from dockyard.core.runs import metric_curve

    return metric_curve(workspace, run_id, key, CURVE_POINTS)


# --- messages ---------------------------------------------------------------------------------


class RunPolled(Message):
    def __init__(self, snapshot: RunSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class RunLogRead(Message):
    """The first lines of the log, read before the store answered."""

    def __init__(self, chunk: LogChunk) -> None:
        super().__init__()
        self.chunk = chunk


class RunPollFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


# --- widgets ----------------------------------------------------------------------------------


class RunLog(Log):
    """The run's log, with vi-style moves; it follows new lines while at the end."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False, id="log-down"),
        Binding("k", "scroll_up", "Up", show=False, id="log-up"),
        Binding("g", "scroll_home", "Top", show=False, id="log-top"),
        Binding("G", "scroll_end", "End (follow)", show=False, id="log-end"),
    ]

    help_label = "the log"

    def write(self, data: str, scroll_end: bool | None = None) -> Self:
        """Append ``data``, the training script's output, with its escape sequences and
        other control characters made visible (Log itself lets ESC through to the
        terminal); line endings and tabs keep their meaning."""
        return super().write(visible(data, keep="\n\r\t"), scroll_end)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Scrolled up to read: new lines no longer pull the view down; say how to resume.
        self.border_subtitle = "" if self.is_vertical_scroll_end else "G follows"


class RunHeader(Widget):
    """Two lines (three with an error) redrawn in place: updating it every poll for the
    elapsed time must not lay the screen out again, which a ``Static`` of auto height does."""

    DEFAULT_CSS = """
    RunHeader {
        height: 2;
    }
    RunHeader.-three {
        height: 3;
    }
    """

    def __init__(self, content: Content, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.content = content

    def show(self, lines: list[Content]) -> None:
        """One Content per line; the widget grows to three lines for an error."""
        content = Content("\n").join(lines)
        if (content.plain, content.spans) == (self.content.plain, self.content.spans):
            return
        self.content = content
        self.set_class(len(lines) > 2, "-three")
        self.refresh()

    def render(self) -> RenderResult:
        return self.content


class DetailsTable(DataTable[Text]):
    """Params, tags, artifacts, latest metrics and the reproducibility record."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="details-down"),
        Binding("k", "cursor_up", "Up", show=False, id="details-up"),
    ]

    help_label = "details"

    def __init__(self) -> None:
        super().__init__(id="run-details", cursor_type="row", show_header=False, show_cursor=False)
        self._keys: list[str] = []
        self._cells: dict[str, tuple[str, str]] = {}

    def on_mount(self) -> None:
        self.add_column("Field", key="field")
        self.add_column("Value", key="value")

    def on_focus(self) -> None:
        self.show_cursor = True  # a cursor only where the keys go

    def on_blur(self) -> None:
        self.show_cursor = False

    def show_rows(self, rows: list[tuple[str, str, str]]) -> None:
        """(row key, field, value) rows: cells change in place, the table is rebuilt only
        when the rows themselves changed (a new tag, a new metric key)."""
        keys = [key for key, _name, _value in rows]
        if keys == self._keys:
            for key, name, value in rows:
                if self._cells[key] != (name, value):
                    self._cells[key] = (name, value)
                    self.update_cell(key, "value", self._value_text(key, value))
            return
        cursor = self.cursor_row
        self.clear()
        self._keys = keys
        self._cells = {key: (name, value) for key, name, value in rows}
        for key, name, value in rows:
            self.add_row(self._name_text(key, name), self._value_text(key, value), key=key)
        if rows:
            self.move_cursor(row=min(cursor, len(rows) - 1), animate=False)

    @staticmethod
    def _name_text(key: str, name: str) -> Text:
        if key.startswith("section:"):
            return Text(name, style="bold underline", no_wrap=True)
        return data_text(f" {name}", "bold")

    @staticmethod
    def _value_text(key: str, value: str) -> Text:
        return data_text(value)


# --- the screen -------------------------------------------------------------------------------


def _when(value: datetime | None, now: datetime) -> str:
    return human_age(as_utc(value), now)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    begin, finish = as_utc(start), as_utc(end)
    if begin is None or finish is None:
        return None
    return (finish - begin).total_seconds()


def status_lines(info: RunInfo, now: datetime) -> list[str]:
    """The header under the title: timing and outcome in words, one fact per clause."""
    status = info.status
    parts: list[str] = []
    if status == "queued":
        parts.append(f"queued {_when(info.created_at, now)}, waiting for the agent")
    elif status in ("running", "cancelling"):
        parts.append(f"elapsed {human_duration(_seconds(info.started_at, now))}")
        parts.append(f"started {_when(info.started_at, now)}")
        if info.pid:
            parts.append(f"pid {info.pid} on {info.host or '?'}")
    else:
        took = _seconds(info.started_at, info.ended_at)
        parts.append(f"{status} after {human_duration(took)}" if took is not None else status)
        if info.exit_code is not None:
            parts.append(f"exit code {info.exit_code}")
        parts.append(f"ended {_when(info.ended_at, now)}")
    lines = [" · ".join(parts)]
    if info.error and info.error != status and status not in ("finished", "running", "queued"):
        lines.append(f"error: {info.error}")
    return lines


def _value(number: float) -> str:
    return f"{number:.6g}"


def _point(step: int, value: float) -> str:
    """A metric's latest value, with its step when it has a history."""
    return f"{_value(value)} @{step}" if step else _value(value)


def detail_rows(
    info: RunInfo,
    latest: dict[str, tuple[int, float]],
    artifacts: list[ArtifactInfo],
) -> list[tuple[str, str, str]]:
    """Every section of the details table as (row key, field, value)."""
    rows: list[tuple[str, str, str]] = []

    def section(name: str, items: Iterable[tuple[str, str]], empty: str) -> None:
        rows.append((f"section:{name}", name, ""))
        pairs = list(items)
        if not pairs:
            rows.append((f"{name}:-", empty, ""))
        for key, value in pairs:
            rows.append((f"{name}:{key}", key, value))

    keys = ordered_keys(latest, info.primary_metric)
    section(
        "Metrics",
        ((key, _point(*latest[key])) for key in keys),
        "none yet" if info.status in ACTIVE_STATUSES else "none reported",
    )
    section("Params", sorted(info.params.items()), "none")
    section("Tags", sorted(info.tags.items()), "none")
    section(
        "Artifacts",
        (
            (item.name, f"{human_size(item.size_bytes)} sha256 {item.sha256[:12]}")
            for item in artifacts
        ),
        "none yet" if info.status in ACTIVE_STATUSES else "none",
    )
    env = info.env
    if info.code:
        code = code_summary(info.code)
    elif info.git_commit:  # a run recorded before code records
        code = f"git {info.git_commit[:12]}" + (" (dirty)" if info.git_dirty else "")
    else:
        code = "-"
    argv = env.get("argv")
    system = [
        ("command", info.command or "-"),
        ("argv", " ".join(str(arg) for arg in argv) if isinstance(argv, list) else "-"),
        ("dataset", info.dataset or "-"),
        ("seed", "-" if info.seed is None else str(info.seed)),
        ("code", code),
        ("python", str(env.get("python", "-"))),
        ("platform", str(env.get("platform", "-"))),
        ("packages", f"{len(env['packages'])} recorded" if env.get("packages") else "-"),
        ("host", info.host or "-"),
        ("user", info.user or "-"),
        ("folder", str(env.get("cwd", "-"))),
        ("parent run", "-" if info.parent_run_id is None else str(info.parent_run_id)),
        ("sweep", info.group_id or "-"),
    ]
    section("System", system, "")
    return rows


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
        self._curve_key: str | None = None
        self._curve_loaded = False
        self._key_chosen = False  # m pressed: stop preferring the primary metric
        self._tail: LogTail | None = None
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
            with Vertical(id="run-chart-box", classes="run-panel"):
                yield MetricChart(
                    id="run-chart",
                    empty_text="No metrics yet: the run reports them with the tracking client",
                )
            yield DetailsTable()
        yield RunLog(max_lines=LOG_MAX_LINES, highlight=False, id="run-log")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#run-chart-box").border_title = "Metrics"
        details = self.query_one(DetailsTable)
        details.add_class("run-panel")
        details.border_title = "Details"
        log = self.query_one(RunLog)
        log.add_class("run-panel")
        log.border_title = "Log"
        self._timer = self.set_interval(self.poll_seconds, self._tick, name="run-poll")
        self.poll_now()

    @property
    def chart(self) -> MetricChart:
        return self.query_one(MetricChart)

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
            curve_key=self._curve_key,
            curve_after=self.chart.last_step if self._curve_loaded else -1,
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
        from dockyard.core.runs import get_run, latest_metrics, list_artifacts, log_path

        workspace = self.workspace
        if self._tail is None:
            # The log first, at its usual path: that needs no database (whose first use in
            # this process imports SQLAlchemy, a second on a busy machine), so it shows now.
            self._tail = LogTail(log_path(workspace, request.run_id))
            early = self._tail.read_new()
            if early.text or early.skipped_bytes:
                self.post_message(RunLogRead(early))
        try:
            # Status first: if the run has ended, everything after it is complete.
            info = get_run(workspace, request.run_id)
            # the file on this machine, or the store's copy (a run that ran elsewhere)
            source = log_source(workspace, info)
            reset = False
            if self._tail is None or self._tail.source != source:
                reset = self._tail is not None
                self._tail = LogTail(source)
            ended = info.status not in ACTIVE_STATUSES
            chunk = self._tail.read_new(final=ended)
            chunk.reset = chunk.reset or reset
            latest = latest_metrics(workspace, request.run_id)
            key = request.curve_key
            if key is None or key not in latest:
                keys = ordered_keys(latest, info.primary_metric)
                key = keys[0] if keys else None
                request = PollRequest(request.run_id, key, -1, request.with_artifacts)
            points: list[tuple[int, float]] = []
            if key is not None and latest[key][0] > request.curve_after:
                points = read_curve(workspace, request.run_id, key, request.curve_after)
            artifacts = None
            if request.with_artifacts or ended:
                artifacts = list_artifacts(workspace, request.run_id)
        except Exception as error:
            self.post_message(RunPollFailed(run_actions.one_line(error)))
            return
        self.post_message(
            RunPolled(
                RunSnapshot(
                    request=request,
                    info=info,
                    log=chunk,
                    latest=latest,
                    curve_key=key,
                    curve_points=points,
                    artifacts=artifacts,
                )
            )
        )

    def on_run_polled(self, message: RunPolled) -> None:
        snap = message.snapshot
        self.polls += 1
        self._failed_polls = 0
        self._failing = False
        self.info = snap.info
        self.latest = snap.latest
        if snap.artifacts is not None:
            self.artifacts = snap.artifacts
        self._apply_log(snap.log)
        self._apply_curve(snap)
        self._show_header()
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
        self._apply_log(message.chunk)

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

    def _apply_log(self, chunk: LogChunk) -> None:
        log = self.log_view
        if chunk.reset:
            log.clear()
        if chunk.skipped_bytes:
            log.write(
                f"… {human_size(chunk.skipped_bytes)} earlier "
                f"(all of it: dockyard run logs {self.run_id})\n"
            )
        if chunk.text:
            # Follow the end only if the user has not scrolled up to read.
            follow = log.is_vertical_scroll_end
            log.write(chunk.text, scroll_end=follow)
            if follow:  # again once laid out: the first lines can change the log's size
                self.call_after_refresh(log.scroll_end, animate=False, x_axis=False)

    def _apply_curve(self, snap: RunSnapshot) -> None:
        chart = self.chart
        primary = snap.info.primary_metric
        if (
            not self._key_chosen
            and primary in snap.latest
            and self._curve_key not in (None, primary)
        ):
            # The primary metric showed up after another: chart it from the next poll.
            self._curve_key = primary
            self._curve_loaded = False
            chart.clear_curve(primary)
            self._poll_again = True
            self._show_chart_title()
            return
        if self._curve_key is None and snap.curve_key is not None:
            self._curve_key = snap.curve_key
        if snap.curve_key is None or snap.curve_key != self._curve_key:
            self._show_chart_title()
            return  # drawn for a metric the user has moved away from
        if snap.request.curve_after < 0:
            chart.show_curve(snap.curve_key, snap.curve_points)
            self._curve_loaded = True
        elif self._curve_loaded:
            chart.extend(snap.curve_points)
        self._show_chart_title()

    def _show_chart_title(self) -> None:
        box = self.query_one("#run-chart-box")
        keys = ordered_keys(self.latest, self.info.primary_metric if self.info else None)
        key = self._curve_key
        if key is None or key not in self.latest:
            box.border_title = "Metrics"
            box.border_subtitle = ""
            return
        step, value = self.latest[key]
        box.border_title = plain(f"{key} {_point(step, value)}")
        position = keys.index(key) + 1
        box.border_subtitle = f"{position}/{len(keys)} · m next"

    def _show_header(self) -> None:
        info = self.info
        if info is None:
            return
        title = [markup("[b]Run $id[/b]", id=info.id), plain(info.project), plain(info.status, "b")]
        if info.group_id:
            title.append(plain(f"sweep {info.group_id}"))
        if info.parent_run_id is not None:
            title.append(plain(f"from run {info.parent_run_id}"))
        if info.dataset:
            title.append(plain(info.dataset))
        lines = [Content(" · ").join(title), *map(plain, status_lines(info, self.now()))]
        self.query_one(RunHeader).show(lines)

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
        keys = ordered_keys(self.latest, self.info.primary_metric if self.info else None)
        if not keys:
            self.notify(f"Run {self.run_id} has no metrics yet", severity="warning")
            return
        index = keys.index(self._curve_key) + 1 if self._curve_key in keys else 0
        self._key_chosen = True
        self._curve_key = keys[index % len(keys)]
        self._curve_loaded = False
        self.chart.clear_curve(self._curve_key)
        self._show_chart_title()
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
        from dockyard.tui.screens.launch import LaunchScreen

        self.app.push_screen(
            LaunchScreen(
                project=info.project,
                values=info.params,
                from_run=info.id,
                dataset=info.dataset,
            )
        )
