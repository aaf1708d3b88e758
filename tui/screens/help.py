"""``?``: every key binding of the screen it was opened from, generated from the bindings.

Nothing here is written by hand: the rows come from the screen's active bindings (the
focused widget, its screen and the app, after any keymap), and the command-bar aliases
from the same table as the palette.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dockyard.tui.text import plain
from dockyard.tui.widgets.commands import APP_COMMANDS


@dataclass(frozen=True)
class HelpRow:
    key: str
    description: str
    where: str
    binding_id: str


def _where(node: object) -> str:
    if isinstance(node, App):
        return "everywhere"
    if isinstance(node, Screen):
        return "this screen"
    label = getattr(node, "help_label", None)
    return str(label) if label else type(node).__name__


def _binding_chain(screen: Screen[object]) -> list[tuple[object, list[Binding]]]:
    """(node, bindings) from the focused widget up to the app, after any keymap.

    ``active_bindings`` would drop bindings whose ``check_action`` hides them for now
    (esc with no filter to clear); help should list them anyway.
    """
    chain = getattr(screen, "_modal_binding_chain", None)
    if chain is None:  # pragma: no cover - older/newer Textual without the private chain
        grouped: dict[int, tuple[object, list[Binding]]] = {}
        for active in screen.active_bindings.values():
            grouped.setdefault(id(active.node), (active.node, []))[1].append(active.binding)
        return list(grouped.values())
    return [(node, [binding for _key, binding in bindings]) for node, bindings in chain]


def binding_rows(screen: Screen[Any]) -> list[HelpRow]:
    """Every binding on ``screen`` where its focus is: focused widget first, then the
    screen, then the app; within each, Dockyard's own keys before Textual's."""
    app = screen.app
    rows: list[HelpRow] = []
    seen: set[str] = set()
    for node, bindings in _binding_chain(screen):
        ordered = sorted(bindings, key=lambda binding: binding.id is None)
        # A key bound nearer the focus hides it further up; one node may bind a key twice
        # (a on the home screen: add data or approve, by pane), and both are listed.
        here: set[str] = set()
        for binding in ordered:
            if binding.system or binding.key in seen:
                continue
            here.add(binding.key)
            # The tooltip is the longer wording; the footer's description may be shared
            # (1-5 show as one "Panes" entry).
            description = binding.tooltip or binding.description or binding.action.replace("_", " ")
            rows.append(
                HelpRow(
                    key=app.get_key_display(replace(binding, key_display=None)),
                    description=description,
                    where=_where(node),
                    binding_id=binding.id or "",
                )
            )
        seen |= here
    return rows


class HelpScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("question_mark", "back", "Close help", id="help-close"),
    ]

    def __init__(self, screen_title: str, rows: list[HelpRow]) -> None:
        super().__init__(classes="help-screen")
        self.screen_title = screen_title
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help", classes="box"):
            yield Static(
                "Keys that work where the focus was. "
                "Commands run with : (command bar) or ctrl+p (palette).",
                id="help-intro",
            )
            yield DataTable[Text](id="help-keys", cursor_type="row")
            yield DataTable[Text](id="help-commands", cursor_type="row")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#help", Vertical).border_title = plain(f"Help: {self.screen_title}")
        keys = self.query_one("#help-keys", DataTable)
        keys.add_columns("Key", "Where", "Action", "Keymap id")
        for row in self.rows:
            keys.add_row(
                Text(row.key, style="bold"),
                Text(row.where),
                Text(row.description),
                Text(row.binding_id),
            )
        commands = self.query_one("#help-commands", DataTable)
        commands.add_columns("Palette name", "Command bar", "What it does")
        for command in APP_COMMANDS:
            alias = " ".join(f":{alias}" for alias in command.aliases) or "-"
            commands.add_row(Text(command.title, style="bold"), Text(alias), Text(command.help))
        self.set_focus(keys)

    def action_back(self) -> None:
        self.dismiss()
