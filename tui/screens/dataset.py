"""The dataset screen: one dataset's versions and, for the version under the cursor, its
profile, a preview of its rows and the runs that used it (lineage).

``p`` / ``s`` / ``l`` (or ``tab`` on the section bar's order) switch the lower section.
The preview never holds the file: it keeps a window of rows read in a worker, which
slides as the cursor nears its edge, so paging costs the same on row 10 and row 10 million.
The preview is ``widgets/dataset_preview.py``, the other tables ``widgets/dataset_tables.py``.
``space`` tags versions and ``c`` diffs the two tagged (or the selected against the one
before it), as ``c`` compares tagged versions on the model screen. ``d`` archives or
deletes the selected version (asked first, ``tui/housekeeping_actions.py``) and ``H``
shows archived versions, dimmed and marked, as on the home screen's panes. Every read
runs in a thread worker; errors become notifications.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Static

from dockyard.core.overview import ARCHIVED_MARK
from dockyard.core.text import visible
from dockyard.core.workspace import Workspace
from dockyard.tui import navigation
from dockyard.tui.errors import describe_error
from dockyard.tui.housekeeping_actions import Target, VersionHousekeeping, version_bindings
from dockyard.tui.text import plain
from dockyard.tui.widgets.dataset_preview import DatasetPreview
from dockyard.tui.widgets.dataset_tables import (
    LINEAGE_COLUMNS,
    PROFILE_COLUMNS,
    VERSION_COLUMNS,
    DatasetLoadFailed,
    DatasetVersionsTable,
    LineageLoaded,
    LineageTable,
    ObjectChecked,
    ProfileLoaded,
    ProfileTable,
    VersionsLoaded,
)
from dockyard.tui.widgets.tables import fill_table

if TYPE_CHECKING:
    from dockyard.core.datasets import RunUse, VersionInfo

SECTIONS = ("profile", "preview", "lineage")
SECTION_KEYS = {"profile": "p", "preview": "s", "lineage": "l"}


class DatasetScreen(VersionHousekeeping, Screen[None]):
    """``DatasetScreen(workspace, "wine", now=...)``: opened by enter in the Datasets pane."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("p", "section('profile')", "Profile", id="dataset-profile"),
        Binding("s", "section('preview')", "Preview", id="dataset-preview"),
        Binding("l", "section('lineage')", "Lineage", id="dataset-lineage"),
        Binding("tab", "next_section", "Next section", show=False, id="dataset-next-section"),
        Binding("space", "toggle_tag", "Tag", show=False, id="dataset-tag"),
        Binding("c", "diff", "Diff", id="dataset-diff"),
        *version_bindings("dataset"),
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
        self._lineage: list[RunUse] = []
        #: Per version: None when its object matched its digest, else the problem.
        self._problems: dict[int, str | None] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static(plain(f"dataset {self.dataset_name}"), id="ds-head")
        yield DatasetVersionsTable(id="ds-versions", cursor_type="row", zebra_stripes=False)
        yield Static(id="ds-sections")
        with ContentSwitcher(initial="ds-profile", id="ds-switcher"):
            yield ProfileTable(id="ds-profile", cursor_type="row")
            yield DatasetPreview(self.workspace, id="ds-preview-box")
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
    def preview(self) -> DatasetPreview:
        return self.query_one(DatasetPreview)

    @property
    def last_page_seconds(self) -> float | None:
        """How long the preview's last window took to read."""
        return self.preview.last_page_seconds

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
            "preview": self.preview.table,
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
        if self.section == "preview":
            self.preview.fill()
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
            versions = list_versions(self.workspace, self.dataset_name, archived=self.archived)
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
        if not self._order:  # the last version was archived or deleted
            self.selected = None
            self.query_one(ProfileTable).clear()
            self.query_one(LineageTable).clear()
            self.preview.show_version(None)
            self._show_sections()
            return
        target = keep if keep is not None else self._order[0]
        self.table.move_cursor(row=self._order.index(target), animate=False)
        self._select(target)

    def _fill_versions(self) -> None:
        self.table.show_versions(self.versions, self._order, self.tagged, self._now())
        head = f"dataset {self.dataset_name}"
        if self.archived != "hide":
            head += f" · archived shown {ARCHIVED_MARK} · H hides"
        self.query_one("#ds-head", Static).update(plain(head))

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
        self.preview.show_version(version)
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
        self.query_one(ProfileTable).show_profile(version)

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
        self.notify(
            f"Cannot read {message.what}: {message.error}",
            title="Load failed",
            severity="error",
            timeout=8,
        )

    # --- lineage ----------------------------------------------------------------------------

    def on_lineage_loaded(self, message: LineageLoaded) -> None:
        if message.version != self.selected:
            return
        self._lineage = message.uses
        self.query_one(LineageTable).show_uses(message.uses, self._now())
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
                    "No earlier version to diff against — tag two versions with space, then c",
                    severity="warning",
                )
                return
            a, b = older[0], current
        navigation.open_dataset_diff(
            self.app, self.workspace, f"{self.dataset_name}@{a}", f"{self.dataset_name}@{b}"
        )

    def tidy_target(self) -> Target | None:
        """What ``d`` archives or deletes (``VersionHousekeeping``): the selected version."""
        v = self.current
        return None if v is None else Target("data", v.ref, f"dataset {v.ref}", bool(v.archived_at))

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
