"""``dockyard data …``: register, browse, preview, export and diff dataset versions."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dockyard.core.overview import human_size, human_time
from dockyard.core.text import visible
from dockyard.tui.cli.housekeeping import archived_choice, archived_options, marked
from dockyard.tui.cli.kit import OFFSET, Context, echo, pass_ctx, print_json, print_table
from dockyard.tui.profile_rows import profile_cells

if TYPE_CHECKING:
    from dockyard.core.datasets import RegisterProgress, VersionInfo


@click.group()
def data() -> None:
    """Register datasets and browse their versions, profiles, rows and diffs.

    \b
    Examples:
      dockyard data add iris data/iris.csv -m "first cut"
      dockyard data show iris@1
      dockyard data diff iris@1 iris@2
    """


# ------------------------------------------------------------------------------ helpers


def _when(value: datetime) -> str:
    return human_time(value)


def _size(value: int | None) -> str:
    return human_size(value)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@contextmanager
def _progress_bar(enabled: bool, label: str) -> Iterator[Any]:
    """A Rich progress bar on stderr, or a no-op when quiet (``--json``, not a terminal)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("{task.description}", markup=False),  # the label is a file's name
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[rows]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(event: RegisterProgress) -> None:
        if event.phase not in tasks:
            title = "hashing " if event.phase == "hash" else "profiling"
            description = visible(f"{title} {label}")
            tasks[event.phase] = progress.add_task(description, total=event.total, rows="")
        rows = f"{event.rows:,} rows" if event.phase == "profile" else ""
        progress.update(tasks[event.phase], completed=event.done, rows=rows)

    with progress:
        yield update


# ----------------------------------------------------------------------------- commands


@data.command("add")
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-m", "--message", default="", help="What changed in this version.")
@click.option("--json", "as_json", is_flag=True, help="Print the version as JSON.")
@pass_ctx
def data_add(ctx: Context, name: str, path: Path, message: str, as_json: bool) -> None:
    """Register PATH (a CSV, TSV or Parquet file, or a folder of them) as dataset NAME.

    The bytes are hashed (BLAKE3) and stored in the object store (.dockyard/objects, or
    DOCKYARD_OBJECTS); identical content creates no new version. A progress bar shows on a
    terminal; ctrl+c leaves nothing.

    \b
    Examples:
      dockyard data add iris data/iris.csv -m "first cut"
      dockyard data add events exports/2026-11/ --json
    """
    from dockyard.core.datasets import register_dataset

    workspace = ctx.workspace()
    show = not as_json and sys.stderr.isatty()
    with _progress_bar(show, path.name) as update:
        result = register_dataset(workspace, name, path, message, progress=update)
    if as_json:
        print_json(result.to_dict())
    else:
        echo(result.summary())


@data.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of datasets.")
@archived_options
@pass_ctx
def data_list(ctx: Context, as_json: bool) -> None:
    """List datasets with their latest version, most recently changed first.

    \b
    Example:
      dockyard data list --json
    """
    from dockyard.core.datasets import list_datasets

    datasets = list_datasets(ctx.workspace(), archived=archived_choice())
    if as_json:
        print_json([d.to_dict() for d in datasets])
        return
    if not datasets:
        echo("No datasets yet; add one with `dockyard data add NAME PATH`.")
        return
    print_table(
        ["name", "latest", "versions", "rows", "cols", "size", "updated"],
        (
            [
                marked(d.name, d.archived_at),
                f"v{d.latest.version}" if d.latest else "-",
                d.n_versions,
                _number(d.latest.n_rows) if d.latest else "-",
                d.latest.n_cols if d.latest else "-",
                _size(d.latest.size_bytes if d.latest else None),
                _when(d.updated_at),
            ]
            for d in datasets
        ),
    )


@data.command("versions")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of versions.")
@archived_options
@pass_ctx
def data_versions(ctx: Context, name: str, as_json: bool) -> None:
    """List the versions of dataset NAME, newest first.

    \b
    Example:
      dockyard data versions iris
    """
    from dockyard.core.datasets import list_versions

    versions = list_versions(ctx.workspace(), name, archived=archived_choice())
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    print_table(
        ["version", "hash", "rows", "cols", "size", "author", "created", "message"],
        (
            [
                marked(v.version, v.archived_at),
                v.content_hash[:12],
                _number(v.n_rows),
                v.n_cols,
                _size(v.size_bytes),
                v.author,
                _when(v.created_at),
                v.message,
            ]
            for v in versions
        ),
    )


@data.command("show")
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option("--json", "as_json", is_flag=True, help="Print the version and profile as JSON.")
@pass_ctx
def data_show(ctx: Context, ref: str, as_json: bool) -> None:
    """Show a version (default: the latest) with its schema and stored profile.

    \b
    Examples:
      dockyard data show iris
      dockyard data show iris@2 --json
    """
    from dockyard.core.datasets import get_version

    info = get_version(ctx.workspace(), ref, with_profile=True)
    _warn_if_altered(info, "the profile describes the registered bytes, not the stored ones")
    if as_json:
        print_json(info.to_dict(with_profile=True))
        return
    _print_version(info)


def _warn_if_altered(info: VersionInfo, consequence: str) -> None:
    """One warning line on stderr when the stored object is not the registered data."""
    from dockyard.core.datasets import object_problem

    problem = object_problem(info)
    if problem is not None:
        echo(f"warning: {problem}; {consequence}", err=True)


def _print_version(info: VersionInfo) -> None:
    echo(f"{info.ref}  {info.hash_algo} {info.content_hash}")
    echo(
        f"{_number(info.n_rows)} rows x {info.n_cols} columns, {_size(info.size_bytes)}, "
        f"{info.file_format}"
    )
    echo(f"registered {_when(info.created_at)} by {info.author or '-'}")
    echo(f"source: {info.source_path}")
    echo(f"stored: {info.object_path}")
    if info.message:
        echo(f"message: {info.message}")
    profile = info.profile or {}
    columns = profile.get("columns", [])
    if not columns:
        return
    echo("")
    rows = []
    for column in columns:
        c = profile_cells(column)
        rows.append([c.name, c.kind, c.missing, c.distinct, c.min, c.max, c.mean, c.std, c.detail])
    print_table(
        ["column", "kind", "missing", "distinct", "min", "max", "mean", "std", "histogram / top"],
        rows,
    )


@data.command("head")
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option(
    "-n",
    "rows",
    default=10,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="How many rows (1 to 100,000).",
)
@click.option("--offset", default=0, type=OFFSET, help="Start at this row (0 is the first).")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON objects.")
@pass_ctx
def data_head(ctx: Context, ref: str, rows: int, offset: int, as_json: bool) -> None:
    """Print the first N rows of a version (read from the stored copy, not the source).

    \b
    Examples:
      dockyard data head iris -n 5
      dockyard data head iris@1 --offset 1000 -n 20 --json
    """
    from dockyard.core.datasets import head

    info, columns, page = head(ctx.workspace(), ref, rows, offset)
    _warn_if_altered(info, "these rows are not the registered data")
    if as_json:
        print_json([dict(zip(columns, row, strict=False)) for row in page])
        return
    print_table(columns, ([_cell(v) for v in row] for row in page), upper=False)


#: How ``data head`` shows a missing value: a blank would read as an empty string.
MISSING_MARK = "∅"


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_MARK
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same number
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


@data.command("export")
@click.argument("ref", metavar="NAME@VERSION")
@click.argument("path", type=click.Path())
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@pass_ctx
def data_export(ctx: Context, ref: str, path: str, force: bool) -> None:
    """Copy a version's stored bytes to PATH, checking its hash on the way.

    PATH may be a folder: the file is written inside it as NAME-vVERSION.EXT. A PATH
    ending in / is always a folder, created if it does not exist yet.

    \b
    Example:
      dockyard data export iris@2 /tmp/iris-v2.csv
    """
    from dockyard.core.datasets import export_version

    target = export_version(ctx.workspace(), ref, path, force=force)
    echo(f"Exported {ref} to {target}")


@data.command("diff")
@click.argument("ref_a", metavar="NAME@A")
@click.argument("ref_b", metavar="NAME@B")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@pass_ctx
def data_diff(ctx: Context, ref_a: str, ref_b: str, as_json: bool) -> None:
    """Compare two versions: columns added, removed or retyped, rows, and drift.

    Drift per column: PSI (below 0.1 none, up to 0.25 moderate, above major) and KS for
    numbers, PSI and chi-square for categories; computed from the stored profiles.

    \b
    Example:
      dockyard data diff iris@1 iris@2
    """
    from dockyard.core.dataset_diff import diff_versions

    diff = diff_versions(ctx.workspace(), ref_a, ref_b)
    if as_json:
        print_json(diff.to_dict())
        return
    echo(f"{diff.a.ref} -> {diff.b.ref}" + ("  (identical content)" if diff.identical else ""))
    echo(f"rows: {diff.a.n_rows:,} -> {diff.b.n_rows:,} ({diff.rows_change:+,})")
    for status in ("added", "removed", "retyped"):
        changed = diff.with_status(status)
        names = ", ".join(
            f"{c.name} ({c.dtype_a} -> {c.dtype_b})" if status == "retyped" else c.name
            for c in changed
        )
        echo(f"{status}: {names or '-'}")
    kept = [c for c in diff.columns if c.status in ("kept", "retyped")]
    if not kept:
        return
    echo("")
    print_table(
        ["column", "kind", "missing", "psi", "ks", "chi2 p", "drift"],
        (
            [
                c.name,
                c.dtype_b if c.dtype_a == c.dtype_b else f"{c.dtype_a}->{c.dtype_b}",
                f"{100 * (c.missing_a or 0):.1f}% -> {100 * (c.missing_b or 0):.1f}%",
                f"{c.drift.psi:.3f}" if c.drift else "-",
                f"{c.drift.ks:.3f}" if c.drift and c.drift.ks is not None else "-",
                f"{c.drift.chi2_pvalue:.3g}"
                if c.drift and c.drift.chi2_pvalue is not None
                else "-",
                c.drift.severity if c.drift else "-",
            ]
            for c in kept
        ),
    )
    for c in kept:
        changes = c.drift.categories_text() if c.drift else ""
        if changes:
            echo(f"{visible(c.name)}: {changes}")


@data.command("lineage")
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@pass_ctx
def data_lineage(ctx: Context, ref: str, as_json: bool) -> None:
    """List the runs that used a dataset (all versions, or the one given).

    \b
    Example:
      dockyard data lineage iris@2
    """
    from dockyard.core.datasets import parse_ref, runs_using

    parsed = parse_ref(ref)
    version = parsed.version
    workspace = ctx.workspace()
    if version is None and "@latest" in ref:
        from dockyard.core.datasets import get_version

        version = get_version(workspace, parsed, with_profile=False).version
    uses = runs_using(workspace, parsed.name, version)
    if as_json:
        print_json([u.to_dict() for u in uses])
        return
    if not uses:
        echo(f"No runs used {ref} yet.")
        return
    print_table(
        ["run", "project", "status", "version", "created"],
        ([u.run_id, u.project, u.status, f"v{u.version}", _when(u.created_at)] for u in uses),
    )
