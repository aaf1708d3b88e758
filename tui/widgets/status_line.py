"""The one-line header: agent state, user, and which workspace this is."""

from __future__ import annotations

from pathlib import Path

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from dockyard.core.overview import AgentStatus, MonitoringRow, PanePage
from dockyard.tui.text import markup


def short_path(path: Path, home: Path | None = None) -> str:
    """``path`` with the user's home folder written as ``~``."""
    home = Path.home() if home is None else home
    try:
        return f"~/{path.relative_to(home)}" if path != home else "~"
    except ValueError:
        return str(path)


class StatusLine(Static):
    """``Dockyard │ agent running │ user alice │ ~/proj``; the path is cut first when narrow."""

    agent: reactive[AgentStatus | None] = reactive(None)
    #: Pending deployment requests the user may approve and has not decided yet.
    waiting: reactive[int] = reactive(0)
    #: Open (unacknowledged) monitoring alerts.
    alerts: reactive[int] = reactive(0)

    def __init__(self, *, workspace_label: str, user: str) -> None:
        super().__init__(id="status-line")
        self.workspace_label = workspace_label
        self.user = user
        #: The newest open alert seen so far (None before the first unfiltered read).
        self._newest_alert: int | None = None

    def note_alerts(self, page: PanePage) -> None:
        """The open-alert count of an unfiltered Monitoring page, and a notification for
        each alert that is new since the last read (not for those already open when the
        app started)."""
        self.alerts = page.counts.get("alerts", 0)
        if page.offset:
            return
        alerts = [r for r in page.rows if isinstance(r, MonitoringRow) and r.kind == "alert"]
        newest = max((r.id for r in alerts), default=0)
        if self._newest_alert is not None:
            for row in alerts:
                if row.id > self._newest_alert:
                    self.notify(
                        row.message or f"{row.project}/{row.monitor}: {row.status}",
                        title=f"New alert {row.id}: {row.project}/{row.monitor}",
                        severity="error",
                        timeout=10,
                    )
        self._newest_alert = max(newest, self._newest_alert or 0)

    def render_text(self) -> Content:
        if self.agent is None:
            agent = "agent ?"
        elif self.agent.alive:
            agent = "[b]agent running[/b]"
        else:
            agent = "agent stopped"
        waiting = ""
        if self.waiting:
            noun = "request waits" if self.waiting == 1 else "requests wait"
            waiting = f" │ [b]{self.waiting:,} {noun} for you[/b]"
        alerts = ""
        if self.alerts:
            noun = "open alert" if self.alerts == 1 else "open alerts"
            alerts = f" │ [b reverse] {self.alerts:,} {noun} [/]"
        return markup(
            f"[b]Dockyard[/b] │ {agent}{waiting}{alerts} │ user $user │ $workspace",
            user=self.user,
            workspace=self.workspace_label,
        )

    def on_mount(self) -> None:
        self.update(self.render_text())

    # One line whatever it says: a change repaints the line, not the screen's layout.
    def watch_agent(self, status: AgentStatus | None) -> None:
        self.set_class(status is not None and status.alive, "-agent-alive")
        self.update(self.render_text(), layout=False)

    def watch_waiting(self, count: int) -> None:
        self.update(self.render_text(), layout=False)

    def watch_alerts(self, count: int) -> None:
        self.update(self.render_text(), layout=False)
