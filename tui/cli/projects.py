"""``dockyard project …``: register, list and show projects (folders with a dockyard.toml)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from dockyard.tui.cli.housekeeping import archived_choice, archived_options, marked
from dockyard.tui.cli.kit import Context, echo, pass_ctx, print_json, print_table


@click.group()
def project() -> None:
    """Register and list projects (folders with a dockyard.toml)."""


@project.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the project as JSON.")
@pass_ctx
def project_add(ctx: Context, path: Path, as_json: bool) -> None:
    """Validate PATH/dockyard.toml and register the project.

    \b
    Example:
      dockyard project add ./my-project
    """
    from dockyard.core.projects import add_project, archived_warning
    from dockyard.core.run_data import declared_data_warnings

    workspace = ctx.workspace()
    info = add_project(workspace, path)
    archived = archived_warning(info)
    warnings = ([archived] if archived else []) + declared_data_warnings(workspace, info)
    if as_json:
        print_json({**info.to_dict(), "warnings": warnings})
    else:
        echo(f"Registered project {info.name} from {info.path}")
        for warning in warnings:
            echo(f"dockyard: warning: {warning}", err=True)


@project.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of projects.")
@archived_options
@pass_ctx
def project_list(ctx: Context, as_json: bool) -> None:
    """List registered projects (archived ones with --all or --archived).

    \b
    Example:
      dockyard project list --json
    """
    from dockyard.core.projects import list_projects

    projects = list_projects(ctx.workspace(), archived=archived_choice())
    if as_json:
        print_json([p.to_dict() for p in projects])
        return
    if not projects:
        echo("No projects yet; add one with `dockyard project add PATH`.")
        return
    print_table(
        ["name", "primary metric", "path"],
        ([marked(p.name, p.archived_at), p.spec.primary_metric or "-", p.path] for p in projects),
    )


@project.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the project as a JSON object.")
@pass_ctx
def project_show(ctx: Context, name: str, as_json: bool) -> None:
    """Show one project with its parameters, gates and monitors.

    \b
    Example:
      dockyard project show wine --json
    """
    from dockyard.core.projects import get_project

    info = get_project(ctx.workspace(), name)
    if as_json:
        print_json(info.to_dict() | {"spec": json.loads(info.spec.to_json())})
        return
    spec = info.spec
    echo(f"{info.name}  ({info.path})")
    if info.description:
        echo(info.description)
    echo(f"entry: {info.entry}")
    if spec.primary_metric:
        echo(f"primary metric: {spec.primary_metric} ({spec.direction})")
    if spec.params:
        echo("parameters:")
        for p in spec.params:
            limits = ", ".join(str(c) for c in p.choices) if p.choices else ""
            if p.min is not None or p.max is not None:
                limits = p.range_text()
            echo(f"  {p.name} ({p.type}) = {p.default!r}  {limits}  {p.help}".rstrip())
    for gate in spec.gates:
        bounds = " and ".join(
            f"{op} {v:g}" for op, v in ((">=", gate.min), ("<=", gate.max)) if v is not None
        )
        echo(f"gate: {gate.metric} {bounds}")
    for monitor in spec.monitors:
        echo(f"monitor: {monitor.name} ({monitor.kind}, {monitor.schedule})")
