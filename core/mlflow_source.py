"""MLflow's stores read as they lie on disk or in the database, without MLflow.

Two layouts, one interface (:class:`Source`):

- :class:`SqlSource`: the SQL backend store (``sqlite:///mlflow.db``; other SQLAlchemy
  URLs such as ``postgresql://`` through SQLAlchemy). Tables and columns are MLflow's
  (``experiments``, ``runs``, ``params``, ``tags``, ``metrics``, ``registered_models``,
  ``model_versions``, ``registered_model_aliases``, and in MLflow 3 ``logged_models``);
  the schema revision in ``alembic_version`` must be one MLflow released up to
  :data:`NEWEST_KNOWN`, so a store a newer MLflow migrated is refused before it is read.
- :class:`FileSource`: the file store (``mlruns/``): ``<experiment>/meta.yaml``,
  ``<experiment>/<run>/{meta.yaml,params/,tags/,metrics/,artifacts/}``,
  ``models/<name>/{meta.yaml,tags/,aliases/,version-N/}`` and in MLflow 3
  ``<experiment>/models/<model id>/``.

Everything returned is plain data. Errors that concern the whole store raise
:class:`MlflowSourceError` (an ``InputError``: exit 2); a problem with one experiment or
run is reported by the importer for that item only.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from dockyard.core import mlflow_yaml
from dockyard.core.errors import InputError

#: Every schema revision of MLflow's SQL store (its ``store/db_migrations/versions``),
#: oldest first: MLflow 1.0 (``451aebb31d03``) to 3.17 (``dc11669786a5``); 2.17 to 2.22
#: stop at ``0584bdc529eb``. A store at one of these is read; any other revision was
#: written by an MLflow this importer has not been checked against, and is refused.
KNOWN_REVISIONS: tuple[str, ...] = tuple(
    [
        "451aebb31d03",
        "90e64c465722",
        "181f10493468",
        "df50e92ffc5e",
        "7ac759974ad8",
        "89d4b8295536",
        "2b4d017a5e9b",
        "cfd24bdc0731",
        "0a8213491aaa",
        "728d730b5ebd",
        "27a6a02d2cf1",
        "84291f40a231",
        "a8c4a736bde6",
        "39d1c3be5f05",
        "c48cb773bb87",
        "bd07f7e963c5",
        "0c779009ac13",
        "cc1f77228345",
        "97727af70f4d",
        "3500859a5d39",
        "7f2a7d5fae7d",
        "2d6e25af4d3e",
        "acf3f17fdcc7",
        "867495a8f9d4",
        "5b0e9adcef9c",
        "4465047574b1",
        "f5a4f2784254",
        "0584bdc529eb",
        "400f98739977",
        "6953534de441",
        "bda7b8c39065",
        "cbc13b556ace",
        "770bee3ae1dd",
        "a1b2c3d4e5f6",
        "de4033877273",
        "1a0cddfcaa16",
        "534353b11cbc",
        "71994744cf8e",
        "3da73c924c2f",
        "bf29a5ff90ea",
        "1bd49d398cd23",
        "b7c8d9e0f1a2",
        "5d2d30f0abce",
        "c9d4e5f6a7b8",
        "2c33131f4dae",
        "d3e4f5a6b7c8",
        "d0e1f2a3b4c5",
        "c8d9e0f1a2b3",
        "1b5f0d9ad7c1",
        "e1f2a3b4c5d6",
        "76601a5f987d",
        "c3d6457b6d8a",
        "a5b4c3d2e1f0",
        "ae8bbe7743c9",
        "7d34483879f0",
        "da6fb0208061",
        "89d3d66ed43f",
        "b7e4c1a90f23",
        "a8b9c0d1e2f3",
        "c1d2e3f4a5b6",
        "c3d9e7f1a2b4",
        "6f8d9c3b2a1e",
        "1971f2d9a75b",
        "17e22815139b",
        "b7e2c1a4d9f3",
        "75868b020152",
        "dc11669786a5",
    ]
)
NEWEST_KNOWN = "3.17"

#: What MLflow's SQL store writes for +/-inf (SQL has no infinity); read back as inf.
SQL_INF = 1.7976931348623157e308
#: The order a run's points are read (and so numbered in Dockyard); ``value`` last, so that
#: points MLflow kept at the same key, step and time come out the same way every time.
METRIC_ORDER = "key, step, timestamp, value"
#: MLflow's ``RunStatus`` numbers, as the file store writes them.
FILE_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
RUN_DIR_RE = re.compile(r"^[0-9a-f]{32}$")
REMOTE_SCHEMES = frozenset(
    {
        "s3",
        "gs",
        "wasbs",
        "wasb",
        "abfss",
        "hdfs",
        "viewfs",
        "http",
        "https",
        "ftp",
        "sftp",
        "dbfs",
        "mlflow-artifacts",
        "runs",
        "models",
        "oci",
        "uc-volumes",
    }
)


class MlflowSourceError(InputError):
    """The MLflow store as a whole cannot be read (missing, corrupt, unknown schema)."""


class MalformedItemError(Exception):
    """One experiment, run or model of a store is unreadable; the others are fine."""


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """A run's row; its params, tags and metrics are read by :meth:`Source.run_details`."""

    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int | None
    end_time: int | None
    user_id: str
    source_version: str
    artifact_uri: str
    lifecycle_stage: str


@dataclass
class RunDetails:
    params: dict[str, str]
    tags: dict[str, str]
    #: (key, step, value, timestamp in ms); value is NaN/inf as MLflow meant it
    metrics: list[tuple[str, int, float, int]]


@dataclass(frozen=True)
class LoggedModel:
    """An MLflow 3 logged model: its files live outside the run's artifacts."""

    model_id: str
    name: str
    run_id: str | None
    artifact_location: str


@dataclass(frozen=True)
class ModelVersionRecord:
    version: int
    run_id: str | None
    source: str
    current_stage: str
    description: str
    status: str
    user_id: str
    created_ms: int | None
    updated_ms: int | None
    model_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegisteredModelRecord:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    versions: list[ModelVersionRecord]


class Source:
    """What the importer reads from an MLflow store."""

    label: str
    #: the folder local artifact paths are looked up under when their recorded place is gone
    base: Path
    schema: str
    #: the SQLite file the store is, when it is one: an import into an SQLite workspace
    #: then copies the finite metric points in SQL (:meth:`finite_metrics_sql`)
    sqlite_path: Path | None = None

    def experiments(self) -> list[Experiment]:
        raise NotImplementedError

    def runs(self, experiment: Experiment) -> Iterator[RunRecord | MalformedItemError]:
        raise NotImplementedError

    def run_details(self, run: RunRecord, *, finite: bool = True) -> RunDetails:
        """A run's params, tags and metric points; ``finite=False`` leaves out the finite
        points, for a caller that copies them with :meth:`finite_metrics_sql`."""
        raise NotImplementedError

    def finite_metrics_sql(self, schema: str) -> str:
        """A SELECT of one run's finite metric points as Dockyard's metric columns."""
        raise NotImplementedError(f"{self.label} is not an SQLite store")

    def logged_models(self) -> list[LoggedModel]:
        return []

    def registered_models(self) -> Iterator[RegisteredModelRecord | MalformedItemError]:
        raise NotImplementedError

    def run_artifact_dir(self, run: RunRecord) -> Path | None:
        """The local folder holding the run's artifacts, or None (see :func:`local_path`)."""
        return local_path(run.artifact_uri, self.base)

    def close(self) -> None:
        """Release the connection, if any."""


def open_source(spec: str) -> Source:
    """The store ``spec`` names: a tracking URI (``sqlite:///…``, ``postgresql://…``,
    ``file:///…/mlruns``), an SQLite file, or a file store folder."""
    if "://" in spec and not spec.startswith("file:"):
        if spec.startswith("sqlite:"):
            name = spec.split("sqlite:///", 1)[-1] if "sqlite:///" in spec else ""
            if not name:
                raise MlflowSourceError(f"{spec}: give the file, as sqlite:///PATH")
            return SqlSource.sqlite(Path(name), spec)
        return SqlSource.sqlalchemy(spec)
    path = Path(unquote(urlparse(spec).path)) if spec.startswith("file:") else Path(spec)
    if not path.exists():
        raise MlflowSourceError(
            f"{spec}: no such file or folder; give an MLflow tracking URI (sqlite:///mlflow.db) "
            "or a file store folder (mlruns/)"
        )
    if path.is_dir():
        return FileSource(path)
    return SqlSource.sqlite(path, spec)


def local_path(uri: str, base: Path) -> Path | None:
    """The local folder an artifact URI names, found again if the store was moved.

    MLflow records absolute paths. When the recorded folder is gone (the store was
    copied from another machine or folder), the longest tail of the path that exists under
    ``base`` is taken, so ``mlflow.db`` copied with its ``mlartifacts/`` still finds its
    artifacts. A remote URI (``s3://``…) gives None.
    """
    parsed = urlparse(uri)
    if parsed.scheme and parsed.scheme != "file" and len(parsed.scheme) > 1:
        return None
    recorded = Path(unquote(parsed.path) if parsed.scheme == "file" else uri)
    if recorded.is_dir():
        return recorded
    parts = recorded.parts[1:] if recorded.is_absolute() else recorded.parts
    for start in range(len(parts) - 1):
        candidate = base.joinpath(*parts[start:])
        if candidate.is_dir():
            return candidate
    return None


def is_remote(uri: str) -> bool:
    scheme = urlparse(uri).scheme
    return bool(scheme) and scheme != "file" and len(scheme) > 1


# --------------------------------------------------------------------------- SQL store


class SqlSource(Source):
    """An MLflow SQL backend store, read with ``sqlite3`` (SQLite) or SQLAlchemy."""

    def __init__(self, label: str, base: Path, query: Any, closer: Any) -> None:
        self.label, self.base, self._query, self._close = label, base, query, closer
        self._columns: dict[str, set[str]] = {}
        try:
            rows = self._query("SELECT version_num FROM alembic_version", {})
        except Exception as exc:
            self.close()
            raise MlflowSourceError(
                f"{label}: not an MLflow tracking store (no schema revision: {_short(exc)})"
            ) from None
        revision = str(rows[0]["version_num"]) if rows else ""
        if revision not in KNOWN_REVISIONS:
            self.close()
            raise MlflowSourceError(
                f"{label}: MLflow schema revision {revision or '(none)'} is not one Dockyard "
                f"knows; it reads stores of MLflow 1.0 to {NEWEST_KNOWN} (revisions "
                f"{KNOWN_REVISIONS[0]} to {KNOWN_REVISIONS[-1]}); a newer MLflow wrote this "
                "one: upgrade Dockyard, or import from a copy made by a supported MLflow"
            )
        self.schema = revision

    @classmethod
    def sqlite(cls, path: Path, label: str) -> SqlSource:
        if not path.is_file():
            raise MlflowSourceError(f"{label}: no such SQLite file")
        try:
            connection = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
            connection.row_factory = sqlite3.Row
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise MlflowSourceError(
                f"{label}: not a readable SQLite database ({exc}); check the file, or restore "
                "it from a backup"
            ) from None

        def query(sql: str, params: dict[str, Any]) -> list[Any]:
            return connection.execute(sql, params).fetchall()

        source = cls(label, path.resolve().parent, query, connection.close)
        source.sqlite_path = path.resolve()
        return source

    @classmethod
    def sqlalchemy(cls, url: str) -> SqlSource:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            engine = create_engine(url)
            connection = engine.connect()
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise MlflowSourceError(f"{_redact(url)}: cannot connect ({_short(exc)})") from None

        def query(sql: str, params: dict[str, Any]) -> list[Any]:
            return [row._mapping for row in connection.execute(text(sql), params)]

        def close() -> None:
            connection.close()
            engine.dispose()

        return cls(_redact(url), Path.cwd(), query, close)

    def close(self) -> None:
        self._close()

    def _has(self, table: str, column: str | None = None) -> bool:
        if table not in self._columns:
            try:
                self._columns[table] = set(
                    self._query(f"SELECT * FROM {table} LIMIT 1", {})[0].keys()
                )
            except IndexError:
                self._columns[table] = self._empty_columns(table)
            except Exception:
                self._columns[table] = set()
        return bool(self._columns[table]) and (column is None or column in self._columns[table])

    def _empty_columns(self, table: str) -> set[str]:
        try:
            rows = self._query(f"PRAGMA table_info({table})", {})
            return {str(r["name"]) for r in rows} or {"?"}
        except Exception:
            return {"?"}  # exists (the SELECT worked) but is empty: other databases

    def experiments(self) -> list[Experiment]:
        tags: dict[str, dict[str, str]] = {}
        if self._has("experiment_tags"):
            for row in self._query("SELECT experiment_id, key, value FROM experiment_tags", {}):
                tags.setdefault(str(row["experiment_id"]), {})[row["key"]] = row["value"] or ""
        rows = self._query(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage FROM experiments "
            "ORDER BY experiment_id",
            {},
        )
        return [
            Experiment(
                str(r["experiment_id"]),
                r["name"],
                r["artifact_location"] or "",
                r["lifecycle_stage"] or "active",
                tags.get(str(r["experiment_id"]), {}),
            )
            for r in rows
        ]

    def runs(self, experiment: Experiment) -> Iterator[RunRecord | MalformedItemError]:
        rows = self._query(
            "SELECT run_uuid, name, status, start_time, end_time, user_id, source_version, "
            "artifact_uri, lifecycle_stage FROM runs WHERE experiment_id = :e "
            "ORDER BY start_time, run_uuid",
            {"e": int(experiment.id) if experiment.id.isdigit() else experiment.id},
        )
        for r in rows:
            yield RunRecord(
                run_id=r["run_uuid"],
                experiment_id=experiment.id,
                name=r["name"] or "",
                status=r["status"] or "",
                start_time=r["start_time"],
                end_time=r["end_time"],
                user_id=r["user_id"] or "",
                source_version=r["source_version"] or "",
                artifact_uri=r["artifact_uri"] or "",
                lifecycle_stage=r["lifecycle_stage"] or "",
            )

    def count_runs(self, experiment: Experiment) -> int:
        rows = self._query(
            "SELECT count(*) AS n FROM runs WHERE experiment_id = :e",
            {"e": int(experiment.id) if experiment.id.isdigit() else experiment.id},
        )
        return int(rows[0]["n"])

    def run_details(self, run: RunRecord, *, finite: bool = True) -> RunDetails:
        key: dict[str, Any] = {"r": run.run_id}
        params = {
            r["key"]: r["value"] or ""
            for r in self._query("SELECT key, value FROM params WHERE run_uuid = :r", key)
        }
        tags = {
            r["key"]: r["value"] or ""
            for r in self._query("SELECT key, value FROM tags WHERE run_uuid = :r", key)
        }
        nan = "is_nan" if self._has("metrics", "is_nan") else "0"
        where = "run_uuid = :r"
        if not finite:  # only the points finite_metrics_sql leaves out (NULL counts as NaN)
            where += f" AND NOT coalesce({self._finite_condition()}, 0)"
            key["inf"] = SQL_INF
        found = self._query(
            f"SELECT key, step, value, timestamp, {nan} AS is_nan FROM metrics "
            f"WHERE {where} ORDER BY {METRIC_ORDER}",
            key,
        )
        # one pass, plain tuples: this is most of an import's reading
        if found and not isinstance(found[0], sqlite3.Row):  # SQLAlchemy's mappings
            found = [tuple(r.values()) for r in found]
        metrics = [(r[0], int(r[1] or 0), _metric_value(r[2], r[4]), int(r[3] or 0)) for r in found]
        return RunDetails(params, tags, metrics)

    def _finite_condition(self) -> str:
        """True for a point :func:`_metric_value` reads as finite (``:inf`` is SQL_INF)."""
        nan = "coalesce(is_nan, 0)" if self._has("metrics", "is_nan") else "0"
        return f"(NOT {nan} AND value > -:inf AND value < :inf)"

    def finite_metrics_sql(self, schema: str) -> str:
        """A SELECT of run ``:r``'s finite points, this store attached as ``schema``: the
        columns of Dockyard's metric table (``:run`` its run id, timestamps in seconds), in
        :meth:`run_details`'s order and with its conversions, done by SQLite."""
        return (
            "SELECT :run, key, CAST(coalesce(step, 0) AS INTEGER), CAST(value AS REAL), "
            f"CAST(coalesce(timestamp, 0) AS INTEGER) / 1000.0 FROM {schema}.metrics "
            f"WHERE run_uuid = :r AND {self._finite_condition()} ORDER BY {METRIC_ORDER}"
        )

    def logged_models(self) -> list[LoggedModel]:
        if not self._has("logged_models"):
            return []
        rows = self._query(
            "SELECT model_id, name, source_run_id, artifact_location FROM logged_models", {}
        )
        return [
            LoggedModel(
                r["model_id"],
                r["name"] or "model",
                r["source_run_id"],
                r["artifact_location"] or "",
            )
            for r in rows
        ]

    def registered_models(self) -> Iterator[RegisteredModelRecord | MalformedItemError]:
        if not self._has("registered_models"):
            return
        model_tags: dict[str, dict[str, str]] = {}
        if self._has("registered_model_tags"):
            for r in self._query("SELECT name, key, value FROM registered_model_tags", {}):
                model_tags.setdefault(r["name"], {})[r["key"]] = r["value"] or ""
        version_tags: dict[tuple[str, int], dict[str, str]] = {}
        if self._has("model_version_tags"):
            for r in self._query("SELECT name, version, key, value FROM model_version_tags", {}):
                version_tags.setdefault((r["name"], int(r["version"])), {})[r["key"]] = (
                    r["value"] or ""
                )
        aliases: dict[str, dict[str, int]] = {}
        if self._has("registered_model_aliases"):
            for r in self._query("SELECT name, alias, version FROM registered_model_aliases", {}):
                aliases.setdefault(r["name"], {})[r["alias"]] = int(r["version"])
        model_id = "model_id" if self._has("model_versions", "model_id") else "NULL"
        versions: dict[str, list[ModelVersionRecord]] = {}
        for r in self._query(
            f"SELECT name, version, run_id, source, current_stage, description, status, "
            f"user_id, creation_time, last_updated_time, {model_id} AS model_id "
            "FROM model_versions ORDER BY name, version",
            {},
        ):
            versions.setdefault(r["name"], []).append(
                ModelVersionRecord(
                    version=int(r["version"]),
                    run_id=r["run_id"] or None,
                    source=r["source"] or "",
                    current_stage=r["current_stage"] or "None",
                    description=r["description"] or "",
                    status=r["status"] or "READY",
                    user_id=r["user_id"] or "",
                    created_ms=r["creation_time"],
                    updated_ms=r["last_updated_time"],
                    model_id=r["model_id"],
                    tags=version_tags.get((r["name"], int(r["version"])), {}),
                )
            )
        for r in self._query("SELECT name, description FROM registered_models ORDER BY name", {}):
            yield RegisteredModelRecord(
                r["name"],
                r["description"] or "",
                model_tags.get(r["name"], {}),
                aliases.get(r["name"], {}),
                versions.get(r["name"], []),
            )


# --------------------------------------------------------------------------- file store


class FileSource(Source):
    """An MLflow file store (``mlruns/``)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.label = str(root)
        # local artifacts of a moved store are looked up under the store and its parent
        self.base = self.root.parent
        self.schema = "file store"
        if not any(self.root.glob("*/meta.yaml")) and not (self.root / "models").is_dir():
            raise MlflowSourceError(
                f"{root}: not an MLflow file store (no <experiment>/meta.yaml inside); give "
                "the mlruns/ folder or a tracking URI"
            )
        self.bad_experiments: list[tuple[str, str]] = []

    def experiments(self) -> list[Experiment]:
        found = []
        self.bad_experiments = []
        for folder in sorted(self.root.iterdir()):
            if (
                not folder.is_dir()
                or folder.name in (".trash", "models")
                or folder.name.startswith(".")
            ):
                continue
            meta = folder / "meta.yaml"
            if not meta.is_file():
                self.bad_experiments.append(
                    (folder.name, f"{folder}/meta.yaml is missing; not read as an experiment")
                )
                continue
            try:
                data = _read_yaml(meta)
            except MalformedItemError as exc:
                self.bad_experiments.append((folder.name, str(exc)))
                continue
            found.append(
                Experiment(
                    str(data.get("experiment_id", folder.name)),
                    str(data.get("name", "")),
                    str(data.get("artifact_location") or ""),
                    str(data.get("lifecycle_stage") or "active"),
                    _read_values(folder / "tags"),
                )
            )
        return found

    def _experiment_dir(self, experiment: Experiment) -> Path:
        return self.root / experiment.id

    def count_runs(self, experiment: Experiment) -> int:
        folder = self._experiment_dir(experiment)
        return sum(1 for p in folder.iterdir() if p.is_dir() and RUN_DIR_RE.match(p.name))

    def runs(self, experiment: Experiment) -> Iterator[RunRecord | MalformedItemError]:
        found = list(self._runs(experiment))
        # oldest first, as the SQL store is read: Dockyard's run ids then follow MLflow's order
        yield from (f for f in found if isinstance(f, MalformedItemError))
        records = [f for f in found if isinstance(f, RunRecord)]
        yield from sorted(records, key=lambda r: (r.start_time or 0, r.run_id))

    def _runs(self, experiment: Experiment) -> Iterator[RunRecord | MalformedItemError]:
        for folder in sorted(self._experiment_dir(experiment).iterdir()):
            if not folder.is_dir() or not RUN_DIR_RE.match(folder.name):
                continue
            meta = folder / "meta.yaml"
            if not meta.is_file():
                yield MalformedItemError(f"run {folder.name}: {meta} is missing")
                continue
            try:
                data = _read_yaml(meta)
            except MalformedItemError as exc:
                yield MalformedItemError(f"run {folder.name}: {exc}")
                continue
            status = data.get("status")
            yield RunRecord(
                run_id=str(data.get("run_uuid") or data.get("run_id") or folder.name),
                experiment_id=experiment.id,
                name=str(data.get("run_name") or ""),
                status=FILE_STATUS.get(status, str(status))
                if isinstance(status, int)
                else str(status or ""),
                start_time=data.get("start_time"),
                end_time=data.get("end_time"),
                user_id=str(data.get("user_id") or ""),
                source_version=str(data.get("source_version") or ""),
                artifact_uri=str(data.get("artifact_uri") or ""),
                lifecycle_stage=str(data.get("lifecycle_stage") or "active"),
            )

    def run_details(self, run: RunRecord, *, finite: bool = True) -> RunDetails:
        folder = self.root / run.experiment_id / run.run_id
        metrics: list[tuple[str, int, float, int]] = []
        metrics_dir = folder / "metrics"
        for file in sorted(_files(metrics_dir)):
            key = file.relative_to(metrics_dir).as_posix()
            for number, line in enumerate(file.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                fields = line.split()
                try:
                    if len(fields) not in (2, 3):
                        raise ValueError(f"{len(fields)} fields")
                    step = int(fields[2]) if len(fields) == 3 else 0
                    metrics.append((key, step, float(fields[1]), int(fields[0])))
                except ValueError as exc:
                    raise MalformedItemError(
                        f"metric {key} line {number} is malformed ({exc})"
                    ) from None
        # MLflow 3 appends a run's metrics again when it links them to a logged model: the
        # same point twice says nothing more (the SQL store's key drops such repeats too)
        metrics = sorted(set(metrics), key=lambda m: (m[0], m[1], m[3]))
        if not finite:
            metrics = [m for m in metrics if not math.isfinite(m[2])]
        return RunDetails(_read_values(folder / "params"), _read_values(folder / "tags"), metrics)

    def run_artifact_dir(self, run: RunRecord) -> Path | None:
        found = local_path(run.artifact_uri, self.base)
        if found is None and not is_remote(run.artifact_uri):
            default = self.root / run.experiment_id / run.run_id / "artifacts"
            return default if default.is_dir() else None
        return found

    def logged_models(self) -> list[LoggedModel]:
        found = []
        for meta in sorted(self.root.glob("*/models/*/meta.yaml")):
            try:
                data = _read_yaml(meta)
            except MalformedItemError:
                continue
            location = str(data.get("artifact_location") or "")
            if not local_path(location, self.base) and not is_remote(location):
                location = str(meta.parent / "artifacts")
            found.append(
                LoggedModel(
                    str(data.get("model_id") or meta.parent.name),
                    str(data.get("name") or "model"),
                    data.get("source_run_id"),
                    location,
                )
            )
        return found

    def registered_models(self) -> Iterator[RegisteredModelRecord | MalformedItemError]:
        models = self.root / "models"
        if not models.is_dir():
            return
        for folder in sorted(models.iterdir()):
            if not folder.is_dir():
                continue
            try:
                meta = _read_yaml(folder / "meta.yaml")
                versions = []
                for vdir in sorted(folder.glob("version-*")):
                    v = _read_yaml(vdir / "meta.yaml")
                    versions.append(
                        ModelVersionRecord(
                            version=int(v["version"]),
                            run_id=v.get("run_id") or None,
                            source=str(v.get("source") or ""),
                            current_stage=str(v.get("current_stage") or "None"),
                            description=str(v.get("description") or ""),
                            status=str(v.get("status") or "READY"),
                            user_id=str(v.get("user_id") or ""),
                            created_ms=v.get("creation_timestamp"),
                            updated_ms=v.get("last_updated_timestamp"),
                            model_id=v.get("model_id"),
                            tags=_read_values(vdir / "tags"),
                        )
                    )
            except (MalformedItemError, KeyError, ValueError, TypeError) as exc:
                yield MalformedItemError(f"registered model {folder.name}: {exc}")
                continue
            aliases = meta.get("aliases") or {}
            if not aliases and (folder / "aliases").is_dir():
                aliases = _read_values(folder / "aliases")
            versions.sort(key=lambda v: v.version)
            yield RegisteredModelRecord(
                str(meta.get("name") or folder.name),
                str(meta.get("description") or ""),
                _read_values(folder / "tags"),
                {str(k): int(v) for k, v in dict(aliases).items()},
                versions,
            )


def _metric_value(value: float | None, is_nan: Any) -> float:
    """MLflow's stored value as it was logged: NaN from ``is_nan``, inf from the clamp."""
    if is_nan or value is None:
        return math.nan
    if -SQL_INF < value < SQL_INF:
        return float(value)
    return math.copysign(math.inf, value)


def _files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from (p for p in folder.rglob("*") if p.is_file())


def _read_values(folder: Path) -> dict[str, str]:
    """A folder of one-file-per-key values (params, tags): key is the relative path."""
    return {p.relative_to(folder).as_posix(): p.read_text() for p in _files(folder)}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        return mlflow_yaml.loads(path.read_text())
    except FileNotFoundError:
        raise MalformedItemError(f"{path} is missing") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise MalformedItemError(f"{path} is not readable ({exc})") from None


def read_mlmodel(folder: Path) -> dict[str, Any]:
    """The ``MLmodel`` file of an MLflow model folder."""
    return _read_yaml(folder / "MLmodel")


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
