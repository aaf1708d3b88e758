"""The run screen's log: a tail of the run's log file read by byte offset, and its view."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from textual.binding import Binding
from textual.widgets import Log

from dockyard.core.overview import human_size
from dockyard.core.text import visible

#: Lines the log view keeps; older ones scroll out (``dockyard run logs ID`` has them all).
LOG_MAX_LINES = 5000

#: On opening, read at most this much of the end of the log.
LOG_TAIL_BYTES = 256 * 1024

#: At most this much of the log per poll; a poll that leaves more asks for another at once.
LOG_CHUNK_BYTES = 1024 * 1024


@dataclass
class LogChunk:
    text: str = ""
    reset: bool = False
    skipped_bytes: int = 0
    more: bool = False


class LogTail:
    """What was appended to a log file since the last read, by byte offset.

    Used from one worker at a time (polls never overlap). Bytes are decoded incrementally,
    so a UTF-8 character split across two reads is not mangled.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def read_new(self, *, final: bool = False) -> LogChunk:
        try:
            size = self.path.stat().st_size
        except OSError:
            return LogChunk()
        chunk = LogChunk()
        if size < self.offset:  # truncated or replaced: start over
            self.offset = 0
            self._decoder.reset()
            chunk.reset = True
        if size == self.offset:
            if final:
                chunk.text = self._decoder.decode(b"", final=True)
            return chunk
        start = self.offset
        if start == 0 and size > LOG_TAIL_BYTES:
            start = size - LOG_TAIL_BYTES
        end = min(size, start + LOG_CHUNK_BYTES)
        with self.path.open("rb") as file:
            file.seek(start)
            data = file.read(end - start)
        if start > self.offset:
            # Opened near the end: keep whole lines, no more than the view holds (with
            # the note about what was skipped), so the note is never pruned away.
            cut = len(data)
            for _ in range(LOG_MAX_LINES - 1):  # the Log counts a last, empty line
                cut = data.rfind(b"\n", 0, cut)
                if cut < 0:
                    break
            cut = cut + 1 if cut >= 0 else max(0, data.find(b"\n") + 1)
            chunk.skipped_bytes = start + cut
            data = data[cut:]
        self.offset = end
        chunk.more = end < size
        chunk.text = self._decoder.decode(data, final=final and not chunk.more)
        return chunk


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
