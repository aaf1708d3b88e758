"""The run screen's header: the run's title, status and timing, redrawn in place."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from textual.app import RenderResult
from textual.content import Content
from textual.widget import Widget

from dockyard.core.overview import as_utc, human_age, human_duration
from dockyard.tui.text import markup, plain

if TYPE_CHECKING:
    from dockyard.core.runs import RunInfo


def _when(value: datetime | None, now: datetime) -> str:
    return human_age(as_utc(value), now)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    begin, finish = as_utc(start), as_utc(end)
    if begin is None or finish is None:
        return None
    return (finish - begin).total_seconds()


def status_lines(info: RunInfo, now: datetime) -> list[str]:
    """The header under the title: timing and outcome in words, one fact per clause."""
    status = info.status
    parts: list[str] = []
    if status == "queued":
        parts.append(f"queued {_when(info.created_at, now)}, waiting for the agent")
    elif status in ("running", "cancelling"):
        parts.append(f"elapsed {human_duration(_seconds(info.started_at, now))}")
        parts.append(f"started {_when(info.started_at, now)}")
        if info.pid:
            parts.append(f"pid {info.pid} on {info.host or '?'}")
    else:
        took = _seconds(info.started_at, info.ended_at)
        parts.append(f"{status} after {human_duration(took)}" if took is not None else status)
        if info.exit_code is not None:
            parts.append(f"exit code {info.exit_code}")
        parts.append(f"ended {_when(info.ended_at, now)}")
    lines = [" · ".join(parts)]
    if info.error and info.error != status and status not in ("finished", "running", "queued"):
        lines.append(f"error: {info.error}")
    return lines


class RunHeader(Widget):
    """Two lines (three with an error) redrawn in place: updating it every poll for the
    elapsed time must not lay the screen out again, which a ``Static`` of auto height does."""

    DEFAULT_CSS = """
    RunHeader {
        height: 2;
    }
    RunHeader.-three {
        height: 3;
    }
    """

    def __init__(self, content: Content, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.content = content

    def show(self, lines: list[Content]) -> None:
        """One Content per line; the widget grows to three lines for an error."""
        content = Content("\n").join(lines)
        if (content.plain, content.spans) == (self.content.plain, self.content.spans):
            return
        self.content = content
        self.set_class(len(lines) > 2, "-three")
        self.refresh()

    def render(self) -> RenderResult:
        return self.content

    def show_run(self, info: RunInfo, now: datetime) -> None:
        """The run's title line, then its timing and outcome (:func:`status_lines`)."""
        title = [markup("[b]Run $id[/b]", id=info.id), plain(info.project), plain(info.status, "b")]
        if info.group_id:
            title.append(plain(f"sweep {info.group_id}"))
        if info.parent_run_id is not None:
            title.append(plain(f"from run {info.parent_run_id}"))
        if info.dataset:
            title.append(plain(info.dataset))
        lines = [Content(" · ").join(title), *map(plain, status_lines(info, now))]
        self.show(lines)
