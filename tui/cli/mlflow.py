"""``dockyard import mlflow`` and ``dockyard export mlflow``: the MLflow bridge (docs/mlflow.md)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from dockyard.tui.cli.kit import Context, echo, fail, pass_ctx, print_json


@click.group("import")
def import_group() -> None:
    """Bring history from another tool into the workspace."""


@click.group("export")
def export_group() -> None:
    """Hand a model version to another tool."""


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Any]:
    """Runs done of runs to read, on stderr; a no-op when quiet (``--json``, not a terminal)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(
        TextColumn("importing runs"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("runs", total=None)

    def update(event: Any) -> None:
        progress.update(task, total=event.total, completed=event.done)

    with progress:
        yield update


@import_group.command("mlflow")
@click.argument("source")
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    metavar="NAME",
    help="Import only this experiment (repeatable); registered models are left out.",
)
@click.option(
    "--dry-run", is_flag=True, help="Read everything, write nothing, say what would happen."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_ctx
def import_mlflow_cmd(
    ctx: Context, source: str, experiments: tuple[str, ...], dry_run: bool, as_json: bool
) -> None:
    """Import an MLflow tracking store: experiments, runs, artifacts, registered models.

    SOURCE is a tracking URI (sqlite:///mlflow.db, postgresql://...) or a file store
    folder (mlruns/). MLflow itself is not needed. Runs already imported (matched by their
    MLflow run id) are skipped, so running it again adds only what is new; ctrl+c keeps
    the runs imported so far whole. Exit status 1 when anything failed (each failure has a
    line in the summary).

    \b
    Examples:
      dockyard import mlflow sqlite:///mlflow.db --dry-run
      dockyard import mlflow ./mlruns --experiment churn
      dockyard import mlflow sqlite:///mlflow.db --json
    """
    from dockyard.core.mlflow_import import import_mlflow

    workspace = ctx.workspace()
    show = not as_json and sys.stderr.isatty()
    try:
        with _progress_bar(show) as update:
            summary = import_mlflow(
                workspace, source, experiments, dry_run=dry_run, progress=update
            )
    except KeyboardInterrupt:
        fail("interrupted: the runs imported so far are whole; run the same command to go on", 130)
    if as_json:
        print_json(summary.to_dict())
    else:
        for line in summary.lines:
            echo(line.text())
        echo(summary.headline())
    if summary.total("failed"):
        sys.exit(1)


@export_group.command("mlflow")
@click.argument("ref", metavar="NAME@VERSION")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["skops", "pickle"]),
    default="skops",
    show_default=True,
    help="How the model is serialised: skops (MLflow 3) or pickle (MLflow 2 and 3).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@pass_ctx
def export_mlflow_cmd(ctx: Context, ref: str, directory: Path, fmt: str, as_json: bool) -> None:
    """Write model version REF as an MLflow model folder DIRECTORY.

    The folder has an MLmodel file with the python_function and sklearn flavours, the
    environment files and the input signature, so that mlflow.pyfunc.load_model(DIRECTORY)
    predicts what `dockyard predict` does. The model file is verified first.

    \b
    Examples:
      dockyard export mlflow wine-clf@3 exported/wine-clf
      dockyard export mlflow wine-clf@champion out/ --format pickle
    """
    from dockyard.core.mlflow_export import export_version

    result = export_version(ctx.workspace(), ref, directory, fmt)
    if as_json:
        print_json(result)
    else:
        echo(f"wrote {result['ref']} to {result['directory']} ({', '.join(result['files'])})")
