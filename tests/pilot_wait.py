"""Waiting for a Textual app to be ready for a look, by condition, never by a count of pauses.

A fixed number of ``pilot.pause()`` calls is a guess about how long the machine takes: on a
loaded machine a pane's page can land after the last pause, or a table can be shot between
receiving its rows and sizing its columns. :func:`settle` waits instead for what the test
means by ready: no worker running, every message handled, the current screen reporting
its data loaded, and the screen drawing the same thing twice in a row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.notifications import Notification
from textual.pilot import Pilot
from textual.worker import WorkerState

#: Where ``tests/conftest.py`` keeps every notification an app posted.
NOTIFIED = "_tests_notified"


def notified(app: App[Any]) -> list[Notification]:
    """Every notification ``app`` posted, in order, expired or not (a toast lives a few
    seconds; on a loaded machine the assert that looks for it can come later)."""
    return list(app.__dict__.get(NOTIFIED, []))


def notifications(app: App[Any]) -> list[str]:
    """The messages of :func:`notified`."""
    return [notification.message for notification in notified(app)]


#: Long enough for a loaded machine (load 10 on two cores); a hang still fails, with a reason.
TIMEOUT_SECONDS = 60.0

Condition = Callable[[App[Any]], bool]

#: Screens without a ``loaded`` flag, and the attribute their first result lands in.
FIRST_RESULT = {"RunScreen": "info", "CompareScreen": "comparison", "DatasetDiffScreen": "diff"}


def screen_loaded(app: App[Any]) -> bool:
    """True once the current screen shows what it went to read.

    The home screen: every pane has a page (or an error) and the status line knows the
    agent. Detail screens: their ``loaded`` flag, or the first result of their worker
    (:data:`FIRST_RESULT`). Other screens (help, modals, forms) have nothing to wait for
    beyond their workers.
    """
    from dockyard.tui.screens.home import HomeScreen
    from dockyard.tui.widgets.pane import OverviewPane
    from dockyard.tui.widgets.status_line import StatusLine

    screen = app.screen
    if isinstance(screen, HomeScreen):
        panes = list(screen.query(OverviewPane))
        return (
            bool(panes)
            and all(pane.total is not None or pane.error for pane in panes)
            and screen.query_one(StatusLine).agent is not None
        )
    first = FIRST_RESULT.get(type(screen).__name__)
    if first is not None:
        return getattr(screen, first) is not None
    return bool(getattr(screen, "loaded", True))


def _busy(app: App[Any]) -> list[str]:
    return [
        worker.name or repr(worker)
        for worker in app.workers
        if worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
    ]


async def settle(
    pilot: Pilot[Any],
    until: Condition = screen_loaded,
    *,
    stable_frames: bool = True,
    timeout: float = TIMEOUT_SECONDS,
) -> None:
    """Wait until no worker runs, ``until(app)`` holds and (with ``stable_frames``) two
    screenshots taken one pause apart are identical: rows applied, columns sized, layout
    done. Fails with what was still pending after ``timeout`` seconds."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    previous: str | None = None
    while True:
        await app.workers.wait_for_complete()
        await pilot.pause()
        ready = not _busy(app) and until(app)
        if ready and not stable_frames:
            return
        if ready:
            await pilot.wait_for_scheduled_animations()
            frame = app.export_screenshot()
            if frame == previous:
                return
            previous = frame
        else:
            previous = None
        if time.monotonic() > deadline:
            raise AssertionError(
                f"app not settled after {timeout:.0f} s: screen {type(app.screen).__name__}, "
                f"workers {_busy(app)}, condition {'met' if until(app) else 'not met'}"
            )
