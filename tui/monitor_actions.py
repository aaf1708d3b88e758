"""Acknowledge an alert, run a monitor now, pause or resume it: the questions and the
worker calls the home screen and the monitor screen share, so both say the same things.

Each core call runs in a thread worker; the outcome is a notification, then ``on_done``
on the UI thread (the caller re-reads what it shows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import Screen

from dockyard.core.workspace import Workspace
from dockyard.tui.errors import describe_error
from dockyard.tui.widgets.decision import DecisionField, DecisionModal

Done = Callable[[], None] | None


def _run(screen: Screen[Any], work: Callable[[], None], group: str) -> None:
    screen.run_worker(work, thread=True, exit_on_error=False, group=group, name=group)


def _after(screen: Screen[Any], on_done: Done) -> None:
    if on_done is not None:
        screen.app.call_from_thread(on_done)
    refresh = getattr(screen.app, "refresh_monitoring", None)
    if refresh is not None:
        screen.app.call_from_thread(refresh)


def ask_to_acknowledge(
    screen: Screen[Any], workspace: Workspace, alert_id: int, message: str, on_done: Done = None
) -> None:
    """The acknowledgement modal (a comment is required: it goes into the audit log)."""
    modal = DecisionModal(
        f"Acknowledge alert {alert_id}?",
        f"{message}\n\nThe comment is recorded in the audit log with your name.",
        [
            DecisionField(
                "comment",
                "Why it is acknowledged (required)",
                required="An acknowledgement needs a comment",
            )
        ],
        confirm_label="Acknowledge",
    )

    def answered(values: dict[str, str] | None) -> None:
        if values is not None:
            _run(
                screen,
                lambda: _acknowledge(screen, workspace, alert_id, values["comment"], on_done),
                f"ack-alert-{alert_id}",
            )

    screen.app.push_screen(modal, answered)


def _acknowledge(
    screen: Screen[Any], workspace: Workspace, alert_id: int, comment: str, on_done: Done
) -> None:
    from dockyard.core.monitoring import acknowledge_alert

    try:
        alert = acknowledge_alert(workspace, alert_id, comment)
    except Exception as error:
        screen.notify(
            describe_error(error), title=f"Alert {alert_id} not acknowledged", severity="error"
        )
        _after(screen, on_done)
        return
    screen.notify(f"Acknowledged alert {alert.id} of {alert.project}/{alert.monitor}")
    _after(screen, on_done)


def run_now(screen: Screen[Any], workspace: Workspace, monitor_id: int, on_done: Done) -> None:
    """``core.monitoring.run_monitor`` in a worker; one notification with what it found."""
    _run(
        screen,
        lambda: _run_now(screen, workspace, monitor_id, on_done),
        f"run-monitor-{monitor_id}",
    )


def _run_now(screen: Screen[Any], workspace: Workspace, monitor_id: int, on_done: Done) -> None:
    from dockyard.core.monitoring import run_monitor

    try:
        results = run_monitor(workspace, monitor_id)
    except Exception as error:
        screen.notify(describe_error(error), title="Monitor not run", severity="error")
        _after(screen, on_done)
        return
    if not results:
        screen.notify("No new batch to check", title="Monitor run")
    else:
        worst = next(
            (s for s in ("error", "alert", "warn", "ok") if any(r.status == s for r in results)),
            "ok",
        )
        lines = [f"{r.status}: {r.summary}" for r in results[-3:]]
        noun = "batch" if len(results) == 1 else "batches"
        screen.notify(
            "\n".join(lines),
            title=f"Checked {len(results)} {noun}: {worst}",
            severity="error" if worst in ("alert", "error") else "information",
        )
    _after(screen, on_done)


def set_paused(
    screen: Screen[Any], workspace: Workspace, monitor_id: int, paused: bool, on_done: Done
) -> None:
    """Pause or resume in a worker; the agent follows within a heartbeat."""

    def work() -> None:
        from dockyard.core.monitoring import set_paused as core_set_paused

        try:
            info = core_set_paused(workspace, monitor_id, paused)
        except Exception as error:
            screen.notify(describe_error(error), title="Monitor unchanged", severity="error")
            _after(screen, on_done)
            return
        word = "Paused" if info.paused else "Resumed"
        screen.notify(f"{word} {info.project}/{info.name}")
        _after(screen, on_done)

    _run(screen, work, f"pause-monitor-{monitor_id}")
