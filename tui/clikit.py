"""What every command module shares: the context object, output helpers, failing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

import click

from core.workspace import Workspace, find_workspace


class Context:
    """What every command needs: where the workspace is and how loud to be."""

    def __init__(self, home: str | None, debug: bool) -> None:
        self.home = home
        self.debug = debug

    def workspace(self) -> Workspace:
        from core.workspace import apply_shared_umask

        workspace = find_workspace(home=self.home)
        apply_shared_umask(workspace)
        return workspace


pass_ctx = click.make_pass_decorator(Context)


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"dockyard: error: {message}", err=True)
    sys.exit(code)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def print_table(headers: list[str], rows: Iterable[Iterable[Any]], upper: bool = True) -> None:
    """A plain aligned table: readable in a pipe, no colour codes."""
    text_rows = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text_rows)) for i, h in enumerate(headers)]
    shown = [h.upper() if upper else h for h in headers]
    click.echo("  ".join(h.ljust(w) for h, w in zip(shown, widths, strict=True)).rstrip())
    for row in text_rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
