"""The dataset screen's preview: a window of a version's rows that slides with the cursor.

The preview never holds the file: the table keeps a window of :data:`PREVIEW_WINDOW`
rows read by ``core.datasets.preview_page`` in a worker, and the window slides as the
cursor nears its edge, so paging costs the same on row 10 and on row 10 million.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from dockyard.core.workspace import Workspace
from dockyard.tui.errors import describe_error
from dockyard.tui.text import data_text
from dockyard.tui.widgets.dataset_tables import DatasetLoadFailed, DatasetTable, cell

if TYPE_CHECKING:
    from dockyard.core.datasets import VersionInfo

#: Rows held by the preview table at most (three pages of :data:`PREVIEW_STEP`).
PREVIEW_WINDOW = 300
PREVIEW_STEP = 100
#: Slide the window when the cursor comes this close to its edge.
PREVIEW_MARGIN = 20


class PreviewLoaded(Message):
    def __init__(
        self,
        version_id: int,
        start: int,
        columns: list[str],
        rows: list[tuple[Any, ...]],
        cursor: int,
        seconds: float,
    ) -> None:
        super().__init__()
        self.version_id = version_id
        self.start = start
        self.columns = columns
        self.rows = rows
        self.cursor = cursor
        self.seconds = seconds


class PreviewTable(DatasetTable):
    """The preview window; g/G go to the first and last row of the whole file."""

    help_label = "Preview"

    BINDINGS = [
        Binding("g", "first_row", "First row", show=False, id="preview-first-row"),
        Binding("G", "last_row", "Last row", show=False, id="preview-last-row"),
    ]

    def action_first_row(self) -> None:
        if isinstance(self.parent, DatasetPreview):
            self.parent.jump(0)

    def action_last_row(self) -> None:
        if isinstance(self.parent, DatasetPreview):
            self.parent.jump(-1)


class DatasetPreview(Vertical):
    """The preview table and its status line (which rows of how many)."""

    def __init__(self, workspace: Workspace, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workspace = workspace
        self.version: VersionInfo | None = None
        self.last_page_seconds: float | None = None
        self._start = 0
        self._count = 0
        self._columns: list[str] = []
        self._widths: list[int] = []
        self._pending = False
        #: Where the cursor goes when the window being read arrives (absolute row), and
        #: whether the read slides the window (cursor keys) rather than jumps (g/G).
        self._target = 0
        self._slide = False

    def compose(self) -> ComposeResult:
        yield PreviewTable(id="ds-preview", cursor_type="row")
        yield Static("", id="ds-preview-status")

    @property
    def table(self) -> PreviewTable:
        return self.query_one(PreviewTable)

    @property
    def total(self) -> int:
        return self.version.n_rows if self.version else 0

    def show_version(self, version: VersionInfo | None) -> None:
        """Forget the window of the version shown before; read nothing yet (:meth:`fill`).
        None: no version left to show (the last one was archived or deleted)."""
        self.version = version
        self._columns = []
        self._widths = []
        self._start = 0
        self._count = 0
        self._pending = False
        self.table.clear(columns=True)
        self.query_one("#ds-preview-status", Static).update("")

    def fill(self) -> None:
        """Read the first window if none was read for this version (the section shows)."""
        if self._columns == [] and not self._pending:
            self._request(0, 0)

    def on_dataset_load_failed(self, message: DatasetLoadFailed) -> None:
        self._pending = False  # and the message goes on to the screen, which says so

    def _request(self, start: int, cursor: int, *, slide: bool = False) -> None:
        if self.version is None:
            return
        self._pending = True
        self._target = cursor
        self._slide = slide
        self._load(self.version.id, start, cursor)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ds-preview")
    def _load(self, version_id: int, start: int, cursor: int) -> None:
        from dockyard.core.datasets import preview_page

        began = time.perf_counter()
        try:
            columns, rows = preview_page(self.workspace, version_id, start, PREVIEW_WINDOW)
        except Exception as error:
            self.post_message(DatasetLoadFailed("the preview", describe_error(error)))
            return
        if not get_current_worker().is_cancelled:
            seconds = time.perf_counter() - began
            self.post_message(PreviewLoaded(version_id, start, columns, rows, cursor, seconds))

    def _window_start(self, row: int) -> int:
        start = max(0, row - PREVIEW_WINDOW // 2)
        start -= start % PREVIEW_STEP  # pages, so a window is read from a page boundary
        return max(0, min(start, max(0, self.total - PREVIEW_WINDOW + PREVIEW_STEP - 1)))

    def jump(self, row: int) -> None:
        """Put the cursor on absolute ``row`` (-1: the last), reading as needed."""
        total = self.total
        if total == 0:
            return
        row = total - 1 if row < 0 else min(row, total - 1)
        if self._start <= row < self._start + self._count:
            self.table.move_cursor(row=row - self._start, animate=False)
            return
        self._request(self._window_start(row), row)

    @on(DataTable.RowHighlighted, "#ds-preview")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not self._count or event.cursor_row != self.table.cursor_row:
            return  # stale: posted while the window was refilled (clear moves the cursor)
        row = self._start + event.cursor_row
        if self._pending:
            if self._slide:  # keys typed while the next window is read still count
                self._target = row
                self._show_status(row)
            return
        end = self._start + self._count
        near_end = row >= end - PREVIEW_MARGIN and end < self.total
        near_start = row < self._start + PREVIEW_MARGIN and self._start > 0
        self._show_status(row)
        if near_end or near_start:
            start = self._window_start(row)
            if start != self._start:
                self._request(start, row, slide=True)

    def on_preview_loaded(self, message: PreviewLoaded) -> None:
        if self.version is None or message.version_id != self.version.id:
            return
        self._pending = False
        self.last_page_seconds = message.seconds
        table = self.table
        total = self.total
        cells = [
            [f"{message.start + i + 1:,}", *(cell(v) for v in row)]
            for i, row in enumerate(message.rows)
        ]
        headers = ["#", *(cell(name, 24) for name in message.columns)]  # made visible
        # Widths set here, not measured by the table when idle: the window is drawn at its
        # final widths at once, and they only grow (a later window with longer values).
        needed = [len(f"{total:,}"), *(len(h) for h in headers[1:])]
        for values in cells:
            needed = [max(w, len(v)) for w, v in zip(needed, values, strict=True)]
        widths = [max(w, old) for w, old in zip(needed, self._widths, strict=False)]
        widths += needed[len(widths) :]
        if message.columns != self._columns or widths != self._widths:
            table.clear(columns=True)
            for index, (header, width) in enumerate(zip(headers, widths, strict=True)):
                table.add_column(data_text(header), key=f"c{index}", width=width)
            self._columns = list(message.columns)
            self._widths = widths
        else:
            table.clear()
        self._start = message.start
        self._count = len(message.rows)
        table.add_rows(
            [(data_text(values[0], "dim"), *map(data_text, values[1:])) for values in cells]
        )
        target = self._target
        if message.rows:
            at = min(max(target - message.start, 0), len(message.rows) - 1)
            target = message.start + at
            table.move_cursor(row=at, animate=False, scroll=True)
        self._show_status(target)

    def _show_status(self, row: int) -> None:
        total = self.total
        if not self._count:
            text = "no rows" if total == 0 else "reading…"
        else:
            first = self._start + 1
            last = self._start + self._count
            text = f"rows {first:,}-{last:,} of {total:,} · row {row + 1:,} · g/G first/last row"
        self.query_one("#ds-preview-status", Static).update(text)
