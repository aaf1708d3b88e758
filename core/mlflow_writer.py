"""Writing imported MLflow runs: each run in one transaction, its rows built once.

Two writers, chosen by the workspace's URL (:func:`run_writer`):

- :class:`SqliteRunWriter`, for a workspace on an SQLite file: one ``sqlite3`` connection
  held for the whole import, ``BEGIN IMMEDIATE`` ... ``COMMIT`` per run. When the MLflow
  store is an SQLite file too, it is attached read-only to that connection and each run's
  finite metric points are copied by one ``INSERT ... SELECT``: they never become Python
  objects, which was most of an import's time (docs/performance.md, "MLflow import");
- :class:`EngineRunWriter`, for any other store (PostgreSQL): SQLAlchemy Core statements,
  one ``engine.begin()`` per run.

Both write the same rows: the run table's column defaults are those of the SQLModel table,
and a test imports the fixture stores through both and compares the tables.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from dockyard.core.mlflow_source import SQL_INF, Source
from dockyard.core.projects import hold_live_project
from dockyard.store.writes import SqlAlchemyTransaction, SqliteTransaction

NONFINITE_TAG = "dockyard.mlflow.nonfinite"
#: At most this many non-finite points are listed in a run's tag (all are counted).
NONFINITE_KEEP = 1000
#: The name the MLflow store is attached under on the writer's connection.
SOURCE_SCHEMA = "mlflow_source"


@dataclass(frozen=True)
class RunRows:
    """What one imported run writes."""

    #: the run table's columns (times as datetimes)
    row: dict[str, Any]
    mlflow_run_id: str
    #: MLflow's strings, stored as Dockyard param JSON (:func:`param_json`)
    params: dict[str, str]
    tags: dict[str, str]
    #: (key, step, value, timestamp in ms) as read: every point, or only the non-finite ones
    #: when the writer copies the finite ones itself (:attr:`RunWriter.copies_metrics`)
    metrics: list[tuple[str, int, float, int]]
    artifacts: list[dict[str, Any]]
    #: the project's name, for the refusal when it was archived during the import
    project: str = ""


@dataclass(frozen=True)
class Written:
    run_id: int
    points: int
    nonfinite: int


class RunWriter(Protocol):
    #: whether the writer reads the run's finite metric points from the store itself
    copies_metrics: bool

    def write(self, rows: RunRows) -> Written: ...

    def close(self) -> None: ...


def run_writer(db_url: str, engine: Any, source: Source) -> RunWriter:
    """The writer for a workspace at ``db_url`` (its ``engine`` already migrated)."""
    from dockyard.store.queries import sqlite_file

    path = sqlite_file(db_url)
    if path is not None:
        return SqliteRunWriter(path, source)
    return EngineRunWriter(engine)


def split_points(
    metrics: list[tuple[str, int, float, int]], run_id: int
) -> tuple[list[tuple[int, str, int, float, float]], str | None, int]:
    """The metric rows of ``run_id`` (timestamps in seconds), in one pass, and the
    non-finite points as the :data:`NONFINITE_TAG` value (None when there are none) with
    their count: Dockyard's metric table keeps finite values only."""
    points: list[tuple[int, str, int, float, float]] = []
    append, isfinite = points.append, math.isfinite
    odd: dict[str, list[list[Any]]] = {}
    n_odd = 0
    for key, step, value, stamp in metrics:
        if isfinite(value):
            append((run_id, key, step, value, stamp / 1000))
        else:
            n_odd += 1
            if n_odd <= NONFINITE_KEEP:
                odd.setdefault(key, []).append([step, repr(value), stamp])
    note = json.dumps({"count": n_odd, "points": odd}, sort_keys=True) if n_odd else None
    return points, note, n_odd


def param_json(value: str) -> str:
    """A param value as Dockyard stores it (JSON text, decision 12); MLflow kept strings, so
    a number or bool is typed only when its text reads back the same."""
    for parse in (int, float):
        try:
            number = parse(value)
        except ValueError:
            continue
        if str(number) == value and (not isinstance(number, float) or math.isfinite(number)):
            return json.dumps(number)
    if value in ("True", "False"):
        return json.dumps(value == "True")
    return json.dumps(value)


def _tags(rows: RunRows, note: str | None) -> dict[str, str]:
    return {**rows.tags, NONFINITE_TAG: note} if note is not None else rows.tags


class SqliteRunWriter:
    """Runs written through one ``sqlite3`` connection to the workspace's SQLite file."""

    def __init__(self, path: Path, source: Source) -> None:
        from dockyard.store.db import SQLITE_PRAGMAS
        from dockyard.store.models import Run

        # autocommit mode: each run's BEGIN/COMMIT is ours, nothing is opened implicitly
        self.conn = sqlite3.connect(
            path.resolve().as_uri(), uri=True, isolation_level=None, timeout=10
        )
        for pragma in SQLITE_PRAGMAS:
            self.conn.execute(pragma)
        # what SQLAlchemy's insert(Run) fills in for the columns the importer leaves out
        self.defaults = {
            c.name: c.default.arg
            for c in Run.__table__.columns  # type: ignore[attr-defined]
            if c.default is not None and c.default.is_scalar and c.default.arg is not None
        }
        self.copy_sql: str | None = None
        if source.sqlite_path is not None:
            self.conn.execute(
                f"ATTACH DATABASE ? AS {SOURCE_SCHEMA}",
                (f"{source.sqlite_path.as_uri()}?mode=ro",),
            )
            self.copy_sql = (
                "INSERT INTO metric (run_id, key, step, value, timestamp) "
                + source.finite_metrics_sql(SOURCE_SCHEMA)
            )
        self.copies_metrics = self.copy_sql is not None

    def write(self, rows: RunRows) -> Written:
        conn = self.conn
        values = {**self.defaults, **rows.row}
        values = {k: _sql_time(v) if isinstance(v, datetime) else v for k, v in values.items()}
        columns = ", ".join(f'"{k}"' for k in values)
        marks = ", ".join("?" for _ in values)
        # IMMEDIATE: the write lock from the start, so a busy store waits (busy_timeout)
        # instead of failing when a read transaction would have to become a write one
        conn.execute("BEGIN IMMEDIATE")
        try:
            # archived since the import checked: the run goes nowhere (the check run start uses)
            hold_live_project(SqliteTransaction(conn), rows.row["project_id"], rows.project)
            cursor = conn.execute(
                f"INSERT INTO run ({columns}) VALUES ({marks})", list(values.values())
            )
            run_id = int(cursor.lastrowid or 0)
            points, note, n_odd = split_points(rows.metrics, run_id)
            conn.executemany(
                "INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, k, param_json(v)) for k, v in rows.params.items()],
            )
            conn.executemany(
                "INSERT INTO run_tag (run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, k, v) for k, v in _tags(rows, note).items()],
            )
            if points:
                conn.executemany(
                    "INSERT INTO metric (run_id, key, step, value, timestamp) "
                    "VALUES (?, ?, ?, ?, ?)",
                    points,
                )
            n_points = len(points)
            if self.copy_sql is not None:
                n_points += conn.execute(
                    self.copy_sql, {"run": run_id, "r": rows.mlflow_run_id, "inf": SQL_INF}
                ).rowcount
            if rows.artifacts:
                stamp = _sql_time(datetime.now(UTC))
                conn.executemany(
                    "INSERT INTO artifact (run_id, name, kind, sha256, size_bytes, "
                    "object_path, file_format, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            run_id,
                            a["name"],
                            a["kind"],
                            a["sha256"],
                            a["size_bytes"],
                            a["object_path"],
                            a["file_format"],
                            stamp,
                        )
                        for a in rows.artifacts
                    ],
                )
            conn.execute("COMMIT")
        except BaseException:  # Ctrl-C included: the run is not half-written
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return Written(run_id, n_points, n_odd)

    def close(self) -> None:
        self.conn.close()


class EngineRunWriter:
    """Runs written through SQLAlchemy, one transaction each (stores other than SQLite)."""

    copies_metrics = False

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def write(self, rows: RunRows) -> Written:
        from sqlalchemy import insert

        from dockyard.store.models import Artifact, Metric, Param, Run, RunTag

        with self.engine.begin() as conn:
            hold_live_project(SqlAlchemyTransaction(conn), rows.row["project_id"], rows.project)
            result = conn.execute(insert(Run).values(**rows.row))
            run_id = int(result.inserted_primary_key[0])
            points, note, n_odd = split_points(rows.metrics, run_id)
            if rows.params:
                conn.execute(
                    insert(Param),
                    [
                        {"run_id": run_id, "key": k, "value": param_json(v)}
                        for k, v in rows.params.items()
                    ],
                )
            conn.execute(
                insert(RunTag),
                [{"run_id": run_id, "key": k, "value": v} for k, v in _tags(rows, note).items()],
            )
            if points:
                conn.execute(
                    insert(Metric),
                    [
                        {"run_id": r, "key": k, "step": s, "value": v, "timestamp": t}
                        for r, k, s, v, t in points
                    ],
                )
            if rows.artifacts:
                now = datetime.now(UTC)
                conn.execute(
                    insert(Artifact),
                    [{**a, "run_id": run_id, "created_at": now} for a in rows.artifacts],
                )
        return Written(run_id, len(points), n_odd)

    def close(self) -> None:
        """The engine is the workspace's, shared: nothing to release."""


def _sql_time(moment: datetime) -> str:
    """A datetime as SQLAlchemy writes it into SQLite (naive UTC text, microseconds)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
