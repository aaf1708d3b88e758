"""``dockyard monitor …``: the operations side (deployments: ``tui/cli_deploy.py``)."""

from __future__ import annotations

import click

from tui.clikit import Context, echo, pass_ctx, print_json, print_table


@click.group()
def monitor() -> None:
    """Scheduled monitors (drift, data quality, performance) and their results."""


@monitor.command("list")
@click.option("--project", help="Only this project's monitors.")
@click.option("--all", "include_disabled", is_flag=True, help="Include disabled monitors.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of monitors.")
@pass_ctx
def monitor_list(ctx: Context, project: str | None, include_disabled: bool, as_json: bool) -> None:
    """List monitors with their schedule, last result and open alerts.

    \b
    Example:
      dockyard monitor list --project wine --json
    """
    from core.monitoring import list_monitors

    monitors = list_monitors(ctx.workspace(), project, include_disabled)
    if as_json:
        print_json([m.to_dict() for m in monitors])
        return
    if not monitors:
        echo("No monitors; declare them under [[monitors]] in a project's dockyard.toml.")
        return
    print_table(
        ["project", "monitor", "kind", "schedule", "last", "alerts"],
        (
            [m.project, m.name, m.kind, m.schedule, m.last_status or "never run", m.open_alerts]
            for m in monitors
        ),
    )
