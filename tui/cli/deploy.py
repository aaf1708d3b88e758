"""``dockyard env …``, ``dockyard deploy …`` and ``dockyard predict``: the approval workflow.

The acting user is the OS account of this process (``core.workspace.os_user``), on
PostgreSQL the database login (``core.workspace.acting_user``); every rule is enforced by
``core.deployments`` (and on PostgreSQL by the database too), this module only prints.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from dockyard.core.overview import human_time
from dockyard.store.schema import REQUEST_STATUSES
from dockyard.tui.cli.kit import (
    COUNT,
    OFFSET,
    ROW_ID,
    Context,
    echo,
    pass_ctx,
    print_json,
    print_table,
)


def _when(value: datetime | None) -> str:
    return human_time(value)


def _parse_date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date; write 2026-03-14 or 2026-03-14T12:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- env --------------------------------------------------------------------------------------


@click.group()
def env() -> None:
    """Deployment environments and who may approve for them."""


@env.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of environments.")
@pass_ctx
def env_list(ctx: Context, as_json: bool) -> None:
    """List declared environments with their approval rules.

    \b
    Example:
      dockyard env list --json
    """
    from dockyard.core.environments import list_environments

    envs = list_environments(ctx.workspace())
    if as_json:
        print_json([e.to_dict() for e in envs])
        return
    if not envs:
        echo("No environments; declare one with `dockyard env set staging --approvals 0`.")
        return
    print_table(
        ["name", "approvals", "approvers", "protected", "emergency rollback"],
        (
            [e.name, e.approvals, ",".join(e.approvers) or "-", e.protected, e.emergency_rollback]
            for e in envs
        ),
    )


@env.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the environment as JSON.")
@pass_ctx
def env_show(ctx: Context, name: str, as_json: bool) -> None:
    """Show one environment's rules and where its models land.

    \b
    Example:
      dockyard env show production
    """
    from dockyard.core.environments import get_environment

    workspace = ctx.workspace()
    info = get_environment(workspace, name)
    data = info.to_dict() | {"folder": str(info.folder(workspace))}
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        shown = ",".join(value) if isinstance(value, list) else value
        echo(f"{key}: {shown}")


@env.command("set")
@click.argument("name")
@click.option("--approvals", type=click.IntRange(0, 10), help="Approvals a request needs.")
@click.option("--approvers", metavar="USER,@GROUP,...", help="Who may approve.")
@click.option("--protected/--unprotected", default=None, help="Only approvers may change it.")
@click.option(
    "--emergency-rollback/--no-emergency-rollback",
    default=None,
    help="An approver may roll back alone.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the environment as JSON.")
@pass_ctx
def env_set(
    ctx: Context,
    name: str,
    approvals: int | None,
    approvers: str | None,
    protected: bool | None,
    emergency_rollback: bool | None,
    as_json: bool,
) -> None:
    """Declare environment NAME or change its rules (an audit event).

    \b
    Examples:
      dockyard env set staging --approvals 0
      dockyard env set production --approvals 1 --approvers alice,@ml-leads --protected
    """
    from dockyard.core.environments import parse_approvers, set_environment

    info = set_environment(
        ctx.workspace(),
        name,
        approvals=approvals,
        approvers=None if approvers is None else parse_approvers(approvers),
        protected=protected,
        emergency_rollback=emergency_rollback,
    )
    if as_json:
        print_json(info.to_dict())
    else:
        echo(
            f"Environment {info.name}: {info.approvals} approval(s) from "
            f"{','.join(info.approvers) or 'nobody'}"
        )


# --- deploy -----------------------------------------------------------------------------------


@click.group()
def deploy() -> None:
    """Deployment requests, approvals, deployments and rollbacks."""


def _print_decision(decision: Any, as_json: bool) -> None:
    request = decision.request
    if as_json:
        print_json(
            {
                "request": request.to_dict(),
                "deployment": decision.deployment.to_dict() if decision.deployment else None,
            }
        )
        return
    if decision.deployment is not None:
        echo(
            f"Request {request.id}: {request.ref} deployed in {request.target} "
            f"(deployment {decision.deployment.id})"
        )
    else:
        have = len(request.approved_by)
        echo(
            f"Request {request.id}: {request.ref} to {request.target} is {request.status} "
            f"({have}/{request.needed} approvals)"
        )
        for check in request.checks:
            if not check.passed:
                echo(f"  FAILED {check.name}: {check.detail}")


@deploy.command("request")
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--env", "env_name", required=True, help="Environment to deploy to.")
@click.option("-m", "--message", default="", help="Why.")
@click.option("--json", "as_json", is_flag=True, help="Print the request as JSON.")
@pass_ctx
def deploy_request(ctx: Context, ref: str, env_name: str, message: str, as_json: bool) -> None:
    """Ask for a version to be deployed; the checks run and are stored with it.

    \b
    Example:
      dockyard deploy request wine-clf@3 --env production -m "better f1"
    """
    from dockyard.core.deployments import request_deployment

    _print_decision(request_deployment(ctx.workspace(), ref, env_name, message), as_json)


@deploy.command("list")
@click.option("--status", type=click.Choice(REQUEST_STATUSES), help="Only requests in this status.")
@click.option("--env", "env_name", help="Only requests for this environment.")
@click.option(
    "--limit", type=COUNT, default=50, show_default=True, help="How many requests (1 or more)."
)
@click.option("--offset", type=OFFSET, default=0, help="Skip this many first (paging).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of requests.")
@pass_ctx
def deploy_list(
    ctx: Context,
    status: str | None,
    env_name: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List deployment requests, pending first, then newest, a page at a time.

    \b
    Examples:
      dockyard deploy list --status pending --json
      dockyard deploy list --limit 20 --offset 20
    """
    from dockyard.core.deployments import list_requests

    requests = list_requests(ctx.workspace(), status, env_name, limit=limit, offset=offset)
    if as_json:
        print_json([r.to_dict() for r in requests])
        return
    if not requests:
        echo("No deployment requests.")
        return
    print_table(
        ["id", "model", "target", "status", "checks", "approvals", "by", "requested"],
        (
            [
                r.id,
                r.ref,
                r.target,
                "stale" if r.stale else r.status,
                "ok" if r.checks_passed else "FAILED",
                f"{len(r.approved_by)}/{r.needed}",
                r.requested_by,
                _when(r.requested_at),
            ]
            for r in requests
        ),
    )
    if len(requests) == limit:
        echo(f"(more may follow: --offset {offset + limit})", err=True)


@deploy.command("show")
@click.argument("request_id", type=ROW_ID, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the request as JSON.")
@pass_ctx
def deploy_show(ctx: Context, request_id: int, as_json: bool) -> None:
    """Show one request: its checks, approvals and whether it is stale.

    \b
    Example:
      dockyard deploy show 4 --json
    """
    from dockyard.core.deployments import get_request

    r = get_request(ctx.workspace(), request_id)
    if as_json:
        print_json(r.to_dict())
        return
    echo(
        f"Request {r.id}: {r.kind} {r.ref} to {r.target}, {r.status}"
        + (" (STALE: run `dockyard deploy recheck`)" if r.stale else "")
    )
    echo(f"requested by {r.requested_by} at {_when(r.requested_at)}: {r.reason or '-'}")
    for c in r.checks:
        mark = "pass" if c.passed else ("FAIL" if c.blocking else "note")
        echo(f"  [{mark}] {c.name}: {c.detail}")
    echo(f"approvals {len(r.approved_by)}/{r.needed}")
    for a in r.approvals:
        extra = f" (override: {a.override_reason})" if a.override_reason else ""
        echo(f"  {a.decision} by {a.reviewer} at {_when(a.at)}: {a.comment}{extra}")


@deploy.command("approve")
@click.argument("request_id", type=ROW_ID, metavar="ID")
@click.option("-m", "--message", default="", help="A comment.")
@click.option("--override-gates", metavar="REASON", help="Approve despite failed checks.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def deploy_approve(
    ctx: Context, request_id: int, message: str, override_gates: str | None, as_json: bool
) -> None:
    """Approve a request as yourself (the OS account); deploys when approvals are complete.

    \b
    Example:
      dockyard deploy approve 4 -m "checked the report"
    """
    from dockyard.core.deployments import approve_request

    decision = approve_request(ctx.workspace(), request_id, message, override_gates)
    _print_decision(decision, as_json)


@deploy.command("reject")
@click.argument("request_id", type=ROW_ID, metavar="ID")
@click.option("-m", "--message", required=True, help="Why (required).")
@pass_ctx
def deploy_reject(ctx: Context, request_id: int, message: str) -> None:
    """Reject a pending request with a comment.

    \b
    Example:
      dockyard deploy reject 4 -m "recall dropped on class 2"
    """
    from dockyard.core.deployments import reject_request

    r = reject_request(ctx.workspace(), request_id, message)
    echo(f"Request {r.id}: {r.ref} to {r.target} rejected")


@deploy.command("recheck")
@click.argument("request_id", type=ROW_ID, metavar="ID")
@pass_ctx
def deploy_recheck(ctx: Context, request_id: int) -> None:
    """Run a stale request's checks again (earlier approvals are void).

    \b
    Example:
      dockyard deploy recheck 4
    """
    from dockyard.core.deployments import Decision, recheck_request

    _print_decision(Decision(recheck_request(ctx.workspace(), request_id)), False)


@deploy.command("status")
@click.option("--at", "at_text", metavar="DATE", help="What ran at this date instead of now.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_ctx
def deploy_status(ctx: Context, at_text: str | None, as_json: bool) -> None:
    """What runs in each environment, since when, approved by whom.

    \b
    Examples:
      dockyard deploy status
      dockyard deploy status --at 2026-03-01 --json
    """
    from dockyard.core.deployments import deployment_status

    at = _parse_date(at_text) if at_text else None
    rows = deployment_status(ctx.workspace(), at)
    if as_json:
        print_json([d.to_dict() for d in rows])
        return
    if not rows:
        echo("Nothing deployed" + (f" at {at_text}." if at_text else "."))
        return
    print_table(
        ["env", "model", "since", "deployed by", "approved by"],
        (
            [d.target, d.ref, _when(d.deployed_at), d.deployed_by, ",".join(d.approved_by) or "-"]
            for d in rows
        ),
    )


@deploy.command("history")
@click.argument("env_name", metavar="ENV")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_ctx
def deploy_history(ctx: Context, env_name: str, model: str, as_json: bool) -> None:
    """Every version of MODEL that ran in ENV, with dates and approvers.

    \b
    Example:
      dockyard deploy history production wine-clf
    """
    from dockyard.core.deployments import deployment_history

    rows = deployment_history(ctx.workspace(), env_name, model)
    if as_json:
        print_json([d.to_dict() for d in rows])
        return
    print_table(
        ["id", "model", "status", "deployed", "retired", "approved by"],
        (
            [
                d.id,
                d.ref,
                d.status,
                _when(d.deployed_at),
                _when(d.retired_at),
                ",".join(d.approved_by) or "-",
            ]
            for d in rows
        ),
    )


@deploy.command("rollback")
@click.argument("env_name", metavar="ENV")
@click.argument("model")
@click.option("-m", "--message", default="", help="Why.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def deploy_rollback(ctx: Context, env_name: str, model: str, message: str, as_json: bool) -> None:
    """Return MODEL in ENV to the version before (same approvals, or emergency).

    \b
    Example:
      dockyard deploy rollback production wine-clf -m "latency doubled"
    """
    from dockyard.core.deployments import rollback

    _print_decision(rollback(ctx.workspace(), env_name, model, message), as_json)


# --- predict ----------------------------------------------------------------------------------


@click.command()
@click.argument("model")
@click.argument("input_path", metavar="INPUT.csv", type=click.Path(path_type=Path))
@click.option("--env", "env_name", required=True, help="Environment whose model scores.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here (else stdout).")
@pass_ctx
def predict(ctx: Context, model: str, input_path: Path, env_name: str, output: Path | None) -> None:
    """Score a CSV batch with the model deployed in an environment.

    \b
    Example:
      dockyard predict wine-clf --env production incoming/batch.csv -o scored.csv
    """
    import tempfile

    from dockyard.core.prediction import predict_file

    workspace = ctx.workspace()
    target = output
    temp_dir = None
    if target is None:
        temp_dir = tempfile.TemporaryDirectory()
        target = Path(temp_dir.name) / "out.csv"
    show = sys.stderr.isatty() and input_path.is_file() and input_path.stat().st_size > 1 << 20
    if show:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("scoring", total=input_path.stat().st_size)
            result = predict_file(
                workspace,
                env_name,
                model,
                input_path,
                target,
                lambda done, total: bar.update(task, completed=done),
            )
    else:
        result = predict_file(workspace, env_name, model, input_path, target)
    if temp_dir is not None:
        sys.stdout.write(target.read_text())
        temp_dir.cleanup()
    else:
        echo(f"Scored {result.rows} rows with {result.ref} ({env_name}) into {target}", err=True)
