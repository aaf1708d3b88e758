"""A yes/no question before anything destructive or irreversible, focus on the safe answer.

``ConfirmModal`` returns True only when the user chooses the confirming button (or presses
``y``); ``enter`` right after opening it presses the focused button, which is the safe one,
so a key typed twice by accident never destroys anything. Any screen can reuse it::

    self.app.push_screen(ConfirmModal("Cancel run 12?", "...", confirm_label="Stop run"), done)
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from dockyard.tui.text import plain


class ConfirmModal(ModalScreen[bool]):
    """``title``, a one-paragraph ``message``, and two buttons: safe (focused) and confirm."""

    DEFAULT_CSS = """
    ConfirmModal {
        align: center middle;
        background: $background 50%;
    }
    ConfirmModal #confirm {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: heavy $error;
        border-title-style: bold;
        padding: 1 2 0 2;
        background: $surface;
    }
    ConfirmModal #confirm-buttons {
        height: auto;
        align: right middle;
        margin-top: 1;
    }
    ConfirmModal Button {
        margin-left: 2;
        min-width: 14;
    }
    ConfirmModal Button:focus {
        text-style: bold reverse;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="confirm-cancel"),
        Binding("n", "cancel", "No", show=False, id="confirm-no"),
        Binding("y", "confirm", "Yes", id="confirm-yes"),
        Binding("left,h", "focus_other", "Other button", show=False, id="confirm-left"),
        Binding("right,l", "focus_other", "Other button", show=False, id="confirm-right"),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        *,
        confirm_label: str = "Confirm",
        cancel_label: str = "Cancel",
    ) -> None:
        super().__init__(classes="confirm-modal")
        self.title_text = title
        self.message = message
        self.confirm_label = confirm_label
        self.cancel_label = cancel_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="modal-box"):
            yield Static(plain(self.message, keep="\n"), id="confirm-message")
            with Horizontal(id="confirm-buttons"):
                yield Button(plain(self.cancel_label), id="confirm-cancel-button", compact=True)
                yield Button(
                    plain(self.confirm_label), id="confirm-button", variant="error", compact=True
                )

    def on_mount(self) -> None:
        self.query_one("#confirm", Vertical).border_title = plain(self.title_text)
        self.query_one("#confirm", Vertical).border_subtitle = "y confirms · esc cancels"
        # set_focus, not focus(): an enter already queued must land on the safe button.
        self.set_focus(self.cancel_button)

    @property
    def cancel_button(self) -> Button:
        return self.query_one("#confirm-cancel-button", Button)

    @property
    def confirm_button(self) -> Button:
        return self.query_one("#confirm-button", Button)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-button")

    def action_focus_other(self) -> None:
        other = self.confirm_button if self.focused is self.cancel_button else self.cancel_button
        self.set_focus(other)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_confirm(self) -> None:
        self.dismiss(True)
