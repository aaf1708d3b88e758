"""The dataset screen: one dataset's versions and, for the version under the cursor, its
profile, a preview of its rows and the runs that used it (lineage).

``p`` / ``s`` / ``l`` (or ``tab`` on the section bar's order) switch the lower section.
The preview never holds the file: the table keeps a window of :data:`PREVIEW_WINDOW`
rows read by ``core.datasets.preview_page`` in a worker, and the window slides as the
cursor nears its edge, so paging costs the same on row 10 and on row 10 million.
``space`` tags versions and ``d`` diffs the two tagged (or the selected against the one
before it). Every read runs in a thread worker; errors become notifications.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Static
from textual.worker import get_current_worker

from dockyard.core.overview import NO_VALUE, human_age, human_size
from dockyard.core.text import visible
from dockyard.core.workspace import Workspace
from dockyard.tui import navigation
from dockyard.tui.errors import describe_error
from dockyard.tui.profile_rows import profile_cells
from dockyard.tui.text import data_text, plain
from dockyard.tui.widgets.tables import fill_table

if TYPE_CHECKING:
    from dockyard.core.datasets import RunUse, VersionInfo

#: Rows held by the preview table at most (three pages of :data:`PREVIEW_STEP`).
PREVIEW_WINDOW = 300
PREVIEW_STEP = 100
#: Slide the window when the cursor comes this close to its edge.
PREVIEW_MARGIN = 20

SECTIONS = ("profile", "preview", "lineage")
SECTION_KEYS = {"profile": "p", "preview": "s", "lineage": "l"}
TAG_MARK = "*"

VERSION_COLUMNS = ("Ver", "Rows", "Cols", "Size", "Hash", "Message", "Author", "Age")
#: The histogram comes early: at 80 columns it is what must not be scrolled off screen.
PROFILE_COLUMNS = (
    "Column",
    "Kind",
    "Histogram / top",
    "Missing",
    "Distinct",
    "Min",
    "Max",
    "Mean",
)
LINEAGE_COLUMNS = ("Run", "Project", "Status", "Data", "Created")


def number(value: Any) -> str:
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def cell(value: Any, width: int = 30) -> str:
    """A value as one short line, control characters made visible (data from the file)."""
    if value is None:
        return ""
    text = visible(f"{value:g}" if isinstance(value, float) else str(value))
    return text if len(text) <= width else text[: width - 1] + "…"


def profile_rows(profile: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per column of a stored profile: the profile table's cells as text."""
    rows: list[tuple[str, ...]] = []
    for column in profile.get("columns", []):
        c = profile_cells(column, NO_VALUE)
        name, detail = cell(c.name, 22), cell(c.detail, 30)
        rows.append((name, c.kind, detail, c.missing, c.distinct, c.min, c.max, c.mean))
    return rows


# --- messages from the workers ----------------------------------------------------------------


class VersionsLoaded(Message):
    def __init__(self, versions: list[VersionInfo]) -> None:
        super().__init__()
        self.versions = versions


class ProfileLoaded(Message):
    def __init__(self, version: VersionInfo) -> None:
        super().__init__()
        self.version = version


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


class LineageLoaded(Message):
    def __init__(self, version: int, uses: list[RunUse]) -> None:
        super().__init__()
        self.version = version
        self.uses = uses


class ObjectChecked(Message):
    """The stored object of ``version`` was re-verified; ``problem`` says what is wrong."""

    def __init__(self, version: int, problem: str | None) -> None:
        super().__init__()
        self.version = version
        self.problem = problem


class DatasetLoadFailed(Message):
    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


# --- widgets ------------------------------------------------------------------------------


class _Table(DataTable[Any]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


class DatasetVersionsTable(_Table):
    help_label = "Versions"


class ProfileTable(_Table):
    help_label = "Profile"


class PreviewTable(_Table):
    """The preview window; g/G go to the first and last row of the whole file."""

    help_label = "Preview"

    BINDINGS = [
        Binding("g", "first_row", "First row", show=False, id="preview-first-row"),
        Binding("G", "last_row", "Last row", show=False, id="preview-last-row"),
    ]

    def action_first_row(self) -> None:
        screen = self.screen
        if isinstance(screen, DatasetScreen):
            screen.preview_jump(0)

    def action_last_row(self) -> None:
        screen = self.screen
        if isinstance(screen, DatasetScreen):
            screen.preview_jump(-1)


class LineageTable(_Table):
    help_label = "Lineage"

    BINDINGS = [Binding("enter", "select_cursor", "Open run", id="lineage-open-run")]


# --- the screen ---------------------------------------------------------------------------


class DatasetScreen(Screen[None]):
    """``DatasetScreen(workspace, "wine", now=...)``: opened by enter in the Datasets pane."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("p", "section('profile')", "Profile", id="dataset-profile"),
        Binding("s", "section('preview')", "Preview", id="dataset-preview"),
        Binding("l", "section('lineage')", "Lineage", id="dataset-lineage"),
        Binding("tab", "next_section", "Next section", show=False, id="dataset-next-section"),
        Binding("space", "toggle_tag", "Tag", show=False, id="dataset-tag"),
        Binding("d", "diff", "Diff", id="dataset-diff"),
        Binding("a", "add_version", "Add version", show=False, id="dataset-add-version"),
        Binding("r", "reload", "Refresh", show=False, id="dataset-refresh"),
    ]

    AUTO_FOCUS = "#ds-versions"

    DEFAULT_CSS = """
    DatasetScreen #ds-head { height: 1; padding: 0 1; background: $panel; }
    DatasetScreen #ds-versions {
        height: auto;
        max-height: 7;
        scrollbar-size-horizontal: 0;
        scrollbar-size-vertical: 1;
    }
    DatasetScreen #ds-sections { height: 2; padding: 0 1; border-top: solid $foreground 30%; }
    DatasetScreen #ds-switcher { height: 1fr; }
    DatasetScreen #ds-switcher > * { height: 1fr; }
    DatasetScreen #ds-preview-box { height: 1fr; }
    DatasetScreen #ds-preview { height: 1fr; }
    DatasetScreen #ds-preview-status { height: 1; padding: 0 1; color: $text-muted; }
    DatasetScreen #ds-lineage-empty { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, workspace: Workspace, name: str, *, now: Callable[[], datetime]) -> None:
        super().__init__(classes="dataset-screen")
        self.workspace = workspace
        self.dataset_name = name
        self._now = now
        self.title = f"dataset {name}"
        self.versions: dict[int, VersionInfo] = {}
        self._order: list[int] = []
        self.tagged: list[int] = []
        self.section = "profile"
        self.selected: int | None = None
        self._profiles: dict[int, VersionInfo] = {}
        self._preview_start = 0
        self._preview_count = 0
        self._preview_columns: list[str] = []
        self._preview_widths: list[int] = []
        self._preview_pending = False
        self._lineage: list[RunUse] = []
        #: Per version: None when its object matched its digest, else the problem.
        self._problems: dict[int, str | None] = {}
        self.last_page_seconds: float | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static(plain(f"dataset {self.dataset_name}"), id="ds-head")
        yield DatasetVersionsTable(id="ds-versions", cursor_type="row", zebra_stripes=False)
        yield Static(id="ds-sections")
        with ContentSwitcher(initial="ds-profile", id="ds-switcher"):
            yield ProfileTable(id="ds-profile", cursor_type="row")
            with Vertical(id="ds-preview-box"):
                yield PreviewTable(id="ds-preview", cursor_type="row")
                yield Static("", id="ds-preview-status")
            with Vertical(id="ds-lineage-box"):
                yield LineageTable(id="ds-lineage", cursor_type="row")
                yield Static("", id="ds-lineage-empty")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        fill_table(self.table, VERSION_COLUMNS, [], [])
        fill_table(self.query_one(ProfileTable), PROFILE_COLUMNS, [], [])
        fill_table(self.query_one(LineageTable), LINEAGE_COLUMNS, [], [])
        self._show_sections()
        self._load_versions()

    @property
    def table(self) -> DatasetVersionsTable:
        return self.query_one(DatasetVersionsTable)

    @property
    def preview(self) -> PreviewTable:
        return self.query_one(PreviewTable)

    @property
    def current(self) -> VersionInfo | None:
        return None if self.selected is None else self.versions.get(self.selected)

    # --- sections ---------------------------------------------------------------------------

    def _show_sections(self) -> None:
        text = Text()
        for name in SECTIONS:
            key = SECTION_KEYS[name]
            label = f" {key} {name.capitalize()} "
            if name == self.section:
                text.append(f"[{label.strip()}]", style="bold reverse")
            else:
                text.append(label, style="dim")
            text.append(" ")
        current = self.current
        if current is not None:
            text.append(f"  {visible(current.ref)}", style="bold")
            if self._problems.get(current.version):
                text.append("  ! stored object altered or missing", style="bold red")
        self.query_one("#ds-sections", Static).update(text)

    def action_section(self, name: str) -> None:
        self.section = name
        self.query_one(ContentSwitcher).current = (
            f"ds-{name}" if name == "profile" else (f"ds-{name}-box")
        )
        self._show_sections()
        target: DataTable[Any] = {
            "profile": self.query_one(ProfileTable),
            "preview": self.preview,
            "lineage": self.query_one(LineageTable),
        }[name]
        self.set_focus(target)
        self._fill_section()

    def action_next_section(self) -> None:
        if self.focused is self.table:
            self.action_section(self.section)
            return
        following = SECTIONS[(SECTIONS.index(self.section) + 1) % len(SECTIONS)]
        self.action_section(following)

    def _fill_section(self) -> None:
        """Read what the visible section needs for the selected version, if not done."""
        current = self.current
        if current is None:
            return
        if self.section == "preview" and self._preview_columns == [] and not self._preview_pending:
            self._request_preview(0, 0)
        if self.section == "lineage":
            self._load_lineage(current.version)

    # --- loading ----------------------------------------------------------------------------

    def action_reload(self) -> None:
        self._problems.clear()
        self._load_versions()

    @work(thread=True, exclusive=True, exit_on_error=False, group="ds-versions")
    def _load_versions(self) -> None:
        from dockyard.core.datasets import list_versions

        try:
            versions = list_versions(self.workspace, self.dataset_name)
        except Exception as error:
            self.post_message(DatasetLoadFailed(self.dataset_name, describe_error(error)))
            return
        self.post_message(VersionsLoaded(versions))

    @work(thread=True, exclusive=True, exit_on_error=False, group="ds-profile")
    def _load_profile(self, ref: str) -> None:
        from dockyard.core.datasets import get_version

        try:
            version = get_version(self.workspace, ref, with_profile=True)
        except Exception as error:
            self.post_message(DatasetLoadFailed(f"the profile of {ref}", describe_error(error)))
            return
        self.post_message(ProfileLoaded(version))

    @work(thread=True, exclusive=True, exit_on_error=False, group="ds-verify")
    def _check_object(self, version: VersionInfo) -> None:
        # Beside the profile and the preview, never before them: a large object takes a
        # while to hash, and the warning is added when the answer comes.
        from dockyard.core.datasets import object_problem

        try:
            problem = object_problem(version)
        except Exception as error:
            problem = describe_error(error)
        self.post_message(ObjectChecked(version.version, problem))

    @work(thread=True, exclusive=True, exit_on_error=False, group="ds-preview")
    def _load_preview(self, version_id: int, start: int, cursor: int) -> None:
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

    @work(thread=True, exclusive=True, exit_on_error=False, group="ds-lineage")
    def _load_lineage(self, version: int) -> None:
        from dockyard.core.datasets import runs_using

        try:
            uses = runs_using(self.workspace, self.dataset_name, version)
        except Exception as error:
            self.post_message(DatasetLoadFailed("the lineage", describe_error(error)))
            return
        self.post_message(LineageLoaded(version, uses))

    # --- results ----------------------------------------------------------------------------

    def on_versions_loaded(self, message: VersionsLoaded) -> None:
        self.versions = {v.version: v for v in message.versions}
        self._order = [v.version for v in message.versions]
        self.tagged = [t for t in self.tagged if t in self.versions]
        keep = self.selected if self.selected in self.versions else None
        self._fill_versions()
        self.loaded = True
        if not self._order:
            self.query_one(ProfileTable).clear()
            return
        target = keep if keep is not None else self._order[0]
        self.table.move_cursor(row=self._order.index(target), animate=False)
        self._select(target)

    def _fill_versions(self) -> None:
        now = self._now()
        rows: list[tuple[Any, ...]] = []
        for number_ in self._order:
            v = self.versions[number_]
            mark = TAG_MARK if number_ in self.tagged else " "
            rows.append(
                (
                    Text(f"{mark}v{v.version}", style="bold" if mark == TAG_MARK else ""),
                    f"{v.n_rows:,}",
                    str(v.n_cols),
                    human_size(v.size_bytes),
                    v.content_hash[:10],
                    cell(v.message, 36),
                    cell(v.author, 12),
                    human_age(v.created_at, now),
                )
            )
        fill_table(self.table, VERSION_COLUMNS, rows, [str(n) for n in self._order])

    @on(DataTable.RowHighlighted, "#ds-versions")
    def _version_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is None:
            return
        number_ = int(event.row_key.value)
        if number_ != self.selected:
            self._select(number_)

    def _select(self, number_: int) -> None:
        self.selected = number_
        version = self.versions[number_]
        self._preview_columns = []
        self._preview_widths = []
        self._preview_start = 0
        self._preview_count = 0
        self._preview_pending = False
        self.preview.clear(columns=True)
        self.query_one("#ds-preview-status", Static).update("")
        self.query_one(LineageTable).clear()
        self.query_one("#ds-lineage-empty", Static).update("")
        self._show_sections()
        if number_ not in self._problems:
            self._check_object(version)
        if number_ in self._profiles:
            self._show_profile(self._profiles[number_])
        else:
            self.query_one(ProfileTable).clear()
            self._load_profile(version.ref)
        self._fill_section()

    def on_profile_loaded(self, message: ProfileLoaded) -> None:
        self._profiles[message.version.version] = message.version
        if message.version.version == self.selected:
            self._show_profile(message.version)

    def _show_profile(self, version: VersionInfo) -> None:
        rows: list[tuple[Any, ...]] = list(profile_rows(version.profile or {}))
        keys = [str(index) for index in range(len(rows))]
        fill_table(self.query_one(ProfileTable), PROFILE_COLUMNS, rows, keys)

    def on_object_checked(self, message: ObjectChecked) -> None:
        self._problems[message.version] = message.problem
        if message.problem is None:
            return
        if message.version == self.selected:
            self._show_sections()
        self.notify(
            f"{message.problem}. Its profile and preview are not the registered data.",
            title="Stored object altered",
            severity="error",
            timeout=12,
        )

    def on_dataset_load_failed(self, message: DatasetLoadFailed) -> None:
        self._preview_pending = False
        self.notify(
            f"Cannot read {message.what}: {message.error}",
            title="Load failed",
            severity="error",
            timeout=8,
        )

    # --- preview ----------------------------------------------------------------------------

    #: Where the preview's cursor goes when the window being read arrives (absolute row),
    #: and whether the read slides the window (cursor keys) rather than jumps (g/G).
    _preview_target = 0
    _preview_slide = False

    def _request_preview(self, start: int, cursor: int, *, slide: bool = False) -> None:
        current = self.current
        if current is None:
            return
        self._preview_pending = True
        self._preview_target = cursor
        self._preview_slide = slide
        self._load_preview(current.id, start, cursor)

    def _window_start(self, row: int) -> int:
        total = self.current.n_rows if self.current else 0
        start = max(0, row - PREVIEW_WINDOW // 2)
        start -= start % PREVIEW_STEP  # pages, so a window is read from a page boundary
        return max(0, min(start, max(0, total - PREVIEW_WINDOW + PREVIEW_STEP - 1)))

    def preview_jump(self, row: int) -> None:
        """Put the preview's cursor on absolute ``row`` (-1: the last), reading as needed."""
        total = self.current.n_rows if self.current else 0
        if total == 0:
            return
        row = total - 1 if row < 0 else min(row, total - 1)
        if self._preview_start <= row < self._preview_start + self._preview_count:
            self.preview.move_cursor(row=row - self._preview_start, animate=False)
            return
        self._request_preview(self._window_start(row), row)

    @on(DataTable.RowHighlighted, "#ds-preview")
    def _preview_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not self._preview_count or event.cursor_row != self.preview.cursor_row:
            return  # stale: posted while the window was refilled (clear moves the cursor)
        row = self._preview_start + event.cursor_row
        if self._preview_pending:
            if self._preview_slide:  # keys typed while the next window is read still count
                self._preview_target = row
                self._show_preview_status(row)
            return
        total = self.current.n_rows if self.current else 0
        end = self._preview_start + self._preview_count
        near_end = row >= end - PREVIEW_MARGIN and end < total
        near_start = row < self._preview_start + PREVIEW_MARGIN and self._preview_start > 0
        self._show_preview_status(row)
        if near_end or near_start:
            start = self._window_start(row)
            if start != self._preview_start:
                self._request_preview(start, row, slide=True)

    def on_preview_loaded(self, message: PreviewLoaded) -> None:
        current = self.current
        if current is None or message.version_id != current.id:
            return
        self._preview_pending = False
        self.last_page_seconds = message.seconds
        table = self.preview
        total = self.current.n_rows if self.current else 0
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
        widths = [max(w, old) for w, old in zip(needed, self._preview_widths, strict=False)]
        widths += needed[len(widths) :]
        if message.columns != self._preview_columns or widths != self._preview_widths:
            table.clear(columns=True)
            for index, (header, width) in enumerate(zip(headers, widths, strict=True)):
                table.add_column(data_text(header), key=f"c{index}", width=width)
            self._preview_columns = list(message.columns)
            self._preview_widths = widths
        else:
            table.clear()
        self._preview_start = message.start
        self._preview_count = len(message.rows)
        table.add_rows(
            [(data_text(values[0], "dim"), *map(data_text, values[1:])) for values in cells]
        )
        target = self._preview_target
        if message.rows:
            at = min(max(target - message.start, 0), len(message.rows) - 1)
            target = message.start + at
            table.move_cursor(row=at, animate=False, scroll=True)
        self._show_preview_status(target)

    def _show_preview_status(self, row: int) -> None:
        total = self.current.n_rows if self.current else 0
        if not self._preview_count:
            text = "no rows" if total == 0 else "reading…"
        else:
            first = self._preview_start + 1
            last = self._preview_start + self._preview_count
            text = f"rows {first:,}-{last:,} of {total:,} · row {row + 1:,} · g/G first/last row"
        self.query_one("#ds-preview-status", Static).update(text)

    # --- lineage ----------------------------------------------------------------------------

    def on_lineage_loaded(self, message: LineageLoaded) -> None:
        if message.version != self.selected:
            return
        self._lineage = message.uses
        now = self._now()
        rows: list[tuple[Any, ...]] = [
            (
                str(use.run_id),
                use.project,
                use.status,
                f"{use.dataset}@{use.version}",
                human_age(use.created_at, now),
            )
            for use in message.uses
        ]
        keys = [str(use.run_id) for use in message.uses]
        fill_table(self.query_one(LineageTable), LINEAGE_COLUMNS, rows, keys)
        empty = "" if message.uses else f"No runs used {self.dataset_name}@{message.version} yet."
        self.query_one("#ds-lineage-empty", Static).update(plain(empty))

    @on(DataTable.RowSelected, "#ds-lineage")
    def _open_run(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        navigation.open_run(self.app, int(event.row_key.value))

    # --- tags and diff ----------------------------------------------------------------------

    def action_toggle_tag(self) -> None:
        if self.selected is None:
            return
        if self.selected in self.tagged:
            self.tagged.remove(self.selected)
        else:
            self.tagged.append(self.selected)
        row = self.table.cursor_row
        self._fill_versions()
        self.table.move_cursor(row=min(row + 1, self.table.row_count - 1), animate=False)

    def action_diff(self) -> None:
        if len(self.tagged) == 2:
            a, b = sorted(self.tagged)
        elif len(self.tagged) > 2:
            self.notify("Diff takes two versions; untag some with space", severity="warning")
            return
        else:
            current = self.selected
            older = [n for n in self._order if current is not None and n < current]
            if current is None or not older:
                self.notify(
                    "No earlier version to diff against — tag two versions with space, then d",
                    severity="warning",
                )
                return
            a, b = older[0], current
        navigation.open_dataset_diff(
            self.app, self.workspace, f"{self.dataset_name}@{a}", f"{self.dataset_name}@{b}"
        )

    def action_add_version(self) -> None:
        """The add-dataset form on this dataset: a new file becomes the next version."""

        def done(outcome: str | None) -> None:
            if outcome is not None:
                self.action_reload()

        navigation.open_add_dataset(self.app, self.workspace, name=self.dataset_name, done=done)

    def action_back(self) -> None:
        """esc: from a section back to the versions; otherwise close the screen."""
        if self.focused is not self.table:
            self.set_focus(self.table)
            return
        self.dismiss()
