"""The diff of two dataset versions: columns added, removed or retyped, the row count
change, and per column how far the distribution moved (``core.dataset_diff``).

Every change reads as a word (added, removed, retyped; drift none/moderate/major) and a
sign (+ - ~), so it is readable in monochrome; colour only repeats it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dockyard.core.text import visible
from dockyard.core.workspace import Workspace
from dockyard.tui.errors import describe_error
from dockyard.tui.text import data_text, plain
from dockyard.tui.widgets.tables import fill_table

if TYPE_CHECKING:
    from dockyard.core.dataset_diff import ColumnChange, DatasetDiff

#: Drift and PSI come right after the name: at 80 columns they must not scroll off screen.
DIFF_COLUMNS = ("", "Column", "Drift", "PSI", "Change", "Dtype", "Missing", "KS / chi2 p")

STATUS_MARK = {"added": "+", "removed": "-", "retyped": "~", "kept": " "}
STATUS_STYLE = {"added": "green", "removed": "red", "retyped": "yellow", "kept": ""}
SEVERITY_STYLE = {"major": "bold red", "moderate": "yellow", "none": "green"}


class DiffLoaded(Message):
    def __init__(self, diff: DatasetDiff) -> None:
        super().__init__()
        self.diff = diff


class DiffFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def summary_text(diff: DatasetDiff) -> Text:
    """The head of the view: refs, rows and the changed columns, in words."""
    text = Text()
    text.append(visible(f"{diff.a.ref} -> {diff.b.ref}"), style="bold")
    if diff.identical:
        text.append("  identical content", style="bold")
    text.append(
        f"\nrows {diff.a.n_rows:,} -> {diff.b.n_rows:,} ({diff.rows_change:+,})"
        f"   columns {diff.a.n_cols} -> {diff.b.n_cols}\n"
    )
    for status in ("added", "removed", "retyped"):
        changed = diff.with_status(status)
        names = ", ".join(
            f"{c.name} ({c.dtype_a} -> {c.dtype_b})" if status == "retyped" else c.name
            for c in changed
        )
        text.append(f"{STATUS_MARK[status]} {status}: ", style=STATUS_STYLE[status] or "")
        text.append(visible(names or "-") + "\n")
    moved = [c for c in diff.columns if c.drift and c.drift.severity != "none"]
    if moved:
        text.append("drift: ", style="bold")
        text.append(visible(", ".join(f"{c.name} ({c.drift.severity})" for c in moved if c.drift)))
    else:
        text.append("drift: no column moved", style="dim")
    for change in diff.columns:
        categories = change.drift.categories_text() if change.drift else ""
        if categories:
            text.append(f"\n{visible(change.name)}: ", style="bold")
            text.append(categories)
    return text


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def diff_row(change: ColumnChange) -> tuple[Any, ...]:
    status = change.status
    style = STATUS_STYLE[status]
    if change.dtype_a == change.dtype_b or change.dtype_a is None or change.dtype_b is None:
        dtype = str(change.dtype_b or change.dtype_a or "-")
    else:
        dtype = f"{change.dtype_a}->{change.dtype_b}"
    if status == "added":
        missing = _percent(change.missing_b)
    elif status == "removed":
        missing = _percent(change.missing_a)
    else:
        missing = f"{_percent(change.missing_a)} -> {_percent(change.missing_b)}"
    drift = change.drift
    psi = f"{drift.psi:.3f}" if drift else "-"
    if drift and drift.ks is not None:
        second = f"KS {drift.ks:.3f}"
    elif drift and drift.chi2_pvalue is not None:
        second = f"p {drift.chi2_pvalue:.3g}"
    else:
        second = "-"
    severity = drift.severity if drift else "-"
    name = change.name if len(change.name) <= 22 else change.name[:21] + "…"
    return (
        Text(STATUS_MARK[status], style=style),
        data_text(name, "bold" if status != "kept" else ""),
        Text(severity, style=SEVERITY_STYLE.get(severity, "")),
        psi,
        Text(status if status != "kept" else "", style=style),
        dtype,
        missing,
        second,
    )


class DiffTable(DataTable[Any]):
    help_label = "Columns"

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


class DatasetDiffScreen(Screen[None]):
    """``DatasetDiffScreen(workspace, "wine@1", "wine@2")``: opened by d on the dataset screen."""

    BINDINGS = [Binding("escape", "back", "Back", id="back")]

    AUTO_FOCUS = "#diff-columns"

    DEFAULT_CSS = """
    DatasetDiffScreen #diff-summary { height: auto; padding: 0 1; }
    DatasetDiffScreen #diff-columns { height: 1fr; border-top: solid $foreground 30%; }
    DatasetDiffScreen #diff-legend { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, workspace: Workspace, ref_a: str, ref_b: str) -> None:
        super().__init__(classes="dataset-diff-screen")
        self.workspace = workspace
        self.ref_a = ref_a
        self.ref_b = ref_b
        self.title = f"diff {ref_a} {ref_b}"
        self.diff: DatasetDiff | None = None

    def compose(self) -> ComposeResult:
        yield Static(plain(f"{self.ref_a} -> {self.ref_b}: reading…"), id="diff-summary")
        yield DiffTable(id="diff-columns", cursor_type="row")
        yield Static(
            "drift by PSI: < 0.1 none · 0.1-0.25 moderate · > 0.25 major",
            id="diff-legend",
        )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        fill_table(self.query_one(DiffTable), DIFF_COLUMNS, [], [])
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="ds-diff")
    def _load(self) -> None:
        from dockyard.core.dataset_diff import diff_versions

        try:
            diff = diff_versions(self.workspace, self.ref_a, self.ref_b)
        except Exception as error:
            self.post_message(DiffFailed(describe_error(error)))
            return
        self.post_message(DiffLoaded(diff))

    def on_diff_loaded(self, message: DiffLoaded) -> None:
        self.diff = message.diff
        self.query_one("#diff-summary", Static).update(summary_text(message.diff))
        rows = [diff_row(change) for change in message.diff.columns]
        fill_table(
            self.query_one(DiffTable), DIFF_COLUMNS, rows, [str(i) for i in range(len(rows))]
        )

    def on_diff_failed(self, message: DiffFailed) -> None:
        self.query_one("#diff-summary", Static).update(
            data_text(
                f"Cannot diff {self.ref_a} and {self.ref_b}: {message.error}", "bold", no_wrap=False
            )
        )
        self.notify(message.error, title="Diff failed", severity="error", timeout=8)

    def action_back(self) -> None:
        self.dismiss()
