"""The add-dataset form: name, path and message; registering runs in a worker with a
progress bar fed by ``core.datasets.register_dataset``'s progress callback.

``esc`` or ``ctrl+c`` while registering sets the cancel flag the core polls; the core then
removes what it staged, so nothing is left behind. Bad input (a missing path, a bad name,
an empty file…) is the core's one-line message, as a notification and under the form,
which stays open to fix it. Dismisses with the summary line on success.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, ProgressBar, Static

from dockyard.tui.errors import describe_error
from dockyard.tui.text import plain

if TYPE_CHECKING:
    from dockyard.core.datasets import RegisterProgress, Registration
    from dockyard.core.workspace import Workspace


def outcome_text(result: Registration) -> str:
    """``wine@2 registered`` or ``identical to wine@1; no new version``."""
    if result.created:
        return f"{result.version.ref} registered"
    return f"identical to {result.version.ref}; no new version"


class RegisterProgressed(Message):
    def __init__(self, event: RegisterProgress) -> None:
        super().__init__()
        self.event = event


class RegisterEnded(Message):
    """The worker is done: ``result`` on success, else ``error`` (or neither: cancelled)."""

    def __init__(self, result: Registration | None, error: str | None) -> None:
        super().__init__()
        self.result = result
        self.error = error


class AddDatasetScreen(ModalScreen[str | None]):
    """``AddDatasetScreen(workspace, name="wine")``; dismisses with the outcome line."""

    DEFAULT_CSS = """
    AddDatasetScreen { align: center middle; background: $background 50%; }
    AddDatasetScreen #add-dataset {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: heavy $border;
        padding: 0 1;
        background: $surface;
    }
    AddDatasetScreen .add-label { margin-top: 1; }
    AddDatasetScreen #add-progress { margin-top: 1; width: 100%; }
    AddDatasetScreen #add-status { height: auto; margin-top: 1; }
    AddDatasetScreen Input { background: $boost; }
    AddDatasetScreen #add-hint { color: $text-muted; margin-top: 1; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="add-dataset-cancel"),
        Binding("ctrl+c", "cancel", "Cancel", show=False, priority=True, id="add-dataset-stop"),
        Binding("enter", "register", "Register", id="add-dataset-register"),
    ]

    def __init__(self, workspace: Workspace, *, name: str = "", path: str = "") -> None:
        super().__init__(classes="add-dataset")
        self.workspace = workspace
        self._initial = {"name": name, "path": path}
        self._cancel = threading.Event()
        self.registering = False
        self.closing = False
        self.outcome: str | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="add-dataset"):
            yield Label("Name (lowercase letters, digits, - and _)", classes="add-label")
            yield Input(
                value=self._initial["name"], id="add-name", placeholder="wine", compact=True
            )
            yield Label("Path (a CSV, TSV or Parquet file, or a folder)", classes="add-label")
            yield Input(
                value=self._initial["path"],
                id="add-path",
                placeholder="data/wine.csv",
                compact=True,
            )
            yield Label("Message (optional)", classes="add-label")
            yield Input(id="add-message", placeholder="what changed", compact=True)
            yield ProgressBar(id="add-progress", show_eta=False)
            yield Static("", id="add-status")
            yield Static(
                "enter registers · esc cancels · tab next field", id="add-hint", markup=False
            )

    def on_mount(self) -> None:
        self.query_one("#add-dataset", Vertical).border_title = "Add a dataset version"
        self.query_one(ProgressBar).display = False
        self.set_focus(self.query_one("#add-name", Input))

    def _value(self, key: str) -> str:
        return self.query_one(f"#add-{key}", Input).value.strip()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_register()

    def action_register(self) -> None:
        if self.registering:
            return
        name, path, message = self._value("name"), self._value("path"), self._value("message")
        if not name or not path:
            missing = "a name" if not name else "a path"
            self._fail(f"Give {missing} to register")
            return
        self.registering = True
        self.error = None
        self._cancel.clear()
        for field in self.query(Input):
            field.disabled = True
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self._status(f"registering {name} from {path}…  esc or ctrl+c stops")
        self._register(name, path, message)

    @work(thread=True, exclusive=True, exit_on_error=False, group="add-dataset")
    def _register(self, name: str, path: str, message: str) -> None:
        from dockyard.core.datasets import RegistrationCancelled, register_dataset

        def progress(event: RegisterProgress) -> None:
            # called from two threads (hash and profile); post_message is thread-safe
            self.post_message(RegisterProgressed(event))

        try:
            result = register_dataset(
                self.workspace,
                name,
                path,
                message,
                progress=progress,
                cancel=self._cancel.is_set,
            )
        except RegistrationCancelled:
            self.post_message(RegisterEnded(None, None))
            return
        except Exception as error:
            self.post_message(RegisterEnded(None, describe_error(error)))
            return
        self.post_message(RegisterEnded(result, None))

    def on_register_progressed(self, message: RegisterProgressed) -> None:
        event = message.event
        if not self.registering:
            return
        bar = self.query_one(ProgressBar)
        # two phases read the same bytes: hashing counts for the first half of the bar
        total = max(event.total, 1)
        share = event.done / total
        if event.phase != "profile":
            self._hash_share = share
        else:
            self._profile_share = share
            self._rows = event.rows
        bar.update(total=200, progress=100 * (self._hash_share + self._profile_share))
        from dockyard.core.overview import human_size

        hashed = human_size(int(self._hash_share * total))
        profiled = human_size(int(self._profile_share * total))
        self._status(
            f"of {human_size(event.total)}: hashed {hashed} · profiled {profiled}, "
            f"{self._rows:,} rows\nesc or ctrl+c stops"
        )

    _hash_share = 0.0
    _profile_share = 0.0
    _rows = 0

    def on_register_ended(self, message: RegisterEnded) -> None:
        self.registering = False
        self._hash_share = self._profile_share = 0.0
        self._rows = 0
        for field in self.query(Input):
            field.disabled = False
        self.query_one(ProgressBar).display = False
        if message.result is not None:
            self.outcome = outcome_text(message.result)
            self.notify(self.outcome, title="Dataset")
            self.dismiss(self.outcome)
            return
        if message.error is None:  # cancelled: the core removed what it had staged
            self.notify("Registration cancelled; nothing was written", severity="warning")
            if self.closing:
                self.dismiss(None)
            else:
                self._status("cancelled; nothing was written")
            return
        self._fail(message.error)

    def _fail(self, error: str) -> None:
        self.error = error
        self.notify(error, title="Dataset not registered", severity="error", timeout=8)
        self._status(error)
        self.set_focus(self.query_one("#add-path", Input))

    def _status(self, text: str) -> None:
        self.query_one("#add-status", Static).update(plain(text))

    def action_cancel(self) -> None:
        """Stop a registration in progress (and close once it has cleaned up), or close."""
        if self.registering:
            self.closing = True
            self._cancel.set()
            self._status("stopping…")
            return
        self.dismiss(None)
