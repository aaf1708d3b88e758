"""The ``:`` command bar: one line at the bottom, aliases completed as you type."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label

from dockyard.tui.widgets.commands import command_aliases


class CommandBarScreen(ModalScreen[str | None]):
    """Returns the typed command (without the colon), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="command-bar-cancel")]

    def compose(self) -> ComposeResult:
        aliases = command_aliases()
        with Horizontal(id="command-bar"):
            yield Label(":", id="command-prompt")
            yield Input(
                placeholder="runs, data, models, deploy, mon, refresh, help, q",
                suggester=SuggestFromList(aliases, case_sensitive=False),
                id="command-input",
            )

    def focus_input(self) -> None:
        """Focus the input at once (keys typed right after ":" are already queued)."""
        self.set_focus(self.query_one(Input))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
