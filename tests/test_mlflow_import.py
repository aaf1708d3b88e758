"""``dockyard import mlflow`` on stores written by real MLflow 2.x and 3.x (SQLite and file
store), committed under ``tests/fixtures/mlflow`` with the script that writes them.

Each test copies a fixture store into ``tmp_path`` (some break the copy on purpose) and
imports it into a fresh workspace; nothing here needs MLflow.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.errors import InputError
from dockyard.core.mlflow_import import (
    RUN_ID_TAG,
    ImportProgress,
    ImportSummary,
    import_mlflow,
)
from dockyard.core.mlflow_source import MlflowSourceError
from dockyard.core.mlflow_writer import NONFINITE_TAG
from dockyard.core.workspace import Workspace
from tests.test_cli import dockyard, one_line_error

FIXTURES = Path(__file__).parent / "fixtures" / "mlflow"
STORES = [
    ("mlflow2", "sqlite"),
    ("mlflow2", "mlruns"),
    ("mlflow3", "sqlite"),
    ("mlflow3", "mlruns"),
]


def copy_store(tmp_path: Path, version: str = "mlflow2", kind: str = "sqlite") -> Path:
    """A copy of a fixture store; the path to give the importer."""
    target = tmp_path / "mlflow-store" / kind
    shutil.copytree(FIXTURES / version / kind, target)
    return target / "mlflow.db" if kind == "sqlite" else target


def spec(store: Path) -> str:
    return f"sqlite:///{store}" if store.suffix == ".db" else str(store)


def rows(ws: Workspace, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as con:
        return con.execute(sql, args).fetchall()


def counts(ws: Workspace) -> dict[str, int]:
    tables = (
        "project",
        "run",
        "param",
        "run_tag",
        "metric",
        "artifact",
        "registered_model",
        "model_version",
        "model_alias",
        "audit_event",
    )
    return {t: rows(ws, f"SELECT count(*) FROM {t}")[0][0] for t in tables}


def bench_module() -> Any:
    """bench/mlflow_import.py, whose ``make_store`` writes MLflow's schema (the fixture's)."""
    import importlib.util

    loaded = importlib.util.spec_from_file_location(
        "bench_mlflow_import", Path(__file__).parent.parent / "bench" / "mlflow_import.py"
    )
    assert loaded is not None and loaded.loader is not None
    bench = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(bench)
    return bench


def lines(summary: ImportSummary, outcome: str) -> list[str]:
    return [line.text() for line in summary.lines if line.outcome == outcome]


def run_by_name(ws: Workspace, name: str) -> int:
    found = rows(ws, "SELECT run_id FROM run_tag WHERE key = 'mlflow.runName' AND value = ?", name)
    assert len(found) == 1, found
    return int(found[0][0])


# --------------------------------------------------------------------------- what arrives


@pytest.mark.parametrize(("version", "kind"), STORES)
def test_everything_arrives(workspace: Workspace, tmp_path: Path, version: str, kind: str) -> None:
    from dockyard.core.registry import alias_history, get_version, load_model
    from dockyard.core.runs import get_run, metric_history

    summary = import_mlflow(workspace, spec(copy_store(tmp_path, version, kind)))
    assert summary.total("failed") == 0, summary.lines
    assert summary.counts["project"]["imported"] == 2
    assert summary.counts["run"]["imported"] == 4
    assert summary.counts["version"]["imported"] == 2
    assert {r[0] for r in rows(workspace, "SELECT name FROM project")} == {"wine", "churn"}

    baseline = get_run(workspace, run_by_name(workspace, "baseline"))
    assert baseline.status == "finished" and baseline.user == "alice"
    assert baseline.git_commit == "1" * 40
    assert baseline.started_at is not None and baseline.started_at.year == 2024
    # typed where MLflow's text reads back the same (decision 12: JSON text)
    stored = dict(rows(workspace, "SELECT key, value FROM param WHERE run_id = ?", baseline.id))
    assert stored == {"C": "1.0", "solver": '"lbfgs"', "max_iter": "200"}
    crashed = get_run(workspace, run_by_name(workspace, "crashed"))
    assert crashed.status == "failed" and crashed.user == "bob"

    # every finite point with its step and timestamp; NaN and inf kept in the tag
    loss = metric_history(workspace, baseline.id, "loss")
    assert [(p[0], p[1]) for p in loss] == [(0, 1.0), (1, 0.7), (3, 0.4), (5, 0.3)]
    odd = json.loads(
        rows(
            workspace,
            "SELECT value FROM run_tag WHERE run_id = ? AND key = ?",
            baseline.id,
            NONFINITE_TAG,
        )[0][0]
    )
    assert odd["count"] == 3
    assert [p[:2] for p in odd["points"]["loss"]] == [[2, "nan"], [4, "inf"]]
    assert [p[:2] for p in odd["points"]["accuracy"]] == [[5, "-inf"]]

    names = {
        r[0]: r[1]
        for r in rows(workspace, "SELECT name, kind FROM artifact WHERE run_id = ?", baseline.id)
    }
    assert names["notes/notes-baseline.txt"] == "file" and names["model"] == "model"
    assert "model/MLmodel" in names

    v1, v2 = (
        get_version(workspace, "wine-classifier@1"),
        get_version(workspace, "wine-classifier@2"),
    )
    assert v1.run_id == baseline.id and v2.run_id == run_by_name(workspace, "strong-reg")
    assert v1.tags["validated"] == "yes" and v1.description.startswith("from run")
    assert get_version(workspace, "wine-classifier@champion").version == 2
    assert get_version(workspace, "wine-classifier@mlflow-production").version == 1
    assert get_version(workspace, "wine-classifier@mlflow-staging").version == 2
    description = rows(workspace, "SELECT description FROM registered_model")[0][0]
    assert description.startswith('Predicts the wine\'s class from two "chemistry" columns')
    assert "\n\nOwner: quality team" in description  # MLflow's folded YAML read back exactly
    history = alias_history(workspace, "wine-classifier")
    assert {h["alias"] for h in history} == {"champion", "mlflow-production", "mlflow-staging"}
    assert all("imported from MLflow" in h["note"] for h in history)

    model = load_model(workspace, "wine-classifier@1")
    assert list(model.feature_names_in_) == ["alcohol", "acidity"]
    import pandas as pd

    frame = pd.DataFrame([[0.0, 1.0], [1.0, 0.0]], columns=["alcohol", "acidity"])
    assert list(model.predict(frame)) == [0, 1]


def test_a_second_import_adds_nothing(workspace: Workspace, tmp_path: Path) -> None:
    store = spec(copy_store(tmp_path))
    import_mlflow(workspace, store)
    before = counts(workspace)
    again = import_mlflow(workspace, store)
    assert counts(workspace) == before
    assert again.counts["run"] == {"skipped": 4} and again.total("imported") == 0
    assert again.total("failed") == 0


def test_dry_run_says_the_same_and_writes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    store = spec(copy_store(tmp_path))
    before = counts(workspace)
    dry = import_mlflow(workspace, store, dry_run=True)
    assert counts(workspace) == before
    assert not list((workspace.objects).glob("??*"))
    real = import_mlflow(workspace, store)
    assert dry.counts == real.counts
    assert dry.headline().startswith("would import 2 projects, 4 runs")


def test_an_interrupted_import_leaves_whole_runs_and_continues(
    workspace: Workspace, tmp_path: Path
) -> None:
    store = spec(copy_store(tmp_path))

    def stop_after_two(event: ImportProgress) -> None:
        if event.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_mlflow(workspace, store, progress=stop_after_two)
    assert rows(workspace, "SELECT count(*) FROM run")[0][0] == 2
    for (run_id,) in rows(workspace, "SELECT id FROM run"):  # each run whole: tags and metrics
        assert (
            rows(
                workspace,
                "SELECT count(*) FROM run_tag WHERE run_id = ? AND key = ?",
                run_id,
                RUN_ID_TAG,
            )[0][0]
            == 1
        )
        assert rows(workspace, "SELECT count(*) FROM metric WHERE run_id = ?", run_id)[0][0] > 0
    rest = import_mlflow(workspace, store)
    assert rest.counts["run"] == {"skipped": 2, "imported": 2}
    fresh = tmp_path / "fresh"
    from dockyard.core.workspace import init_workspace

    other = init_workspace(fresh)
    import_mlflow(other, store)
    assert counts(workspace)["metric"] == counts(other)["metric"]
    assert counts(workspace)["model_version"] == counts(other)["model_version"] == 2


def test_selected_experiments_only(workspace: Workspace, tmp_path: Path) -> None:
    store = spec(copy_store(tmp_path))
    summary = import_mlflow(workspace, store, ["churn"])
    assert [r[0] for r in rows(workspace, "SELECT name FROM project")] == ["churn"]
    assert summary.counts["run"]["imported"] == 1
    with pytest.raises(InputError, match=r"no MLflow experiment named 'nope'.*churn, wine"):
        import_mlflow(workspace, store, ["nope"])


# --------------------------------------------------------------------------- bad input


def test_unknown_schema_revision_is_named_and_nothing_written(
    workspace: Workspace, tmp_path: Path
) -> None:
    db = copy_store(tmp_path)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE alembic_version SET version_num = 'fedcba987654'")
    before = counts(workspace)
    with pytest.raises(MlflowSourceError, match=r"revision fedcba987654 is not one.*1\.0 to 3\.17"):
        import_mlflow(workspace, spec(db))
    assert counts(workspace) == before
    result = dockyard("import", "mlflow", spec(db), cwd=workspace.root)
    assert result.returncode == 2
    assert "fedcba987654" in one_line_error(result)


def test_corrupt_sqlite_file_is_one_line(workspace: Workspace, tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"this is not a database" * 100)
    result = dockyard("import", "mlflow", f"sqlite:///{db}", cwd=workspace.root)
    assert result.returncode == 2
    assert "not a readable SQLite database" in one_line_error(result)
    assert counts(workspace)["run"] == 0


def test_file_store_missing_meta_yaml(workspace: Workspace, tmp_path: Path) -> None:
    store = copy_store(tmp_path, "mlflow2", "mlruns")
    run_meta = next(p for p in store.glob("*/*/meta.yaml") if "crashed" in p.read_text())
    run_meta.unlink()
    churn_meta = next(p for p in store.glob("*/meta.yaml") if "name: churn" in p.read_text())
    churn_meta.unlink()
    summary = import_mlflow(workspace, spec(store))
    failed = lines(summary, "failed")
    assert any(f"run {run_meta.parent.name}" in f and "meta.yaml is missing" in f for f in failed)
    assert any(churn_meta.parent.name in f and "meta.yaml is missing" in f for f in failed)
    assert summary.counts["run"]["imported"] == 2  # baseline and strong-reg, whole
    assert [r[0] for r in rows(workspace, "SELECT name FROM project")] == ["wine"]


def test_nonfinite_metrics_are_kept_and_said(workspace: Workspace, tmp_path: Path) -> None:
    summary = import_mlflow(workspace, spec(copy_store(tmp_path)))
    kept = lines(summary, "kept")
    assert any("baseline" in k and "3 NaN/inf points" in k for k in kept)
    values = [r[0] for r in rows(workspace, "SELECT value FROM metric")]
    assert values and all(v is not None and math.isfinite(v) for v in values)


def test_duplicate_names(workspace: Workspace, tmp_path: Path) -> None:
    from dockyard.core.projects import add_project
    from tests.test_projects import GOOD, write_project

    folder = write_project(tmp_path / "mine", GOOD.replace('name = "iris"', 'name = "wine"'))
    add_project(workspace, folder)
    summary = import_mlflow(workspace, spec(copy_store(tmp_path)))
    failed = lines(summary, "failed")
    assert any(
        "experiment wine" in f and "duplicate name: project 'wine' already exists" in f
        for f in failed
    )
    # the model's versions came from wine's runs: each says so
    assert sum("its run" in f and "was not imported" in f for f in failed) == 2
    assert summary.counts["run"]["imported"] == 1  # churn's
    assert counts(workspace)["model_version"] == 0
    # and no empty model stands in the lists as if it had been brought in
    assert any("none of its versions could be imported" in f for f in failed)
    assert rows(workspace, "SELECT count(*) FROM registered_model")[0][0] == 0


def test_remote_artifacts_are_listed_with_their_uri(workspace: Workspace, tmp_path: Path) -> None:
    summary = import_mlflow(workspace, spec(copy_store(tmp_path, "mlflow3", "sqlite")))
    remote = lines(summary, "not imported")
    assert any("(on-s3)" in r and "s3://dockyard-fixtures/churn/" in r for r in remote)
    on_s3 = run_by_name(workspace, "on-s3")
    assert rows(workspace, "SELECT count(*) FROM artifact WHERE run_id = ?", on_s3)[0][0] == 0
    assert rows(workspace, "SELECT count(*) FROM metric WHERE run_id = ?", on_s3)[0][0] == 1


def test_missing_artifacts_are_listed_not_fatal(workspace: Workspace, tmp_path: Path) -> None:
    db = copy_store(tmp_path)
    shutil.rmtree(db.parent / "artifacts")  # the database copied without its artifacts
    summary = import_mlflow(workspace, spec(db))
    missing = lines(summary, "missing")
    assert len(missing) == 3  # the three wine runs; churn's are remote
    assert summary.counts["run"]["imported"] == 4
    assert sum("has no converted sklearn model" in f for f in lines(summary, "failed")) == 2


def test_a_planted_pickle_runs_nothing(workspace: Workspace, tmp_path: Path) -> None:
    db = copy_store(tmp_path)
    marker = tmp_path / "pwned"

    class Planted:
        def __reduce__(self) -> tuple[Any, ...]:
            import os

            return (os.system, (f"touch {marker}",))

    for model in (db.parent / "artifacts").rglob("model.pkl"):
        model.write_bytes(pickle.dumps(Planted()))
    summary = import_mlflow(workspace, spec(db))
    assert not marker.exists()
    refused = [f for f in lines(summary, "failed") if "not converted" in f]
    assert len(refused) == 2 and all("posix.system" in f for f in refused)
    assert summary.counts["run"]["imported"] == 4  # the runs and their files still arrive


def test_an_imported_project_runs_once_a_folder_gives_it_an_entry(
    workspace: Workspace, tmp_path: Path
) -> None:
    from dockyard.core.projects import add_project, get_project
    from dockyard.core.runs import queue_runs
    from tests.test_projects import GOOD, write_project

    store = spec(copy_store(tmp_path))
    import_mlflow(workspace, store)
    assert get_project(workspace, "wine").entry == ""
    with pytest.raises(InputError, match="imported from MLflow and has no entry command"):
        queue_runs(workspace, "wine")
    folder = write_project(tmp_path / "wine", GOOD.replace('name = "iris"', 'name = "wine"'))
    taken = add_project(workspace, folder)
    assert taken.entry and taken.spec.imported_from.startswith("mlflow:")
    assert import_mlflow(workspace, store).total("failed") == 0  # still its experiment


def test_cli_summary_and_json(workspace: Workspace, tmp_path: Path) -> None:
    store = spec(copy_store(tmp_path))
    text = dockyard("import", "mlflow", store, "--dry-run", cwd=workspace.root)
    assert text.returncode == 0, text.stderr
    assert text.stdout.strip().splitlines()[-1].startswith("would import 2 projects, 4 runs")
    assert "s3://dockyard-fixtures/churn/" in text.stdout
    done = dockyard("import", "mlflow", store, "--json", cwd=workspace.root)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["counts"]["run"] == {"imported": 4} and result["failed"] == 0
    listed = json.loads(dockyard("run", "list", "--json", cwd=workspace.root).stdout)
    assert len(listed) == 4


# --------------------------------------------------------------------------- the writers

STAMP_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
HASH_RE = re.compile(r"[0-9a-f]{64}")


def tables(ws: Workspace, since: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, with what differs between two imports of one store
    masked: times stamped at import (not MLflow's), and hashes (a skops file's bytes vary,
    and the audit chain hashes its times)."""

    def mask(cell: Any) -> Any:
        if isinstance(cell, str) and STAMP_RE.match(cell) and cell >= since:
            return "NOW"
        return HASH_RE.sub("H", cell) if isinstance(cell, str) else cell

    names = [r[0] for r in rows(ws, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        name: [tuple(mask(c) for c in row) for row in rows(ws, f'SELECT * FROM "{name}"')]
        for name in sorted(names)
    }


def odd_points_store(tmp_path: Path) -> Path:
    """A bench-shaped store (MLflow's schema) with the points the SQL copy must sort out:
    NaN, +/-inf as MLflow clamps them, the largest finite values, a repeated step."""
    db = tmp_path / "odd" / "mlflow.db"
    db.parent.mkdir()
    bench_module().make_store(db, 3, 2, 5)
    big = 1.7976931348623157e308
    run = f"{1:032x}"
    with sqlite3.connect(db) as con:
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [("odd", 0.0, 1001, run, 1, 1), ("odd", big, 1002, run, 2, 0),
             ("odd", -big, 1003, run, 3, 0), ("odd", 1e308, 1004, run, 4, 0),
             ("odd", -1e308, 1005, run, 5, 0), ("odd", 2.5, 1006, run, 6, 0),
             ("odd", 3.5, 1006, run, 6, 0), ("odd", 7, 1234567, run, -1, 0)],
        )  # fmt: skip
    return db


@pytest.mark.parametrize(("version", "kind"), [*STORES, ("bench", "odd")])
def test_the_sqlite_writer_writes_what_sqlalchemy_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str, kind: str
) -> None:
    """The sqlite3 fast path (an SQLite MLflow store attached, its finite points copied in
    SQL) and the SQLAlchemy path other stores take leave the same rows."""
    from datetime import UTC, datetime

    from dockyard.core import mlflow_import
    from dockyard.core.mlflow_writer import EngineRunWriter, SqliteRunWriter, run_writer
    from dockyard.core.workspace import init_workspace

    store = odd_points_store(tmp_path) if kind == "odd" else copy_store(tmp_path, version, kind)
    since = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    made: list[Any] = []

    def spy(*args: Any) -> Any:
        made.append(run_writer(*args))
        return made[-1]

    monkeypatch.setattr(mlflow_import, "run_writer", spy)
    fast = init_workspace(tmp_path / "fast")
    only = ["bench"] if kind == "odd" else []  # the fixture's own runs stay out: no files
    fast_summary = import_mlflow(fast, spec(store), only)
    assert isinstance(made[0], SqliteRunWriter)
    assert made[0].copies_metrics == (kind != "mlruns")  # attached when MLflow's is SQLite

    def orm_writer(_url: str, engine: Any, _source: Any) -> EngineRunWriter:
        return EngineRunWriter(engine)

    monkeypatch.setattr(mlflow_import, "run_writer", orm_writer)
    orm = init_workspace(tmp_path / "orm")
    orm_summary = import_mlflow(orm, spec(store), only)

    assert fast_summary.to_dict() == orm_summary.to_dict()
    assert tables(fast, since) == tables(orm, since)
    assert fast_summary.total("imported") > 0 and fast_summary.total("failed") == 0
    if kind == "odd":
        odd = rows(fast, "SELECT step, value, timestamp FROM metric WHERE key = 'odd'")
        assert odd == [(-1, 7.0, 1234.567), (4, 1e308, 1.004), (5, -1e308, 1.005),
                       (6, 2.5, 1.006), (6, 3.5, 1.006)]  # fmt: skip
        tag = rows(fast, "SELECT value FROM run_tag WHERE key = ?", NONFINITE_TAG)
        assert json.loads(tag[0][0]) == {
            "count": 3,
            "points": {"odd": [[1, "nan", 1001], [2, "inf", 1002], [3, "-inf", 1003]]},
        }


@pytest.mark.slow
@pytest.mark.parametrize("signum", ["SIGKILL", "SIGINT"])
def test_sigkill_mid_import_leaves_whole_runs_and_a_rerun_finishes(
    workspace: Workspace, tmp_path: Path, signum: str
) -> None:
    """A real ``dockyard import mlflow`` process killed outright (or stopped by ctrl+c,
    which lands in the middle of a run's writes more often than not), then run again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    db = tmp_path / "big.db"
    bench_module().make_store(db, 400, 5, 100)  # MLflow's schema (the fixture), 200,000 points
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    args = [sys.executable, "-m", "dockyard.tui", "import", "mlflow", f"sqlite:///{db}",
            "--experiment", "bench", "--json"]  # fmt: skip
    process = subprocess.Popen(args, cwd=workspace.root, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if rows(workspace, "SELECT count(*) FROM run")[0][0] >= 20:
            break
        time.sleep(0.05)
    process.send_signal(getattr(signal, signum))
    _, err = process.communicate(timeout=30)
    if signum == "SIGINT":
        assert process.returncode == 130, err
        stopped = subprocess.CompletedProcess(args, 130, "", err)
        assert "interrupted: the runs imported so far are whole" in one_line_error(stopped)
    else:
        assert process.returncode == -signal.SIGKILL
    done = rows(workspace, "SELECT count(*) FROM run")[0][0]
    assert 20 <= done < 400
    per_run = rows(workspace, "SELECT r.id, count(m.id) FROM run r LEFT JOIN metric m "
                              "ON m.run_id = r.id GROUP BY r.id")  # fmt: skip
    assert {n for _, n in per_run} == {500}  # no half run
    again = dockyard("import", "mlflow", f"sqlite:///{db}", "--experiment", "bench", "--json",
                     cwd=workspace.root, timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["counts"]["run"] == {"skipped": done, "imported": 400 - done}
    assert rows(workspace, "SELECT count(*) FROM metric")[0][0] == 200_000
    assert rows(workspace, "SELECT count(DISTINCT value) FROM run_tag WHERE key = ?",
                RUN_ID_TAG)[0][0] == 400  # fmt: skip


# --------------------------------------------------------------------------- archived projects


def test_an_archived_project_takes_no_imported_run(workspace: Workspace, tmp_path: Path) -> None:
    """Archiving retires a project (docs/architecture.md): the import refuses, in one line
    and before writing anything, to add runs to it, as `dockyard run start` does."""
    from dockyard.core import housekeeping

    store = spec(copy_store(tmp_path))

    def stop_after_one(event: ImportProgress) -> None:
        if event.done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_mlflow(workspace, store, progress=stop_after_one)
    ((name,),) = rows(workspace, "SELECT name FROM project")
    housekeeping.archive(workspace, "project", name)
    before = counts(workspace)
    refused = dockyard("import", "mlflow", store, cwd=workspace.root)
    assert refused.returncode == 2
    assert one_line_error(refused) == (
        f"dockyard: error: project {name} is archived, so no MLflow run is imported into it; "
        f"restore it first: `dockyard project restore {name}`"
    )
    assert counts(workspace) == before  # not even the other experiment's project
    other = "churn" if name == "wine" else "wine"
    assert import_mlflow(workspace, store, [other]).total("failed") == 0  # others still come

    housekeeping.restore(workspace, "project", name)
    assert import_mlflow(workspace, store).total("failed") == 0
    assert counts(workspace)["run"] == 4


def test_a_project_archived_during_an_import_takes_no_more_of_its_runs(
    workspace: Workspace, tmp_path: Path
) -> None:
    from dockyard.core import housekeeping
    from dockyard.core.projects import ProjectArchivedError

    store = spec(copy_store(tmp_path))
    archived: list[str] = []

    def archive_after_one(event: ImportProgress) -> None:
        if event.done == 1:
            ((name,),) = rows(workspace, "SELECT name FROM project")
            housekeeping.archive(workspace, "project", name)
            archived.append(name)

    with pytest.raises(ProjectArchivedError, match="project restore"):
        import_mlflow(workspace, store, progress=archive_after_one)
    assert rows(workspace, "SELECT count(*) FROM run")[0][0] == 1
    assert len(archived) == 1
