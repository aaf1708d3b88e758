"""The reference of the startup bench: a bare Textual app with a header, a table and a footer.

Fifty rows in a DataTable, ``?`` opens a help screen and ``q`` quits, like Dockyard's home
screen, so that ``bench/startup.py`` can drive both the same way. ``bench/startup.py``
waits for :data:`DATA_MARKER` (a cell of the first row) and then for :data:`HELP_MARKER`.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Static

DATA_MARKER = "bench-row-001"
HELP_MARKER = "Bare app help"
ROWS = 50


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"{HELP_MARKER}\n\n?  this help\nq  quit")


class BareApp(App[None]):
    TITLE = "Bare app"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("id", "name", "status", "score")
        for i in range(1, ROWS + 1):
            status = "finished" if i % 7 else "failed"
            table.add_row(str(i), f"bench-row-{i:03d}", status, f"{0.5 + i / 200:.3f}")
        table.focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


if __name__ == "__main__":
    BareApp().run()
