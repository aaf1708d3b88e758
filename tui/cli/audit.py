"""``dockyard audit …``: check the hash-chained audit log against its witness."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from dockyard.tui.cli.kit import Context, echo, fail, pass_ctx, print_json


@click.group()
def audit() -> None:
    """The audit log: every decision, hash-chained and witnessed."""


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A Rich progress bar on stderr, or nothing when quiet (``--json``, not a terminal)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(
        TextColumn("checking the audit log"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("verify", total=None)

    def update(done: int, about: int) -> None:
        progress.update(task, completed=done, total=max(done, about))

    with progress:
        yield update


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON object.")
@pass_ctx
def audit_verify(ctx: Context, as_json: bool) -> None:
    """Recompute the audit log's hash chain and compare it with its witness file.

    Exits 0 when intact, 1 naming the first broken event and what is wrong with it:
    an edited event, a deleted or reordered one, or deleted newest events (the witness,
    .dockyard/audit-witness, records every event after its commit).

    \b
    Examples:
      dockyard audit verify
      dockyard audit verify --json
    """
    from dockyard.core.audit import check_chain

    with _progress_bar(not as_json and sys.stderr.isatty()) as update:
        report = check_chain(ctx.workspace(), progress=update)
    if as_json:
        print_json(report.to_dict())
        if not report.ok:
            sys.exit(1)
        return
    if not report.ok:
        fail(report.describe(), 1)
    echo(report.describe())


@audit.command("log")
@click.option("--model", help="Only events about this model.")
@click.option("--env", "env_name", help="Only events about this environment.")
@click.option("--since", metavar="DATE", help="Only events from this date on.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of events.")
@pass_ctx
def audit_log(
    ctx: Context, model: str | None, env_name: str | None, since: str | None, as_json: bool
) -> None:
    """Who did what, when and why: requests, checks, approvals, deployments, rollbacks.

    \b
    Example:
      dockyard audit log --model wine-clf --env production --since 2026-03-01
    """
    from dockyard.core.audit import history_warning, search_events
    from dockyard.tui.cli.deploy import _parse_date

    workspace = ctx.workspace()
    events = search_events(workspace, model, env_name, _parse_date(since) if since else None)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    warning = history_warning(workspace)
    if warning:
        echo(warning, err=True)
    for e in events:
        why = e.details.get("reason") or e.details.get("comment") or e.details.get("error") or ""
        what = " ".join(
            str(e.details[k]) for k in ("model", "version", "env") if e.details.get(k) is not None
        )
        echo(f"{e.at:%Y-%m-%d %H:%M:%S}  {e.actor:<12} {e.action:<20} {what}  {why}".rstrip())
