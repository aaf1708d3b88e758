"""A read-only view of one item's fields; later issues replace it per area."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from dockyard.tui.text import data_text, plain


class DetailScreen(Screen[None]):
    """``title`` and ``fields`` as a two-column table; esc goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("j", "cursor_down", "Down", show=False, id="detail-cursor-down"),
        Binding("k", "cursor_up", "Up", show=False, id="detail-cursor-up"),
    ]

    def __init__(self, title: str, fields: list[tuple[str, str]]) -> None:
        super().__init__(classes="detail-screen")
        self.title_text = title
        self.fields = fields

    def compose(self) -> ComposeResult:
        with Vertical(id="detail", classes="box"):
            yield DataTable[Text](id="detail-table", cursor_type="row", show_header=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Field", key="field")
        table.add_column("Value", key="value")
        for name, value in self.fields:
            table.add_row(data_text(name, "bold"), data_text(value), key=name)
        self.query_one("#detail", Vertical).border_title = plain(self.title_text)
        self.set_focus(table)

    def action_back(self) -> None:
        self.dismiss()

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()
