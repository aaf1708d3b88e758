"""The read commands answer without importing SQLAlchemy, SQLModel or pydantic (issue 10).

Each command runs as a real ``dockyard`` process on a seeded SQLite store at the current
schema revision; an ``atexit`` hook records ``sys.modules`` as the process ends, so the
check sees everything the command loaded, its output included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_bench_seed import load_seed

PKG = Path(__file__).resolve().parent.parent / ".pkg"
HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "alembic")

#: The read commands moved to the standard library's sqlite3 (the rest still use the ORM).
FAST_READS = [
    ["run", "list"],
    ["run", "list", "--status", "finished", "--limit", "3", "--json"],
    ["run", "show", "1"],
    ["run", "show", "1", "--json"],
    ["data", "list"],
    ["data", "list", "--json"],
    ["project", "list"],
    ["project", "show", "churn", "--json"],
    ["agent", "status", "--json"],
]

SCRIPT = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from dockyard.tui.cli import main
main(sys.argv[1:], prog_name="dockyard")
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fast-reads")
    load_seed().seed_workspace(root, runs=300)
    return root


def run_recording_modules(store: Path, args: list[str], tmp_path: Path) -> tuple[str, set[str]]:
    modules_file = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": str(PKG), "DOCKYARD_HOME": str(store)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(modules_file), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, set(json.loads(modules_file.read_text()))


@pytest.mark.parametrize("args", FAST_READS, ids=" ".join)
def test_read_command_does_not_import_the_orm(store: Path, args: list[str], tmp_path: Path) -> None:
    output, loaded = run_recording_modules(store, args, tmp_path)
    assert output.strip()  # it did answer
    roots = {name.split(".")[0] for name in loaded}
    assert not roots & set(HEAVY), sorted(roots & set(HEAVY))


def test_a_write_command_still_uses_the_orm(store: Path, tmp_path: Path) -> None:
    # The check can fail: a command that writes through SQLModel shows up in it.
    project = store / "projects" / "churn"
    _output, loaded = run_recording_modules(store, ["project", "add", str(project)], tmp_path)
    assert "sqlmodel" in loaded


def test_the_fast_read_matches_the_orm(store: Path, tmp_path: Path) -> None:
    """`run show --json` through sqlite3 equals the same run read through the ORM."""
    from dockyard.core.runs import _info, _session
    from dockyard.core.workspace import find_workspace
    from dockyard.store.models import Run

    output, _loaded = run_recording_modules(store, ["run", "show", "7", "--json"], tmp_path)
    shown = json.loads(output)
    workspace = find_workspace(home=store)
    with _session(workspace) as session:
        row = session.get(Run, 7)
        assert row is not None
        expected = _info(session, row).to_dict()
    shown.pop("metrics")
    for moving in ("duration_s",):  # a live run's duration grows between the two reads
        shown.pop(moving)
        expected.pop(moving)
    assert shown == json.loads(json.dumps(expected, default=str))
