"""The model registry: immutable versions made from finished runs, and movable aliases.

A version is tied to its run, its dataset version and the SHA-256 of its model artifact;
the artifact is verified (present, hash matching) before a version is made and before a
model is loaded. Aliases (``champion``, ``challenger``…) move atomically; every move is an
audit event, which is the alias's history.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.audit import append_event, list_events
from dockyard.core.errors import ConflictError, DockyardError, InputError, NotFoundError
from dockyard.core.parsing import INT64_MAX, parse_version
from dockyard.core.projects import NAME_RE
from dockyard.core.workspace import (
    Workspace,
    acting_user,
    current_user,
    engine_for,
    reader_for,
)

if TYPE_CHECKING:
    from sqlmodel import Session

    from dockyard.store.models import ModelVersion, RegisteredModel
    from dockyard.store.queries import Reader
    from dockyard.store.writes import Transaction

ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class ArtifactIntegrityError(InputError):
    """A model file is missing or its bytes no longer match the recorded hash."""


class GatesFailedError(InputError):
    """The version fails its project's gates, so it is made champion only when forced;
    ``failed`` lists the gates (``core.validation.GateResult``) it fails."""

    def __init__(self, message: str, failed: list[Any]) -> None:
        super().__init__(message)
        self.failed = failed


@dataclass(frozen=True)
class VersionInfo:
    """One model version as the faces show it; ``to_dict`` is the ``--json`` shape."""

    id: int
    model: str
    version: int
    run_id: int
    project: str
    dataset: str | None
    dataset_version_id: int | None
    artifact_sha256: str
    artifact_path: str
    artifact_format: str
    size_bytes: int
    description: str
    tags: dict[str, str]
    aliases: list[str]
    created_by: str
    created_at: datetime
    primary_metric: str | None
    primary_value: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    #: when it was archived (hidden from lists, never "latest"), None if not
    archived_at: datetime | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "ref": self.ref,
            "run_id": self.run_id,
            "project": self.project,
            "dataset": self.dataset,
            "artifact_sha256": self.artifact_sha256,
            "artifact_path": self.artifact_path,
            "artifact_format": self.artifact_format,
            "size_bytes": self.size_bytes,
            "description": self.description,
            "tags": self.tags,
            "aliases": self.aliases,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "primary_metric": self.primary_metric,
            "primary_value": self.primary_value,
            "metrics": self.metrics,
            "archived_at": self.archived_at.isoformat() if self.archived_at else None,
        }


@dataclass(frozen=True)
class ModelSummary:
    name: str
    description: str
    latest_version: int | None
    versions: int
    aliases: dict[str, int]
    primary_metric: str | None
    primary_value: float | None
    updated_at: datetime
    #: when the model as a whole was archived, None if not
    archived_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "latest_version": self.latest_version,
            "versions": self.versions,
            "aliases": self.aliases,
            "primary_metric": self.primary_metric,
            "primary_value": self.primary_value,
            "updated_at": self.updated_at.isoformat(),
            "archived_at": self.archived_at.isoformat() if self.archived_at else None,
        }


def _actor(workspace: Workspace) -> str:
    """Who acts: the database login on PostgreSQL, else ``DOCKYARD_USER`` or the login."""
    return acting_user(workspace, current_user)


def parse_ref(ref: str) -> tuple[str, str]:
    """``name`` / ``name@3`` / ``name@champion`` / ``name@latest`` -> (name, selector)."""
    name, _, selector = ref.strip().partition("@")
    if not name:
        raise InputError(f"{ref!r} is not a model reference; write NAME@VERSION or NAME@ALIAS")
    parse_version(selector, ref)  # an out-of-range number is refused before any lookup
    return name, selector or "latest"


def object_file(workspace: Workspace, object_path: str) -> Path:
    """The artifact's file, confined to the object store (``Workspace.object_file``)."""
    return workspace.object_file(object_path)


def verify_artifact(
    workspace: Workspace, object_path: str, sha256: str, label: str, *, size: int | None = None
) -> Path:
    """The artifact's file after checking it exists, has ``size`` bytes and hashes to
    ``sha256`` (re-hashed, unless this user verified the very same file state before:
    see ``core.hashing.verified_before``)."""
    from dockyard.core.hashing import ObjectCorruptError, verify_file

    path = object_file(workspace, object_path)
    if not path.is_file():
        workspace.check_objects()  # an unmounted shared store says so, not "file missing"
        raise ArtifactIntegrityError(_missing(label, path))
    try:
        verify_file(path, sha256, "sha256", size=size, cached=True)
    except ObjectCorruptError:
        raise ArtifactIntegrityError(_altered(label, path)) from None
    return path


def _missing(label: str, path: Path) -> str:
    return f"{label} {path} is missing; it cannot be used (restore .dockyard/objects from a backup)"


def _altered(label: str, path: Path) -> str:
    return (
        f"{label} {path} has been tampered with (its SHA-256 no longer matches the "
        "recorded one); it will not be used"
    )


def verify_version_files(workspace: Workspace, ref: str | VersionInfo) -> VersionInfo:
    """Re-verify the files version ``ref`` stands for before anything vouches for it.

    Compare, report, alias moves, deployment requests and approvals, and prediction call
    this: a model file that is missing or whose bytes changed raises
    :class:`ArtifactIntegrityError` naming the version and the file.
    """
    info = ref if isinstance(ref, VersionInfo) else get_version(workspace, ref)
    verify_artifact(
        workspace, info.artifact_path, info.artifact_sha256, f"{info.ref}: model file",
        size=info.size_bytes,
    )  # fmt: skip
    return info


MODEL_ARTIFACT_SQL = (
    "SELECT id, object_path, sha256, size_bytes FROM artifact"
    " WHERE run_id = :r AND kind = 'model' ORDER BY id DESC LIMIT 1"
)


def register_version(
    workspace: Workspace,
    run_id: int,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> VersionInfo:
    """Make version N+1 of model ``name`` from finished run ``run_id``'s model artifact.

    Written in plain SQL (``core.workspace.open_writer``), so `model register` does not
    import the ORM (decision 28). The artifact is verified before the write lock is taken
    (hashing a large file must not hold up every tracker); the transaction then takes the
    lock first, so the version number it reads and the audit event it chains are final.
    """
    from contextlib import closing

    from dockyard.core.audit import witness_appended
    from dockyard.core.workspace import open_writer
    from dockyard.store.writes import integrity_errors

    candidate = registrable(workspace, run_id, name)
    with closing(open_writer(workspace)) as writer:
        try:
            with writer.transaction() as tx:
                version_id, _number, pending = add_version_in(
                    tx, workspace, candidate, description, tags
                )
        except integrity_errors():  # two registrations raced for the same number
            raise ConflictError(
                f"model {name} got a new version at the same moment; register again"
            ) from None
        witness_appended(workspace, writer, [pending])
    return version_by_id(workspace, version_id)


@dataclass(frozen=True)
class Candidate:
    """A run's model artifact, checked and verified, that a version can be made of."""

    run_id: int
    name: str
    dataset_version_id: int | None
    artifact: dict[str, Any]


def registrable(
    workspace: Workspace, run_id: int, name: str, *, finishing: bool = False
) -> Candidate:
    """Check that ``run_id``'s model can become a version of ``name`` (the run finished,
    it logged a model, the file matches its hash); InputError/NotFoundError say why not.
    ``finishing``: the run's own supervisor asks, for a run it finishes in the same
    transaction as it adds the version (:func:`add_version_in`), so the run is still
    running."""
    if not NAME_RE.match(name):
        raise InputError(
            f"{name!r} is not a valid model name; use lowercase letters, digits, - and _"
        )
    reader = reader_for(workspace)
    run = None
    if 1 <= run_id <= INT64_MAX:  # beyond it the driver would overflow
        run = reader.fetch_one(
            "SELECT status, dataset_version_id FROM run WHERE id = :id", {"id": run_id}
        )
    if run is None:
        raise NotFoundError(f"no run with id {run_id}; see `dockyard run list`")
    if run["status"] not in (("running", "cancelling") if finishing else ("finished",)):
        raise InputError(
            f"run {run_id} is {run['status']}; only a finished run can become a model version"
        )
    artifact = reader.fetch_one(MODEL_ARTIFACT_SQL, {"r": run_id})
    if artifact is None:
        raise InputError(f"run {run_id} logged no model; call tracker.log_model(...) in the script")
    verify_artifact(
        workspace, artifact["object_path"], artifact["sha256"], f"run {run_id}: model file",
        size=artifact["size_bytes"],
    )  # fmt: skip
    return Candidate(run_id, name, run["dataset_version_id"], dict(artifact))


def add_version_in(
    tx: Transaction,
    workspace: Workspace,
    candidate: Candidate,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> tuple[int, int, tuple[int, int, str]]:
    """In ``tx`` (which holds the write lock): version N+1 of the candidate's model and its
    audit event; (version id, N, the event for ``audit.witness_appended`` after commit).
    A race for the number on PostgreSQL raises an integrity error at the insert."""
    from datetime import UTC

    from dockyard.core.audit import append_event_in

    name, run_id, artifact = candidate.name, candidate.run_id, candidate.artifact
    user = _actor(workspace)
    now = datetime.now(UTC)
    model = tx.fetch_one(MODEL_ID_SQL, {"name": name})
    if model is None:
        model_id = tx.insert(
            "registered_model",
            {"name": name, "description": "", "created_at": now, "updated_at": now},
        )
    else:
        model_id = int(model["id"])
        tx.execute(
            "UPDATE registered_model SET updated_at = :now WHERE id = :id",
            {"now": now, "id": model_id},
        )
    latest = tx.fetch_one(
        "SELECT MAX(version) AS n FROM model_version WHERE model_id = :m",
        {"m": model_id},
    )
    # never a number a deleted version had: "m@3" in a record means one file
    deleted = int(model["max_deleted_version"] or 0) if model is not None else 0
    number = max(int((latest or {}).get("n") or 0), deleted) + 1
    version_id = tx.insert(
        "model_version",
        {
            "model_id": model_id,
            "version": number,
            "run_id": run_id,
            "artifact_id": artifact["id"],
            "dataset_version_id": candidate.dataset_version_id,
            "description": description,
            "tags_json": json.dumps(tags or {}, sort_keys=True),
            "created_by": user,
            "created_at": now,
        },
    )
    pending = append_event_in(
        tx, user, "model.register", "model_version", version_id,
        {"model": name, "version": number, "run_id": run_id, "sha256": artifact["sha256"]},
    )  # fmt: skip
    return version_id, number, pending


def _resolve(session: Session, ref: str) -> tuple[RegisteredModel, ModelVersion]:
    from sqlmodel import col, select

    from dockyard.store.models import ModelAlias, ModelVersion, RegisteredModel

    name, selector = parse_ref(ref)
    model = session.exec(select(RegisteredModel).where(RegisteredModel.name == name)).first()
    if model is None:
        raise NotFoundError(f"no model named {name!r}; see `dockyard model list`")
    version: ModelVersion | None
    if selector == "latest":
        version = session.exec(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id, col(ModelVersion.archived_at).is_(None))
            .order_by(col(ModelVersion.version).desc())
        ).first()
    elif (number := parse_version(selector, ref)) is not None:
        version = session.exec(
            select(ModelVersion).where(
                ModelVersion.model_id == model.id, ModelVersion.version == number
            )
        ).first()
    else:
        alias = session.get(ModelAlias, (model.id, selector))
        version = session.get(ModelVersion, alias.model_version_id) if alias else None
        if version is None:
            raise NotFoundError(
                f"model {name} has no version or alias {selector!r}; "
                f"see `dockyard model show {name}`"
            )
    if version is None:
        raise NotFoundError(
            f"model {name} has no version {selector}; see `dockyard model show {name}`"
        )
    return model, version


# Reads go through ``reader_for`` (the standard library's sqlite3 on a SQLite store), so
# `model list|show|compare` do not pay for importing SQLAlchemy and SQLModel (decision 21).
VERSION_SELECT = """
SELECT mv.id AS id, m.name AS model, mv.version AS version, mv.run_id AS run_id,
       p.name AS project, ds.name AS dataset_name, dv.version AS dataset_number,
       mv.dataset_version_id AS dataset_version_id, a.sha256 AS artifact_sha256,
       a.object_path AS artifact_path, a.file_format AS artifact_format,
       a.size_bytes AS size_bytes, mv.description AS description, mv.tags_json AS tags_json,
       mv.created_by AS created_by, mv.created_at AS created_at,
       r.primary_metric AS primary_metric, r.primary_value AS primary_value,
       mv.archived_at AS archived_at
FROM model_version AS mv
JOIN registered_model AS m ON m.id = mv.model_id
JOIN artifact AS a ON a.id = mv.artifact_id
JOIN run AS r ON r.id = mv.run_id
LEFT JOIN project AS p ON p.id = r.project_id
LEFT JOIN dataset_version AS dv ON dv.id = mv.dataset_version_id
LEFT JOIN dataset AS ds ON ds.id = dv.dataset_id
"""
MODEL_ID_SQL = "SELECT id, max_deleted_version FROM registered_model WHERE name = :name"
VERSION_ALIASES_SQL = "SELECT alias FROM model_alias WHERE model_version_id = :id ORDER BY alias"


def _model_id(reader: Reader, name: str) -> int:
    row = reader.fetch_one(MODEL_ID_SQL, {"name": name})
    if row is None:
        raise NotFoundError(f"no model named {name!r}; see `dockyard model list`")
    return int(row["id"])


def _resolve_id(reader: Reader, ref: str) -> int:
    """The ``model_version`` id ``ref`` names (``NAME``, ``NAME@N``, ``NAME@ALIAS``)."""
    name, selector = parse_ref(ref)
    model_id = _model_id(reader, name)
    row: dict[str, Any] | None
    if selector == "latest":
        row = reader.fetch_one(
            # "latest" is never an archived version (archiving makes the one before current)
            "SELECT id FROM model_version WHERE model_id = :m AND archived_at IS NULL"
            " ORDER BY version DESC LIMIT 1",
            {"m": model_id},
        )
    elif (number := parse_version(selector, ref)) is not None:
        row = reader.fetch_one(
            "SELECT id FROM model_version WHERE model_id = :m AND version = :v",
            {"m": model_id, "v": number},
        )
    else:
        row = reader.fetch_one(
            "SELECT mv.id AS id FROM model_alias AS a "
            "JOIN model_version AS mv ON mv.id = a.model_version_id "
            "WHERE a.model_id = :m AND a.alias = :a",
            {"m": model_id, "a": selector},
        )
        if row is None:
            raise NotFoundError(
                f"model {name} has no version or alias {selector!r}; "
                f"see `dockyard model show {name}`"
            )
    if row is None:
        raise NotFoundError(
            f"model {name} has no version {selector}; see `dockyard model show {name}`"
        )
    return int(row["id"])


def _read_versions(reader: Reader, where: str, params: dict[str, Any]) -> list[VersionInfo]:
    """The versions ``VERSION_SELECT`` finds with ``where``, each with its aliases and the
    newest point of each of its run's metrics."""
    from dockyard.core.metrics import last_points
    from dockyard.store.queries import as_utc

    out = []
    for row in reader.fetch_all(VERSION_SELECT + where, params):
        version_id, run_id = int(row["id"]), int(row["run_id"])
        aliases = reader.fetch_all(VERSION_ALIASES_SQL, {"id": version_id})
        created = as_utc(row["created_at"])
        assert created is not None  # a NOT NULL column
        dataset = None
        if row["dataset_name"] is not None and row["dataset_number"] is not None:
            dataset = f"{row['dataset_name']}@{row['dataset_number']}"
        out.append(
            VersionInfo(
                id=version_id,
                model=row["model"],
                version=int(row["version"]),
                run_id=run_id,
                project=row["project"] if row["project"] is not None else "?",
                dataset=dataset,
                dataset_version_id=row["dataset_version_id"],
                artifact_sha256=row["artifact_sha256"],
                artifact_path=row["artifact_path"],
                artifact_format=row["artifact_format"],
                size_bytes=int(row["size_bytes"]),
                description=row["description"],
                tags=json.loads(row["tags_json"]),
                aliases=[str(a["alias"]) for a in aliases],
                created_by=row["created_by"],
                created_at=created,
                primary_metric=row["primary_metric"],
                primary_value=row["primary_value"],
                metrics={k: v for k, (_s, v) in last_points(reader, run_id).items()},
                archived_at=as_utc(row["archived_at"]),
            )
        )
    return out


def version_by_id(workspace: Workspace, version_id: int) -> VersionInfo:
    """The version whose ``model_version`` row id is ``version_id``."""
    found = _read_versions(reader_for(workspace), "WHERE mv.id = :id", {"id": version_id})
    if not found:
        raise NotFoundError(f"no model version with id {version_id}")
    return found[0]


def get_version(workspace: Workspace, ref: str) -> VersionInfo:
    """The version ``ref`` names (``NAME@VERSION``, ``NAME@ALIAS`` or ``NAME``: latest)."""
    return version_by_id(workspace, _resolve_id(reader_for(workspace), ref))


def list_versions(workspace: Workspace, name: str, *, archived: str = "hide") -> list[VersionInfo]:
    """The versions of model ``name``, newest first; archived ones hidden, alone
    (``archived="only"``) or included (``"include"``)."""
    from dockyard.store.queries import archived_clause

    reader = reader_for(workspace)
    model_id = _model_id(reader, name)
    where = archived_clause("mv.archived_at", archived)
    return _read_versions(
        reader, f"WHERE mv.model_id = :m AND {where} ORDER BY mv.version DESC", {"m": model_id}
    )


# {shown}: store.queries.archived_clause on mv.archived_at (hidden versions are neither
# counted nor the latest)
MODELS_SQL = """
SELECT m.id AS id, m.name AS name, m.description AS description, m.updated_at AS updated_at,
       m.archived_at AS archived_at,
       (SELECT COUNT(*) FROM model_version AS mv WHERE mv.model_id = m.id AND {shown}) AS n,
       (SELECT COUNT(*) FROM model_version AS mv
        WHERE mv.model_id = m.id AND mv.archived_at IS NOT NULL) AS n_archived
FROM registered_model AS m
ORDER BY m.updated_at DESC
"""
LATEST_VERSION_SQL = """
SELECT mv.version AS version, r.primary_metric AS primary_metric,
       r.primary_value AS primary_value
FROM model_version AS mv LEFT JOIN run AS r ON r.id = mv.run_id
WHERE mv.model_id = :m AND {shown} ORDER BY mv.version DESC LIMIT 1
"""
MODEL_ALIASES_SQL = """
SELECT a.alias AS alias, mv.version AS version
FROM model_alias AS a JOIN model_version AS mv ON mv.id = a.model_version_id
WHERE a.model_id = :m
ORDER BY a.alias
"""


def list_models(workspace: Workspace, *, archived: str = "hide") -> list[ModelSummary]:
    """Every model with its latest version, aliases and the latest version's metric.

    A model is hidden when it is archived or every version it has is (``archived="hide"``);
    ``"only"`` lists the models archived or holding an archived version, ``"include"``
    all. Hidden versions are neither counted nor the latest.
    """
    from dockyard.store.queries import archived_clause, as_utc

    shown = archived_clause("mv.archived_at", "hide" if archived == "hide" else "include")
    reader = reader_for(workspace)
    summaries = []
    for model in reader.fetch_all(MODELS_SQL.format(shown=shown)):
        count, archived_versions = int(model["n"]), int(model["n_archived"])
        model_archived = as_utc(model["archived_at"])
        if archived == "hide" and (model_archived is not None or (archived_versions and not count)):
            continue
        if archived == "only" and not (model_archived or archived_versions):
            continue
        latest = reader.fetch_one(LATEST_VERSION_SQL.format(shown=shown), {"m": model["id"]})
        aliases = {
            str(a["alias"]): int(a["version"])
            for a in reader.fetch_all(MODEL_ALIASES_SQL, {"m": model["id"]})
        }
        updated = as_utc(model["updated_at"])
        assert updated is not None  # a NOT NULL column
        summaries.append(
            ModelSummary(
                name=model["name"],
                description=model["description"],
                latest_version=int(latest["version"]) if latest else None,
                versions=count,
                aliases=aliases,
                primary_metric=latest["primary_metric"] if latest else None,
                primary_value=latest["primary_value"] if latest else None,
                updated_at=updated,
                archived_at=model_archived,
            )
        )
    return summaries


def set_alias(workspace: Workspace, ref: str, alias: str, *, force: bool = False) -> VersionInfo:
    """Point ``alias`` of the model at the version ``ref`` names, in one transaction.

    The move is conditional on the alias still pointing where it was read: two moves
    at the same instant give one success and one :class:`ConflictError`, never a lost
    move or an audit event whose "from" is wrong.

    ``champion`` vouches for a version: one that fails its project's gates (as its
    validation report shows them) raises :class:`GatesFailedError` unless ``force``, and
    a forced move records the failed gates in its audit event.
    """
    from sqlmodel import Session

    from dockyard.store.models import ModelVersion

    if not ALIAS_RE.match(alias) or alias == "latest" or alias.isdigit():
        raise InputError(
            f"{alias!r} is not a valid alias; use a lowercase word such as champion "
            "(letters, digits, - and _, starting with a letter, at most 32, not 'latest')"
        )
    with Session(engine_for(workspace)) as session:
        _refuse_environment_alias(session, alias)
        model, version = _resolve(session, ref)
        assert model.id is not None and version.id is not None
        # An alias vouches for the version: never point one at a file that is not intact.
        info = verify_version_files(workspace, version_by_id(workspace, version.id))
        seen = _alias_target(session, model.id, alias)
        if seen == version.id:
            return info
        failed = _champion_gate_failures(workspace, info, alias)
        if failed and not force:
            raise GatesFailedError(
                f"{model.name}@{version.version} fails its gates ({gate_summary(failed)}); "
                f"pass --force to make it {alias} anyway",
                failed,
            )
        old = session.get(ModelVersion, seen) if seen is not None else None
        _write_alias(session, model, alias, seen, version.id)
        payload: dict[str, Any] = {
            "model": model.name, "alias": alias, "from": old.version if old else None,
            "to": version.version,
        }  # fmt: skip
        if failed:
            payload["forced"] = True
            payload["failed_gates"] = [g.to_dict() for g in failed]
            # what `audit log` prints as the event's why
            payload["reason"] = f"forced past failing gates: {gate_summary(failed)}"
        actor = _actor(workspace)
        append_event(session, actor, "model.alias", "registered_model", model.id, payload)
        session.commit()
        return version_by_id(workspace, version.id)


def _champion_gate_failures(workspace: Workspace, info: VersionInfo, alias: str) -> list[Any]:
    """The gates ``info`` fails when ``alias`` is champion (other aliases vouch for nothing)."""
    from dockyard.core.projects import get_project
    from dockyard.core.validation import CHAMPION, evaluate_gates

    if alias != CHAMPION:
        return []
    try:
        project = get_project(workspace, info.project)
    except NotFoundError:  # a project no longer registered declares no gates
        return []
    return [g for g in evaluate_gates(project.spec.gates, info.metrics) if not g.passed]


def gate_summary(failed: list[Any]) -> str:
    """``accuracy 0.81 (needs >= 0.9); loss missing (needs <= 0.7)``: failed gates, one line."""
    parts = []
    for gate in failed:
        value = "missing" if gate.value is None else f"{gate.value:.4g}"
        parts.append(f"{gate.metric} {value} (needs {gate.rule})")
    return "; ".join(parts)


def remove_alias(workspace: Workspace, name: str, alias: str) -> None:
    """Remove ``alias`` from model ``name``; a move at the same instant is a conflict."""
    from sqlmodel import Session, select

    from dockyard.store.models import ModelVersion, RegisteredModel

    with Session(engine_for(workspace)) as session:
        model = session.exec(select(RegisteredModel).where(RegisteredModel.name == name)).first()
        if model is None:
            raise NotFoundError(f"no model named {name!r}; see `dockyard model list`")
        assert model.id is not None
        _refuse_environment_alias(session, alias)
        seen = _alias_target(session, model.id, alias)
        if seen is None:
            raise NotFoundError(f"model {name} has no alias {alias!r}")
        old = session.get(ModelVersion, seen)
        _write_alias(session, model, alias, seen, None)
        append_event(
            session, _actor(workspace), "model.alias", "registered_model", model.id,
            {"model": name, "alias": alias, "from": old.version if old else None, "to": None},
        )  # fmt: skip
        session.commit()


def _refuse_environment_alias(session: Session, alias: str) -> None:
    """An alias named after a declared environment says what runs there: only a deployment
    (with its approvals) moves it, never a hand-made move or removal."""
    from sqlmodel import select

    from dockyard.store.models import Environment

    if session.exec(select(Environment.id).where(Environment.name == alias)).first() is not None:
        raise InputError(
            f"alias {alias!r} belongs to the {alias} environment and moves only by an approved "
            f"deployment; use `dockyard deploy request MODEL@VERSION --env {alias}`"
        )


def _alias_target(session: Session, model_id: int, alias: str) -> int | None:
    """The version id ``alias`` points at now, read without keeping the row in the session
    (the write below is a statement of its own, conditional on this value)."""
    from sqlmodel import col, select

    from dockyard.store.models import ModelAlias

    return session.exec(
        select(col(ModelAlias.model_version_id)).where(
            ModelAlias.model_id == model_id, ModelAlias.alias == alias
        )
    ).first()


def _write_alias(
    session: Session, model: RegisteredModel, alias: str, seen: int | None, new: int | None
) -> None:
    """Insert, move or delete an alias row only if it still points at ``seen``.

    The statement takes the store's write lock, so the audit event appended after it
    chains to the true newest event. Someone else's move in between matches no row (or,
    for a new alias, collides with theirs): that is a :class:`ConflictError`.
    """
    from sqlalchemy import delete, insert, update
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import col

    from dockyard.store.models import ModelAlias, utcnow

    conflict = ConflictError(
        f"alias {alias} of model {model.name} changed meanwhile (someone else moved it at the "
        f"same moment); see `dockyard model show {model.name}` and try again"
    )
    still_seen = (
        col(ModelAlias.model_id) == model.id,
        col(ModelAlias.alias) == alias,
        col(ModelAlias.model_version_id) == seen,
    )
    try:
        if seen is None:
            assert new is not None
            session.execute(
                insert(ModelAlias).values(
                    model_id=model.id, alias=alias, model_version_id=new, updated_at=utcnow()
                )
            )
            return
        if new is None:
            result = session.execute(delete(ModelAlias).where(*still_seen))
        else:
            result = session.execute(
                update(ModelAlias)
                .where(*still_seen)
                .values(model_version_id=new, updated_at=utcnow())
            )
    except IntegrityError:
        session.rollback()
        raise conflict from None
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise conflict


def alias_history(workspace: Workspace, name: str) -> list[dict[str, Any]]:
    """Every move of every alias of ``name``, oldest first.

    This is read from the audit log as it stands; a face showing it uses
    :func:`alias_history_events` and shows ``core.audit.shown_history_warning`` for them, so
    that a forged history does not pass unnoticed.
    """
    return alias_history_events(workspace, name)[0]


def alias_history_events(workspace: Workspace, name: str) -> tuple[list[dict[str, Any]], list[int]]:
    """:func:`alias_history` and the ids of the audit events it was read from, which
    ``core.audit.check_shown_events`` checks."""
    model_id = _model_id(reader_for(workspace), name)
    moves = [e for e in list_events(workspace, "registered_model", model_id)
             if e.action == "model.alias"]  # fmt: skip
    return [{"at": e.at.isoformat(), "actor": e.actor, **e.details} for e in moves], [
        e.id for e in moves
    ]


def update_version(
    workspace: Workspace,
    ref: str,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> VersionInfo:
    """Edit a version's description and tags (the model itself never changes).

    The edit is an audit event (``model.edit``) holding each changed field's old and new
    value; an edit that changes nothing writes nothing.
    """
    from sqlmodel import Session

    with Session(engine_for(workspace)) as session:
        model, version = _resolve(session, ref)
        changes: dict[str, Any] = {}
        if description is not None and description != version.description:
            changes["description"] = {"from": version.description, "to": description}
            version.description = description
        if tags is not None:
            old_tags = json.loads(version.tags_json)
            merged = {**old_tags, **tags}
            new_tags = {k: v for k, v in merged.items() if v != ""}
            changed = {
                key: {"from": old_tags.get(key), "to": new_tags.get(key)}
                for key in sorted(set(old_tags) | set(new_tags))
                if old_tags.get(key) != new_tags.get(key)
            }
            if changed:
                changes["tags"] = changed
            version.tags_json = json.dumps(new_tags, sort_keys=True)
        version_id = version.id
        assert version_id is not None
        if not changes:
            return version_by_id(workspace, version_id)
        session.add(version)
        append_event(
            session, _actor(workspace), "model.edit", "model_version", version_id,
            {"model": model.name, "version": version.version, "changes": changes},
        )  # fmt: skip
        session.commit()
    return version_by_id(workspace, version_id)


def load_model(workspace: Workspace, ref: str) -> Any:
    """The fitted estimator of a version, verified against its hash, loaded by a policy.

    The bytes are read once, checked against the recorded size and SHA-256, and handed
    to ``core.model_policy.load_skops``: only types the policy in the code accepts
    (scikit-learn, NumPy, SciPy and the project's ``[models] trusted_modules``) are
    constructed. The hash only proves the file is the one the store names; whoever can
    plant a file can write its hash too, so it never decides which types are trusted.
    joblib (pickle) files are refused: unpickling runs whatever the file says.
    """
    from dockyard.core.model_policy import UntrustedModelError, load_skops

    info = get_version(workspace, ref)
    label = f"{info.ref}: model file"
    path = object_file(workspace, info.artifact_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactIntegrityError(_missing(label, path)) from None
    if len(data) != info.size_bytes or hashlib.sha256(data).hexdigest() != info.artifact_sha256:
        raise ArtifactIntegrityError(_altered(label, path))
    if info.artifact_format == "joblib":
        raise UntrustedModelError(
            f"{info.ref} is a joblib (pickle) file, and unpickling runs any code planted in "
            "it; Dockyard loads skops files only (log the model with format='skops')"
        )
    if info.artifact_format != "skops":
        raise DockyardError(f"{info.ref}: unknown model format {info.artifact_format!r}")
    try:
        return load_skops(data, _trusted_modules(workspace, info.project))
    except UntrustedModelError as exc:
        raise UntrustedModelError(f"{info.ref}: {exc}") from None


def _trusted_modules(workspace: Workspace, project: str) -> tuple[str, ...]:
    """The project's declared extra modules (re-checked by the policy when loading)."""
    from dockyard.core.projects import get_project

    try:
        return get_project(workspace, project).spec.trusted_modules
    except NotFoundError:
        return ()
