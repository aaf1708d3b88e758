"""The read commands answer without importing SQLAlchemy, SQLModel or pydantic (issue 10).

Each command runs as a real ``dockyard`` process on a seeded SQLite store at the current
schema revision; an ``atexit`` hook records ``sys.modules`` as the process ends, so the
check sees everything the command loaded, its output included.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest

from tests.test_bench_seed import load_seed

PKG = Path(__file__).resolve().parent.parent / ".pkg"
HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "alembic")

#: The read commands, all on the standard library's sqlite3 (decision 21).
FAST_READS = [
    ["run", "list"],
    ["run", "list", "--status", "finished", "--limit", "3", "--json"],
    ["run", "show", "1"],
    ["run", "show", "1", "--json"],
    ["data", "list"],
    ["data", "list", "--json"],
    ["data", "versions", "customers"],
    ["data", "versions", "customers", "--json"],
    ["data", "show", "customers"],
    ["data", "show", "customers@2", "--json"],
    ["data", "head", "customers@1", "-n", "3"],
    ["data", "lineage", "customers"],
    ["model", "list"],
    ["model", "list", "--json"],
    ["model", "show", "churn-model"],
    ["model", "show", "churn-model@champion", "--json"],
    ["model", "compare", "churn-model@1", "churn-model@2", "churn-model@champion"],
    ["model", "compare", "run:1", "run:2", "--format", "json"],
    ["model", "report", "churn-model@2", "--format", "json"],
    ["project", "list"],
    ["project", "show", "churn", "--json"],
    ["deploy", "list"],
    ["deploy", "list", "--status", "approved", "--env", "production", "--json"],
    ["deploy", "show", "1"],
    ["deploy", "status"],
    ["deploy", "status", "--at", "2026-10-01", "--json"],
    ["monitor", "list"],
    ["monitor", "list", "--all", "--json"],
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
    give_models_files(root / ".dockyard")
    return root


def give_models_files(home: Path) -> None:
    """Give each seeded model artifact a real file with the size and hash its row records
    (the seed names files it does not write), so that compare verifies and reads them."""
    conn = sqlite3.connect(home / "dockyard.db")
    try:
        with conn:
            for (artifact_id,) in conn.execute("SELECT id FROM artifact").fetchall():
                data = f"model file {artifact_id}\n".encode()
                digest = hashlib.sha256(data).hexdigest()
                (home / "objects" / digest).write_bytes(data)
                conn.execute(
                    "UPDATE artifact SET object_path = ?, sha256 = ?, size_bytes = ? WHERE id = ?",
                    (f"objects/{digest}", digest, len(data), artifact_id),
                )
    finally:
        conn.close()


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


def test_the_fast_reads_name_only_what_the_orm_schema_defines(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement the read commands run prepares on a schema built from the SQLModel
    metadata alone: the raw SQL cannot drift from the one schema definition unnoticed."""
    from click.testing import CliRunner
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    import dockyard.store.models  # noqa: F401  (fills the metadata)
    from dockyard.core import workspace as workspace_module
    from dockyard.store.queries import SqliteReader
    from dockyard.tui.cli import main

    seen: dict[str, dict[str, object]] = {}
    for method in ("fetch_all", "iter_rows", "iter_batches"):
        original = getattr(SqliteReader, method)

        def recording(self: object, sql: str, params: object = None, *rest: object,
                      _original: object = original) -> object:  # fmt: skip
            seen[sql] = dict(params or {})  # type: ignore[call-overload]
            return _original(self, sql, params, *rest)  # type: ignore[operator]

        monkeypatch.setattr(SqliteReader, method, recording)
    monkeypatch.setattr(workspace_module, "_READERS", {})
    monkeypatch.setenv("DOCKYARD_HOME", str(store))
    for args in FAST_READS:
        result = CliRunner().invoke(main, args, prog_name="dockyard")
        assert result.exit_code == 0, (args, result.output)
    seen = {sql: params for sql, params in seen.items() if "alembic_version" not in sql}
    assert len(seen) > 40  # every command above read something

    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    raw = engine.raw_connection()
    try:
        for sql, params in seen.items():
            try:
                raw.cursor().execute("EXPLAIN " + sql, params)
            except sqlite3.OperationalError as exc:
                pytest.fail(f"{exc} in:\n{sql}")
    finally:
        raw.close()
        engine.dispose()


#: The writes a script calls in a loop, on the standard library's sqlite3 (decision 28).
def fast_writes(store: Path) -> list[list[str]]:
    conn = sqlite3.connect(store / ".dockyard" / "dockyard.db")
    try:
        (run_id,) = conn.execute(
            "SELECT r.id FROM run AS r JOIN artifact AS a ON a.run_id = r.id"
            " WHERE r.status = 'finished' AND a.kind = 'model' ORDER BY r.id LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    sample = Path(__file__).resolve().parent.parent / "sample_projects" / "wine"
    return [
        ["project", "add", str(store / "projects" / "churn")],  # re-added: an update
        ["project", "add", str(sample)],  # a new project, with monitors
        ["run", "start", "churn", "--no-agent"],
        ["run", "start", "churn", "--no-agent", "-p", "C=0.5,2", "--json"],  # a sweep
        ["run", "start", "--from", "7", "--no-agent"],
        ["model", "register", str(run_id), "--name", "fast-write-model"],
        ["model", "register", str(run_id), "--name", "churn-model", "--json"],
    ]


def own_copy(store: Path, tmp_path: Path) -> Path:
    """A copy of the seeded store for a test that writes (the read tests share the store)."""
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    return copy


def test_the_writes_a_script_loops_over_do_not_import_the_orm(store: Path, tmp_path: Path) -> None:
    from dockyard.core.audit import check_chain
    from dockyard.core.workspace import find_workspace

    commands = fast_writes(store)
    store = own_copy(store, tmp_path)
    for args in commands:
        output, loaded = run_recording_modules(store, args, tmp_path)
        assert output.strip(), args
        roots = {name.split(".")[0] for name in loaded}
        assert not roots & set(HEAVY), (args, sorted(roots & set(HEAVY)))
    # the registrations' audit events chain on, and the witness names them
    report = check_chain(find_workspace(home=store))
    assert report.ok and report.unwitnessed == 0, report.describe()


def test_the_fast_writes_write_whole_rows_of_the_orm_schema(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row the plain-SQL writes insert names only columns of the SQLModel tables and
    gives each NOT NULL column without a server default a value; every statement prepares
    on the schema built from the metadata; and the ORM reads the rows back."""
    from click.testing import CliRunner
    from sqlalchemy import create_engine
    from sqlmodel import Session, SQLModel

    from dockyard.core import workspace as workspace_module
    from dockyard.core.workspace import engine_for, find_workspace
    from dockyard.store.writes import SqliteTransaction, _insert_sql
    from dockyard.tui.cli import main

    inserted: list[tuple[str, dict[str, object], int | None]] = []
    statements: dict[str, dict[str, object]] = {}
    original_insert, original_add = SqliteTransaction.insert, SqliteTransaction.add
    original_execute, original_fetch = SqliteTransaction.execute, SqliteTransaction.fetch_all

    def insert(self: SqliteTransaction, table: str, values: dict[str, object]) -> int:
        row_id = original_insert(self, table, values)
        inserted.append((table, dict(values), row_id))
        return row_id

    def add(self: SqliteTransaction, table: str, values: dict[str, object]) -> None:
        original_add(self, table, values)
        inserted.append((table, dict(values), None))

    def execute(self: SqliteTransaction, sql: str, params: object = None) -> int:
        statements[sql] = dict(params or {})  # type: ignore[call-overload]
        return original_execute(self, sql, params)  # type: ignore[arg-type]

    def fetch_all(self: SqliteTransaction, sql: str, params: object = None) -> object:
        statements[sql] = dict(params or {})  # type: ignore[call-overload]
        return original_fetch(self, sql, params)  # type: ignore[arg-type]

    monkeypatch.setattr(SqliteTransaction, "insert", insert)
    monkeypatch.setattr(SqliteTransaction, "add", add)
    monkeypatch.setattr(SqliteTransaction, "execute", execute)
    monkeypatch.setattr(SqliteTransaction, "fetch_all", fetch_all)
    monkeypatch.setattr(workspace_module, "_READERS", {})
    commands = fast_writes(store)
    store = own_copy(store, tmp_path)
    monkeypatch.setenv("DOCKYARD_HOME", str(store))
    for args in commands:
        result = CliRunner().invoke(main, args, prog_name="dockyard")
        assert result.exit_code == 0, (args, result.output)

    tables = SQLModel.metadata.tables
    assert {table for table, _, _ in inserted} >= {
        "project", "monitor", "run", "param", "registered_model", "model_version", "audit_event",
    }  # fmt: skip
    for table, values, _ in inserted:
        columns = tables[table].columns
        assert set(values) <= set(columns.keys()), (table, set(values) - set(columns.keys()))
        required = {
            c.name
            for c in columns
            if not c.nullable and c.server_default is None and not c.primary_key
        }
        assert required <= set(values), (table, required - set(values))

    for table, values, row_id in inserted:
        statements[_insert_sql(table, values, "" if row_id is None else " RETURNING id")] = values
    schema_only = create_engine("sqlite://")  # the metadata alone, not the migrations
    SQLModel.metadata.create_all(schema_only)
    raw = schema_only.raw_connection()
    try:
        for sql, params in statements.items():
            try:
                raw.cursor().execute("EXPLAIN " + sql, SqliteTransaction._params(params))
            except sqlite3.OperationalError as exc:
                pytest.fail(f"{exc} in:\n{sql}")
    finally:
        raw.close()
        schema_only.dispose()
    engine = engine_for(find_workspace(home=store))
    classes = {m.__tablename__: m for m in SQLModel.__subclasses__()}
    with Session(engine) as session:  # the ORM loads what the plain SQL wrote, fields typed
        for table, values, row_id in inserted:
            if row_id is None:
                continue
            row = session.get(classes[table], row_id)
            assert row is not None, (table, row_id)
            for name, value in values.items():  # times come back aware, equal to the written
                assert getattr(row, name) == value, (table, name, getattr(row, name), value)


def test_a_write_the_check_can_catch(store: Path, tmp_path: Path) -> None:
    # The check can fail: a command that writes through SQLModel shows up in it.
    args = ["model", "edit", "churn-model@1", "-m", "edited"]
    _output, loaded = run_recording_modules(store, args, tmp_path)
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


def test_deploy_status_at_a_time_with_an_offset_compares_in_utc(
    store: Path, tmp_path: Path
) -> None:
    """`--at` with a UTC offset means that instant: an hour before a deployment, written in
    +10:00, does not show it (the ORM compared the local wall-clock time as if UTC)."""
    from datetime import datetime, timedelta, timezone

    conn = sqlite3.connect(store / ".dockyard" / "dockyard.db")
    try:
        deployment_id, deployed_at = conn.execute(
            "SELECT id, deployed_at FROM deployment WHERE status = 'active' ORDER BY id LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    deployed = datetime.fromisoformat(deployed_at).replace(tzinfo=UTC)
    before = (deployed - timedelta(hours=1)).astimezone(timezone(timedelta(hours=10)))
    after = deployed + timedelta(hours=1)

    def shown_at(moment: datetime) -> set[int]:
        args = ["deploy", "status", "--at", moment.isoformat(), "--json"]
        output, _loaded = run_recording_modules(store, args, tmp_path)
        return {d["id"] for d in json.loads(output)}

    assert deployment_id in shown_at(after)
    assert deployment_id not in shown_at(before)
