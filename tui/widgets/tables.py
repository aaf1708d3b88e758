"""Filling a DataTable whose columns are as wide as their widest cell."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from dockyard.tui.text import data_text


def fill_table(
    table: DataTable[Any], headers: tuple[str, ...], rows: list[tuple[Any, ...]], keys: list[str]
) -> None:
    """Replace a table's rows, with column widths measured here from the cells.

    The table would measure new rows itself when idle; measuring here draws the rows at
    their final widths at once (and keeps snapshots independent of when idle comes).
    Cells that are not already Text are data: they become Text, never parsed as markup.
    """
    texts = [[v if isinstance(v, Text) else data_text(v) for v in row] for row in rows]
    labels = [data_text(header) for header in headers]
    widths = [label.cell_len for label in labels]
    for row_texts in texts:
        widths = [max(w, v.cell_len) for w, v in zip(widths, row_texts, strict=True)]
    table.clear(columns=True)
    for index, (label, width) in enumerate(zip(labels, widths, strict=True)):
        table.add_column(label, key=f"c{index}", width=width)
    for key, row_texts in zip(keys, texts, strict=True):
        table.add_row(*row_texts, key=key)
