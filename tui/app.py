"""The Dockyard terminal app: the home screen and the keys that work everywhere.

Startup cost is a requirement, not a wish: this module imports Textual, the dataclasses
of ``core.overview`` and the stdlib-``sqlite3`` read path of ``store.queries``, and
nothing heavier. SQLAlchemy loads only if the store needs migrating or is not SQLite;
pandas and scikit-learn load only inside the workers of screens that need them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input

from dockyard.core.overview import Pane
from dockyard.core.text import visible
from dockyard.core.workspace import Workspace
from dockyard.store.queries import Reader, open_reader
from dockyard.tui import navigation
from dockyard.tui.screens.command_bar import CommandBarScreen
from dockyard.tui.screens.help import HelpScreen, binding_rows
from dockyard.tui.screens.home import HomeScreen
from dockyard.tui.widgets.commands import DockyardCommands, resolve_command
from dockyard.tui.widgets.status_line import short_path


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _pane_binding(pane: Pane) -> Binding:
    # The footer shows one "1-5 Panes" entry (on the first); help lists all five.
    first = pane.number == 1
    return Binding(
        str(pane.number),
        f"show_pane('{pane.value}')",
        "Panes" if first else pane.heading,
        show=first,
        key_display="1-5" if first else None,
        tooltip=f"Focus the {pane.heading} pane",
        id=f"pane-{pane.value}",
    )


class DockyardApp(App[None]):
    """``DockyardApp(workspace)``; ``now`` is injectable so relative times can be frozen."""

    CSS_PATH = "app.tcss"
    TITLE = "Dockyard"
    COMMANDS = App.COMMANDS | {DockyardCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        *(_pane_binding(pane) for pane in Pane),
        Binding("question_mark", "help", "Help", tooltip="Every key of this screen", id="help"),
        Binding(
            "colon",
            "command_bar",
            "Cmd",
            tooltip="Command bar: :runs :data :models :deploy :mon :refresh :help :q",
            id="command-bar",
            priority=True,  # so ":mon" typed in one burst reaches the bar, not the table
        ),
        Binding(
            "ctrl+p",
            "command_palette",
            "Palette",
            tooltip="Command palette: every action by name",
            id="palette",
            priority=True,
        ),
        Binding("q", "quit", "Quit", tooltip="Quit Dockyard", id="quit"),
    ]

    def __init__(
        self,
        workspace: Workspace,
        *,
        user: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.workspace = workspace
        #: the name the header shows; None: who core acts as here (``acting_user``)
        self.user = user
        self.now: Callable[[], datetime] = now or _utcnow
        self._reader: Reader | None = None
        self._reader_lock = threading.Lock()
        self._home: HomeScreen | None = None

    @property
    def home(self) -> HomeScreen:
        """The home screen, bottom of the stack for the whole session."""
        if self._home is None:
            self._home = HomeScreen(
                open_reader=self.reader,
                now=self.now,
                workspace_label=short_path(self.workspace.root),
                user=self.user,
            )
        return self._home

    def get_default_screen(self) -> Screen[Any]:
        return self.home

    # --- the store --------------------------------------------------------------------------

    def reader(self) -> Reader:
        """The shared read-only connection, opened (and migrated) on first use.

        Called from worker threads only: opening may migrate the store.
        """
        with self._reader_lock:
            if self._reader is None:
                self._reader = open_reader(self.workspace.db_url)
            return self._reader

    def on_unmount(self) -> None:
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # --- notifications ----------------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification is plain text, with control characters made visible.

        Messages quote data (a dataset name, an error from dockyard.core naming the user's input),
        and every screen's and widget's ``notify`` ends here: one place where a message is
        never parsed as markup and cannot reach the terminal with an escape sequence in it.
        """
        super().notify(
            visible(message, keep="\n"),
            title=visible(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def action_help_quit(self) -> None:
        # Textual's own version of this hint is markup, which notify no longer parses.
        keys = [
            key
            for key, active in self.active_bindings.items()
            if active.binding.action in ("quit", "app.quit")
        ]
        if keys:
            self.notify(f"Press {keys[0]} to quit the app", title="Do you want to quit?")

    # --- actions that work from any screen ----------------------------------------------------

    def _go_home(self) -> HomeScreen:
        while self.screen is not self.home and len(self.screen_stack) > 1:
            self.pop_screen()
        return self.home

    def action_show_pane(self, pane: str) -> None:
        self._go_home().focus_pane(pane)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        screen = self.screen
        title = "home" if screen is self.home else (screen.title or type(screen).__name__)
        self.push_screen(HelpScreen(str(title), binding_rows(screen)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # ":" is a priority key: inside an input (a filter, the bar itself) it is just text.
        return not (action == "command_bar" and isinstance(self.focused, Input))

    async def action_command_bar(self) -> None:
        bar = CommandBarScreen()
        await self.push_screen(bar, callback=self._run_command)
        bar.focus_input()

    async def _run_command(self, text: str | None) -> None:
        if not text:
            return
        command = resolve_command(text)
        if command is None:
            self.notify(
                f"Unknown command :{text} — :help lists the commands",
                severity="warning",
            )
            return
        await self.run_action(command.action)

    async def action_filter(self) -> None:
        await self._go_home().action_filter()

    def action_clear_filter(self) -> None:
        self._go_home().action_clear_filter()

    def action_refresh(self) -> None:
        self._go_home().action_refresh()

    def action_open_selected(self) -> None:
        self._go_home().action_open_selected()

    def action_first_row(self) -> None:
        self._go_home().action_first_row()

    def action_last_row(self) -> None:
        self._go_home().action_last_row()

    async def _here_or_home(self, action: str) -> None:
        """Run ``action`` on the screen on top if it has it (the model screen tags
        versions), otherwise on the home screen (which tags runs and models)."""
        screen = self.screen if hasattr(self.screen, f"action_{action}") else self._go_home()
        await self.run_action(action, screen)

    async def action_toggle_tag(self) -> None:
        await self._here_or_home("toggle_tag")

    async def action_compare_tagged(self) -> None:
        await self._here_or_home("compare_tagged")

    async def action_register_run(self) -> None:
        await self._here_or_home("register_run")

    async def _on_deployments(self, action: str) -> None:
        """Run a decision ``action`` on the request screen on top, or else on the home
        screen's Deployments pane, focused first: the palette reaches these from any pane,
        and the home screen offers them only while that pane has the focus (elsewhere its
        ``a``/``x``/``b`` mean something else), so without the focus they did nothing."""
        if self.screen is not self.home and hasattr(self.screen, f"action_{action}"):
            await self.run_action(action, self.screen)
            return
        home = self._go_home()
        if home.active_pane is not Pane.DEPLOYMENTS or home.focused is not home.current.table:
            home.focus_pane(Pane.DEPLOYMENTS)
        await self.run_action(action, home)

    async def action_approve_request(self) -> None:
        await self._on_deployments("approve_request")

    async def action_reject_request(self) -> None:
        await self._on_deployments("reject_request")

    async def action_roll_back(self) -> None:
        await self._on_deployments("roll_back")

    async def action_request_deployment(self) -> None:
        await self._here_or_home("request_deployment")

    # --- runs: open, launch, cancel, retry (their screens load on first use) -----------------

    def open_run(self, run_id: int) -> None:
        """Push the run screen of ``run_id``: its live log, curves and record."""
        navigation.open_run(self, run_id)

    async def action_new_run(self) -> None:
        """The launch form, on the project of the run highlighted in the Runs pane."""
        row = self.home.pane(Pane.RUNS).row_at_cursor() if self.home.is_mounted else None
        await navigation.open_launch(self, project=getattr(row, "project", None))

    async def action_add_dataset(self) -> None:
        """The add-dataset form, on the dataset highlighted in the Datasets pane."""
        row = self.home.pane(Pane.DATASETS).row_at_cursor() if self.home.is_mounted else None

        def done(outcome: str | None) -> None:
            if outcome is not None:
                self.home.refresh_panes()
                # the dataset screen under the form shows the new version too
                if getattr(self.screen, "dataset_name", None) is not None:
                    self.screen.action_reload()  # type: ignore[attr-defined]

        await navigation.open_add_dataset(
            self, self.workspace, name=getattr(row, "name", ""), done=done
        )

    async def action_cancel_run(self) -> None:
        """Cancel the run on screen, or the one highlighted in the Runs pane (confirmed)."""
        screen = self.screen if hasattr(self.screen, "action_cancel_run") else self._go_home()
        await self.run_action("cancel_run", screen)

    async def action_retry_run(self) -> None:
        """Queue the run on screen (or highlighted in the Runs pane) again, as it was."""
        screen = self.screen if hasattr(self.screen, "action_retry_run") else self._go_home()
        await self.run_action("retry_run", screen)

    def refresh_deployments(self) -> None:
        """Re-read the Deployments pane and the header's count (after a decision)."""
        if self.home.is_mounted:
            self.home.refresh_deployments()

    def refresh_monitoring(self) -> None:
        """Re-read the Monitoring pane and the header's alert count (after an action)."""
        if self.home.is_mounted:
            self.home.refresh_monitoring()

    async def action_acknowledge_alert(self) -> None:
        await self._here_or_home("acknowledge_alert")

    async def action_tidy_row(self) -> None:
        await self._here_or_home("tidy_row")

    async def action_toggle_archived(self) -> None:
        await self._here_or_home("toggle_archived")

    async def action_back(self) -> None:
        """Clear the home screen's filter there; anywhere else close the screen."""
        if self.screen is self.home:
            self.home.action_back()
        else:
            self.pop_screen()


def run_tui(workspace: Workspace) -> None:
    """Open the TUI on ``workspace`` and return when the user quits."""
    DockyardApp(workspace).run()
