"""A stored profile's columns as cells of text, shared by ``dockyard data show`` and the
dataset screen so that both faces show the same kinds, ranges and counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.core.text import visible
from dockyard.tui.sparkline import sparkline


@dataclass(frozen=True)
class ProfileCells:
    """One profile column as text (control characters made visible)."""

    name: str
    kind: str
    detail: str
    missing: str
    distinct: str
    min: str
    max: str
    mean: str
    std: str


def number_text(value: Any, none: str = "-", *, grouped: bool = True) -> str:
    """A profile value: ints with thousands separators unless ``grouped`` is off (years
    and ids: ``2007``, not ``2,007``), floats in 4 significant digits."""
    if value is None:
        return none
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if grouped else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return visible(str(value))


def kind_text(column: dict[str, Any]) -> str:
    """What a column holds: its dtype, or what its values were found to be (``date``,
    ``category``, ``text``, ``int64 year``, ``int64 id``), and ``constant`` if it holds one
    value."""
    dtype = str(column.get("dtype") or "string")
    semantic = column.get("semantic")
    if semantic in ("date", "category", "text"):
        kind = str(semantic)
    elif semantic in ("year", "id"):
        kind = f"{dtype} {semantic}"
    else:
        kind = dtype
    return kind + " constant" if column.get("constant") else kind


def top_text(column: dict[str, Any], limit: int = 3) -> str:
    """The most frequent values of a text column, with their counts."""
    if column.get("top_skipped"):
        return "(mostly unique values)"
    top = column.get("top") or []
    shown = ", ".join(f"{visible(str(label))} ({count:,})" for label, count in top[:limit])
    return shown + (", …" if len(top) > limit else "")


def profile_cells(column: dict[str, Any], none: str = "-") -> ProfileCells:
    """The cells of one profile column (``core.profiling`` shape)."""
    distinct = number_text(column.get("distinct"), none)
    if column.get("distinct") is not None and not column.get("distinct_exact", True):
        distinct = "~" + distinct
    if column.get("kind") == "numeric":
        detail = sparkline((column.get("histogram") or {}).get("counts", []))
    else:
        detail = top_text(column)
    grouped = column.get("semantic") not in ("year", "id")
    return ProfileCells(
        name=visible(str(column["name"])),
        kind=kind_text(column),
        detail=detail,
        missing=f"{100 * (column.get('missing_share') or 0):.1f}%",
        distinct=distinct,
        min=number_text(column.get("min"), none, grouped=grouped),
        max=number_text(column.get("max"), none, grouped=grouped),
        mean=number_text(column.get("mean"), none),
        std=number_text(column.get("std"), none),
    )
