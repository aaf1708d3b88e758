"""Cancel and retry a run from any screen: the confirmation, the worker, the notification.

The home screen (``x``/``R`` on the Runs pane) and the run screen share these, so the two
ask the same question and say the same things. Every store write runs in a thread worker;
``core`` is imported inside the worker, never at startup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from textual.screen import Screen

from dockyard.tui.errors import describe_error
from dockyard.tui.widgets.confirm import ConfirmModal

if TYPE_CHECKING:
    from dockyard.core.runs import RunInfo
    from dockyard.core.workspace import Workspace
    from dockyard.tui.app import DockyardApp

#: Statuses of a run that has not ended (``core.runs.ACTIVE``, without importing it).
ACTIVE_STATUSES = ("queued", "running", "cancelling")


def workspace_of(screen: Screen[Any]) -> Workspace:
    """The workspace of the app ``screen`` belongs to."""
    return cast("DockyardApp", screen.app).workspace


def start_agent(screen: Screen[Any], workspace: Workspace) -> None:
    """Start the agent if none serves the store (from a worker thread); warn if it fails."""
    from dockyard.core.agent import ensure_agent

    try:
        started = ensure_agent(workspace)
    except Exception as error:
        screen.notify(
            f"The run is queued but the agent did not start: {describe_error(error)} "
            "(start it with `dockyard agent --detach`)",
            title="Agent",
            severity="warning",
            timeout=10,
            markup=False,
        )
        return
    if started:
        screen.notify("Started the agent in the background", title="Agent", markup=False)


def ask_to_cancel(
    screen: Screen[Any],
    workspace: Workspace,
    *,
    run_id: int,
    project: str,
    status: str,
    on_done: Callable[[], None] | None = None,
) -> None:
    """Ask (focus on the safe button), then cancel the run in a worker."""
    if status not in ACTIVE_STATUSES:
        screen.notify(
            f"Run {run_id} has already {status}; nothing to cancel",
            severity="warning",
            markup=False,
        )
        return
    if status == "queued":
        question = f"Run {run_id} ({project}) has not started. Take it off the queue?"
        keep, stop = "Keep it queued", "Cancel run"
    else:
        question = (
            f"Run {run_id} ({project}) is {status}. Dockyard sends its process SIGTERM, "
            "then SIGKILL after a grace period; its log, metrics and artifacts so far are kept."
        )
        keep, stop = "Keep running", "Stop run"

    def answered(confirmed: bool | None) -> None:
        if confirmed:
            screen.run_worker(
                lambda: _cancel(screen, workspace, run_id, on_done),
                thread=True,
                exit_on_error=False,
                group=f"cancel-run-{run_id}",
                name=f"cancel run {run_id}",
            )

    screen.app.push_screen(
        ConfirmModal(f"Cancel run {run_id}?", question, confirm_label=stop, cancel_label=keep),
        answered,
    )


def _cancel(
    screen: Screen[Any],
    workspace: Workspace,
    run_id: int,
    on_done: Callable[[], None] | None,
) -> None:
    from dockyard.core.runs import cancel_run

    try:
        info = cancel_run(workspace, run_id)
    except Exception as error:
        screen.notify(
            describe_error(error),
            title=f"Run {run_id} not cancelled",
            severity="error",
            markup=False,
        )
        return
    if info.status == "cancelled":
        screen.notify(f"Cancelled run {run_id}", title="Run cancelled", markup=False)
    else:
        screen.notify(f"Stopping run {run_id}…", title="Run cancelling", markup=False)
    if on_done is not None:
        screen.app.call_from_thread(on_done)


def retry(
    screen: Screen[Any],
    workspace: Workspace,
    *,
    run_id: int,
    status: str,
    on_done: Callable[[RunInfo], None] | None = None,
) -> None:
    """Queue a run again with the same parameters and data, in a worker."""
    if status in ACTIVE_STATUSES:
        screen.notify(
            f"Run {run_id} is still {status}; x cancels it, then R retries it",
            severity="warning",
            markup=False,
        )
        return
    screen.run_worker(
        lambda: _retry(screen, workspace, run_id, on_done),
        thread=True,
        exit_on_error=False,
        group=f"retry-run-{run_id}",
        name=f"retry run {run_id}",
    )


def _retry(
    screen: Screen[Any],
    workspace: Workspace,
    run_id: int,
    on_done: Callable[[RunInfo], None] | None,
) -> None:
    from dockyard.core.runs import retry_run

    try:
        info = retry_run(workspace, run_id)
    except Exception as error:
        screen.notify(
            describe_error(error), title=f"Run {run_id} not retried", severity="error", markup=False
        )
        return
    screen.notify(
        f"Queued run {info.id}, a retry of run {run_id}", title="Run queued", markup=False
    )
    start_agent(screen, workspace)
    if on_done is not None:
        screen.app.call_from_thread(on_done, info)
