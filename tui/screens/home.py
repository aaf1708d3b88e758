"""The home screen: Datasets, Runs, Models, Deployments and Monitoring at once.

A composition: the status line, the five panes with their reads of the store
(``tui/widgets/overview.py``, which shows the results and backs off when the store keeps
failing) and the footer. The keys are ``tui/home_keys.py``, what the row keys do
``tui/home_actions.py``. This screen says when to read: every :data:`POLL_SECONDS` while
it is the one on top (not under a modal, help or detail screen), on resume, and after an
action; and it routes ``enter`` on a row to the screen that shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult
from textual.events import DescendantFocus
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input

from dockyard.core.overview import (
    DeploymentRow,
    ModelRow,
    MonitoringRow,
    Pane,
    RunRow,
    row_fields,
)
from dockyard.core.workspace import Workspace, acting_user
from dockyard.store.queries import Reader
from dockyard.tui import navigation
from dockyard.tui.home_actions import HomeRowActions
from dockyard.tui.home_keys import HOME_BINDINGS, PANE_KEYS
from dockyard.tui.messages import (
    AgentStatusLoaded,
    LoadFailed,
    OpenRequested,
    PaneLoaded,
    WaitingLoaded,
)
from dockyard.tui.widgets.overview import Overview
from dockyard.tui.widgets.pane import OverviewPane
from dockyard.tui.widgets.status_line import StatusLine

#: Seconds between two refreshes of the visible panes.
POLL_SECONDS = 2.0

#: The pane focused when the app opens: runs are what people come back to watch.
START_PANE = Pane.RUNS

if TYPE_CHECKING:
    from dockyard.tui.app import DockyardApp
    from dockyard.tui.deploy_actions import Reread


class HomeScreen(HomeRowActions, Screen[None]):
    """The five panes, the status line and the footer."""

    BINDINGS = HOME_BINDINGS

    # Wide and tall: a grid with every pane's rows visible. Otherwise the focused pane
    # takes the room and the others shrink to their title line (count and summary).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    AUTO_FOCUS = f"#{START_PANE.value}-table"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    def __init__(
        self,
        *,
        open_reader: Callable[[], Reader],
        now: Callable[[], datetime],
        workspace_label: str,
        user: str | None,
    ) -> None:
        super().__init__(id="home")
        self._open_reader = open_reader
        self._now = now
        self._workspace_label = workspace_label
        self._user = user
        self.active_pane = START_PANE

    def compose(self) -> ComposeResult:
        yield StatusLine(workspace_label=self._workspace_label, user=self._user or "…")
        # Who approves from here, as core decides: the OS account, or on PostgreSQL the
        # database login (never DOCKYARD_USER); read in the first refresh's thread.
        yield Overview(
            open_reader=self._open_reader,
            now=self._now,
            actor=lambda: acting_user(self.workspace),
            id="panes",
        )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.refresh_panes()
        self.set_interval(POLL_SECONDS, self._poll, name="home-poll")

    #: False until the first resume (which comes with the first paint, right after mount).
    _resumed_before = False

    def on_screen_resume(self) -> None:
        """Back from a run, a form or a modal: read the panes now, not at the next poll,
        so a key pressed at once (x on the top run) acts on what is true."""
        if self._resumed_before:
            self.overview.skip_polls = 0
            if self.refreshed_by_decision:
                # A decision re-reads the Deployments pane itself; reading every pane
                # (100,000 runs) now would compete with that and with this repaint, and
                # the next poll brings the others.
                self.refreshed_by_decision = False
            else:
                self.refresh_panes()
        self._resumed_before = True

    #: Set by a decision's modal as it closes (`tui.deploy_actions`): skip the next
    #: resume's full re-read.
    refreshed_by_decision = False

    def mark_pending(self, key: str, status: str) -> None:
        """A decision on the Deployments pane's row ``key`` is being committed: show
        ``status`` there now (`tui.deploy_actions`)."""
        self.pane(Pane.DEPLOYMENTS).mark_status(key, status)

    def unmark_pending(self, key: str) -> None:
        self.pane(Pane.DEPLOYMENTS).unmark_status(key)

    # --- panes ------------------------------------------------------------------------------

    def pane(self, pane: Pane | str) -> OverviewPane:
        return self.overview.pane(pane)

    def panes(self) -> list[OverviewPane]:
        return self.overview.panes()

    @property
    def current(self) -> OverviewPane:
        return self.pane(self.active_pane)

    def focus_pane(self, pane: Pane | str) -> None:
        self.active_pane = Pane(pane)
        # set_focus, not focus(): the keys already queued behind this one go to the pane.
        self.set_focus(self.current.table)

    @on(DescendantFocus)
    def _track_active_pane(self, event: DescendantFocus) -> None:
        for node in event.widget.ancestors_with_self:
            if isinstance(node, OverviewPane):
                self.active_pane = node.pane
                return

    # --- actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer esc only when there is a filter to clear, / only outside an input, and each
        pane's own keys only on that pane (``tui/home_keys.py``)."""
        if not self.is_mounted or not self.query(OverviewPane):
            return True
        pane = self.current
        if action == "back":
            return pane.filter_text != "" or pane.is_filtering or bool(pane.tagged)
        if action == "filter":
            return not isinstance(self.focused, Input)
        panes = PANE_KEYS.get(action)
        if panes is not None:  # a key of some panes only (its letter means another there)
            return self.active_pane in panes and not isinstance(self.focused, Input)
        return True

    async def action_filter(self) -> None:
        await self.current.open_filter()

    def action_back(self) -> None:
        """esc: clear the focused pane's filter, then its tags; nothing is behind home."""
        if not self.current.clear_filter():
            self.current.clear_tags()
        self.refresh_bindings()

    def action_clear_filter(self) -> None:
        self.current.clear_filter()

    def action_refresh(self) -> None:
        self.overview.skip_polls = 0
        self.refresh_panes()

    def action_open_selected(self) -> None:
        row = self.current.row_at_cursor()
        if row is None:
            self.notify(f"Nothing to open in {self.active_pane.heading}", severity="warning")
            return
        self.post_message(OpenRequested(self.active_pane, row))

    def action_first_row(self) -> None:
        self.current.table.action_first_row()

    def action_last_row(self) -> None:
        self.current.table.action_last_row()

    # --- reading: tui.widgets.overview reads; these hooks say when ------------------------

    @property
    def overview(self) -> Overview:
        return self.query_one(Overview)

    def refresh_panes(self) -> None:
        """Re-read what every pane shows (its filter, as many rows as it has loaded)."""
        self.overview.refresh_panes()

    def _poll(self) -> None:
        if not self.is_active:
            return  # hidden under help, a detail screen or a modal: no reads
        if self.overview.poll_due():
            self.refresh_panes()

    def refresh_deployments(self) -> None:
        """Re-read the Deployments pane and the header's count only: after a decision,
        nothing else changed, and the answer must come at once (docs/performance.md)."""
        self.overview.refresh_deployments(self._read_deployments)

    def _read_deployments(self, filter_text: str, limit: int) -> list[Message]:
        return self.overview.read_deployments(filter_text, limit)

    def deployments_reread(self) -> Reread:
        """After a decision: the Deployments pane and the header's count, read in the
        decision's own worker and shown with its notification in one repaint."""
        from dockyard.tui.deploy_actions import Reread

        pane = self.pane(Pane.DEPLOYMENTS)
        filter_text, limit = pane.filter_text, pane.refresh_limit
        return Reread(
            read=lambda: self._read_deployments(filter_text, limit),
            show=self._show_messages,
        )

    def _show_messages(self, messages: list[Message]) -> None:
        # Handled here and now rather than posted: posted, each would repaint on its own.
        for message in messages:
            if isinstance(message, PaneLoaded):
                self.overview.on_pane_loaded(message)
                self.on_pane_loaded(message)
            elif isinstance(message, WaitingLoaded):
                self.on_waiting_loaded(message)
            elif isinstance(message, LoadFailed):
                self.overview.on_load_failed(message)

    def refresh_monitoring(self) -> None:
        """Re-read the Monitoring pane (and with it the header's alert count)."""
        pane = self.pane(Pane.MONITORING)
        self.overview.load_page(Pane.MONITORING, pane.filter_text, offset=0, append=False)

    # --- results (after the Overview showed them) -------------------------------------------

    def on_pane_loaded(self, message: PaneLoaded) -> None:
        if message.page.pane is Pane.RUNS and self._show_run_key is not None:
            self._put_cursor_on_run()
        if message.page.pane is Pane.MONITORING and not message.page.filter_text:
            self.query_one(StatusLine).note_alerts(message.page)

    def on_agent_status_loaded(self, message: AgentStatusLoaded) -> None:
        self.query_one(StatusLine).agent = message.status

    def on_waiting_loaded(self, message: WaitingLoaded) -> None:
        status = self.query_one(StatusLine)
        status.waiting = message.count
        if self._user is None and status.user != message.actor:
            status.user = message.actor
            status.update(status.render_text(), layout=False)

    def on_open_requested(self, message: OpenRequested) -> None:
        if message.pane is Pane.RUNS:
            self._open_run(message.row.id)
            return
        if isinstance(message.row, ModelRow):
            navigation.open_model(self.app, self.workspace, message.row.name, now=self._now)
            return
        if isinstance(message.row, DeploymentRow) and message.row.kind == "request":
            navigation.open_request(self.app, self.workspace, message.row.id, now=self._now)
            return
        if isinstance(message.row, MonitoringRow) and message.row.monitor_id:
            row = message.row
            result = row.result_id if row.kind == "alert" else None
            navigation.open_monitor(
                self.app, self.workspace, row.monitor_id, result_id=result, now=self._now
            )
            return
        if message.pane is Pane.DATASETS:
            name = getattr(message.row, "name", "")
            navigation.open_dataset(self.app, self.workspace, name, now=self._now)
            return
        navigation.open_detail(self.app, message.row.label, row_fields(message.row))

    # --- models: tag, compare, register (tui.screens.model and .compare do the rest) ---------

    @property
    def workspace(self) -> Workspace:
        return cast("DockyardApp", self.app).workspace

    def action_toggle_tag(self) -> None:
        pane = self.current
        row = pane.row_at_cursor()
        if row is None:
            self.notify(f"Nothing to tag in {self.active_pane.heading}", severity="warning")
            return
        pane.toggle_tag(row)
        pane.table.action_cursor_down()
        self.refresh_bindings()

    def action_compare_tagged(self) -> None:
        pane = self.current
        noun = "runs" if pane.pane is Pane.RUNS else "models"
        problem = navigation.compare_limit_problem(len(pane.tagged), noun)
        if problem:
            self.notify(problem, severity="warning")
            return
        refs = [
            f"run:{row.id}" if isinstance(row, RunRow) else getattr(row, "name", row.key)
            for row in pane.tagged
        ]
        navigation.open_compare(self.app, self.workspace, refs)

    def action_register_run(self) -> None:
        from dockyard.tui import model_actions

        row = self.pane(Pane.RUNS).row_at_cursor()
        if not isinstance(row, RunRow):
            self.notify("No run to register", severity="warning")
            return
        model_actions.ask_to_register_run(
            self, self.workspace, row.id, row.project, on_done=self.refresh_panes
        )

    # --- runs: open, n new, x cancel, R retry (tui.run_actions asks and does the work) ----------

    def _open_run(self, run_id: int) -> None:
        navigation.open_run(self.app, run_id)

    def _run_at_cursor(self) -> RunRow | None:
        from dockyard.core import overview

        row = self.pane(Pane.RUNS).row_at_cursor()
        if not isinstance(row, overview.RunRow):
            self.notify("No run highlighted in the Runs pane", severity="warning")
            return None
        return row

    async def action_new_run(self) -> None:
        await self.app.run_action("app.new_run")

    async def action_add_dataset(self) -> None:
        await self.app.run_action("app.add_dataset")

    def action_cancel_run(self) -> None:
        from dockyard.tui import run_actions

        row = self._run_at_cursor()
        if row is not None:
            run_actions.ask_to_cancel(
                self,
                run_actions.workspace_of(self),
                run_id=row.id,
                project=row.project,
                status=row.status,
                on_done=self.action_refresh,
            )

    def action_retry_run(self) -> None:
        from dockyard.tui import run_actions

        row = self._run_at_cursor()
        if row is not None:
            run_actions.retry(
                self,
                run_actions.workspace_of(self),
                run_id=row.id,
                status=row.status,
                on_done=lambda _info: self.action_refresh(),
            )

    #: A run to put the Runs pane's cursor on once a refresh shows it (a run just queued).
    _show_run_key: str | None = None

    def show_run(self, run_id: int) -> None:
        """Focus the Runs pane, refresh it, and move its cursor to ``run_id`` when shown."""
        self._show_run_key = f"run:{run_id}"
        self.focus_pane(Pane.RUNS)
        self.action_refresh()

    def _put_cursor_on_run(self) -> None:
        runs = self.pane(Pane.RUNS)
        keys = [row.key for row in runs.rows()]
        if self._show_run_key in keys:
            runs.table.move_cursor(row=keys.index(self._show_run_key), animate=False)
            self._show_run_key = None
