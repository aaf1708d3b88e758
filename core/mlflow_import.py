"""``dockyard import mlflow``: a team's MLflow history brought into the workspace.

What maps to what (docs/mlflow.md has the whole table):

- an experiment becomes a project marked imported (``ProjectSpec.imported_from``), with no
  entry command until the user registers a project folder of the same name;
- a run becomes a run with its params, tags, status, times, user, git commit and every
  metric point; the MLflow run id is the run tag :data:`RUN_ID_TAG`, which is what makes a
  second import skip it;
- the run's artifacts are copied into ``objects/`` (SHA-256 recorded); an sklearn-flavour
  model is read by ``core.model_policy.load_pickle_restricted`` and stored as a skops file,
  a ``model`` artifact the registry takes (docs/architecture.md, decision 31);
- a registered model becomes a model with the same version numbers, descriptions and tags;
  aliases are kept, a legacy stage becomes the alias ``mlflow-<stage>``, and each becomes
  an audit event noting it was imported from MLflow.

Each run is written in one transaction (its objects first: content-addressed files a
failed run leaves are harmless and reused), so an interrupted import leaves whole runs
only, and running it again continues. Non-finite metric points (MLflow accepts NaN and
+/-inf; Dockyard's metric table keeps finite values only, which every chart and comparison
relies on) are kept verbatim in the run tag :data:`NONFINITE_TAG` and counted in the
summary.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dockyard.core.errors import InputError
from dockyard.core.mlflow_source import (
    Experiment,
    LoggedModel,
    MalformedItemError,
    RegisteredModelRecord,
    RunRecord,
    Source,
    is_remote,
    local_path,
    open_source,
    read_mlmodel,
)
from dockyard.core.mlflow_writer import (
    NONFINITE_TAG,
    RunRows,
    RunWriter,
    Written,
    run_writer,
    split_points,
)
from dockyard.core.projects import NAME_RE
from dockyard.core.workspace import Workspace, acting_user, current_user, engine_for

RUN_ID_TAG = "dockyard.mlflow.run_id"
IMPORTED_TAG = "dockyard.imported_from"
#: MLflow run statuses; a run MLflow still had running is ``lost`` here: nothing watches it.
STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "cancelled"}
STAGE_ALIASES = {"Production": "mlflow-production", "Staging": "mlflow-staging"}
ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class ImportLine:
    """One thing the import did not simply import, or a note on how it was imported."""

    kind: str
    item: str
    outcome: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "item": self.item,
            "outcome": self.outcome,
            "reason": self.reason,
        }

    def text(self) -> str:
        return f"{self.outcome}: {self.kind} {self.item}: {self.reason}"


@dataclass(frozen=True)
class ImportProgress:
    done: int
    total: int


@dataclass
class ImportSummary:
    """What an import did (or, with ``dry_run``, would do)."""

    source: str
    schema: str
    dry_run: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    lines: list[ImportLine] = field(default_factory=list)

    def count(self, kind: str, outcome: str, n: int = 1) -> None:
        per = self.counts.setdefault(kind, {})
        per[outcome] = per.get(outcome, 0) + n

    def note(self, kind: str, item: str, outcome: str, reason: str) -> None:
        self.lines.append(ImportLine(kind, item, outcome, reason))
        if outcome in ("skipped", "failed"):
            self.count(kind, outcome)

    def total(self, outcome: str) -> int:
        return sum(per.get(outcome, 0) for per in self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "schema": self.schema,
            "dry_run": self.dry_run,
            "counts": self.counts,
            "imported": self.total("imported"),
            "skipped": self.total("skipped"),
            "failed": self.total("failed"),
            "lines": [line.to_dict() for line in self.lines],
        }

    def headline(self) -> str:
        def n(kind: str, outcome: str = "imported") -> int:
            return self.counts.get(kind, {}).get(outcome, 0)

        verb = "would import" if self.dry_run else "imported"
        return (
            f"{verb} {n('project')} projects, {n('run')} runs ({n('metric'):,} metric points, "
            f"{n('artifact')} artifacts, {n('model file')} model files), {n('model')} models "
            f"with {n('version')} versions and {n('alias')} aliases; "
            f"skipped {self.total('skipped')}, failed {self.total('failed')}"
        )


Progress = Callable[[ImportProgress], None]


def import_mlflow(
    workspace: Workspace,
    spec: str,
    experiments: Sequence[str] = (),
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import the MLflow store ``spec`` (a tracking URI or a file store folder).

    ``experiments`` limits the import to those experiment names. Problems with single
    items are lines of the summary; a store that cannot be read at all raises
    ``MlflowSourceError`` before anything is written.
    """
    source = open_source(spec)
    try:
        importer = _Importer(workspace, source, dry_run, progress)
        try:
            return importer.run(experiments)
        finally:
            importer.close()
    finally:
        source.close()


def slug(name: str) -> str:
    """A Dockyard name (lowercase letters, digits, - and _) for an MLflow name."""
    text = re.sub(r"[^a-z0-9_-]+", "-", name.strip().lower()).strip("-_")
    return text[:64].rstrip("-_")


class _Importer:
    def __init__(
        self, workspace: Workspace, source: Source, dry_run: bool, progress: Progress | None
    ) -> None:
        self.workspace, self.source, self.dry_run = workspace, source, dry_run
        self.progress = progress
        self.summary = ImportSummary(source.label, source.schema, dry_run)
        self.engine = engine_for(workspace)
        # MLflow run id -> Dockyard run id (0 in a dry run: would be imported)
        self.imported: dict[str, int] = {}
        # MLflow run id -> names of the model artifacts converted for it
        self.models_of: dict[str, set[str]] = {}
        self.home = workspace.home
        self.writer: RunWriter | None = None

    # -- the whole store -----------------------------------------------------------------

    def run(self, wanted: Sequence[str]) -> ImportSummary:
        experiments = self.source.experiments()
        for name, reason in getattr(self.source, "bad_experiments", []):
            self.summary.note("experiment", name, "failed", reason)
        if wanted:
            names = {e.name for e in experiments}
            unknown = [w for w in wanted if w not in names]
            if unknown:
                raise InputError(
                    f"no MLflow experiment named {', '.join(map(repr, unknown))} in "
                    f"{self.source.label} (it has: {', '.join(sorted(names)) or 'none'})"
                )
            experiments = [e for e in experiments if e.name in wanted]
        self._read_imported()
        logged: dict[str, list[LoggedModel]] = {}
        for model in self.source.logged_models():
            if model.run_id:
                logged.setdefault(model.run_id, []).append(model)
        plan: list[tuple[Experiment, list[RunRecord | MalformedItemError]]] = []
        for experiment in experiments:
            if experiment.lifecycle_stage == "deleted":
                self.summary.note("experiment", experiment.name, "skipped", "deleted in MLflow")
                continue
            runs = list(self.source.runs(experiment))
            if not runs and experiment.id == "0" and experiment.name == "Default":
                continue  # MLflow makes it in every store; an empty one says nothing
            plan.append((experiment, runs))
        self._refuse_archived(plan)
        total, done = sum(len(runs) for _, runs in plan), 0
        self._tick(0, total)
        for experiment, runs in plan:
            project_id = self._project(experiment)
            for item in runs:
                if project_id is not None:
                    self._one_run(experiment, project_id, item, logged)
                else:
                    label = item.run_id if isinstance(item, RunRecord) else str(item)
                    self.summary.note(
                        "run",
                        label,
                        "skipped",
                        f"its experiment {experiment.name!r} was not imported",
                    )
                done += 1
                self._tick(done, total)
        if wanted:
            self.summary.lines.append(
                ImportLine(
                    "model", "*", "skipped", "registered models are imported without --experiment"
                )
            )
        else:
            for record in self.source.registered_models():
                if isinstance(record, MalformedItemError):
                    self.summary.note("model", "?", "failed", str(record))
                else:
                    self._model(record)
        return self.summary

    def _tick(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(ImportProgress(done, total))

    def _read_imported(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            for mlflow_id, run_id in conn.execute(
                text("SELECT value, run_id FROM run_tag WHERE key = :k"), {"k": RUN_ID_TAG}
            ):
                self.imported[str(mlflow_id)] = int(run_id)
            for name, run_id in conn.execute(
                text(
                    "SELECT a.name, t.value FROM artifact a JOIN run_tag t "
                    "ON t.run_id = a.run_id AND t.key = :k WHERE a.kind = 'model'"
                ),
                {"k": RUN_ID_TAG},
            ):
                self.models_of.setdefault(str(run_id), set()).add(str(name))

    # -- experiments ---------------------------------------------------------------------

    def _refuse_archived(
        self, plan: list[tuple[Experiment, list[RunRecord | MalformedItemError]]]
    ) -> None:
        """Refuse the whole import, before anything is written, when it would add runs to
        an archived (retired) project, as ``dockyard run start`` refuses; an experiment
        whose runs are all imported already adds nothing, and is no reason to refuse."""
        from sqlalchemy import text

        from dockyard.core.projects import ProjectArchivedError, ProjectSpec

        with self.engine.connect() as conn:
            archived = {
                str(row.name): ProjectSpec.from_json(row.spec_json).imported_from
                for row in conn.execute(
                    text("SELECT name, spec_json FROM project WHERE archived_at IS NOT NULL")
                )
            }
        for experiment, runs in plan:
            name = slug(experiment.name)
            if archived.get(name) != f"mlflow:{experiment.id}":
                continue
            if any(
                isinstance(r, RunRecord)
                and r.lifecycle_stage != "deleted"
                and r.run_id not in self.imported
                for r in runs
            ):
                raise ProjectArchivedError(name, "no MLflow run is imported into it")

    def _project(self, experiment: Experiment) -> int | None:
        """The project of ``experiment`` (made if new), or None when its name is taken."""
        from sqlalchemy import text

        from dockyard.core.projects import ProjectSpec

        name = slug(experiment.name)
        marker = f"mlflow:{experiment.id}"
        if not NAME_RE.match(name):
            self.summary.note(
                "experiment", experiment.name, "failed", "its name gives no usable project name"
            )
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT id, path, spec_json FROM project WHERE name = :n"), {"n": name}
            ).first()
        if row is not None:
            spec = ProjectSpec.from_json(row.spec_json)
            if spec.imported_from == marker:
                return int(row.id)
            origin = (
                f"imported from MLflow experiment {spec.imported_from.split(':', 1)[1]}"
                if spec.imported_from
                else f"registered from {row.path}"
            )
            self.summary.note(
                "experiment",
                experiment.name,
                "failed",
                f"duplicate name: project {name!r} already exists ({origin}); its runs are "
                "not imported (rename the experiment in MLflow, or import it with "
                "--experiment into another workspace)",
            )
            return None
        if experiment.name != name:
            self.summary.lines.append(
                ImportLine(
                    "experiment", experiment.name, "renamed", f"imported as project {name!r}"
                )
            )
        self.summary.count("project", "imported")
        if self.dry_run:
            return 0
        spec = ProjectSpec(
            name=name,
            entry="",
            description=f"imported from MLflow experiment {experiment.name!r}",
            imported_from=marker,
        )
        body = spec.to_json()
        from dockyard.store.models import Project

        with self.engine.begin() as conn:
            result = conn.execute(
                Project.__table__.insert().values(  # type: ignore[attr-defined]
                    name=name,
                    path=f"{self.source.label} (MLflow)",
                    description=spec.description,
                    entry="",
                    spec_json=body,
                    spec_hash=hashlib.sha256(body.encode()).hexdigest(),
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    # -- runs ----------------------------------------------------------------------------

    def _one_run(
        self,
        experiment: Experiment,
        project_id: int,
        item: RunRecord | MalformedItemError,
        logged: dict[str, list[LoggedModel]],
    ) -> None:
        import sqlite3

        if isinstance(item, MalformedItemError):
            self.summary.note("run", "?", "failed", str(item))
            return
        label = f"{item.run_id} ({item.name})" if item.name else item.run_id
        if item.lifecycle_stage == "deleted":
            self.summary.note("run", label, "skipped", "deleted in MLflow")
            return
        if item.run_id in self.imported:
            self.summary.count("run", "skipped")  # the normal case of a re-run: no line each
            return
        try:
            self._write_run(experiment, project_id, item, label, logged.get(item.run_id, []))
        except (MalformedItemError, OSError, sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            self.summary.note("run", label, "failed", str(exc) or type(exc).__name__)

    def _write_run(
        self,
        experiment: Experiment,
        project_id: int,
        run: RunRecord,
        label: str,
        logged: list[LoggedModel],
    ) -> None:
        writer = None if self.dry_run else self._writer()
        details = self.source.run_details(run, finite=not (writer and writer.copies_metrics))
        tags = dict(details.tags)
        tags[RUN_ID_TAG] = run.run_id
        at = len(self.summary.lines)  # the non-finite note goes before the artifacts' lines
        artifacts = self._artifacts(run, label, logged, details.tags)
        if writer is None:
            points, _, n_odd = split_points(details.metrics, 0)
            written = Written(0, len(points), n_odd)
        else:
            row = self._run_row(experiment, project_id, run, tags)
            written = writer.write(
                RunRows(
                    row,
                    run.run_id,
                    details.params,
                    tags,
                    details.metrics,
                    artifacts,
                    project=slug(experiment.name),
                )
            )
        self.imported[run.run_id] = written.run_id
        if written.nonfinite:
            self.summary.lines.insert(
                at,
                ImportLine(
                    "metric",
                    label,
                    "kept",
                    f"{written.nonfinite} NaN/inf points kept in run tag {NONFINITE_TAG}, not "
                    "in the metric history (which holds finite values only)",
                ),
            )
        self.summary.count("run", "imported")
        self.summary.count("metric", "imported", written.points)
        files = sum(1 for a in artifacts if a["kind"] != "model")
        self.summary.count("artifact", "imported", files)
        self.summary.count("model file", "imported", len(artifacts) - files)
        for a in artifacts:
            if a["kind"] == "model":
                self.models_of.setdefault(run.run_id, set()).add(a["name"])

    def _writer(self) -> RunWriter:
        """The run writer, opened on the first run written (the store is migrated by then)."""
        if self.writer is None:
            self.writer = run_writer(self.workspace.db_url, self.engine, self.source)
        return self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _run_row(
        self, experiment: Experiment, project_id: int, run: RunRecord, tags: dict[str, str]
    ) -> dict[str, Any]:
        """The run table's columns for ``run``."""
        status = STATUS.get(run.status.upper(), "lost")
        started, ended = _time(run.start_time), _time(run.end_time)
        commit = run.source_version or tags.get("mlflow.source.git.commit") or None
        env = {
            "mlflow": {
                "run_id": run.run_id,
                "experiment_id": experiment.id,
                "experiment": experiment.name,
                "run_name": run.name,
                "artifact_uri": run.artifact_uri,
                "status": run.status,
                "source": self.source.label,
            }
        }
        return {
            "project_id": project_id,
            "status": status,
            "error": "" if status != "lost" else f"was {run.status} in MLflow when imported",
            "user": run.user_id or tags.get("mlflow.user", ""),
            "git_commit": commit,
            "env_json": json.dumps(env, sort_keys=True),
            "created_at": started or datetime.now(UTC),
            "started_at": started,
            "ended_at": ended,
        }

    # -- artifacts and models ------------------------------------------------------------

    def _expected_artifacts(self, uri: str, tags: dict[str, str]) -> bool:
        """Whether a run whose artifact folder is absent had artifacts: it logged a model,
        or the folder its runs' artifacts live in is gone too (the store was moved alone)."""
        if "mlflow.log-model.history" in tags:
            return True
        experiment_folder = uri.rstrip("/").rsplit("/", 2)[0]
        return local_path(experiment_folder, self.source.base) is None

    def _artifacts(
        self, run: RunRecord, label: str, logged: list[LoggedModel], tags: dict[str, str]
    ) -> list[dict[str, Any]]:
        """The artifact rows of ``run`` (files copied into ``objects/`` unless dry run)."""
        rows: list[dict[str, Any]] = []
        places: list[tuple[str, str]] = [("", run.artifact_uri)] if run.artifact_uri else []
        places += [(m.name, m.artifact_location) for m in logged]
        for prefix, uri in places:
            what = f"logged model {prefix!r} of {label}" if prefix else label
            if is_remote(uri):
                self.summary.note(
                    "artifact",
                    what,
                    "not imported",
                    f"{uri} is remote; Dockyard copies local artifacts only",
                )
                continue
            if prefix:
                folder = local_path(uri, self.source.base)
            else:
                folder = self.source.run_artifact_dir(run)
            if folder is None:
                if not prefix and not self._expected_artifacts(uri, tags):
                    continue  # MLflow makes the folder on the first file: none was logged
                self.summary.note(
                    "artifact",
                    what,
                    "missing",
                    f"{uri} is not there; the run is imported without them",
                )
                continue
            files = sorted(p for p in folder.rglob("*") if p.is_file())
            for file in files:
                name = file.relative_to(folder).as_posix()
                rows.append(self._object(file, f"{prefix}/{name}" if prefix else name, "file"))
            models = [p.parent for p in files if p.name == "MLmodel"]
            for model_dir in models:
                rel = model_dir.relative_to(folder).as_posix()
                name = prefix if rel == "." else (f"{prefix}/{rel}" if prefix else rel)
                model = self._model_file(model_dir, name or "model", label)
                if model is not None:
                    rows.append(model)
        return rows

    def _object(self, file: Path, name: str, kind: str, fmt: str = "") -> dict[str, Any]:
        if self.dry_run:
            sha, size, object_path = "", file.stat().st_size, ""
        else:
            from dockyard.core.tracking import _store_object

            sha, size, object_path = _store_object(file, self.workspace.check_objects(write=True))
        return {
            "name": name,
            "kind": kind,
            "sha256": sha,
            "size_bytes": size,
            "object_path": object_path,
            "file_format": fmt or file.suffix.lstrip("."),
        }

    def _model_file(self, folder: Path, name: str, label: str) -> dict[str, Any] | None:
        """The skops model artifact made from the MLflow model in ``folder``, or None."""
        from dockyard.core.model_policy import (
            UntrustedModelError,
            load_pickle_restricted,
            load_skops,
        )

        what = f"{name} of {label}"
        try:
            mlmodel = read_mlmodel(folder)
        except MalformedItemError as exc:
            self.summary.note("model file", what, "failed", str(exc))
            return None
        flavours = mlmodel.get("flavors") or {}
        sklearn = flavours.get("sklearn") if isinstance(flavours, dict) else None
        if not isinstance(sklearn, dict):
            kinds = ", ".join(sorted(flavours)) if isinstance(flavours, dict) else "none"
            self.summary.note(
                "model file",
                what,
                "not imported",
                f"flavours {kinds}: only sklearn models become Dockyard model "
                "files (its files are kept as artifacts)",
            )
            return None
        fmt = str(sklearn.get("serialization_format") or "cloudpickle")
        pickled = folder / str(sklearn.get("pickled_model") or "model.pkl")
        if fmt not in ("cloudpickle", "pickle", "skops"):
            self.summary.note(
                "model file",
                what,
                "not imported",
                f"serialization format {fmt} is not read; files kept as artifacts",
            )
            return None
        try:
            if fmt == "skops":  # MLflow 3's default: taken as it is, once the policy accepts it
                data = pickled.read_bytes()
            else:
                from skops.io import dumps

                data = dumps(load_pickle_restricted(pickled.read_bytes()))
            load_skops(data)  # what the registry will do: refuse now, not at deploy time
        except FileNotFoundError:
            self.summary.note("model file", what, "failed", f"{pickled.name} is missing")
            return None
        except UntrustedModelError as exc:
            self.summary.note(
                "model file",
                what,
                "failed",
                f"not converted: {exc}; its files are kept as artifacts",
            )
            return None
        except Exception as exc:  # skops cannot represent every estimator
            self.summary.note(
                "model file",
                what,
                "failed",
                f"not converted to skops ({type(exc).__name__}: {exc})",
            )
            return None
        with tempfile.TemporaryDirectory(prefix="dockyard-mlflow-") as tmp:
            out = Path(tmp) / "model.skops"
            out.write_bytes(data)
            return self._object(out, name, "model", "skops")

    # -- registered models ---------------------------------------------------------------

    def _model(self, record: RegisteredModelRecord) -> None:
        from sqlmodel import Session, select

        from dockyard.store.models import ModelVersion, RegisteredModel

        name = slug(record.name)
        if not NAME_RE.match(name):
            self.summary.note("model", record.name, "failed", "its name gives no usable name")
            return
        with Session(self.engine) as session:
            model = session.exec(
                select(RegisteredModel).where(RegisteredModel.name == name)
            ).first()
            existing: dict[int, ModelVersion] = {}
            if model is not None:
                versions = session.exec(
                    select(ModelVersion).where(ModelVersion.model_id == model.id)
                ).all()
                existing = {v.version: v for v in versions}
                mine = [
                    v
                    for v in versions
                    if json.loads(v.tags_json).get(IMPORTED_TAG) == f"mlflow:{record.name}"
                ]
                if versions and not mine:
                    self.summary.note(
                        "model",
                        record.name,
                        "failed",
                        f"duplicate name: model {name!r} already exists in Dockyard and was not "
                        "imported from this MLflow model; its versions are not imported",
                    )
                    return
            plan = self._versions_plan(session, record, existing)
            if not plan and model is None and record.versions:
                # every version failed (each said why above): an empty model would only
                # stand in the lists as if it had been brought in
                self.summary.note(
                    "model", record.name, "failed", "none of its versions could be imported"
                )
                return
            if not plan and model is not None:
                self.summary.count("model", "skipped")
                if not self.dry_run:  # an alias added in MLflow since the last import
                    self._aliases(session, model, record, existing, set())
                    session.commit()
                return
            self.summary.count("model", "imported" if model is None else "updated")
            if self.dry_run:
                self.summary.count("version", "imported", len(plan))
                planned = {**existing, **{v.version: None for v, _, _ in plan}}
                self._aliases(session, model, record, planned, set())
                return
            self._write_model(session, model, name, record, plan, existing)

    def _versions_plan(
        self, session: Any, record: RegisteredModelRecord, existing: dict[int, Any]
    ) -> list[tuple[Any, int, int]]:
        """(MLflow version, Dockyard run id, artifact id) for each version to import now."""
        from sqlmodel import col, select

        from dockyard.store.models import Artifact

        plan = []
        for v in record.versions:
            what = f"{record.name} v{v.version}"
            if v.version in existing:
                self.summary.count("version", "skipped")
                continue
            if v.status not in ("READY", ""):
                self.summary.note("version", what, "skipped", f"status {v.status} in MLflow")
                continue
            if is_remote(v.source) and not v.source.startswith(("runs:", "models:")):
                self.summary.note(
                    "version", what, "not imported", f"its files are at {v.source} (remote)"
                )
                continue
            run_id = self.imported.get(v.run_id or "")
            if run_id is None:
                self.summary.note(
                    "version", what, "failed", f"its run {v.run_id or '(none)'} was not imported"
                )
                continue
            names = self.models_of.get(v.run_id or "", set())
            wanted = _artifact_name(v.source, v.model_id, self.source)
            chosen = wanted if wanted in names else (next(iter(names)) if len(names) == 1 else None)
            if chosen is None:
                self.summary.note(
                    "version",
                    what,
                    "failed",
                    f"run {v.run_id} has no converted sklearn model "
                    f"{wanted or ''} (see the lines above)".replace("  ", " "),
                )
                continue
            if self.dry_run:
                plan.append((v, run_id, 0))
                continue
            artifact_id = session.exec(
                select(col(Artifact.id)).where(
                    Artifact.run_id == run_id, Artifact.name == chosen, Artifact.kind == "model"
                )
            ).first()
            plan.append((v, run_id, int(artifact_id)))
        return plan

    def _write_model(
        self,
        session: Any,
        model: Any,
        name: str,
        record: RegisteredModelRecord,
        plan: list[tuple[Any, int, int]],
        existing: dict[int, Any],
    ) -> None:
        from dockyard.core.audit import append_event
        from dockyard.store.models import Artifact, ModelVersion, RegisteredModel, utcnow

        actor = acting_user(self.workspace, current_user)
        if model is None:
            model = RegisteredModel(name=name, description=record.description)
            session.add(model)
            session.flush()
            append_event(
                session,
                actor,
                "model.import",
                "registered_model",
                model.id,
                {
                    "model": name,
                    "mlflow_name": record.name,
                    "tags": record.tags,
                    "description": record.description,
                    "source": self.source.label,
                    "note": "imported from MLflow",
                },
            )
        model.updated_at = utcnow()
        session.add(model)
        versions = dict(existing)
        for v, run_id, artifact_id in plan:
            artifact = session.get(Artifact, artifact_id)
            tags = {
                **v.tags,
                "mlflow.version": str(v.version),
                IMPORTED_TAG: f"mlflow:{record.name}",
            }
            row = ModelVersion(
                model_id=model.id,
                version=v.version,
                run_id=run_id,
                artifact_id=artifact_id,
                description=v.description,
                tags_json=json.dumps(tags, sort_keys=True),
                created_by=v.user_id or actor,
                created_at=_time(v.created_ms) or utcnow(),
            )
            session.add(row)
            session.flush()
            versions[v.version] = row
            append_event(
                session,
                actor,
                "model.register",
                "model_version",
                row.id or 0,
                {
                    "model": name,
                    "version": v.version,
                    "run_id": run_id,
                    "sha256": artifact.sha256 if artifact else "",
                    "imported_from": "mlflow",
                    "note": "imported from MLflow",
                },
            )
            self.summary.count("version", "imported")
        self._aliases(session, model, record, versions, {v.version for v, _, _ in plan})
        session.commit()

    def _aliases(
        self,
        session: Any,
        model: Any,
        record: RegisteredModelRecord,
        versions: dict[int, Any],
        new: set[int],
    ) -> None:
        """Aliases and legacy stages of ``record``, added where not already there."""
        from sqlmodel import select

        from dockyard.core.audit import append_event
        from dockyard.store.models import Environment, ModelAlias

        environments = set(session.exec(select(Environment.name)).all())
        wanted: list[tuple[str, int, str]] = []
        for alias, number in sorted(record.aliases.items()):
            wanted.append((alias, number, "imported from MLflow"))
        for v in record.versions:
            if v.current_stage in STAGE_ALIASES:
                when = _time(v.updated_ms)
                stamp = when.strftime("%Y-%m-%d %H:%M UTC") if when else "unknown"
                wanted.append(
                    (
                        STAGE_ALIASES[v.current_stage],
                        v.version,
                        f"imported from MLflow: stage {v.current_stage}, last changed {stamp}",
                    )
                )
            elif v.current_stage == "Archived":
                self.summary.lines.append(
                    ImportLine(
                        "alias",
                        f"{record.name} v{v.version}",
                        "kept",
                        "stage Archived in MLflow: no alias (the version is imported)",
                    )
                )
        for alias, number, note in wanted:
            target = alias.lower()
            if target in environments:
                target = f"mlflow-{target}"
            what = f"{record.name}@{alias}"
            if not ALIAS_RE.match(target):
                self.summary.note(
                    "alias",
                    what,
                    "failed",
                    "not a Dockyard alias name (a letter, then letters, digits, - _)",
                )
                continue
            if number not in versions:
                self.summary.note("alias", what, "failed", f"version {number} was not imported")
                continue
            if model is not None and session.get(ModelAlias, (model.id, target)) is not None:
                continue  # already there: imported before, or set in Dockyard since
            if self.dry_run:
                self.summary.count("alias", "imported")
                continue
            row = versions[number]
            session.add(ModelAlias(model_id=model.id, alias=target, model_version_id=row.id))
            session.flush()
            append_event(
                session,
                acting_user(self.workspace, current_user),
                "model.alias",
                "registered_model",
                model.id,
                {
                    "model": model.name,
                    "alias": target,
                    "from": None,
                    "to": number,
                    "imported_from": "mlflow",
                    "note": note,
                },
            )
            self.summary.count("alias", "imported")
            if target != alias:
                self.summary.lines.append(
                    ImportLine("alias", what, "renamed", f"imported as alias {target!r}")
                )


def _artifact_name(source: str, model_id: str | None, store: Source) -> str | None:
    """The artifact name the importer gave the model a version points at."""
    if source.startswith("runs:/"):
        parts = source[len("runs:/") :].split("/", 1)
        return parts[1].strip("/") if len(parts) == 2 else None
    if model_id or source.startswith("models:/"):
        wanted = model_id or source[len("models:/") :].strip("/")
        for model in store.logged_models():
            if model.model_id == wanted:
                return model.name
        return None
    if "/artifacts/" in source:
        return source.rsplit("/artifacts/", 1)[1].strip("/") or None
    return None


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None
