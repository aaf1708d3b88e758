"""The ``dockyard`` command line: noun-verb commands over the same core calls as the TUI.

``dockyard`` alone opens the TUI on the workspace found from the current folder. Exit
status: 0 success, 1 an operation failed, 2 bad usage or bad input. Errors are one line
on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from dockyard.core.errors import DockyardError
from dockyard.core.workspace import Workspace
from dockyard.tui.cli.kit import Context, echo, fail


class DockyardGroup(click.Group):
    """Turns Dockyard's errors, and click's usage errors, into one line and the right status."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # the top level's own options (`dockyard --no-such-flag`) are parsed here
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise  # `dockyard run` alone: click prints the group's help, which is the answer
        except click.ClickException as exc:
            report_click_error(exc, info_name or "dockyard")

    def invoke(self, ctx: click.Context) -> Any:
        # A shell starts background jobs with SIGINT ignored, and children inherit it; a
        # `dockyard data add` started that way (or from such a script) must still stop
        # cleanly on ctrl+c or `kill -INT`, leaving nothing half-written.
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return super().invoke(ctx)
        except DockyardError as exc:
            self._report(ctx, exc, str(exc), exc.exit_code)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.ClickException as exc:
            # a subcommand's arguments are parsed in here, so this is where they fail
            report_click_error(exc, ctx.command_path)
        except (click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:
            # `dockyard run list | head`: the reader has gone; that is not an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except Exception as exc:
            from dockyard.store.db import SchemaTooNewError, StoreConnectError, StoreError

            if isinstance(exc, SchemaTooNewError | StoreConnectError):
                self._report(ctx, exc, str(exc), 2)
            elif isinstance(exc, StoreError):
                self._report(ctx, exc, str(exc), 1)
            self._report(ctx, exc, f"{type(exc).__name__}: {exc} (run with --debug for details)", 1)

    @staticmethod
    def _report(ctx: click.Context, exc: BaseException, message: str, code: int) -> NoReturn:
        obj = ctx.find_object(Context)
        if obj is not None and obj.debug:
            raise exc
        fail(message, code)


def report_click_error(exc: click.ClickException, command_path: str) -> NoReturn:
    """One line instead of click's three (usage, hint, error), with the same exit status.

    A usage error names the help of the command it happened in, so the fix is one step
    away; the message's own line breaks (click's "Did you mean" hints) become spaces.
    """
    message = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError):
        where = exc.ctx.command_path if exc.ctx is not None else command_path
        message = f"{message.rstrip('.')} (see '{where} --help')"
    fail(message, exc.exit_code)


@click.group(cls=DockyardGroup, invoke_without_command=True)
@click.option(
    "--home",
    metavar="DIR",
    envvar="DOCKYARD_HOME",
    help="Workspace to use instead of the one found upward from here.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option(
    "--version",
    "show_version",
    is_flag=True,
    help="Show Dockyard's version and the schema revision of the store here, then exit.",
)
@click.pass_context
def main(ctx: click.Context, home: str | None, debug: bool, show_version: bool) -> None:
    """Dockyard: datasets, training runs, models, deployments and monitoring in one terminal.

    Run without a command to open the TUI on the workspace found from here.

    \b
    Examples:
      dockyard demo              # a workspace with the sample projects, then the TUI
      dockyard init .            # make this folder a workspace
      dockyard project add ./my-project
    """
    ctx.obj = Context(home, debug)
    if show_version:
        # not an eager option, so that `--home` is known whichever comes first
        echo("\n".join(version_lines(home)))
        ctx.exit(0)
    if ctx.invoked_subcommand is None:
        open_tui(ctx.obj.workspace())


def version_lines(home: str | None) -> list[str]:
    """The package version and the code's schema revision; inside a workspace, also the
    revision its store records (read with sqlite3: no SQLAlchemy, nothing migrated)."""
    from importlib.metadata import PackageNotFoundError, version

    from dockyard.core.workspace import find_workspace, store_revision
    from dockyard.store.schema import HEAD_REVISION

    try:
        package = version("dockyard")
    except PackageNotFoundError:
        package = "(not installed)"
    lines = [f"dockyard {package} (store schema {HEAD_REVISION})"]
    try:
        workspace = find_workspace(home=home)
    except DockyardError:
        return lines  # outside a workspace the code's own revision is all there is
    try:
        found = store_revision(workspace)
    except DockyardError as exc:
        return [*lines, f"workspace {workspace.root}: {exc}"]
    if found is None:
        state = "no schema yet (created on first use)"
    elif found == HEAD_REVISION:
        state = f"store schema {found}"
    else:
        state = f"store schema {found} (this Dockyard expects {HEAD_REVISION})"
    return [*lines, f"workspace {workspace.root}: {state}"]


def open_tui(workspace: Workspace) -> None:
    from dockyard.tui.app import run_tui

    run_tui(workspace)


@main.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--shared", metavar="GROUP", help="Make it group-writable for OS group GROUP.")
@click.option(
    "--db",
    metavar="URL",
    help="Keep the store in this database (e.g. PostgreSQL) instead of .dockyard/dockyard.db;"
    " recorded in the workspace.",
)
@click.option(
    "--objects",
    metavar="PATH",
    help="Keep datasets, artifacts and models in this folder (e.g. a share every machine"
    " mounts) instead of .dockyard/objects; recorded in the workspace.",
)
def init(directory: Path | None, shared: str | None, db: str | None, objects: str | None) -> None:
    """Create a workspace (.dockyard/) in DIRECTORY (default: here).

    \b
    Examples:
      dockyard init ~/models
      dockyard init /srv/models --shared mlteam
      dockyard init ~/models --db postgresql+psycopg://alice@db.example/dockyard
      dockyard init ~/models --objects /mnt/shared/dockyard-objects
    """
    from dockyard.core.workspace import init_workspace, share_workspace

    if shared:
        os.umask(0o002)
    workspace = init_workspace(directory, db=db, objects=objects)
    if shared:
        share_workspace(workspace, shared)
    echo(
        f"Initialised Dockyard workspace in {workspace.home}"
        + (f", shared with group {shared}" if shared else "")
    )


@main.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--no-tui", is_flag=True, help="Only prepare the workspace; do not open the TUI.")
@click.option(
    "--wait",
    is_flag=True,
    help="Wait until the sample models are trained, deployed and monitored.",
)
def demo(directory: Path | None, no_tui: bool, wait: bool) -> None:
    """Create (or reuse) a workspace with the sample projects, then open the TUI.

    Each sample's model is trained by the agent in the background, then registered,
    deployed to staging and production, and its monitors run on the project's
    incoming/ batches (see docs/monitoring.md); the TUI shows them arriving.

    \b
    Example:
      dockyard demo /tmp/dockyard-demo --no-tui --wait
    """
    from dockyard.core.demo import prepare_demo, start_demo_models

    workspace, projects = prepare_demo(directory or Path("dockyard-demo"))
    if wait:
        from dockyard.core.agent import ensure_agent
        from dockyard.core.demo import demo_run_ids, finish_demo, wait_for_finisher

        wait_for_finisher(workspace)
        demo_run_ids(workspace, projects)
        ensure_agent(workspace)
        finish_demo(workspace, projects, say=echo)
        started = False
    else:
        started = start_demo_models(workspace, projects)
    if no_tui:
        names = ", ".join(p.name for p in projects)
        echo(f"Demo workspace ready in {workspace.root} with projects: {names}")
        if started:
            echo(
                "Training, deploying and monitoring the sample models in the background "
                f"(`dockyard run list`; log: {workspace.logs / 'demo.log'})"
            )
        return
    open_tui(workspace)


def _register_commands() -> None:
    # One line per module, so that a branch adding a noun touches one line here. Each
    # module imports only click and the helpers of kit.py at its top: the core (and with
    # it SQLAlchemy) loads inside the command that runs, which keeps `--version` fast.
    from dockyard.tui.cli import code  # noqa: F401  (adds `run code` and `run diff` to run)
    from dockyard.tui.cli.audit import audit
    from dockyard.tui.cli.data import data
    from dockyard.tui.cli.deploy import deploy, env, predict
    from dockyard.tui.cli.housekeeping import gc, housekeeping_commands
    from dockyard.tui.cli.migrate import migrate_store_cmd
    from dockyard.tui.cli.mlflow import export_group, import_group
    from dockyard.tui.cli.models import model
    from dockyard.tui.cli.ops import monitor
    from dockyard.tui.cli.projects import project
    from dockyard.tui.cli.runs import agent, run
    from dockyard.tui.cli.team import team

    main.add_command(project)
    main.add_command(data)
    main.add_command(run)
    main.add_command(agent)
    main.add_command(model)
    main.add_command(deploy)
    main.add_command(env)
    main.add_command(predict)
    main.add_command(monitor)
    main.add_command(audit)
    main.add_command(import_group)
    main.add_command(export_group)
    for noun, group in (("project", project), ("data", data), ("run", run), ("model", model)):
        for command in housekeeping_commands(noun):  # archive, restore, delete
            group.add_command(command)
    main.add_command(gc)
    main.add_command(team)
    main.add_command(migrate_store_cmd)


_register_commands()
