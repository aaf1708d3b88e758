"""``dockyard run code`` and ``dockyard run diff``: which code a run ran, and what differs
between two runs (params, data, code, packages)."""

from __future__ import annotations

import base64
import sys
from collections.abc import Mapping
from typing import Any

import click

from dockyard.core.overview import human_size
from dockyard.tui.cli.kit import (
    ROW_ID,
    Context,
    echo,
    pass_ctx,
    print_json,
    print_machine,
    print_table,
)
from dockyard.tui.cli.runs import run


@run.command("code")
@click.argument("run_id", type=ROW_ID)
@click.option("--path", "path", metavar="FILE", help="Print this file of the run's code.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a dirty git run's diff.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def run_code_cmd(
    ctx: Context, run_id: int, path: str | None, show_diff: bool, as_json: bool
) -> None:
    """Show the exact code a run ran: its files with hashes, or one file.

    \b
    Examples:
      dockyard run code 12
      dockyard run code 12 --path train.py
      dockyard run code 12 --diff        # a dirty git checkout's changes
    """
    from dockyard.core.code import code_diff_text, code_file, run_code, summary

    workspace = ctx.workspace()
    if path is not None:
        item, data = code_file(workspace, run_id, path)
        if as_json:
            shown: dict[str, Any] = {"run": run_id, **item.to_dict()}
            try:
                shown["content"] = data.decode("utf-8")
            except UnicodeDecodeError:
                shown["content_base64"] = base64.b64encode(data).decode("ascii")
            print_json(shown)
        else:
            print_machine(data.decode("utf-8", errors="replace"))
        return
    if show_diff:
        diff = code_diff_text(workspace, run_id)
        if diff is None:
            from dockyard.core.errors import InputError

            raise InputError(f"run {run_id} has no stored diff (its code is not a dirty git tree)")
        if as_json:
            print_json({"run": run_id, "diff": diff.decode("utf-8", errors="replace")})
        else:
            print_machine(diff.decode("utf-8", errors="replace"))
        return
    view = run_code(workspace, run_id)
    if as_json:
        print_json(view.to_dict())
        return
    record = view.record
    where = ""
    if record.get("kind") == "git":
        folder = record.get("prefix") or "the repository's top"
        where = f" in {record.get('repo')} (project folder: {folder})"
    echo(f"run {run_id} code: {summary(record)}{where}")
    if record.get("diff", {}).get("truncated"):
        echo(f"  the stored diff is cut at {human_size(record['diff']['size'])}")
    _echo_left_out(record)
    print_table(
        ["status", "hash", "size", "path"],
        (
            [f.status or "-", f.hash[:12] or "-", human_size(f.size) if f.hash else "-", f.path]
            for f in view.files
        ),
    )


def _echo_left_out(record: Mapping[str, Any]) -> None:
    left = record.get("left_out") or {}
    if not left.get("count"):
        return
    reasons = ", ".join(f"{reason}: {n}" for reason, n in left.get("reasons", {}).items())
    echo(f"  left out: {left['count']} file(s) ({reasons})")
    for path in left.get("paths", []):
        echo(f"    {path}")
    more = int(left["count"]) - len(left.get("paths", []))
    if more > 0:
        echo(f"    ... and {more} more")


@run.command("diff")
@click.argument("run_a", type=ROW_ID)
@click.argument("run_b", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def run_diff_cmd(ctx: Context, run_a: int, run_b: int, as_json: bool) -> None:
    """Compare two runs: params, data versions, code and packages.

    \b
    Example:
      dockyard run diff 12 15
    """
    from dockyard.core.code import diff_runs

    result = diff_runs(ctx.workspace(), run_a, run_b)
    if as_json:
        print_json(result.to_dict())
        return
    project = result.projects[0]
    if result.projects[1] != project:
        project = f"{project} / {result.projects[1]}"
    echo(f"run {run_a} -> run {run_b} ({project})")
    for title, values in (("params", result.params), ("data", result.data)):
        if not values:
            echo(f"{title}: same")
            continue
        echo(f"{title}:")
        for key, (old, new) in values.items():
            echo(f"  {key}: {_shown(old)} -> {_shown(new)}")
    code = result.code
    echo(f"code: {code['a']} -> {code['b']}")
    if code.get("error"):
        echo(f"  cannot compare: {code['error']}")
    elif not (code["added"] or code["removed"] or code["changed"]):
        echo(f"  same ({code['same']} files)")
    else:
        echo(
            f"  {len(code['changed'])} changed, {len(code['added'])} added, "
            f"{len(code['removed'])} removed, {code['same']} same"
        )
        for path in code["added"]:
            echo(f"  added: {path}")
        for path in code["removed"]:
            echo(f"  removed: {path}")
        for item in code["changed"]:
            if item["diff"]:
                sys.stdout.flush()
                print_machine(item["diff"])
            else:
                echo(f"  changed: {item['path']} ({item['note']})")
    if not result.packages:
        echo(f"packages: same ({result.packages_same})")
    else:
        echo(f"packages: {len(result.packages)} differ, {result.packages_same} same")
        for name, (old, new) in result.packages.items():
            echo(f"  {name}: {_shown(old)} -> {_shown(new)}")


def _shown(value: object) -> str:
    return "(none)" if value is None else str(value)
