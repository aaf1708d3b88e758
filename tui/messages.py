"""Typed messages between the home screen's workers and its widgets.

Workers run in threads and never touch widgets: they post one of these, and the handler
runs on the UI thread.
"""

from __future__ import annotations

from textual.message import Message

from dockyard.core.overview import AgentStatus, Pane, PanePage, PaneRow


class PaneLoaded(Message):
    """A page of a pane arrived; ``append`` pages continue the rows already shown."""

    def __init__(self, page: PanePage, *, append: bool = False) -> None:
        super().__init__()
        self.page = page
        self.append = append


class AgentStatusLoaded(Message):
    def __init__(self, status: AgentStatus) -> None:
        super().__init__()
        self.status = status


class WaitingLoaded(Message):
    """How many pending deployment requests wait for ``actor``, the acting user."""

    def __init__(self, count: int, actor: str) -> None:
        super().__init__()
        self.count = count
        self.actor = actor


class LoadFailed(Message):
    """Reading the store failed; ``what`` names the pane (or "store") for the user."""

    def __init__(self, what: str, error: str, *, pane: Pane | None = None) -> None:
        super().__init__()
        self.what = what
        self.error = error
        self.pane = pane


class MoreRowsWanted(Message):
    """A pane's cursor is near its last loaded row and more rows exist."""

    def __init__(self, pane: Pane, offset: int) -> None:
        super().__init__()
        self.pane = pane
        self.offset = offset


class FilterChanged(Message):
    """The user typed in a pane's filter; the pane wants its first page for ``text``."""

    def __init__(self, pane: Pane, text: str) -> None:
        super().__init__()
        self.pane = pane
        self.text = text


class OpenRequested(Message):
    """The user pressed enter on a row."""

    def __init__(self, pane: Pane, row: PaneRow) -> None:
        super().__init__()
        self.pane = pane
        self.row = row
