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
        [sys.executable, "-m", "dockyard.tui", *args],
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


def test_version_names_the_package_and_the_schema_revisions(tmp_path: Path) -> None:
    from importlib.metadata import version

    from dockyard.store.schema import HEAD_REVISION

    package = version("dockyard")
    outside = dockyard("--version", cwd=tmp_path)
    assert outside.returncode == 0, outside.stderr
    assert outside.stdout == f"dockyard {package} (store schema {HEAD_REVISION})\n"

    dockyard("init", str(tmp_path / "ws"), cwd=tmp_path)
    inside = dockyard("--version", cwd=tmp_path / "ws")
    assert inside.stdout.splitlines()[1] == (
        f"workspace {tmp_path / 'ws'}: store schema {HEAD_REVISION}"
    )
    db = tmp_path / "ws" / ".dockyard" / "dockyard.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    # --home after --version still counts; reading the revision migrates nothing
    older = dockyard("--version", "--home", str(tmp_path / "ws"), cwd=tmp_path)
    assert f"store schema 0001 (this Dockyard expects {HEAD_REVISION})" in older.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)

    db.write_bytes(b"not a database at all, just some bytes" * 100)
    broken = dockyard("--version", cwd=tmp_path / "ws")
    assert broken.returncode == 0 and "not a Dockyard store" in broken.stdout


def test_python_dash_m_runs_the_command_line_package(tmp_path: Path) -> None:
    """``python -m dockyard.tui.cli`` (bench/audit_verify.py's fallback) is the command,
    as ``python -m dockyard.tui`` is: the package's __main__ calls main."""
    result = subprocess.run(
        [sys.executable, "-m", "dockyard.tui.cli", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("dockyard ")


def test_version_reads_the_store_without_sqlalchemy(tmp_path: Path) -> None:
    from dockyard.store.schema import HEAD_REVISION

    dockyard("init", cwd=tmp_path)
    code = (
        "import sys\n"
        "from dockyard.tui.cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'sqlmodel', 'alembic', 'pandas', 'textual')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines()[1] == f"workspace {tmp_path}: store schema {HEAD_REVISION}"
    assert result.stdout.splitlines()[-1] == "[]"


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

    from dockyard.tui.cli import main

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


# ----------------------------------------------------------- input refused early, in one line

HUGE = "99999999999999999999"  # past SQLite's signed 64-bit INTEGER


@pytest.mark.parametrize(
    "args",
    [
        ("run", "show", HUGE),
        ("run", "logs", HUGE),
        ("run", "cancel", HUGE),
        ("run", "retry", HUGE),
        ("run", "start", "--from", HUGE, "--no-agent"),
        ("run", "list", "--limit", HUGE),
        ("model", "register", HUGE, "--name", "m"),
        ("model", "show", f"m@{HUGE}"),
        ("model", "compare", f"run:{HUGE}", "run:1"),
        ("data", "show", f"d@{HUGE}"),
        ("data", "head", "d", "--offset", HUGE),
    ],
    ids=lambda args: " ".join(args[:2]) + (" " + args[2][:6] if len(args) > 2 else ""),
)
def test_numbers_past_64_bits_are_one_line_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    dockyard("init", cwd=tmp_path)
    result = dockyard(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = one_line_error(result)
    assert "OverflowError" not in line and "9223372036854775807" in line


def test_every_integer_option_is_bounded_for_the_store() -> None:
    """A new command taking an id or a count with click's unbounded ``int`` fails here."""
    import click

    from dockyard.core.parsing import INT64_MAX
    from dockyard.tui.cli import main
    from dockyard.tui.cli.kit import StoreInt

    unbounded = []

    def walk(command: click.Command, path: list[str]) -> None:
        for param in command.params:
            kind = param.type
            if isinstance(kind, StoreInt):
                continue
            if isinstance(kind, click.types.IntParamType):
                top = getattr(kind, "max", None)
                if top is None or top > INT64_MAX:
                    unbounded.append(f"{' '.join(path)} {param.name}")
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(main, ["dockyard"])
    assert unbounded == []


def test_run_list_validates_status_and_limit(tmp_path: Path) -> None:
    dockyard("init", cwd=tmp_path)
    bogus = dockyard("run", "list", "--status", "bogus", cwd=tmp_path)
    assert bogus.returncode == 2
    line = one_line_error(bogus)
    assert "'bogus' is not one of" in line and "'finished'" in line and "'lost'" in line
    for limit in ("-5", "0", "ten"):
        result = dockyard("run", "list", "--limit", limit, cwd=tmp_path)
        assert result.returncode == 2, limit
        assert "--limit" in one_line_error(result)
    assert (
        dockyard("run", "list", "--status", "failed", "--limit", "1", cwd=tmp_path).returncode == 0
    )
    requests = dockyard("deploy", "list", "--status", "done", cwd=tmp_path)
    assert requests.returncode == 2 and "'pending'" in one_line_error(requests)


@pytest.mark.parametrize(
    ("args", "message", "help_of"),
    [
        (("run", "show", "abc"), "'abc' is not an integer", "dockyard run show"),
        (("run", "show"), "Missing argument 'RUN_ID'", "dockyard run show"),
        (("run", "frobnicate"), "No such command 'frobnicate'", "dockyard run"),
        (("run", "list", "--limt", "5"), "Did you mean '--limit'?", "dockyard run list"),
        (("--no-such-flag",), "No such option '--no-such-flag'", "dockyard"),
        (("data", "head", "d", "-n", "0"), "0 is not in the range", "dockyard data head"),
    ],
)
def test_usage_errors_are_one_line_naming_the_help(
    tmp_path: Path, args: tuple[str, ...], message: str, help_of: str
) -> None:
    result = dockyard(*args, cwd=tmp_path)
    assert result.returncode == 2
    line = one_line_error(result)
    assert message in line and line.endswith(f"(see '{help_of} --help')"), line
    assert result.stdout == ""


def test_a_group_alone_still_shows_its_help(tmp_path: Path) -> None:
    result = dockyard("run", cwd=tmp_path)
    assert "Usage: dockyard run" in result.stdout + result.stderr
    assert "dockyard: error" not in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("notaurl://", "unknown kind of database 'notaurl'"),
        ("just words", "DOCKYARD_DB is not a database URL"),
        ("postgresql+nodriver://user:s3cret@localhost/db", "DOCKYARD_DB is not a usable"),
    ],
)
def test_a_bad_dockyard_db_is_one_line_naming_the_variable(
    tmp_path: Path, url: str, message: str
) -> None:
    dockyard("init", cwd=tmp_path)
    result = dockyard("run", "list", cwd=tmp_path, env={"DOCKYARD_DB": url})
    assert result.returncode == 2
    line = one_line_error(result)
    assert message in line and "DOCKYARD_DB" in line
    assert "s3cret" not in line  # a URL may carry a password: never echoed


def test_init_where_no_folder_can_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    targets = [tmp_path / "file" / "sub"]
    if Path("/proc/self").is_dir():
        targets.append(Path("/proc/dockyard-test-xx"))  # nobody, root included, can mkdir here
    for target in targets:
        result = dockyard("init", str(target), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        line = one_line_error(result)
        assert f"cannot create a workspace in {target}" in line
        assert "FileNotFoundError" not in line and "NotADirectoryError" not in line


def test_nan_and_infinity_parameters_are_refused_before_queueing(tmp_path: Path) -> None:
    dockyard("init", cwd=tmp_path)
    write_project(tmp_path / "iris", GOOD)
    assert dockyard("project", "add", "iris", cwd=tmp_path).returncode == 0
    for value in ("nan", "1,NaN", "inf", "-Infinity", "1e999"):
        result = dockyard("run", "start", "iris", "-p", f"C={value}", "--no-agent", cwd=tmp_path)
        assert result.returncode == 2, value
        assert "parameter C:" in one_line_error(result)
    assert json.loads(dockyard("run", "list", "--json", cwd=tmp_path).stdout) == []
    bad = GOOD.replace("max = 100.0", "max = inf")
    write_project(tmp_path / "inf", bad.replace('name = "iris"\ndesc', 'name = "inf"\ndesc'))
    refused = dockyard("project", "add", "inf", cwd=tmp_path)
    assert refused.returncode == 2 and "params.C.max" in one_line_error(refused)


def test_project_show_prints_int_bounds_as_ints(tmp_path: Path) -> None:
    dockyard("init", cwd=tmp_path)
    extra = '\n[params.seed]\ntype = "int"\ndefault = 1\nmin = 0\nmax = 1000000\n'
    write_project(tmp_path / "iris", GOOD.replace("\n[metrics]", extra + "\n[metrics]"))
    assert dockyard("project", "add", "iris", cwd=tmp_path).returncode == 0
    shown = dockyard("project", "show", "iris", cwd=tmp_path).stdout
    line = next(x for x in shown.splitlines() if x.strip().startswith("seed"))
    assert "0..1000000" in line and "0.0" not in line
    assert "0.001..100" in shown  # a float parameter's bounds in their shortest form
