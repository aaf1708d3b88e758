"""What one poll of the run screen reads, in a worker thread: only what is new.

The run's row (status first: if the run has ended, everything read after it is complete),
the log bytes past the offset already shown, each metric's newest point and the points
of the charted metric after the last step drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

from dockyard.core.run_logs import LogChunk, LogTail, log_source
from dockyard.tui.run_actions import ACTIVE_STATUSES
from dockyard.tui.widgets.run_details import ordered_keys

if TYPE_CHECKING:
    from dockyard.core.runs import ArtifactInfo, RunInfo
    from dockyard.core.workspace import Workspace

#: A metric's history is downsampled in SQL to about this many points when first drawn.
CURVE_POINTS = 1000


@dataclass(frozen=True)
class PollRequest:
    """What the screen has drawn so far, so the worker reads only what is newer."""

    run_id: int
    curve_key: str | None
    curve_after: int  # -1: draw the whole (downsampled) curve
    with_artifacts: bool


@dataclass
class RunSnapshot:
    """One poll's findings; ``curve_points`` are after ``request.curve_after``."""

    request: PollRequest
    info: RunInfo
    log: LogChunk
    latest: dict[str, tuple[int, float]]
    curve_key: str | None = None
    curve_points: list[tuple[int, float]] = field(default_factory=list)
    artifacts: list[ArtifactInfo] | None = None


def read_curve(
    workspace: Workspace, run_id: int, key: str, after_step: int
) -> list[tuple[int, float]]:
    """The points of ``key`` after ``after_step``; the whole curve, downsampled, for -1."""
    if after_step >= 0:
        from dockyard.core.runs import metric_history

        return metric_history(workspace, run_id, key, after_step)
    from dockyard.core.runs import metric_curve

    return metric_curve(workspace, run_id, key, CURVE_POINTS)


class RunPolled(Message):
    def __init__(self, snapshot: RunSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class RunLogRead(Message):
    """The first lines of the log, read before the store answered."""

    def __init__(self, chunk: LogChunk) -> None:
        super().__init__()
        self.chunk = chunk


class RunPollFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class RunPoller:
    """Reads one run for one screen; keeps the log's offset between polls, which never
    overlap (one worker at a time)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.tail: LogTail | None = None

    def poll(self, request: PollRequest, on_early_log: Callable[[LogChunk], object]) -> RunSnapshot:
        """What is new since ``request``; raises what the store raises. ``on_early_log``
        gets the first lines of the log, read before the store is opened."""
        from dockyard.core.runs import get_run, latest_metrics, list_artifacts, log_path

        workspace = self.workspace
        if self.tail is None:
            # The log first, at its usual path: that needs no database (whose first use in
            # this process imports SQLAlchemy, a second on a busy machine), so it shows now.
            self.tail = LogTail(log_path(workspace, request.run_id))
            early = self.tail.read_new()
            if early.text or early.skipped_bytes:
                on_early_log(early)
        # Status first: if the run has ended, everything after it is complete.
        info = get_run(workspace, request.run_id)
        # the file on this machine, or the store's copy (a run that ran elsewhere)
        source = log_source(workspace, info)
        reset = False
        if self.tail is None or self.tail.source != source:
            reset = self.tail is not None
            self.tail = LogTail(source)
        ended = info.status not in ACTIVE_STATUSES
        chunk = self.tail.read_new(final=ended)
        chunk.reset = chunk.reset or reset
        latest = latest_metrics(workspace, request.run_id)
        key = request.curve_key
        if key is None or key not in latest:
            keys = ordered_keys(latest, info.primary_metric)
            key = keys[0] if keys else None
            request = PollRequest(request.run_id, key, -1, request.with_artifacts)
        points: list[tuple[int, float]] = []
        if key is not None and latest[key][0] > request.curve_after:
            points = read_curve(workspace, request.run_id, key, request.curve_after)
        artifacts = None
        if request.with_artifacts or ended:
            artifacts = list_artifacts(workspace, request.run_id)
        return RunSnapshot(
            request=request,
            info=info,
            log=chunk,
            latest=latest,
            curve_key=key,
            curve_points=points,
            artifacts=artifacts,
        )
