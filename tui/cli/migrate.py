"""``dockyard migrate-store``: move the workspace's SQLite store into PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from dockyard.tui.cli.kit import Context, echo, pass_ctx, print_json, print_table


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A Rich progress bar on stderr, one task per table, or nothing when quiet."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("copying {task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    # one line, whatever the number of tables: the bar follows the table being copied
    task = bar.add_task("", total=None)

    def update(table: str, done: int, total: int) -> None:
        bar.update(task, description=table, total=total, completed=done)

    with bar:
        yield update


@click.command("migrate-store")
@click.option(
    "--to",
    "url",
    required=True,
    metavar="URL",
    help="The empty PostgreSQL database, postgresql+psycopg://USER@HOST:5432/DBNAME.",
)
@click.option("--dry-run", is_flag=True, help="Check everything and say what would be copied.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON object.")
@pass_ctx
def migrate_store_cmd(ctx: Context, url: str, dry_run: bool, as_json: bool) -> None:
    """Copy this workspace's SQLite store into an empty PostgreSQL database, verify the
    copy, and make the workspace use it.

    Refused while an agent or runs are running. One transaction: a failure leaves the
    target without rows and the workspace on its SQLite file. After the copy every table's
    row count is compared and the audit chain verified on PostgreSQL; only then is the URL
    written to .dockyard/settings.toml. The SQLite file is kept as it was.

    \b
    Examples:
      dockyard migrate-store --to postgresql+psycopg://alice@db.example/dockyard --dry-run
      dockyard migrate-store --to postgresql+psycopg://alice@db.example/dockyard
    """
    from dockyard.core.migrate_store import iter_lines, migrate_store

    workspace = ctx.workspace()
    with _progress_bar(not as_json and not dry_run and sys.stderr.isatty()) as update:
        report = migrate_store(workspace, url, dry_run=dry_run, progress=update)
    if as_json:
        print_json(report.to_dict())
        return
    if dry_run:
        print_table(["table", "rows"], [(t.table, t.source_rows) for t in report.tables])
    else:
        print_table(
            ["table", "sqlite", "postgresql"],
            [(t.table, t.source_rows, t.target_rows) for t in report.tables],
        )
    echo()
    for line in iter_lines(report):
        echo(line)
