"""``dockyard run …`` and ``dockyard agent …``: queue, follow, cancel and serve runs."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from dockyard.core.overview import human_time
from dockyard.store.schema import RUN_STATUSES
from dockyard.tui.cli.housekeeping import archived_choice, archived_options, marked
from dockyard.tui.cli.kit import (
    COUNT,
    ROW_ID,
    Context,
    echo,
    pass_ctx,
    print_json,
    print_machine,
    print_table,
    show_status,
)

if TYPE_CHECKING:
    from dockyard.core.runs import RunInfo
    from dockyard.core.workspace import Workspace

RUN_EXIT = {"finished": 0}


@click.group()
def run() -> None:
    """Launch, follow, cancel and retry training runs."""


def _format_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@run.command("start")
@click.argument("project", required=False)
@click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
    help="A parameter; KEY=A,B,C sweeps over the values (repeatable).",
)  # fmt: skip
@click.option("--data", metavar="NAME@VERSION", help="Train on this dataset version.")
@click.option("--from", "from_run", type=ROW_ID, metavar="RUN_ID", help="Clone a past run.")
@click.option("--wait", is_flag=True, help="Follow the run and exit with its outcome.")
@click.option("--no-agent", is_flag=True, help="Only queue; do not start an agent.")
@click.option("--json", "as_json", is_flag=True, help="Print the queued runs as JSON.")
@pass_ctx
def run_start(
    ctx: Context,
    project: str | None,
    params: tuple[str, ...],
    data: str | None,
    from_run: int | None,
    wait: bool,
    no_agent: bool,
    as_json: bool,
) -> None:
    """Queue a run of PROJECT (a grid of runs when a parameter has several values).

    \b
    Examples:
      dockyard run start wine -p model=forest --wait
      dockyard run start breast-cancer -p C=0.1,1,10 -p model=logreg,forest
      dockyard run start --from 12 -p C=5
    """
    from dockyard.core.agent import ensure_agent
    from dockyard.core.run_data import recorded_choices
    from dockyard.core.runs import queue_runs

    workspace = ctx.workspace()
    runs = queue_runs(workspace, project, params, data=data, from_run=from_run)
    if not no_agent and ensure_agent(workspace) and not as_json:
        echo("Started the agent in the background (dockyard agent status).", err=True)
    if as_json:
        print_json([r.to_dict() for r in runs])
    else:
        group = f" as sweep {runs[0].group_id}" if runs[0].group_id else ""
        ids = ", ".join(str(r.id) for r in runs)
        echo(f"Queued run{'s' if len(runs) > 1 else ''} {ids} of {runs[0].project}{group}")
        data = recorded_choices(runs[0].env)
        echo(f"  data: {data or 'none registered; the script reads its own files'}")
    if wait:
        codes = [follow_run(ctx, r.id, quiet=as_json) for r in runs]
        sys.exit(max(codes))


def follow_run(ctx: Context, run_id: int, quiet: bool = False) -> int:
    """Show a status line until the run ends; 0 when it finished, else 1."""
    from dockyard.core.runs import FINAL, get_run, latest_metrics

    workspace = ctx.workspace()
    live = sys.stderr.isatty() and not quiet
    info = get_run(workspace, run_id)
    while info.status not in FINAL:
        if live:
            metrics = latest_metrics(workspace, run_id)
            shown = "  ".join(f"{k}={v:.4g}" for k, (_s, v) in list(metrics.items())[:4])
            line = f"run {run_id} {info.status} {_format_duration(info.duration)}  {shown}"
            show_status(line[:200])
        time.sleep(0.5)
        info = get_run(workspace, run_id)
    if live:
        show_status("")
    if not quiet:
        value = _format_value(info.primary_value)
        metric = f"  {info.primary_metric}={value}" if info.primary_metric else ""
        echo(f"run {run_id} {info.status} in {_format_duration(info.duration)}{metric}")
        if info.status != "finished":
            if info.error:
                echo(f"  {info.error}", err=True)
            _print_tail(workspace, info, 20)
    return RUN_EXIT.get(info.status, 1)


def _print_tail(workspace: Workspace, info: RunInfo, lines: int) -> None:
    from dockyard.core.run_logs import last_lines

    text = last_lines(workspace, info, lines)
    if not text:
        return
    echo("--- last lines of the log ---", err=True)
    for line in text:
        echo(line, err=True)


@run.command("list")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs in this status.")
@click.option("--project", help="Only runs of this project.")
@click.option(
    "--limit", type=COUNT, default=50, show_default=True, help="How many runs (1 or more)."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of runs.")
@archived_options
@pass_ctx
def run_list(
    ctx: Context, status: str | None, project: str | None, limit: int, as_json: bool
) -> None:
    """List runs, active first, then newest.

    \b
    Example:
      dockyard run list --status failed --json
    """
    from dockyard.core.runs import list_runs

    runs = list_runs(
        ctx.workspace(), status=status, project=project, limit=limit, archived=archived_choice()
    )
    if as_json:
        print_json([r.to_dict() for r in runs])
        return
    if not runs:
        echo("No runs; start one with `dockyard run start PROJECT`.")
        return
    print_table(
        ["id", "project", "status", "duration", "metric", "params"],
        (
            [
                marked(r.id, r.archived_at),
                r.project,
                r.status,
                _format_duration(r.duration),
                f"{r.primary_metric}={_format_value(r.primary_value)}" if r.primary_metric else "",
                " ".join(f"{k}={v}" for k, v in sorted(r.params.items()))[:60],
            ]
            for r in runs
        ),
    )


@run.command("show")
@click.argument("run_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Print the run as a JSON object.")
@pass_ctx
def run_show(ctx: Context, run_id: int, as_json: bool) -> None:
    """Show a run: status, params, metrics and its reproducibility record.

    \b
    Example:
      dockyard run show 12 --json
    """
    from dockyard.core.run_data import recorded_choices
    from dockyard.core.runs import get_run, latest_metrics

    workspace = ctx.workspace()
    info = get_run(workspace, run_id)
    metrics = latest_metrics(workspace, run_id)
    if as_json:
        data: dict[str, Any] = info.to_dict()
        data["metrics"] = {k: {"step": s, "value": v} for k, (s, v) in metrics.items()}
        print_json(data)
        return
    echo(f"run {info.id}  {info.project}  {info.status}")
    for label, value in (
        ("command", info.command),
        ("dataset", recorded_choices(info.env) or info.dataset or "-"),
        ("started", human_time(info.started_at) if info.started_at else None),
        ("duration", _format_duration(info.duration)),
        ("exit code", info.exit_code),
        ("error", info.error or None),
        ("code", _code_line(info)),
        ("host/user", f"{info.host or '-'} / {info.user}"),
        ("executor", _executor_line(info.env.get("executor"))),
        ("log", info.log_path or "-"),
    ):
        if value is not None:
            echo(f"  {label:<10} {value}")
    if info.params:
        echo("params:")
        for key, text in sorted(info.params.items()):
            echo(f"  {key} = {text}")
    if metrics:
        echo("metrics (latest):")
        for key, (step, number) in metrics.items():
            echo(f"  {key} = {number:.6g}  (step {step})")


def _executor_line(record: Any) -> str | None:
    """Where the run executed, and what it asked for: ``dask tcp://... worker tcp://...
    (gpus=1)``, or ``local (gpus=1: not enforced by the local executor)``."""
    if not isinstance(record, dict) or not record.get("name"):
        return None  # a run from before executors were recorded
    parts = [str(record["name"])]
    if record.get("scheduler"):
        parts.append(str(record["scheduler"]))
    if record.get("worker"):
        parts.append(f"worker {record['worker']}")
    if record.get("resources"):
        note = f": {record['note']}" if record.get("note") else ""
        parts.append(f"(resources {record['resources']}{note})")
    return " ".join(parts)


def _code_line(info: Any) -> str:
    from dockyard.core.code import summary

    if info.code:
        return f"{summary(info.code)} (dockyard run code {info.id})"
    # a run from before code records
    return f"{info.git_commit or '-'}{' (dirty)' if info.git_dirty else ''}"


@run.command("logs")
@click.argument("run_id", type=ROW_ID)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the run ends.")
@pass_ctx
def run_logs(ctx: Context, run_id: int, follow: bool) -> None:
    """Print a run's log (stdout and stderr of its process).

    \b
    Example:
      dockyard run logs 12 -f
    """
    from dockyard.core.run_logs import read_log

    # from the log file when this machine has it, else from the store's copy (a run
    # executed on another machine); bounded reads either way
    for text in read_log(ctx.workspace(), run_id, follow=follow):
        if text:
            print_machine(text)


@run.command("cancel")
@click.argument("run_id", type=ROW_ID)
@pass_ctx
def run_cancel(ctx: Context, run_id: int) -> None:
    """Cancel a queued or running run (SIGTERM, then SIGKILL after a grace period).

    \b
    Example:
      dockyard run cancel 12
    """
    from dockyard.core.runs import cancel_run

    info = cancel_run(ctx.workspace(), run_id)
    echo(f"run {info.id}: {info.status}")


@run.command("retry")
@click.argument("run_id", type=ROW_ID)
@click.option("--wait", is_flag=True, help="Follow the new run and exit with its outcome.")
@pass_ctx
def run_retry(ctx: Context, run_id: int, wait: bool) -> None:
    """Queue a new run with the same parameters and data as RUN_ID.

    \b
    Example:
      dockyard run retry 12
    """
    from dockyard.core.agent import ensure_agent
    from dockyard.core.runs import retry_run

    workspace = ctx.workspace()
    info = retry_run(workspace, run_id)
    ensure_agent(workspace)
    echo(f"Queued run {info.id} (retry of {run_id})")
    if wait:
        sys.exit(follow_run(ctx, info.id))


@click.group(invoke_without_command=True)
@click.option("--detach", is_flag=True, help="Run in the background and return at once.")
@click.option(
    "--concurrency", type=click.IntRange(1, 256),
    help="Runs at once (default: cores, or the Dask cluster's threads).",
)  # fmt: skip
@click.option("--wait", "wait_lease", is_flag=True, help="Wait for the lease if another holds it.")
@click.option(
    "--executor", type=click.Choice(["local", "dask"]),
    help="Where runs execute (default: the workspace's setting, else local).",
)  # fmt: skip
@click.option(
    "--scheduler", metavar="tcp://HOST:8786", help="The Dask scheduler (implies --executor dask)."
)
@click.pass_context
def agent(
    ctx: click.Context,
    detach: bool,
    concurrency: int | None,
    wait_lease: bool,
    executor: str | None,
    scheduler: str | None,
) -> None:
    """Serve queued runs for this store (foreground, for a service manager).

    Exactly one agent serves a store. Runs keep going when the agent stops. With
    --executor dask, runs execute on the workers of an existing Dask cluster
    (docs/dask.md); the workspace's .dockyard/settings.toml can say so once for all.

    \b
    Examples:
      dockyard agent                 # foreground; ctrl+c stops it, not the runs
      dockyard agent --detach
      dockyard agent --executor dask --scheduler tcp://10.0.0.5:8786
      dockyard agent status --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from dockyard.core.agent import Agent, agent_status, start_detached
    from dockyard.core.executors import make_executor, read_agent_settings

    workspace = ctx.find_object(Context).workspace()  # type: ignore[union-attr]
    settings = read_agent_settings(workspace, executor, scheduler, concurrency)
    if detach:
        status = agent_status(workspace)
        if status.alive:
            echo(f"An agent already serves this store (pid {status.pid} on {status.host}).")
            return
        args = []
        if settings.executor == "dask" and settings.scheduler:
            # a scheduler that is down is said here, not in the background agent's log
            make_executor(workspace, settings).close()
            args = ["--executor", "dask", "--scheduler", settings.scheduler]
        pid = start_detached(workspace, args)
        echo(f"Started the agent in the background (pid {pid}).")
        return
    # connected before the lease: an agent that cannot reach its cluster takes nothing
    runner = make_executor(workspace, settings)
    worker = Agent(workspace, concurrency=settings.concurrency, executor=runner)
    if wait_lease and not worker.try_acquire():
        echo("Another agent serves this store; waiting for its lease.", err=True)
    # the lease first: an agent that is refused must not have announced itself
    worker.acquire(wait=wait_lease)
    where = f" on the Dask cluster at {settings.scheduler}" if settings.scheduler else ""
    echo(f"Agent serving {workspace.root}{where} with {worker.concurrency} slots; ctrl+c stops it.")
    worker.serve(wait=wait_lease)


@agent.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as a JSON object.")
@pass_ctx
def agent_status_cmd(ctx: Context, as_json: bool) -> None:
    """Say whether an agent serves this store.

    \b
    Example:
      dockyard agent status
    """
    from dockyard.core.agent import agent_status

    status = agent_status(ctx.workspace())
    if as_json:
        print_json(status.to_dict())
    elif status.alive:
        echo(f"agent running: pid {status.pid} on {status.host}")
    else:
        echo("no agent running (start one with `dockyard agent --detach`)")


@agent.command("stop")
@pass_ctx
def agent_stop(ctx: Context) -> None:
    """Stop the agent; running runs continue under their supervisors.

    \b
    Example:
      dockyard agent stop
    """
    from dockyard.core.agent import stop_agent

    status = stop_agent(ctx.workspace())
    echo(f"stopped the agent (pid {status.pid})")
