"""A question with several answers, focus on the safe one (Cancel).

``ChoiceModal`` is :class:`~tui.widgets.confirm.ConfirmModal` with more than one way to go
ahead (archive *or* delete): each choice is a button with its own key, a choice that cannot
be taken now is shown disabled (the message says why), and ``enter`` right after opening
presses Cancel. It returns the chosen value, or None::

    self.app.push_screen(ChoiceModal("Run 12", "...", [Choice("archive", "Archive", "a")]), done)
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from dockyard.tui.text import plain


@dataclass(frozen=True)
class Choice:
    """One way to go ahead: what the modal returns, its button's label and its key."""

    value: str
    label: str
    key: str
    enabled: bool = True


class ChoiceModal(ModalScreen[str | None]):
    """``title``, a ``message``, Cancel (focused) and one button per :class:`Choice`."""

    DEFAULT_CSS = """
    ChoiceModal {
        align: center middle;
        background: $background 50%;
    }
    ChoiceModal #choice {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: heavy $error;
        border-title-style: bold;
        padding: 1 2 0 2;
        background: $surface;
    }
    ChoiceModal #choice-buttons {
        height: auto;
        align: right middle;
        margin-top: 1;
    }
    ChoiceModal Button {
        margin-left: 2;
        min-width: 12;
    }
    ChoiceModal Button:focus {
        text-style: bold reverse;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="choice-cancel"),
        Binding("n", "cancel", "No", show=False, id="choice-no"),
        Binding("left,h", "focus_previous", "Previous button", show=False, id="choice-left"),
        Binding("right,l", "focus_next", "Next button", show=False, id="choice-right"),
    ]

    def __init__(
        self, title: str, message: str, choices: list[Choice], *, cancel_label: str = "Cancel"
    ) -> None:
        super().__init__(classes="confirm-modal")
        self.title_text = title
        self.message = message
        self.choices = choices
        self.cancel_label = cancel_label

    def compose(self) -> ComposeResult:
        with Vertical(id="choice", classes="modal-box"):
            yield Static(plain(self.message, keep="\n"), id="choice-message")
            with Horizontal(id="choice-buttons"):
                yield Button(plain(self.cancel_label), id="choice-cancel-button", compact=True)
                for choice in self.choices:
                    yield Button(
                        plain(f"{choice.label} ({choice.key})"),
                        id=f"choice-{choice.value}",
                        variant="error",
                        compact=True,
                        disabled=not choice.enabled,
                    )

    def on_mount(self) -> None:
        box = self.query_one("#choice", Vertical)
        box.border_title = plain(self.title_text)
        keys = " · ".join(f"{c.key} {c.label.lower()}" for c in self.choices if c.enabled)
        box.border_subtitle = f"{keys} · esc cancels" if keys else "esc cancels"
        # set_focus, not focus(): an enter already queued must land on the safe button.
        self.set_focus(self.query_one("#choice-cancel-button", Button))

    def on_key(self, event: events.Key) -> None:
        # each choice's key is data, not a Binding: the choices differ per question
        for choice in self.choices:
            if event.key == choice.key and choice.enabled:
                event.stop()
                self.dismiss(choice.value)
                return

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id == "choice-cancel-button":
            self.dismiss(None)
        else:
            self.dismiss(button_id.removeprefix("choice-"))

    def action_cancel(self) -> None:
        self.dismiss(None)
