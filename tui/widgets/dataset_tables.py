"""The dataset screen's tables: the versions, a version's profile and its lineage (the
runs that used it), and the messages their workers post."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from dockyard.core.overview import NO_VALUE, archived_cell, human_age, human_size
from dockyard.core.text import visible
from dockyard.tui.profile_rows import profile_cells
from dockyard.tui.text import data_text
from dockyard.tui.widgets.tables import fill_table

if TYPE_CHECKING:
    from dockyard.core.datasets import RunUse, VersionInfo

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


def _dimmed(value: str | Text) -> Text:
    if isinstance(value, Text):
        text = value.copy()
        text.stylize("dim")
        return text
    return data_text(value, "dim")


# --- messages from the workers ----------------------------------------------------------------


class VersionsLoaded(Message):
    def __init__(self, versions: list[VersionInfo]) -> None:
        super().__init__()
        self.versions = versions


class ProfileLoaded(Message):
    def __init__(self, version: VersionInfo) -> None:
        super().__init__()
        self.version = version


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


# --- tables ---------------------------------------------------------------------------------


class DatasetTable(DataTable[Any]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


class DatasetVersionsTable(DatasetTable):
    help_label = "Versions"

    def show_versions(
        self, versions: dict[int, VersionInfo], order: list[int], tagged: list[int], now: datetime
    ) -> None:
        """One row per version in ``order``, the tagged ones marked; archived ones (shown
        by ``H``) dimmed and marked in the first cell, as in the home screen's panes."""
        rows: list[tuple[Any, ...]] = []
        for number_ in order:
            v = versions[number_]
            mark = TAG_MARK if number_ in tagged else " "
            archived = v.archived_at is not None
            first = f"{mark}v{v.version}"
            first = archived_cell(first.lstrip(), archived) if archived else first
            row: tuple[Any, ...] = (
                Text(first, style="bold" if mark == TAG_MARK else ""),
                f"{v.n_rows:,}",
                str(v.n_cols),
                human_size(v.size_bytes),
                v.content_hash[:10],
                cell(v.message, 36),
                cell(v.author, 12),
                human_age(v.created_at, now),
            )
            if archived:
                # dimmed, and marked in the first cell for monochrome
                row = tuple(_dimmed(value) for value in row)
            rows.append(row)
        fill_table(self, VERSION_COLUMNS, rows, [str(n) for n in order])


class ProfileTable(DatasetTable):
    help_label = "Profile"

    def show_profile(self, version: VersionInfo) -> None:
        rows: list[tuple[Any, ...]] = list(profile_rows(version.profile or {}))
        keys = [str(index) for index in range(len(rows))]
        fill_table(self, PROFILE_COLUMNS, rows, keys)


class LineageTable(DatasetTable):
    help_label = "Lineage"

    BINDINGS = [Binding("enter", "select_cursor", "Open run", id="lineage-open-run")]

    def show_uses(self, uses: list[RunUse], now: datetime) -> None:
        rows: list[tuple[Any, ...]] = [
            (
                str(use.run_id),
                use.project,
                use.status,
                f"{use.dataset}@{use.version}",
                human_age(use.created_at, now),
            )
            for use in uses
        ]
        fill_table(self, LINEAGE_COLUMNS, rows, [str(use.run_id) for use in uses])
