"""What the home screen's row keys do to the highlighted row of their pane.

The keys are ``tui/home_keys.py``; these are their actions, each a few lines that find
the row and hand it to the module that asks and does the work (``tui/deploy_actions.py``,
``tui/monitor_actions.py``, ``tui/housekeeping_actions.py``). :class:`HomeRowActions` is
mixed into ``HomeScreen``, where Textual finds the actions by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from dockyard.core.overview import DeploymentRow, ModelRow, MonitoringRow, Pane

if TYPE_CHECKING:
    from dockyard.tui.screens.home import HomeScreen


class HomeRowActions:
    """Deployments (a approve, x reject, b roll back, D request), Monitoring (A
    acknowledge) and housekeeping (d archive/delete, H show archived)."""

    # --- deployments: a approve, x reject, b roll back, D request (tui.deploy_actions) ------

    def _request_at_cursor(self) -> DeploymentRow | None:
        home = cast("HomeScreen", self)  # mixed into it
        row = home.pane(Pane.DEPLOYMENTS).row_at_cursor()
        if not isinstance(row, DeploymentRow) or row.kind != "request":
            home.notify("No request highlighted in the Deployments pane", severity="warning")
            return None
        return row

    def action_approve_request(self) -> None:
        from dockyard.tui import deploy_actions

        home = cast("HomeScreen", self)  # mixed into it
        row = home._request_at_cursor()
        if row is not None:
            subject = deploy_actions.Subject.from_row(row)
            deploy_actions.ask_to_approve(home, home.workspace, subject, home.deployments_reread())

    def action_reject_request(self) -> None:
        from dockyard.tui import deploy_actions

        home = cast("HomeScreen", self)  # mixed into it
        row = home._request_at_cursor()
        if row is not None:
            subject = deploy_actions.Subject.from_row(row)
            deploy_actions.ask_to_reject(home, home.workspace, subject, home.deployments_reread())

    def action_roll_back(self) -> None:
        from dockyard.tui import deploy_actions

        home = cast("HomeScreen", self)  # mixed into it
        row = home.pane(Pane.DEPLOYMENTS).row_at_cursor()
        if not isinstance(row, DeploymentRow) or row.kind != "deployment":
            home.notify(
                "Highlight a deployment (a D row) in the Deployments pane to roll it back",
                severity="warning",
            )
            return
        deploy_actions.ask_to_roll_back(
            home,
            home.workspace,
            env=row.target,
            model=row.model,
            current=row.ref,
            on_done=home.deployments_reread(),
        )

    def action_request_deployment(self) -> None:
        from dockyard.tui import deploy_actions

        home = cast("HomeScreen", self)  # mixed into it
        row = home.pane(Pane.MODELS).row_at_cursor()
        if not isinstance(row, ModelRow) or row.latest_version is None:
            home.notify("No model version highlighted in the Models pane", severity="warning")
            return
        ref = f"{row.name}@{row.latest_version}"
        deploy_actions.ask_to_request(home, home.workspace, ref, home.deployments_reread())

    # --- housekeeping: d archives/deletes, H shows archived (tui.housekeeping_actions) -------

    def action_toggle_archived(self) -> None:
        home = cast("HomeScreen", self)  # mixed into it
        shown = home.current.toggle_archived()
        heading = home.active_pane.heading
        home.notify(
            f"{heading}: archived rows shown (dimmed, marked ⊘)"
            if shown
            else f"{heading}: archived rows hidden",
            markup=False,
        )

    def action_tidy_row(self) -> None:
        from dockyard.tui import housekeeping_actions

        home = cast("HomeScreen", self)  # mixed into it
        row = home.current.row_at_cursor()
        target = housekeeping_actions.Target.from_row(row) if row is not None else None
        if target is None:
            home.notify(f"Nothing highlighted in {home.active_pane.heading}", severity="warning")
            return
        housekeeping_actions.ask_to_tidy(home, home.workspace, target, home.action_refresh)

    # --- monitoring: A acknowledges (tui.monitor_actions asks and does the work) ------------

    def action_acknowledge_alert(self) -> None:
        from dockyard.tui import monitor_actions

        home = cast("HomeScreen", self)  # mixed into it
        row = home.pane(Pane.MONITORING).row_at_cursor()
        if not isinstance(row, MonitoringRow) or row.kind != "alert":
            home.notify(
                "Highlight an alert (an ALERT row) in the Monitoring pane to acknowledge it",
                severity="warning",
            )
            return
        monitor_actions.ask_to_acknowledge(home, home.workspace, row.id, row.message)
