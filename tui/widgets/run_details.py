"""The run screen's details: latest metrics, params, tags, artifacts and the record."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from dockyard.core.code import summary as code_summary
from dockyard.core.overview import human_size
from dockyard.tui.run_actions import ACTIVE_STATUSES
from dockyard.tui.text import data_text

if TYPE_CHECKING:
    from dockyard.core.runs import ArtifactInfo, RunInfo


def ordered_keys(latest: dict[str, tuple[int, float]], primary: str | None) -> list[str]:
    """Metric keys in the order ``m`` cycles them: the primary metric, then the curves
    (keys logged at more than one step), then single values, each by name."""
    return sorted(latest, key=lambda key: (key != primary, latest[key][0] == 0, key))


def _value(number: float) -> str:
    return f"{number:.6g}"


def metric_point(step: int, value: float) -> str:
    """A metric's latest value, with its step when it has a history."""
    return f"{_value(value)} @{step}" if step else _value(value)


def detail_rows(
    info: RunInfo,
    latest: dict[str, tuple[int, float]],
    artifacts: list[ArtifactInfo],
) -> list[tuple[str, str, str]]:
    """Every section of the details table as (row key, field, value)."""
    rows: list[tuple[str, str, str]] = []

    def section(name: str, items: Iterable[tuple[str, str]], empty: str) -> None:
        rows.append((f"section:{name}", name, ""))
        pairs = list(items)
        if not pairs:
            rows.append((f"{name}:-", empty, ""))
        for key, value in pairs:
            rows.append((f"{name}:{key}", key, value))

    keys = ordered_keys(latest, info.primary_metric)
    section(
        "Metrics",
        ((key, metric_point(*latest[key])) for key in keys),
        "none yet" if info.status in ACTIVE_STATUSES else "none reported",
    )
    section("Params", sorted(info.params.items()), "none")
    section("Tags", sorted(info.tags.items()), "none")
    section(
        "Artifacts",
        (
            (item.name, f"{human_size(item.size_bytes)} sha256 {item.sha256[:12]}")
            for item in artifacts
        ),
        "none yet" if info.status in ACTIVE_STATUSES else "none",
    )
    env = info.env
    if info.code:
        code = code_summary(info.code)
    elif info.git_commit:  # a run recorded before code records
        code = f"git {info.git_commit[:12]}" + (" (dirty)" if info.git_dirty else "")
    else:
        code = "-"
    argv = env.get("argv")
    system = [
        ("command", info.command or "-"),
        ("argv", " ".join(str(arg) for arg in argv) if isinstance(argv, list) else "-"),
        ("dataset", info.dataset or "-"),
        ("seed", "-" if info.seed is None else str(info.seed)),
        ("code", code),
        ("python", str(env.get("python", "-"))),
        ("platform", str(env.get("platform", "-"))),
        ("packages", f"{len(env['packages'])} recorded" if env.get("packages") else "-"),
        ("host", info.host or "-"),
        ("user", info.user or "-"),
        ("folder", str(env.get("cwd", "-"))),
        ("parent run", "-" if info.parent_run_id is None else str(info.parent_run_id)),
        ("sweep", info.group_id or "-"),
    ]
    section("System", system, "")
    return rows


class DetailsTable(DataTable[Text]):
    """Params, tags, artifacts, latest metrics and the reproducibility record."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="details-down"),
        Binding("k", "cursor_up", "Up", show=False, id="details-up"),
    ]

    help_label = "details"

    def __init__(self) -> None:
        super().__init__(id="run-details", cursor_type="row", show_header=False, show_cursor=False)
        self._keys: list[str] = []
        self._cells: dict[str, tuple[str, str]] = {}

    def on_mount(self) -> None:
        self.add_column("Field", key="field")
        self.add_column("Value", key="value")

    def on_focus(self) -> None:
        self.show_cursor = True  # a cursor only where the keys go

    def on_blur(self) -> None:
        self.show_cursor = False

    def show_rows(self, rows: list[tuple[str, str, str]]) -> None:
        """(row key, field, value) rows: cells change in place, the table is rebuilt only
        when the rows themselves changed (a new tag, a new metric key)."""
        keys = [key for key, _name, _value in rows]
        if keys == self._keys:
            for key, name, value in rows:
                if self._cells[key] != (name, value):
                    self._cells[key] = (name, value)
                    self.update_cell(key, "value", self._value_text(key, value))
            return
        cursor = self.cursor_row
        self.clear()
        self._keys = keys
        self._cells = {key: (name, value) for key, name, value in rows}
        for key, name, value in rows:
            self.add_row(self._name_text(key, name), self._value_text(key, value), key=key)
        if rows:
            self.move_cursor(row=min(cursor, len(rows) - 1), animate=False)

    @staticmethod
    def _name_text(key: str, name: str) -> Text:
        if key.startswith("section:"):
            return Text(name, style="bold underline", no_wrap=True)
        return data_text(f" {name}", "bold")

    @staticmethod
    def _value_text(key: str, value: str) -> Text:
        return data_text(value)
