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
from dockyard.core.workspace import Workspace, current_user, engine_for

if TYPE_CHECKING:
    from sqlmodel import Session

    from dockyard.store.models import Artifact, ModelVersion, RegisteredModel

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


def parse_ref(ref: str) -> tuple[str, str]:
    """``name`` / ``name@3`` / ``name@champion`` / ``name@latest`` -> (name, selector)."""
    name, _, selector = ref.strip().partition("@")
    if not name:
        raise InputError(f"{ref!r} is not a model reference; write NAME@VERSION or NAME@ALIAS")
    parse_version(selector, ref)  # an out-of-range number is refused before any lookup
    return name, selector or "latest"


def object_file(workspace: Workspace, object_path: str) -> Path:
    path = Path(object_path)
    return path if path.is_absolute() else workspace.home / path


def verify_artifact(
    workspace: Workspace, object_path: str, sha256: str, label: str, *, size: int | None = None
) -> Path:
    """The artifact's file after checking it exists, has ``size`` bytes and hashes to
    ``sha256`` (re-hashed, unless this user verified the very same file state before:
    see ``core.hashing.verified_before``)."""
    from dockyard.core.hashing import ObjectCorruptError, verify_file

    path = object_file(workspace, object_path)
    if not path.is_file():
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


def _model_artifact(session: Session, run_id: int) -> Artifact | None:
    from sqlmodel import col, select

    from dockyard.store.models import Artifact

    query = (
        select(Artifact)
        .where(Artifact.run_id == run_id, Artifact.kind == "model")
        .order_by(col(Artifact.id).desc())
    )
    return session.exec(query).first()


def register_version(
    workspace: Workspace,
    run_id: int,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> VersionInfo:
    """Make version N+1 of model ``name`` from finished run ``run_id``'s model artifact."""
    from sqlmodel import Session, func, select

    from dockyard.store.models import ModelVersion, RegisteredModel, Run, utcnow

    if not NAME_RE.match(name):
        raise InputError(
            f"{name!r} is not a valid model name; use lowercase letters, digits, - and _"
        )
    with Session(engine_for(workspace)) as session:
        run = session.get(Run, run_id) if 1 <= run_id <= INT64_MAX else None
        if run is None:
            raise NotFoundError(f"no run with id {run_id}; see `dockyard run list`")
        if run.status != "finished":
            raise InputError(
                f"run {run_id} is {run.status}; only a finished run can become a model version"
            )
        artifact = _model_artifact(session, run_id)
        if artifact is None:
            raise InputError(
                f"run {run_id} logged no model; call tracker.log_model(...) in the script"
            )
        verify_artifact(
            workspace, artifact.object_path, artifact.sha256, f"run {run_id}: model file",
            size=artifact.size_bytes,
        )  # fmt: skip
        model = session.exec(select(RegisteredModel).where(RegisteredModel.name == name)).first()
        if model is None:
            model = RegisteredModel(name=name)
            session.add(model)
            session.flush()
        assert model.id is not None and artifact.id is not None
        latest = session.exec(
            select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)
        ).one()
        # never a number a deleted version had: "m@3" in a record means one file
        latest = max(latest or 0, model.max_deleted_version or 0)
        version = ModelVersion(
            model_id=model.id,
            version=latest + 1,
            run_id=run_id,
            artifact_id=artifact.id,
            dataset_version_id=run.dataset_version_id,
            description=description,
            tags_json=json.dumps(tags or {}, sort_keys=True),
            created_by=current_user(),
        )
        model.updated_at = utcnow()
        session.add(version)
        session.add(model)
        session.flush()
        append_event(
            session, current_user(), "model.register", "model_version", version.id or 0,
            {"model": name, "version": version.version, "run_id": run_id,
             "sha256": artifact.sha256},
        )  # fmt: skip
        try:
            session.commit()
        except Exception as exc:  # two registrations raced for the same number
            from sqlalchemy.exc import IntegrityError

            if isinstance(exc, IntegrityError):
                raise ConflictError(
                    f"model {name} got a new version at the same moment; register again"
                ) from None
            raise
        return _version_info(session, version)


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


def get_version(workspace: Workspace, ref: str) -> VersionInfo:
    """The version ``ref`` names (``NAME@VERSION``, ``NAME@ALIAS`` or ``NAME``: latest)."""
    from sqlmodel import Session

    with Session(engine_for(workspace)) as session:
        _model, version = _resolve(session, ref)
        return _version_info(session, version)


def list_versions(workspace: Workspace, name: str, *, archived: str = "hide") -> list[VersionInfo]:
    """The versions of model ``name``, newest first; archived ones hidden, alone
    (``archived="only"``) or included (``"include"``)."""
    from sqlmodel import Session, col, select

    from dockyard.core.housekeeping import archived_filter
    from dockyard.store.models import ModelVersion, RegisteredModel

    with Session(engine_for(workspace)) as session:
        model = session.exec(select(RegisteredModel).where(RegisteredModel.name == name)).first()
        if model is None:
            raise NotFoundError(f"no model named {name!r}; see `dockyard model list`")
        rows = session.exec(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id)
            .where(archived_filter(ModelVersion, archived))
            .order_by(col(ModelVersion.version).desc())
        ).all()
        return [_version_info(session, row) for row in rows]


def list_models(workspace: Workspace, *, archived: str = "hide") -> list[ModelSummary]:
    """Every model with its latest version, aliases and the latest version's metric.

    A model is hidden when it is archived or every version it has is (``archived="hide"``);
    ``"only"`` lists the models archived or holding an archived version, ``"include"``
    all. Hidden versions are neither counted nor the latest.
    """
    from sqlmodel import Session, col, func, select

    from dockyard.core.housekeeping import archived_filter
    from dockyard.store.models import ModelAlias, ModelVersion, RegisteredModel, Run

    versions_shown = archived_filter(ModelVersion, "hide" if archived == "hide" else "include")
    with Session(engine_for(workspace)) as session:
        summaries = []
        models = session.exec(
            select(RegisteredModel).order_by(col(RegisteredModel.updated_at).desc())
        ).all()
        for model in models:
            latest = session.exec(
                select(ModelVersion)
                .where(ModelVersion.model_id == model.id, versions_shown)
                .order_by(col(ModelVersion.version).desc())
            ).first()
            count = session.exec(
                select(func.count())
                .select_from(ModelVersion)
                .where(ModelVersion.model_id == model.id, versions_shown)
            ).one()
            if archived != "include":
                archived_versions = session.exec(
                    select(func.count())
                    .select_from(ModelVersion)
                    .where(ModelVersion.model_id == model.id)
                    .where(col(ModelVersion.archived_at).is_not(None))
                ).one()
                hidden = model.archived_at is not None or (archived_versions and not count)
                if archived == "hide" and hidden:
                    continue
                if archived == "only" and not (model.archived_at or archived_versions):
                    continue
            aliases = {
                a.alias: v.version
                for a, v in session.exec(
                    select(ModelAlias, ModelVersion)
                    .join(ModelVersion, col(ModelVersion.id) == col(ModelAlias.model_version_id))
                    .where(ModelAlias.model_id == model.id)
                )
            }
            run = session.get(Run, latest.run_id) if latest else None
            summaries.append(
                ModelSummary(
                    name=model.name,
                    description=model.description,
                    latest_version=latest.version if latest else None,
                    versions=int(count),
                    aliases=aliases,
                    primary_metric=run.primary_metric if run else None,
                    primary_value=run.primary_value if run else None,
                    updated_at=model.updated_at,
                    archived_at=model.archived_at,
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
        verify_version_files(workspace, _version_info(session, version))
        seen = _alias_target(session, model.id, alias)
        if seen == version.id:
            return _version_info(session, version)
        failed = _champion_gate_failures(workspace, _version_info(session, version), alias)
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
        append_event(session, current_user(), "model.alias", "registered_model", model.id, payload)
        session.commit()
        return _version_info(session, version)


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
            session, current_user(), "model.alias", "registered_model", model.id,
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
    from sqlmodel import Session, select

    from dockyard.store.models import RegisteredModel

    with Session(engine_for(workspace)) as session:
        model = session.exec(select(RegisteredModel).where(RegisteredModel.name == name)).first()
        if model is None:
            raise NotFoundError(f"no model named {name!r}; see `dockyard model list`")
        model_id = model.id
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
        if not changes:
            return _version_info(session, version)
        session.add(version)
        append_event(
            session, current_user(), "model.edit", "model_version", version.id or 0,
            {"model": model.name, "version": version.version, "changes": changes},
        )  # fmt: skip
        session.commit()
        return _version_info(session, version)


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


def _version_info(session: Session, version: ModelVersion) -> VersionInfo:
    from sqlmodel import select

    from dockyard.store.models import (
        Artifact,
        Dataset,
        DatasetVersion,
        ModelAlias,
        Project,
        RegisteredModel,
        Run,
    )

    model = session.get(RegisteredModel, version.model_id)
    artifact = session.get(Artifact, version.artifact_id)
    run = session.get(Run, version.run_id)
    assert model is not None and artifact is not None and run is not None
    assert version.id is not None
    project = session.get(Project, run.project_id)
    dataset = None
    if version.dataset_version_id is not None:
        dv = session.get(DatasetVersion, version.dataset_version_id)
        ds = session.get(Dataset, dv.dataset_id) if dv else None
        dataset = f"{ds.name}@{dv.version}" if ds and dv else None
    aliases = sorted(
        a.alias
        for a in session.exec(select(ModelAlias).where(ModelAlias.model_version_id == version.id))
    )
    from dockyard.core.runs import final_metrics

    return VersionInfo(
        id=version.id,
        model=model.name,
        version=version.version,
        run_id=version.run_id,
        project=project.name if project else "?",
        dataset=dataset,
        dataset_version_id=version.dataset_version_id,
        artifact_sha256=artifact.sha256,
        artifact_path=artifact.object_path,
        artifact_format=artifact.file_format,
        size_bytes=artifact.size_bytes,
        description=version.description,
        tags=json.loads(version.tags_json),
        aliases=aliases,
        created_by=version.created_by,
        created_at=version.created_at,
        primary_metric=run.primary_metric,
        primary_value=run.primary_value,
        metrics=final_metrics(session, version.run_id),
        archived_at=version.archived_at,
    )
