"""``dockyard monitor …``: the operations side (deployments: ``tui/cli/deploy.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dockyard.core.overview import human_time
from dockyard.tui.cli.kit import COUNT, ROW_ID, Context, echo, pass_ctx, print_json, print_table


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
    from dockyard.core.monitoring import list_monitors

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
            [
                m.project,
                m.name,
                m.kind,
                m.schedule if m.state == "enabled" else f"{m.schedule} ({m.state})",
                m.last_status or "never run",
                m.open_alerts,
            ]
            for m in monitors
        ),
    )


def _when(value: object) -> str:
    return human_time(value)


@monitor.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the monitor and its last result.")
@pass_ctx
def monitor_show(ctx: Context, name: str, as_json: bool) -> None:
    """Show a monitor (ID, NAME or PROJECT/NAME), its settings and its last result's checks.

    \b
    Example:
      dockyard monitor show wine/feature-drift
    """
    from dockyard.core.monitoring import get_monitor, monitor_history

    workspace = ctx.workspace()
    info = get_monitor(workspace, name)
    last = monitor_history(workspace, info.id, limit=1)
    if as_json:
        print_json({**info.to_dict(), "last_result": last[0].to_dict() if last else None})
        return
    echo(
        f"monitor {info.id}: {info.project}/{info.name} ({info.kind}, {info.schedule}, "
        f"{info.state})"
    )
    for key, value in sorted(info.config.items()):
        if value is not None and key not in ("name", "kind", "schedule"):
            echo(f"  {key}: {value}")
    if not last:
        echo("never run")
        return
    result = last[0]
    echo(f"last result {result.id}: {result.status} {result.summary}")
    echo(f"  batch {result.batch_path} ({result.rows} rows), model {result.model_ref}")
    print_table(
        ["check", "column", "status", "statistic", "value", "threshold", "detail"],
        (
            [c.check, c.column or "", c.status, c.statistic, c.value, c.threshold, c.detail]
            for c in result.checks
        ),
    )


@monitor.command("history")
@click.argument("name")
@click.option("--limit", type=COUNT, default=20, show_default=True, help="Results to show.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of results.")
@pass_ctx
def monitor_history_cmd(ctx: Context, name: str, limit: int, as_json: bool) -> None:
    """Stored results of a monitor, newest first (nothing is recomputed).

    \b
    Example:
      dockyard monitor history feature-drift --limit 5
    """
    from dockyard.core.monitoring import monitor_history

    results = monitor_history(ctx.workspace(), name, limit=limit)
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    print_table(
        ["id", "ran", "status", "batch", "rows", "model", "summary"],
        (
            [r.id, _when(r.started_at), r.status, r.batch_path, r.rows, r.model_ref, r.summary]
            for r in results
        ),
    )


@monitor.command("run")
@click.argument("name")
@click.option("--batch", type=click.Path(path_type=Path), help="Check this file only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of results.")
@pass_ctx
def monitor_run(ctx: Context, name: str, batch: Path | None, as_json: bool) -> None:
    """Run a monitor now on every batch it has not seen; exit status 1 on an alert.

    \b
    Example:
      dockyard monitor run wine/feature-drift || notify-team
    """
    from dockyard.core.monitoring import run_monitor

    results = run_monitor(ctx.workspace(), name, batch=batch)
    if as_json:
        print_json([r.to_dict() for r in results])
    elif not results:
        echo("no new batch")
    else:
        for r in results:
            echo(f"{r.status}: {r.batch_path} ({r.model_ref}): {r.summary}")
    if any(r.status == "alert" for r in results):
        sys.exit(1)


@monitor.command("ack")
@click.argument("alert_id", type=ROW_ID)
@click.option("-m", "--message", required=True, help="Why the alert is acknowledged.")
@pass_ctx
def monitor_ack(ctx: Context, alert_id: int, message: str) -> None:
    """Acknowledge an alert, with the reason (an audit event).

    \b
    Example:
      dockyard monitor ack 12 -m "known seasonal shift"
    """
    from dockyard.core.monitoring import acknowledge_alert

    alert = acknowledge_alert(ctx.workspace(), alert_id, message)
    echo(f"alert {alert.id} acknowledged by {alert.acknowledged_by}")


@monitor.command("pause")
@click.argument("name")
@pass_ctx
def monitor_pause(ctx: Context, name: str) -> None:
    """Stop scheduling a monitor (its results stay).

    \b
    Example:
      dockyard monitor pause wine/data-quality
    """
    from dockyard.core.monitoring import set_paused

    info = set_paused(ctx.workspace(), name, True)
    echo(f"monitor {info.project}/{info.name} paused")


@monitor.command("resume")
@click.argument("name")
@pass_ctx
def monitor_resume(ctx: Context, name: str) -> None:
    """Schedule a paused monitor again.

    \b
    Example:
      dockyard monitor resume wine/data-quality
    """
    from dockyard.core.monitoring import set_paused

    info = set_paused(ctx.workspace(), name, False)
    echo(f"monitor {info.project}/{info.name} resumed")


@monitor.command("add")
@click.argument("project")
@click.argument("name")
@click.option("--kind", type=click.Choice(["drift", "quality", "performance"]), required=True)
@click.option("--schedule", required=True, help="'every N[m|h|d]' or a 5-field cron.")
@click.option("--batches", help="Glob of batch files, relative to the project folder.")
@click.option("--dataset", help="A dataset whose new versions are the batches.")
@click.option("--model", help="The registered model watched (default: the project's).")
@click.option("--env", help="Environment of the deployment watched (default: production).")
@click.option("--threshold", type=float, help="Share: drifted columns, or bad values.")
@click.option("--metric", help="Metric of a performance monitor.")
@click.option("--min", "low", type=float, help="Alert below this metric value.")
@click.option("--max", "high", type=float, help="Alert above this metric value.")
@click.option("--on-alert", help="Command run on an alert (no shell).")
@pass_ctx
def monitor_add(ctx: Context, /, project: str, name: str, **options: object) -> None:
    """Add a monitor to a registered project (kept when the project file is re-added).

    \b
    Example:
      dockyard monitor add wine nightly-drift --kind drift --schedule "0 3 * * *"
    """
    from dockyard.core.monitoring import add_monitor

    keys = {"low": "min", "high": "max", "on_alert": "on_alert"}
    raw = {keys.get(k, k): v for k, v in options.items() if v is not None}
    info = add_monitor(ctx.workspace(), project, {"name": name, **raw})
    echo(f"monitor {info.id}: {info.project}/{info.name} added ({info.kind}, {info.schedule})")
