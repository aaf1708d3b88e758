"""Housekeeping on the command line: ``dockyard <noun> archive|restore|delete`` for
projects, datasets, runs and models, the lists' ``--archived`` / ``--all``, and
``dockyard gc``.

The verbs sit in each noun's group (``dockyard run archive 42``), like every other verb;
``tui/cli.py`` adds them there with :func:`housekeeping_commands`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from dockyard.tui.cli.kit import Context, echo, fail, pass_ctx, print_json

F = TypeVar("F", bound=Callable[..., Any])

#: gc's default grace period (seconds); the same number as core.object_gc.GRACE_SECONDS,
#: which this module does not import at start (the command line's start stays light)
GRACE_SECONDS = 3600.0

#: noun -> (what REF is, an example ref)
_REFS = {
    "project": ("NAME", "my-project"),
    "data": ("NAME or NAME@N", "iris@3"),
    "run": ("ID", "42"),
    "model": ("NAME or NAME@N", "wine-clf@2"),
}


def archived_options(func: F) -> F:
    """``--archived`` (only archived rows) and ``--all`` (archived ones too) for a list;
    the command receives ``archived`` as ``hide``, ``only`` or ``include``."""

    def to_choice(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            chosen = ctx.meta.get("dockyard.archived")
            if chosen is not None and chosen != _param.name:
                raise click.UsageError("--archived and --all cannot be used together", ctx)
            ctx.meta["dockyard.archived"] = _param.name
        return value

    func = click.option(
        "--all",
        "all_rows",
        is_flag=True,
        callback=to_choice,
        expose_value=False,
        help="Include archived ones (marked).",
    )(func)
    func = click.option(
        "--archived",
        "archived_only",
        is_flag=True,
        callback=to_choice,
        expose_value=False,
        help="Only archived ones.",
    )(func)
    return func


def archived_choice() -> str:
    """What ``--archived`` / ``--all`` asked for: ``hide``, ``only`` or ``include``."""
    chosen = click.get_current_context().meta.get("dockyard.archived")
    return {"archived_only": "only", "all_rows": "include"}.get(chosen or "", "hide")


def marked(name: Any, archived_at: datetime | None) -> str:
    """``name``, with `` (archived)`` when it is: how lists mark archived rows."""
    return f"{name} (archived)" if archived_at is not None else str(name)


def housekeeping_commands(noun: str) -> list[click.Command]:
    """``archive``, ``restore`` and ``delete`` for the group of ``noun``."""
    return [_archive_command(noun, "archive"), _archive_command(noun, "restore"), _delete(noun)]


def _archive_command(noun: str, action: str) -> click.Command:
    what, example = _REFS[noun]
    shown = "Hide" if action == "archive" else "Show again"
    doc = (
        f"{shown} the {noun if noun != 'data' else 'dataset'}(s) REFS ({what}) "
        f"{'in' if action == 'restore' else 'from'} lists and the TUI.\n\n"
        + (
            "Archiving is undone by `restore`; an archived item can still be shown by name. "
            "Use `list --archived` to see what is archived.\n\n"
            if action == "archive"
            else ""
        )
        + (
            "An archived project is retired: it takes no new run, its queued runs are "
            "cancelled and its monitors do not run until it is restored. Refused while "
            "one of its runs is running.\n\n"
            if action == "archive" and noun == "project"
            else ""
        )
        + f"\b\nExample:\n  dockyard {noun} {action} {example}"
    )

    @click.command(action, help=doc)
    @click.argument("refs", nargs=-1, required=True, metavar="REFS...")
    @click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
    @pass_ctx
    def command(ctx: Context, refs: tuple[str, ...], as_json: bool) -> None:
        from dockyard.core import housekeeping

        workspace = ctx.workspace()
        run = housekeeping.archive if action == "archive" else housekeeping.restore
        if action == "archive":
            _refuse_if_blocked(workspace, noun, refs, "archive")
        outcomes = [run(workspace, noun, ref) for ref in refs]
        _report(outcomes, as_json)

    return command


def _delete(noun: str) -> click.Command:
    what, example = _REFS[noun]
    doc = (
        f"Delete the {noun if noun != 'data' else 'dataset'}(s) REFS ({what}) for good.\n\n"
        "Refused, naming the reason, while anything needs it: a run that produced a model "
        "version, a version deployed, requested or with an alias, a dataset version a run "
        "or model trained on or a monitor checked, a project with runs. Nothing is deleted "
        "unless every REF can be. Stored files are freed by `dockyard gc`. Asks first on a "
        "terminal; scripts pass --yes.\n\n"
        f"\b\nExample:\n  dockyard {noun} delete {example} --yes"
    )

    @click.command("delete", help=doc)
    @click.argument("refs", nargs=-1, required=True, metavar="REFS...")
    @click.option("--yes", "-y", is_flag=True, help="Do not ask.")
    @click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
    @pass_ctx
    def command(ctx: Context, refs: tuple[str, ...], yes: bool, as_json: bool) -> None:
        from dockyard.core import housekeeping

        workspace = ctx.workspace()
        _refuse_if_blocked(workspace, noun, refs, "delete")
        listed = ", ".join(refs)
        label = "dataset" if noun == "data" else noun
        if not _confirmed(yes, f"Delete {label} {listed} for good?"):
            echo("Nothing deleted.")
            return
        outcomes = [housekeeping.delete(workspace, noun, ref) for ref in refs]
        _report(outcomes, as_json)
        if not as_json:
            echo("Their stored files are freed by `dockyard gc`.")

    return command


def _refuse_if_blocked(workspace: Any, noun: str, refs: tuple[str, ...], action: str) -> None:
    """Check every ref before changing any, so that a refusal changes nothing."""
    from dockyard.core import housekeeping

    reasons = [r for ref in refs for r in housekeeping.blockers(workspace, noun, ref, action)]
    if reasons:
        raise housekeeping.DeleteRefusedError(f"cannot {action}: {'; '.join(reasons)}")


def _confirmed(yes: bool, question: str) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        fail(f"{question} is not asked when input is not a terminal; pass --yes to go ahead", 2)
    return click.confirm(question, default=False)


def _report(outcomes: list[Any], as_json: bool) -> None:
    if as_json:
        print_json([o.to_dict() for o in outcomes])
        return
    for outcome in outcomes:
        echo(outcome.message)


@click.command("gc")
@click.option("--dry-run", "-n", is_flag=True, help="Only show what would be removed.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before removing.")
@click.option("--verbose", "-v", is_flag=True, help="List every object.")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=GRACE_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="Leave objects changed less than this long ago alone.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def gc(ctx: Context, dry_run: bool, yes: bool, verbose: bool, grace: float, as_json: bool) -> None:
    """Remove stored files (objects/) that no run, dataset, model or deployment needs.

    Deleted runs, datasets and model versions leave their files behind; this frees them.
    It first shows what it would free, and never removes a file a registration or a
    run is writing: it waits for them, and leaves recent files alone (--grace).

    \b
    Examples:
      dockyard gc --dry-run
      dockyard gc --yes
    """
    from dockyard.core.object_gc import collect_garbage

    def confirm(report: Any) -> bool:
        if not as_json:
            _describe(report, verbose)
        return _confirmed(yes, f"Remove {_amount(report)}?")

    report = collect_garbage(ctx.workspace(), dry_run=dry_run, grace=grace, confirm=confirm)
    if as_json:
        print_json(report.to_dict())
        return
    if dry_run:
        _describe(report, verbose)
        if report.garbage:
            echo("Dry run: nothing removed; `dockyard gc` removes them.")
        return
    if not report.garbage:
        _describe(report, verbose)
        return
    if report.removed:
        from dockyard.core.overview import human_size

        echo(f"Removed {report.removed} object(s), freed {human_size(report.freed)}.")
    else:
        echo("Nothing removed.")


def _amount(report: Any) -> str:
    from dockyard.core.overview import human_size

    count = len(report.garbage)
    plural = "s" if count != 1 else ""
    size = human_size(report.reclaimable)
    if not size.endswith(" B"):
        size += f", {report.reclaimable:,} bytes"
    return f"{count} unreferenced object{plural} ({size})"


def _describe(report: Any, verbose: bool) -> None:
    from dockyard.core.overview import human_size

    if verbose:
        for item in report.garbage:
            kind = "folder" if item.is_dir else "file"
            echo(f"  {item.name}  {kind}  {human_size(item.size)}")
    line = _amount(report) if report.garbage else "No unreferenced objects"
    extra = [f"{report.kept} in use"]
    if report.young:
        extra.append(f"{report.young} too recent, left alone")
    echo(f"{line}; {', '.join(extra)}.")
