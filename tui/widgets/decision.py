"""A confirmation that also takes words: approve, reject, roll back, request a deployment.

Like :class:`~tui.widgets.confirm.ConfirmModal`, focus opens on Cancel, so an ``enter``
typed by accident never decides anything. Its fields are filled deliberately: ``tab``
goes from Cancel to the first field, ``enter`` in a field moves to the next one and then
to the confirming button. A field may be required (a rejection's comment, the reason for
overriding a failed gate) or may have to repeat a word exactly (the model's name, for a
protected environment); the modal stays open with a notification until it is right, and
the core checks the same rules again.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from dockyard.tui.text import plain


@dataclass(frozen=True)
class DecisionField:
    """One input of a :class:`DecisionModal`; ``key`` names its value in the result.

    ``required`` is the one-line notification when it is left empty; ``must_equal`` the
    exact text it must hold (typed confirmation). ``choices`` makes it a picker.
    """

    key: str
    label: str
    required: str = ""
    must_equal: str = ""
    placeholder: str = ""
    choices: tuple[str, ...] = ()


class DecisionModal(ModalScreen[dict[str, str] | None]):
    """Dismisses with ``{key: text}`` (stripped) when confirmed, ``None`` when cancelled."""

    DEFAULT_CSS = """
    DecisionModal {
        align: center middle;
        background: $background 50%;
    }
    DecisionModal #decision {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: heavy $error;
        border-title-style: bold;
        padding: 0 2;
        background: $surface;
        overflow-y: auto;
    }
    DecisionModal #decision-message { margin-top: 1; }
    DecisionModal .decision-label { margin-top: 1; }
    DecisionModal #decision-buttons {
        height: auto;
        align: right middle;
        margin-top: 1;
    }
    DecisionModal Button { margin-left: 2; min-width: 14; }
    DecisionModal Button:focus { text-style: bold reverse; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="decision-cancel"),
        Binding("tab", "next_field", "Next field", show=False, id="decision-next"),
        Binding("shift+tab", "previous_field", "Previous field", show=False, id="decision-prev"),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        fields: list[DecisionField],
        *,
        confirm_label: str = "Confirm",
        cancel_label: str = "Cancel",
    ) -> None:
        super().__init__(classes="decision-modal")
        self.title_text = title
        self.message = message
        self.fields = fields
        self.confirm_label = confirm_label
        self.cancel_label = cancel_label

    def compose(self) -> ComposeResult:
        with Vertical(id="decision"):
            yield Static(plain(self.message, keep="\n"), id="decision-message")
            for field in self.fields:
                yield Label(plain(field.label), classes="decision-label")
                if field.choices:
                    yield Select(
                        [(plain(choice), choice) for choice in field.choices],
                        value=field.choices[0],
                        allow_blank=False,
                        id=f"field-{field.key}",
                        compact=True,
                    )
                else:
                    yield Input(
                        placeholder=field.placeholder,
                        id=f"field-{field.key}",
                        classes="decision-input",
                    )
            with Horizontal(id="decision-buttons"):
                yield Button(plain(self.cancel_label), id="decision-cancel-button", compact=True)
                yield Button(
                    plain(self.confirm_label), id="decision-confirm", variant="error", compact=True
                )

    def on_mount(self) -> None:
        box = self.query_one("#decision", Vertical)
        box.border_title = plain(self.title_text)
        box.border_subtitle = "tab to the fields · esc cancels"
        # set_focus, not focus(): an enter already queued must land on the safe button.
        self.set_focus(self.cancel_button)

    @property
    def cancel_button(self) -> Button:
        return self.query_one("#decision-cancel-button", Button)

    @property
    def confirm_button(self) -> Button:
        return self.query_one("#decision-confirm", Button)

    def field_widget(self, key: str) -> Input | Select[str]:
        return self.query_one(f"#field-{key}", Input | Select)  # type: ignore[arg-type]

    def _cycle(self) -> list[Widget]:
        """Cancel, then the fields in order, then the confirming button."""
        return [
            self.cancel_button,
            *(self.field_widget(f.key) for f in self.fields),
            self.confirm_button,
        ]

    def _move(self, step: int) -> None:
        cycle = self._cycle()
        here = cycle.index(self.focused) if self.focused in cycle else 0
        self.set_focus(cycle[(here + step) % len(cycle)])

    def action_next_field(self) -> None:
        self._move(1)

    def action_previous_field(self) -> None:
        self._move(-1)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._move(1)

    def values(self) -> dict[str, str]:
        result = {}
        for field in self.fields:
            widget = self.field_widget(field.key)
            value = widget.value if isinstance(widget, Input) else str(widget.value)
            result[field.key] = value.strip()
        return result

    def problem(self) -> tuple[str, str] | None:
        """(field key, what is wrong) for the first field that is not right, or None."""
        values = self.values()
        for field in self.fields:
            value = values[field.key]
            if field.required and not value:
                return field.key, field.required
            if field.must_equal and value != field.must_equal:
                return field.key, f"Type {field.must_equal} exactly to confirm"
        return None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id != "decision-confirm":
            self.dismiss(None)
            return
        problem = self.problem()
        if problem is not None:
            key, text = problem
            self.notify(text, title=self.title_text, severity="warning")
            self.set_focus(self.field_widget(key))
            return
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)
