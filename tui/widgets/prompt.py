"""A small modal form: one or more labelled inputs, enter saves, esc cancels.

Used wherever the TUI needs a word from the user (an alias, a model name, a description)
before calling the core. It only collects text: the core checks it and the caller turns
its error into a notification.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from dockyard.tui.text import plain


@dataclass(frozen=True)
class PromptField:
    """One input of a :class:`PromptModal`; ``key`` names its value in the result."""

    key: str
    label: str
    value: str = ""
    placeholder: str = ""


class PromptModal(ModalScreen[dict[str, str] | None]):
    """Dismisses with ``{key: text}`` on enter (text stripped), ``None`` on esc."""

    DEFAULT_CSS = """
    PromptModal {
        align: center middle;
        background: $background 50%;
    }
    PromptModal #prompt {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: heavy $border;
        padding: 0 1;
        background: $surface;
    }
    PromptModal .prompt-label { margin-top: 1; }
    PromptModal .prompt-hint { color: $text-muted; margin-top: 1; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="prompt-cancel"),
        Binding("enter", "save", "Save", id="prompt-save", show=True),
    ]

    def __init__(self, title: str, fields: list[PromptField], *, hint: str = "") -> None:
        super().__init__(classes="prompt-modal")
        self.prompt_title = title
        self.fields = fields
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            for index, field in enumerate(self.fields):
                yield Label(plain(field.label), classes="prompt-label")
                yield Input(
                    value=field.value,
                    placeholder=field.placeholder,
                    id=f"prompt-{field.key}",
                    classes="prompt-input",
                    select_on_focus=index == 0,
                )
            yield Static(
                plain(self.hint or "enter saves · esc cancels · tab next field"),
                classes="prompt-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#prompt", Vertical).border_title = plain(self.prompt_title)
        first = self.query(Input).first()
        self.set_focus(first)

    def values(self) -> dict[str, str]:
        return {
            field.key: self.query_one(f"#prompt-{field.key}", Input).value.strip()
            for field in self.fields
        }

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)
