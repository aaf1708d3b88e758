"""The command line, run as a real process: exit codes, one-line errors, --json output."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_projects import GOOD, write_project


def dockyard(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dockyard: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def test_outside_a_workspace_names_init_and_demo(tmp_path: Path) -> None:
    result = dockyard("project", "list", cwd=tmp_path)
    assert result.returncode == 2
    line = one_line_error(result)
    assert "dockyard init" in line and "dockyard demo" in line


def test_init_then_project_add_list_show_json(tmp_path: Path) -> None:
    assert dockyard("init", cwd=tmp_path).returncode == 0
    write_project(tmp_path / "iris", GOOD)
    added = dockyard("project", "add", "iris", "--json", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["name"] == "iris"
    listed = dockyard("project", "list", "--json", cwd=tmp_path / "iris")
    projects = json.loads(listed.stdout)
    assert isinstance(projects, list) and projects[0]["primary_metric"] == "accuracy"
    assert set(projects[0]) >= {"id", "name", "path", "entry", "params", "monitors"}
    shown = json.loads(dockyard("project", "show", "iris", "--json", cwd=tmp_path).stdout)
    assert shown["spec"]["params"][1]["name"] == "C"
    plain = dockyard("project", "show", "iris", cwd=tmp_path)
    assert "gate: accuracy >= 0.9" in plain.stdout


def test_malformed_project_exits_2_with_one_line(tmp_path: Path) -> None:
    dockyard("init", cwd=tmp_path)
    write_project(tmp_path / "bad", GOOD.replace('type = "float"', 'type = "decimal"'))
    result = dockyard("project", "add", "bad", cwd=tmp_path)
    assert result.returncode == 2
    assert "params.C.type" in one_line_error(result)


def test_unknown_project_exits_2(tmp_path: Path) -> None:
    dockyard("init", cwd=tmp_path)
    result = dockyard("project", "show", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "no project named 'nope'" in one_line_error(result)


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    assert dockyard("project", "frobnicate", cwd=tmp_path).returncode == 2
    assert dockyard("--no-such-flag", cwd=tmp_path).returncode == 2


def test_home_option_and_env(tmp_path: Path) -> None:
    dockyard("init", str(tmp_path / "ws"), cwd=tmp_path)
    assert dockyard("--home", str(tmp_path / "ws"), "project", "list", cwd=tmp_path).returncode == 0
    env = {"DOCKYARD_HOME": str(tmp_path / "ws")}
    assert dockyard("project", "list", cwd=tmp_path, env=env).returncode == 0
    missing = dockyard("--home", str(tmp_path / "nope"), "project", "list", cwd=tmp_path)
    assert missing.returncode == 2 and "no Dockyard workspace" in one_line_error(missing)


def test_newer_schema_is_refused_with_exit_2(tmp_path: Path) -> None:
    dockyard("init", cwd=tmp_path)
    with sqlite3.connect(tmp_path / ".dockyard" / "dockyard.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    result = dockyard("project", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "upgrade Dockyard" in one_line_error(result)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = dockyard("--debug", "project", "list", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("command", [[], ["init"], ["demo"], ["project"], ["project", "add"]])
def test_every_command_has_help_with_an_example(tmp_path: Path, command: list[str]) -> None:
    result = dockyard(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "Example" in result.stdout or command == ["project"]


def test_demo_no_tui_is_idempotent(tmp_path: Path) -> None:
    first = dockyard("demo", "ws", "--no-tui", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = dockyard("demo", "ws", "--no-tui", cwd=tmp_path)
    assert second.returncode == 0
    projects = json.loads(dockyard("project", "list", "--json", cwd=tmp_path / "ws").stdout)
    names = sorted(p["name"] for p in projects)
    assert names == sorted({p["name"] for p in projects})  # registered once each
    assert len(names) == len(list((tmp_path / "ws" / "projects").iterdir()))
    datasets = json.loads(dockyard("data", "list", "--json", cwd=tmp_path / "ws").stdout)
    assert sorted(d["name"] for d in datasets) == ["breast-cancer", "diabetes", "wine"]
    assert all(d["latest_version"] == 1 for d in datasets)  # identical bytes: no v2


def test_monitor_and_deploy_lists(tmp_path: Path) -> None:
    dockyard("init", cwd=tmp_path)
    write_project(tmp_path / "iris", GOOD)
    dockyard("project", "add", "iris", cwd=tmp_path)
    monitors = json.loads(dockyard("monitor", "list", "--json", cwd=tmp_path).stdout)
    assert [(m["name"], m["kind"], m["last_status"]) for m in monitors] == [
        ("drift", "drift", None),
        ("nightly-perf", "performance", None),
    ]
    assert monitors[0]["config"]["threshold"] == 0.2
    assert json.loads(dockyard("deploy", "list", "--json", cwd=tmp_path).stdout) == []
    assert "never run" in dockyard("monitor", "list", cwd=tmp_path).stdout


def test_every_leaf_command_documents_an_example() -> None:
    import click

    from tui.cli import main

    missing = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        elif "Example" not in (command.help or ""):
            missing.append(" ".join(path))

    walk(main, ["dockyard"])
    assert missing == []
    assert {"project", "data", "run", "model", "deploy", "monitor", "agent"} <= set(main.commands)
