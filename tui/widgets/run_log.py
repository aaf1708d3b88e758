"""The run screen's log view; what it shows is read by ``core.run_logs.LogTail`` (the file
here, or the store's copy of a run that ran elsewhere)."""

from __future__ import annotations

from typing import Self

from textual.binding import Binding
from textual.widgets import Log

from dockyard.core.overview import human_size
from dockyard.core.run_logs import LogChunk
from dockyard.core.text import visible


class RunLog(Log):
    """The run's log, with vi-style moves; it follows new lines while at the end."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False, id="log-down"),
        Binding("k", "scroll_up", "Up", show=False, id="log-up"),
        Binding("g", "scroll_home", "Top", show=False, id="log-top"),
        Binding("G", "scroll_end", "End (follow)", show=False, id="log-end"),
    ]

    help_label = "the log"

    def write(self, data: str, scroll_end: bool | None = None) -> Self:
        """Append ``data``, the training script's output, with its escape sequences and
        other control characters made visible (Log itself lets ESC through to the
        terminal); line endings and tabs keep their meaning."""
        return super().write(visible(data, keep="\n\r\t"), scroll_end)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Scrolled up to read: new lines no longer pull the view down; say how to resume.
        self.border_subtitle = "" if self.is_vertical_scroll_end else "G follows"

    def append(self, chunk: LogChunk, run_id: int) -> None:
        """Show a chunk read by :class:`LogTail`: what was skipped, then the new text."""
        if chunk.reset:
            self.clear()
        if chunk.skipped_bytes:
            self.write(
                f"… {human_size(chunk.skipped_bytes)} earlier "
                f"(all of it: dockyard run logs {run_id})\n"
            )
        if chunk.text:
            # Follow the end only if the user has not scrolled up to read.
            follow = self.is_vertical_scroll_end
            self.write(chunk.text, scroll_end=follow)
            if follow:  # again once laid out: the first lines can change the log's size
                self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)
