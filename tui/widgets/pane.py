"""One area of the home screen: a titled, filterable, paged table.

The pane owns what is on screen (row keys in order, the rows behind them, the filter) and
nothing else: it asks for data with messages and the screen's workers answer with
:class:`~tui.messages.PaneLoaded`. Refreshes update cells in place; rows are only cleared
and re-added when the order of the first page changed, and a page is at most a few
hundred rows, never the whole history.
"""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from dockyard.core.overview import EMPTY_HINTS, PAGE_SIZE, PANE_COLUMNS, Pane, PanePage, PaneRow
from dockyard.tui.messages import FilterChanged, MoreRowsWanted, OpenRequested
from dockyard.tui.text import data_text, markup, plain

#: Start loading the next page when the cursor is this close to the last loaded row.
PREFETCH_ROWS = 20

#: A refresh re-reads at most this many rows, however far the user has paged.
MAX_REFRESH_ROWS = 300


#: Cell values drawn in bold: the states someone should look at (readable without colour).
ATTENTION_VALUES = frozenset({"running", "pending", "failed", "lost", "alert"})


def cell_text(value: str) -> Text:
    """A cell as plain text (never parsed as markup: names may hold brackets)."""
    attention = value in ATTENTION_VALUES or value.startswith("ALERT")
    return data_text(value, "bold" if attention else "")


def row_cells(row: PaneRow, *, tagged: bool = False) -> list[Text]:
    if getattr(row, "archived", False):
        # dimmed, and marked in the first cell (core.overview.ARCHIVED_MARK) for monochrome
        cells = [data_text(value, "dim") for value in row.cells()]
    else:
        cells = [cell_text(value) for value in row.cells()]
    if tagged:
        cells[0] = tagged_text(cells[0].plain)
    return cells


#: The mark in front of a tagged row's first cell (``space`` tags, ``c`` acts on the tags).
TAG_MARK = "*"


def tagged_text(value: str) -> Text:
    """A tagged row's first cell: the mark and bold, so it shows without colour."""
    return data_text(f"{TAG_MARK}{value}", "bold magenta")


class PaneTable(DataTable[Text]):
    """The table of a pane, with vi-style moves on top of DataTable's arrow keys."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open", id="open"),
        Binding("j", "cursor_down", "Down", show=False, id="cursor-down"),
        Binding("k", "cursor_up", "Up", show=False, id="cursor-up"),
        Binding("g", "first_row", "First row", show=False, id="first-row"),
        Binding("G", "last_row", "Last loaded row", show=False, id="last-row"),
    ]

    def __init__(self, pane: Pane) -> None:
        super().__init__(
            id=f"{pane.value}-table",
            cursor_type="row",
            zebra_stripes=False,
            cursor_foreground_priority="renderable",
        )
        self.pane = pane

    @property
    def help_label(self) -> str:
        return f"{self.pane.heading} pane"

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)


class OverviewPane(Vertical):
    """A focusable area of the home screen for one :class:`~core.overview.Pane`."""

    def __init__(self, pane: Pane) -> None:
        super().__init__(id=f"pane-{pane.value}", classes="pane")
        self.pane = pane
        self.filter_text = ""
        self.total: int | None = None
        self.summary = ""
        self.error = ""
        self._rows: dict[str, PaneRow] = {}
        self._order: list[str] = []
        self._more_pending = False
        # Tagged rows in the order they were tagged, kept when paged out or filtered away.
        self._tagged: dict[str, PaneRow] = {}
        # Rows a decision is being committed on, and the status they show meanwhile: a
        # poll's page read before the commit must not put "pending" back.
        self._marked: dict[str, str] = {}
        #: archived rows: "hide" or "include" (H toggles it in the Datasets, Runs and
        #: Models panes)
        self.archived = "hide"

    # --- composition ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield PaneTable(self.pane)
        yield Static("", classes="hint")
        # The filter input is mounted on first use: five idle inputs cost startup time.

    def on_mount(self) -> None:
        table = self.table
        for index, heading in enumerate(PANE_COLUMNS[self.pane]):
            table.add_column(heading, key=f"c{index}")
        self._update_title()

    @property
    def table(self) -> PaneTable:
        return self.query_one(PaneTable)

    @property
    def filter_input(self) -> Input | None:
        """The filter input, once ``/`` has been pressed in this pane."""
        inputs = self.query(Input)
        return inputs.first() if inputs else None

    @property
    def is_filtering(self) -> bool:
        """True while the filter input is shown."""
        return self.has_class("-filtering")

    @property
    def loaded_count(self) -> int:
        return len(self._order)

    @property
    def refresh_limit(self) -> int:
        """How many rows a refresh should re-read to cover what the user has loaded."""
        return min(max(PAGE_SIZE, self.loaded_count), MAX_REFRESH_ROWS)

    def row_at_cursor(self) -> PaneRow | None:
        table = self.table
        if not self._order or not 0 <= table.cursor_row < len(self._order):
            return None
        return self._rows.get(self._order[table.cursor_row])

    def rows(self) -> list[PaneRow]:
        """The rows shown, in order."""
        return [self._rows[key] for key in self._order]

    # --- tags -------------------------------------------------------------------------------

    @property
    def tagged(self) -> list[PaneRow]:
        """The tagged rows, first tagged first (the baseline of a comparison)."""
        return list(self._tagged.values())

    def toggle_tag(self, row: PaneRow) -> bool:
        """Tag ``row`` or untag it; True if it is tagged now."""
        now_tagged = row.key not in self._tagged
        if now_tagged:
            self._tagged[row.key] = row
        else:
            del self._tagged[row.key]
        if row.key in self._rows:
            self._render_first_cell(row.key)
        self._update_title()
        return now_tagged

    def clear_tags(self) -> bool:
        """Untag every row; False if none was tagged."""
        if not self._tagged:
            return False
        keys = list(self._tagged)
        self._tagged.clear()
        for key in keys:
            if key in self._rows:
                self._render_first_cell(key)
        self._update_title()
        return True

    def _render_first_cell(self, key: str) -> None:
        first = self._rows[key].cells()[0]
        text = tagged_text(first) if key in self._tagged else cell_text(first)
        self.table.update_cell(key, "c0", text, update_width=True)

    def _cells(self, row: PaneRow) -> list[Text]:
        return row_cells(row, tagged=row.key in self._tagged)

    # --- data -----------------------------------------------------------------------------

    def apply_page(self, page: PanePage, *, append: bool = False) -> None:
        """Show a page the screen's worker loaded; stale pages (old filter) are dropped."""
        if page.filter_text != self.filter_text or page.archived != self.archived:
            return
        if self._marked:
            page = replace(page, rows=[self._with_mark(row) for row in page.rows])
        self.total = page.total
        self.summary = page.summary
        self.error = ""
        if append:
            self._more_pending = False
            if page.offset == len(self._order):
                self._append(page.rows)
        else:
            self._replace_prefix(page)
        self._update_title()
        self._update_hint()

    def show_error(self, error: str) -> None:
        self._more_pending = False
        self.error = error
        self._update_title()
        self._update_hint()

    def _append(self, rows: list[PaneRow]) -> None:
        table = self.table
        for row in rows:
            if row.key in self._rows:
                continue  # shifted in by a new row since the previous page
            self._rows[row.key] = row
            self._order.append(row.key)
            table.add_row(*self._cells(row), key=row.key)

    def _replace_prefix(self, page: PanePage) -> None:
        keys = [row.key for row in page.rows]
        if keys == self._order[: len(keys)]:
            self._update_in_place(page.rows)
            if page.total <= len(keys):
                for key in self._order[len(keys) :]:
                    self.table.remove_row(key)
                    del self._rows[key]
                del self._order[len(keys) :]
        elif not self._patch(page.rows):
            self._rebuild(page.rows)

    #: Rows that may come and go in one refresh and still be patched in place.
    PATCH_LIMIT = 8

    def _patch(self, rows: list[PaneRow]) -> bool:
        """Remove the rows that left and add those that came, leaving the others in place
        (a decision moves one request out of the pending ones and one deployment in);
        False when the rows that stay changed order or too many changed, for a rebuild."""
        keys = [row.key for row in rows]
        if len(set(keys)) != len(keys):
            return False
        staying = set(keys) & set(self._rows)
        gone = [key for key in self._order if key not in staying]
        added = [row for row in rows if row.key not in staying]
        if len(gone) + len(added) > self.PATCH_LIMIT or [
            key for key in self._order if key in staying
        ] != [key for key in keys if key in staying]:
            return False
        table = self.table
        old_cursor = table.cursor_row
        cursor_key = self._order[old_cursor] if 0 <= old_cursor < len(self._order) else None
        for key in gone:
            table.remove_row(key)
            del self._rows[key]  # a tag stays (tags outlive paging and filters)
        self._update_in_place([row for row in rows if row.key in staying])
        for row in added:
            self._rows[row.key] = row
            table.add_row(*self._cells(row), key=row.key)
        self._order = keys
        if added:
            # Added rows land at the bottom; order by position in the page. The key
            # function sees a row's cells only, so each row is known by its first cell
            # object, which the table keeps as it was given.
            position = {id(table.get_cell(key, "c0")): index for index, key in enumerate(keys)}
            table.sort(key=lambda cells: position[id(cells[0])])
        if keys:
            # The cursor stays on its row, or at its place when its row left (as a rebuild).
            target = keys.index(cursor_key) if cursor_key in staying else old_cursor
            target = min(max(target, 0), len(keys) - 1)
            if target != table.cursor_row:
                table.move_cursor(row=target, animate=False)
        return True

    def mark_status(self, key: str, status: str) -> bool:
        """Show ``status`` in the row ``key``'s status cell until the next read replaces
        the row (a decision's "approving…" while core commits it); False when the row is
        not on the page."""
        row = self._rows.get(key)
        if row is None or not hasattr(row, "status"):
            return False
        self._marked[key] = status
        self._update_in_place([self._with_mark(row)])
        return True

    def unmark_status(self, key: str) -> None:
        """The decision on ``key`` is committed (or refused): the next page shows it."""
        self._marked.pop(key, None)

    def _with_mark(self, row: PaneRow) -> PaneRow:
        status = self._marked.get(row.key)
        return row if status is None else replace(row, status=status)  # type: ignore[arg-type]

    def _update_in_place(self, rows: list[PaneRow]) -> None:
        table = self.table
        for row in rows:
            old = self._rows[row.key]
            if old == row:
                continue
            self._rows[row.key] = row
            if row.key in self._tagged:
                self._tagged[row.key] = row
            cells = self._cells(row)
            # archived or restored: every cell's style changes, not only the marked one
            restyle = getattr(old, "archived", False) != getattr(row, "archived", False)
            for index, (before, after) in enumerate(zip(old.cells(), row.cells(), strict=True)):
                if before != after or restyle:
                    table.update_cell(row.key, f"c{index}", cells[index], update_width=True)

    def _rebuild(self, rows: list[PaneRow]) -> None:
        table = self.table
        cursor_key = self._order[table.cursor_row] if self._order else None
        old_cursor = table.cursor_row
        table.clear()
        self._rows = {row.key: row for row in rows}
        self._order = list(self._rows)
        for row in self._rows.values():
            table.add_row(*self._cells(row), key=row.key)
        if not self._order:
            return
        target = (
            self._order.index(cursor_key)
            if cursor_key in self._rows
            else min(old_cursor, len(self._order) - 1)
        )
        table.move_cursor(row=target, animate=False)

    # --- title and hint ---------------------------------------------------------------------

    def _update_title(self) -> None:
        heading = f"{self.pane.number} {self.pane.heading}"
        if self.total is None:
            count = "loading" if not self.error else "unavailable"
        elif self.filter_text:
            count = f"{self.total:,} matching /{self.filter_text}"
        else:
            count = f"{self.total:,}"
        if self.summary:
            # Bold in the title rather than a CSS class: a class change restyles the pane.
            self.border_title = markup(
                "$heading ($count) · [b]$summary[/b]",
                heading=heading,
                count=count,
                summary=self.summary,
            )
        else:
            self.border_title = plain(f"{heading} ({count})")
        shown = len(self._order)
        parts = [f"{shown:,} of {self.total:,} loaded"] if self.total and shown < self.total else []
        if self._tagged:
            parts.append(f"{len(self._tagged)} tagged · c compares · esc untags")
        if self.archived != "hide":
            parts.append("archived shown ⊘ · H hides")
        self.border_subtitle = plain(" · ".join(parts))

    def _update_hint(self) -> None:
        hint = self.query_one(".hint", Static)
        if self.error:
            text = f"Cannot read {self.pane.value}: {self.error} (r retries)"
        elif self.total == 0 and self.filter_text:
            text = f"Nothing matches /{self.filter_text} — esc clears the filter"
        elif self.total == 0:
            text = EMPTY_HINTS[self.pane]
        else:
            text = ""
        if text == self._hint_text:
            return  # an update re-lays the whole screen out; every poll lands here
        self._hint_text = text
        hint.update(plain(text))
        self.set_class(bool(text), "-empty")

    _hint_text: str | None = None

    # --- filtering --------------------------------------------------------------------------

    async def open_filter(self) -> None:
        """Show the filter input (with the current filter) and focus it."""
        field = self.filter_input
        if field is None:
            field = Input(
                placeholder="filter (enter keeps it, esc clears it)",
                classes="filter",
                id=f"{self.pane.value}-filter",
            )
            await self.mount(field)
        self.add_class("-filtering")
        with field.prevent(Input.Changed):
            field.value = self.filter_text
        field.cursor_position = len(field.value)
        # Focus now, not on the next message cycle (what focus() does): keys typed right
        # after "/" are already queued and must reach the input, not the table.
        self.screen.set_focus(field)
        self.screen.refresh_bindings()

    def clear_filter(self) -> bool:
        """Drop the filter and go back to the table; False if there was nothing to clear."""
        was_filtering = self.is_filtering
        self.remove_class("-filtering")
        self.screen.set_focus(self.table)
        self.screen.refresh_bindings()
        if not self.filter_text and not was_filtering:
            return False
        field = self.filter_input
        if field is not None:
            with field.prevent(Input.Changed):
                field.value = ""
        self._set_filter("")
        return True

    def toggle_archived(self) -> bool:
        """Show archived rows (dimmed, marked) or hide them again; True if shown now.
        Reloads the first page, like a new filter."""
        self.archived = "hide" if self.archived != "hide" else "include"
        self._more_pending = False
        self._update_title()
        self.post_message(FilterChanged(self.pane, self.filter_text))
        return self.archived != "hide"

    def _set_filter(self, text: str) -> None:
        if text == self.filter_text:
            return
        self.filter_text = text
        self._more_pending = False
        self._update_title()
        self.screen.refresh_bindings()
        self.post_message(FilterChanged(self.pane, text))

    @on(Input.Changed)
    def _filter_typed(self, event: Input.Changed) -> None:
        event.stop()
        self._set_filter(event.value.strip())

    @on(Input.Submitted)
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._set_filter(event.value.strip())
        self.remove_class("-filtering")
        self.screen.set_focus(self.table)
        self.screen.refresh_bindings()

    # --- table events -----------------------------------------------------------------------

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._maybe_load_more(event.cursor_row)

    def _maybe_load_more(self, cursor_row: int) -> None:
        loaded = len(self._order)
        if self._more_pending or self.total is None or loaded >= self.total:
            return
        if cursor_row >= loaded - PREFETCH_ROWS:
            self._more_pending = True
            self.post_message(MoreRowsWanted(self.pane, loaded))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        row = self._rows.get(key) if key is not None else None
        if row is not None:
            self.post_message(OpenRequested(self.pane, row))
