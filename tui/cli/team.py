"""``dockyard team check``: who acts on this store, and what the store lets them do."""

from __future__ import annotations

import click

from dockyard.tui.cli.kit import Context, echo, pass_ctx, print_json, print_table


@click.group()
def team() -> None:
    """The team's identities: on PostgreSQL each person's database login."""


@team.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as a JSON object.")
@pass_ctx
def team_check_command(ctx: Context, as_json: bool) -> None:
    """Say who acts (on PostgreSQL the database login) and what they may do here.

    Prints the backend, the role and its memberships, whether it may alter the audit
    log, and per environment whether it may request, approve and roll back. Changes
    nothing. See docs/team.md, Roles.

    \b
    Examples:
      dockyard team check
      DOCKYARD_DB=postgresql+psycopg://bob@db.example/dockyard dockyard team check --json
    """
    from dockyard.core.team import team_check

    report = team_check(ctx.workspace())
    if as_json:
        print_json(report.to_dict())
        return
    echo(f"backend     {report.backend} ({report.note})")
    echo(f"role        {report.user} ({report.role})")
    echo(f"member of   {', '.join(report.memberships) or 'no other role'}")
    echo(f"audit log   {report.audit}")
    if not report.environments:
        echo("\nno environments yet (`dockyard env set NAME`)")
        return
    echo()
    print_table(
        ["environment", "request", "approve", "roll back"],
        (
            (
                e.name,
                "yes" if e.may_request else "no",
                "yes" if e.may_approve else "no",
                {"alone": "request (emergency: alone)"}.get(e.roll_back, e.roll_back),
            )
            for e in report.environments
        ),
        upper=False,
    )
