"""``dockyard model …``: register versions, move aliases, compare, report."""

from __future__ import annotations

import csv
import io
from typing import Any

import click

from dockyard.core.overview import human_time
from dockyard.tui.cli.housekeeping import archived_choice, archived_options, marked
from dockyard.tui.cli.kit import (
    ROW_ID,
    Context,
    echo,
    fail,
    pass_ctx,
    print_json,
    print_machine,
    print_table,
)


@click.group()
def model() -> None:
    """Model versions, aliases, comparisons and validation reports."""


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@model.command("register")
@click.argument("run_id", type=ROW_ID)
@click.option("--name", required=True, help="The model's name (new or existing).")
@click.option("-m", "--description", default="", help="What this version is.")
@click.option("--json", "as_json", is_flag=True, help="Print the version as JSON.")
@pass_ctx
def model_register(ctx: Context, run_id: int, name: str, description: str, as_json: bool) -> None:
    """Make a new version of model NAME from a finished run's model.

    \b
    Example:
      dockyard model register 12 --name wine-classifier -m "forest, 200 trees"
    """
    from dockyard.core.registry import register_version

    info = register_version(ctx.workspace(), run_id, name, description)
    if as_json:
        print_json(info.to_dict())
    else:
        echo(f"Registered {info.ref} from run {run_id} (sha256 {info.artifact_sha256[:12]})")


@model.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of models.")
@archived_options
@pass_ctx
def model_list(ctx: Context, as_json: bool) -> None:
    """List models with their latest version, aliases and primary metric.

    \b
    Example:
      dockyard model list --json
    """
    from dockyard.core.registry import list_models

    models = list_models(ctx.workspace(), archived=archived_choice())
    if as_json:
        print_json([m.to_dict() for m in models])
        return
    if not models:
        echo("No models; register one with `dockyard model register RUN_ID --name NAME`.")
        return
    print_table(
        ["name", "latest", "versions", "aliases", "metric"],
        (
            [
                marked(m.name, m.archived_at),
                m.latest_version,
                m.versions,
                " ".join(f"{a}=v{v}" for a, v in sorted(m.aliases.items())),
                f"{m.primary_metric}={_number(m.primary_value)}" if m.primary_metric else "",
            ]
            for m in models
        ),
    )


@model.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print as a JSON object.")
@archived_options
@pass_ctx
def model_show(ctx: Context, ref: str, as_json: bool) -> None:
    """Show a model (its versions and alias history) or one version (NAME@VERSION|@ALIAS).

    \b
    Examples:
      dockyard model show wine-classifier
      dockyard model show wine-classifier@champion --json
    """
    from dockyard.core.audit import shown_history_warning
    from dockyard.core.registry import alias_history_events, get_version, list_versions, parse_ref

    workspace = ctx.workspace()
    if "@" in ref:
        info = get_version(workspace, ref)
        if as_json:
            print_json(info.to_dict())
            return
        echo(f"{info.ref}  run {info.run_id}  ({info.project})")
        for label, value in (
            ("aliases", ", ".join(info.aliases) or "-"),
            ("dataset", info.dataset or "-"),
            ("artifact", f"{info.artifact_format} {info.size_bytes} bytes"),
            ("sha256", info.artifact_sha256),
            ("created", f"{human_time(info.created_at)} by {info.created_by}"),
            ("description", info.description or "-"),
            ("tags", " ".join(f"{k}={v}" for k, v in info.tags.items()) or "-"),
        ):
            echo(f"  {label:<12} {value}")
        echo("metrics:")
        for key, number in sorted(info.metrics.items()):
            echo(f"  {key} = {number:.6g}")
        return
    name, _ = parse_ref(ref)
    versions = list_versions(workspace, name, archived=archived_choice())
    history, event_ids = alias_history_events(workspace, name)
    # only the shown moves, their neighbours and the chain's head: `audit verify` does the rest
    warning = shown_history_warning(workspace, event_ids)
    if as_json:
        print_json(
            {
                "name": name,
                "versions": [v.to_dict() for v in versions],
                "alias_history": history,
                "audit_warning": warning,
            }
        )
        return
    print_table(
        ["version", "run", "aliases", "metric", "created"],
        (
            [
                marked(v.version, v.archived_at),
                v.run_id,
                ",".join(v.aliases),
                f"{v.primary_metric}={_number(v.primary_value)}" if v.primary_metric else "",
                human_time(v.created_at),
            ]
            for v in versions
        ),
    )
    if warning:
        echo(warning)
    if history:
        echo("alias moves:")
        for move in history:
            frm = "-" if move["from"] is None else f"v{move['from']}"
            to = "removed" if move["to"] is None else f"v{move['to']}"
            note = f"  ({move['note']})" if move.get("note") else ""  # e.g. imported from MLflow
            echo(f"  {move['at'][:16]}  {move['alias']}: {frm} -> {to}  by {move['actor']}{note}")


@model.command("alias")
@click.argument("ref")
@click.argument("alias")
@click.option("--remove", is_flag=True, help="Remove ALIAS from the model instead.")
@click.option(
    "--force", is_flag=True,
    help="Make a version that fails its gates champion without asking (recorded as forced).",
)  # fmt: skip
@pass_ctx
def model_alias(ctx: Context, ref: str, alias: str, remove: bool, force: bool) -> None:
    """Point ALIAS at the version REF names (moves it atomically if it exists).

    A version that fails its gates becomes champion only when confirmed at the prompt,
    or with --force (a script without --force is refused with exit status 2).

    \b
    Examples:
      dockyard model alias wine-classifier@3 champion
      dockyard model alias wine-classifier challenger --remove
    """
    import sys

    from dockyard.core.registry import (
        GatesFailedError,
        gate_summary,
        parse_ref,
        remove_alias,
        set_alias,
    )

    workspace = ctx.workspace()
    if remove:
        name, _ = parse_ref(ref)
        remove_alias(workspace, name, alias)
        echo(f"Removed alias {alias} from {name}")
        return
    try:
        info = set_alias(workspace, ref, alias)
    except GatesFailedError as error:
        if not force and not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise
        echo(f"dockyard: warning: {ref} fails its gates: {gate_summary(error.failed)}", err=True)
        if not force and not click.confirm(f"Make it {alias} anyway?", default=False, err=True):
            fail(f"{alias} not moved; nothing changed", 1)
        info = set_alias(workspace, ref, alias, force=True)
        echo(f"{info.model}@{alias} -> version {info.version} (forced past failing gates)")
        return
    echo(f"{info.model}@{alias} -> version {info.version}")


@model.command("edit")
@click.argument("ref")
@click.option("-m", "--description", help="New description.")
@click.option(
    "-t", "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Set a tag (KEY= removes)."
)
@pass_ctx
def model_edit(ctx: Context, ref: str, description: str | None, tags: tuple[str, ...]) -> None:
    """Edit a version's description and tags (the model itself is immutable).

    \b
    Example:
      dockyard model edit wine-classifier@3 -m "retrained on v2" -t reviewed=yes
    """
    from dockyard.core.errors import InputError
    from dockyard.core.registry import update_version

    parsed: dict[str, str] = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise InputError(f"tag {tag!r} is not KEY=VALUE")
        parsed[key] = value
    info = update_version(ctx.workspace(), ref, description, parsed or None)
    echo(f"Updated {info.ref}")


@model.command("compare")
@click.argument("refs", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table",
    show_default=True, help="Output format.",
)  # fmt: skip
@click.option("--all", "show_all", is_flag=True, help="Also show rows that are identical.")
@pass_ctx
def model_compare(ctx: Context, refs: tuple[str, ...], fmt: str, show_all: bool) -> None:
    """Compare 2 to 10 versions or runs side by side; the first is the baseline.

    REFS are NAME@VERSION, NAME@ALIAS or run:ID. Metrics show the change against the
    baseline, marked better (+) or worse (-) by each metric's direction.

    \b
    Examples:
      dockyard model compare wine@1 wine@3 wine@champion
      dockyard model compare run:12 run:14 --format md
    """
    from dockyard.core.comparison import compare

    result = compare(ctx.workspace(), list(refs))
    if fmt == "json":
        print_json(result.to_dict())  # its "warnings" field comes first
        return
    if fmt == "csv":
        # on stderr, before the rows: a line above the header would break CSV readers
        for warning in result.warnings:
            echo(f"dockyard: warning: {warning}", err=True)
    elif fmt == "md":
        for warning in result.warnings:
            echo(f"> **Warning:** {warning}\n")
    else:
        for warning in result.warnings:
            echo(f"warning: {warning}")
    header = ["", *result.labels]
    rows = []
    for row in result.rows:
        if not (show_all or row.differs or row.section == "metric"):
            continue
        cells = []
        for index, value in enumerate(row.values):
            text = _number(value)
            if row.section == "metric" and index > 0 and row.deltas[index] is not None:
                mark = {"better": "+", "worse": "-", "same": "="}[row.verdicts[index] or "same"]
                text += f" ({row.deltas[index]:+.3g} {mark})"
            cells.append(text)
        prefix = "param " if row.section == "param" else ""
        if row.name == "dataset" and row.differs and fmt != "csv":
            prefix = "≠ "  # the data differs: the mark the TUI uses
        rows.append([prefix + row.name, *cells])
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["row", *result.labels])
        writer.writerows(rows)
        print_machine(buffer.getvalue())
    elif fmt == "md":
        echo("| " + " | ".join(header) + " |")
        echo("|" + "---|" * len(header))
        for cells in rows:
            echo("| " + " | ".join(str(c) for c in cells) + " |")
    else:
        print_table(header, rows, upper=False)
        hidden = sum(1 for r in result.rows if not (r.differs or r.section == "metric"))
        if hidden and not show_all:
            echo(f"({hidden} identical rows hidden; --all shows them)")


@model.command("report")
@click.argument("ref")
@click.option(
    "--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True,
    help="Output format.",
)  # fmt: skip
@pass_ctx
def model_report(ctx: Context, ref: str, fmt: str) -> None:
    """The validation report of a version: gates, metrics, data, reproducibility, champion.

    Exits 0 whether or not the gates pass; read `gates_passed` from --format json in CI.

    \b
    Example:
      dockyard model report wine-classifier@3 > report.md
    """
    from dockyard.core.validation import build_report, render_markdown

    report = build_report(ctx.workspace(), ref)
    if fmt == "json":
        print_json(report)
    else:
        echo(render_markdown(report))
