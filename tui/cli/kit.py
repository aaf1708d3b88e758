"""What every command module shares: the context object, output helpers, failing.

Every line the command line prints for a person goes through :func:`echo` or
:func:`print_table`, which make control characters in it visible (``core.text.visible``):
names, messages, column names, cell values and log lines are data, and an escape
sequence in one must not retitle the terminal or clear it. ``--json`` (:func:`print_json`)
stays exact; JSON escapes control characters itself. Other machine formats (CSV, a run's
raw log) are exact when written to a pipe or a file and made visible on a terminal
(:func:`print_machine`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

import click

from dockyard.core.text import visible
from dockyard.core.workspace import Workspace, find_workspace


class Context:
    """What every command needs: where the workspace is and how loud to be."""

    def __init__(self, home: str | None, debug: bool) -> None:
        self.home = home
        self.debug = debug
        self._workspace: Workspace | None = None

    def workspace(self) -> Workspace:
        """The workspace, found once; its start also removes the temporary files of
        registrations whose process was killed outright (one listing of objects/tmp)."""
        if self._workspace is None:
            from dockyard.core import staging
            from dockyard.core.workspace import apply_shared_umask

            self._workspace = find_workspace(home=self.home)
            apply_shared_umask(self._workspace)
            staging.sweep(self._workspace.objects)
        return self._workspace


pass_ctx = click.make_pass_decorator(Context)


class StoreInt(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    """An id, count or offset the store will be asked about: ``minimum`` to 2**63 - 1.

    click's ``int`` accepts any size, and a number past SQLite's signed 64-bit INTEGER
    fails inside the driver with an OverflowError; this refuses it at parse time.
    """

    name = "integer"

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from dockyard.core.errors import InputError
        from dockyard.core.parsing import INT64_MAX, parse_int

        try:
            return parse_int(value, self.minimum, INT64_MAX)
        except InputError as exc:
            self.fail(str(exc), param, ctx)

    def __repr__(self) -> str:
        return f"StoreInt({self.minimum})"


#: A row id (run, request, ...): 1 and up.
ROW_ID = StoreInt(1)
#: How many rows to show: at least 1.
COUNT = StoreInt(1)
#: Where to start: 0 and up.
OFFSET = StoreInt(0)


def echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print ``message`` for a person, its control characters (other than newlines) made
    visible: the one door of the command line's human output."""
    click.echo(visible(message, keep="\n"), err=err, nl=nl)


def fail(message: str, code: int) -> NoReturn:
    # One line, whatever the error quotes: newlines in it are made visible too.
    click.echo(f"dockyard: error: {visible(message)}", err=True)
    sys.exit(code)


def print_json(value: Any) -> None:
    """``value`` as JSON, exact: ``json.dumps`` writes control characters as ``\\u001b``."""
    click.echo(json.dumps(value, indent=2, default=str))


def print_machine(text: str) -> None:
    """Machine output (CSV, a raw log) to stdout: exact into a pipe or a file, where a
    program reads it; on a terminal, control characters made visible like any output."""
    if not sys.stdout.isatty():
        sys.stdout.write(text)
    else:
        sys.stdout.write(visible(text.replace("\r\n", "\n"), keep="\n\t"))
    sys.stdout.flush()


def show_status(text: str) -> None:
    """Redraw a one-line status in place on stderr (a terminal); ``""`` clears it."""
    click.echo(f"\r\x1b[2K{visible(text)}", nl=False, err=True)


def print_table(headers: list[str], rows: Iterable[Iterable[Any]], upper: bool = True) -> None:
    """A plain aligned table: readable in a pipe, no colour codes, one line per row (every
    cell's control characters, newlines included, made visible)."""
    text_rows = [["" if v is None else visible(str(v)) for v in row] for row in rows]
    shown = [visible(h.upper() if upper else h) for h in headers]
    widths = [max([len(h), *(len(r[i]) for r in text_rows)]) for i, h in enumerate(shown)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(shown, widths, strict=True)).rstrip())
    for row in text_rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
