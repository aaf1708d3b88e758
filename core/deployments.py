"""Deployment requests, approvals, deployments and rollbacks, with their rules.

The rules live here, not in the faces: the requester never approves their own request;
only an environment's listed approvers approve, each once; a failed blocking check stops
approval unless an approver overrides it with a written reason; a request made before the
environment's deployment changed is stale until re-checked; two requests for the same
model and environment never both deploy. Every step is an audit event, and so is every
refusal.

Every decision takes the store's write lock first (``BEGIN IMMEDIATE``) and reads the
request inside it, and a request leaves ``pending`` only by a compare-and-set, so two
approvers at the same instant from two processes give exactly one deployment.

A deployment is two commits around a file switch. The first records it as ``switching``;
then the model file (re-verified) and ``manifest.json`` are written into a new release
folder, which becomes visible by renaming it into place, and the ``current`` link is
swapped with a rename; the second commit marks it ``active``, retires the previous one
and moves the environment's alias. A process killed between the two commits leaves a
``switching`` row that the next deployment command completes (or, when the model file is
no longer intact, abandons): a reader of ``current`` sees the old release or the new one,
never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.audit import _lock_chain, append_event
from dockyard.core.environments import (
    DEPLOY_DIR,
    EnvironmentInfo,
    NotPermittedError,
    check_env_name,
    environment_row,
    is_approver,
)
from dockyard.core.environments import (
    _info as _env_info,
)
from dockyard.core.errors import ConflictError, InputError, NotFoundError
from dockyard.core.parsing import shown
from dockyard.core.workspace import Workspace, acting_user, engine_for, reader_for
from dockyard.store.schema import REQUEST_STATUSES

if TYPE_CHECKING:
    from sqlmodel import Session

    from dockyard.core.registry import VersionInfo
    from dockyard.store.models import Deployment, DeploymentRequest
    from dockyard.store.queries import Reader

MODEL_FILE = "model.skops"
MANIFEST = "manifest.json"
LIVE = ("switching", "active")


# --- what the faces get -----------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check run on a request: a project gate, "not worse", schema, file hash.

    A failed ``blocking`` check stops approval unless an approver overrides it; a failed
    non-blocking one (a changed input schema) is listed for the reviewer.
    """

    name: str
    passed: bool
    blocking: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "blocking": self.blocking,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ApprovalInfo:
    reviewer: str
    decision: str
    comment: str
    override_reason: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "reviewer": self.reviewer,
            "decision": self.decision,
            "comment": self.comment,
            "override_reason": self.override_reason,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class RequestInfo:
    """A deployment request as a reviewer sees it; ``to_dict`` is the ``--json`` shape."""

    id: int
    model: str
    version: int
    target: str
    status: str
    requested_by: str
    reason: str
    requested_at: datetime
    decided_at: datetime | None
    kind: str = "deploy"
    checks: tuple[Check, ...] = ()
    approvals: tuple[ApprovalInfo, ...] = ()
    needed: int = 0
    stale: bool = False
    input_schema: list[dict[str, Any]] | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    @property
    def checks_passed(self) -> bool:
        """Whether every blocking check passed."""
        return all(c.passed for c in self.checks if c.blocking)

    @property
    def approved_by(self) -> list[str]:
        return [a.reviewer for a in self.approvals if a.decision == "approve"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "model": self.model,
            "version": self.version,
            "ref": self.ref,
            "target": self.target,
            "status": self.status,
            "stale": self.stale,
            "requested_by": self.requested_by,
            "reason": self.reason,
            "requested_at": self.requested_at.isoformat(),
            "decided_at": None if self.decided_at is None else self.decided_at.isoformat(),
            "checks": [c.to_dict() for c in self.checks],
            "checks_passed": self.checks_passed,
            "approvals": [a.to_dict() for a in self.approvals],
            "approvals_needed": self.needed,
            "input_schema": self.input_schema,
        }


@dataclass(frozen=True)
class DeploymentInfo:
    """A deployment of one version into one environment."""

    id: int
    model: str
    version: int
    target: str
    status: str
    deployed_by: str
    deployed_at: datetime
    retired_at: datetime | None
    request_id: int | None
    approved_by: tuple[str, ...]
    path: str
    sha256: str

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "ref": self.ref,
            "env": self.target,
            "status": self.status,
            "deployed_by": self.deployed_by,
            "deployed_at": self.deployed_at.isoformat(),
            "retired_at": None if self.retired_at is None else self.retired_at.isoformat(),
            "request_id": self.request_id,
            "approved_by": list(self.approved_by),
            "path": self.path,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Decision:
    """What an approval (or a rollback) did: the request, and the deployment if it ran."""

    request: RequestInfo
    deployment: DeploymentInfo | None = None


# --- reading ----------------------------------------------------------------------------------


def list_requests(
    workspace: Workspace,
    status: str | None = None,
    env: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[RequestInfo]:
    """Deployment requests, pending first, then newest; ``status``/``env`` filter, and
    ``limit``/``offset`` page, all in SQL, so a page costs the same with 10,000 requests
    as with ten (five queries whatever its length)."""
    if status and status not in REQUEST_STATUSES:
        raise InputError(
            f"{shown(status)} is not a request status; use one of {', '.join(REQUEST_STATUSES)}"
        )
    from dockyard.core.parsing import INT64_MAX

    reader = reader_for(workspace)
    params = {
        "status": status or None,
        "env": env or None,
        "limit": INT64_MAX if limit is None else limit,
        "offset": max(offset, 0),
    }
    return _request_infos(reader, reader.fetch_all(REQUESTS_SQL, params))


def get_request(workspace: Workspace, request_id: int) -> RequestInfo:
    """One request with its checks, approvals and whether it is stale."""
    from dockyard.core.parsing import INT64_MAX

    reader = reader_for(workspace)
    row = None
    if 1 <= request_id <= INT64_MAX:  # beyond it the driver would overflow
        row = reader.fetch_one(REQUEST_SELECT + " WHERE id = :id", {"id": request_id})
    if row is None:
        raise NotFoundError(f"no deployment request {request_id}; see `dockyard deploy list`")
    return _request_infos(reader, [row])[0]


def _request_row(session: Session, request_id: int) -> DeploymentRequest:
    from dockyard.store.models import DeploymentRequest

    row = session.get(DeploymentRequest, request_id)
    if row is None:
        raise NotFoundError(f"no deployment request {request_id}; see `dockyard deploy list`")
    return row


def _names(session: Session, version_id: int) -> tuple[str, int, int]:
    """(model name, version number, model id) of a model_version id."""
    from dockyard.store.models import ModelVersion, RegisteredModel

    version = session.get(ModelVersion, version_id)
    assert version is not None
    model = session.get(RegisteredModel, version.model_id)
    assert model is not None and model.id is not None
    return model.name, version.version, model.id


def _approvals(session: Session, request_id: int) -> list[ApprovalInfo]:
    from sqlmodel import col, select

    from dockyard.store.models import Approval

    rows = session.exec(
        select(Approval).where(Approval.request_id == request_id).order_by(col(Approval.id))
    ).all()
    return [
        ApprovalInfo(a.reviewer, a.decision, a.comment, a.override_reason, a.created_at)
        for a in rows
    ]


# Read through ``reader_for`` (sqlite3 on a SQLite store): `deploy list|status` must not
# pay for importing SQLAlchemy and SQLModel (decision 21). Writers build what they return
# with the same code through ``store.queries.SessionReader``.
REQUEST_COLUMNS = (
    "id", "model_version_id", "target", "status", "requested_by", "reason", "checks_json",
    "requested_at", "decided_at", "kind", "base_deployment_id", "input_schema_json",
)  # fmt: skip
REQUEST_SELECT = f"SELECT {', '.join(REQUEST_COLUMNS)} FROM deployment_request"
REQUESTS_SQL = (
    REQUEST_SELECT
    # the casts tell PostgreSQL the type of a parameter it would only see compared with NULL
    + " WHERE (CAST(:status AS VARCHAR) IS NULL OR status = :status)"
    " AND (CAST(:env AS VARCHAR) IS NULL OR target = :env)"
    " ORDER BY CASE WHEN status = 'pending' THEN 0 ELSE 1 END, id DESC"
    " LIMIT :limit OFFSET :offset"
)
DEPLOYMENT_COLUMNS = (
    "id", "request_id", "model_version_id", "target", "status", "deployed_by", "deployed_at",
    "retired_at", "path", "manifest_json",
)  # fmt: skip
DEPLOYMENT_SELECT = f"SELECT {', '.join(DEPLOYMENT_COLUMNS)} FROM deployment"


def _as_row(obj: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    """An ORM object as the dict a reader returns (attribute reads refresh expired ones)."""
    return {name: getattr(obj, name) for name in columns}


def _request_info(session: Session, row: DeploymentRequest) -> RequestInfo:
    from dockyard.store.queries import SessionReader

    return _request_infos(SessionReader(session), [_as_row(row, REQUEST_COLUMNS)])[0]


def _version_names(reader: Reader, version_ids: Iterable[int]) -> dict[int, tuple[str, int, int]]:
    """model_version id -> (model name, version number, model id)."""
    from dockyard.store.queries import in_list

    ids = sorted(set(version_ids))
    if not ids:
        return {}
    placeholders, params = in_list("v", ids)
    rows = reader.fetch_all(
        "SELECT mv.id AS id, mv.version AS version, mv.model_id AS model_id, m.name AS name "
        "FROM model_version AS mv JOIN registered_model AS m ON m.id = mv.model_id "
        f"WHERE mv.id IN {placeholders}",
        params,
    )
    return {int(r["id"]): (r["name"], int(r["version"]), int(r["model_id"])) for r in rows}


def _approvals_of(reader: Reader, request_ids: Iterable[int]) -> dict[int, list[ApprovalInfo]]:
    """request id -> its approvals and rejections, in the order they were given."""
    from dockyard.store.queries import as_utc, in_list

    ids = sorted(set(request_ids))
    if not ids:
        return {}
    placeholders, params = in_list("r", ids)
    out: dict[int, list[ApprovalInfo]] = {}
    for a in reader.fetch_all(
        "SELECT request_id, reviewer, decision, comment, override_reason, created_at "
        f"FROM approval WHERE request_id IN {placeholders} ORDER BY id",
        params,
    ):
        at = as_utc(a["created_at"])
        assert at is not None  # a NOT NULL column
        out.setdefault(int(a["request_id"]), []).append(
            ApprovalInfo(a["reviewer"], a["decision"], a["comment"], a["override_reason"], at)
        )
    return out


def _request_infos(reader: Reader, rows: list[dict[str, Any]]) -> list[RequestInfo]:
    """``RequestInfo`` of each ``deployment_request`` row, with a fixed number of queries
    for the whole list (names, environments, live deployments, approvals), not a few per
    row."""
    from dockyard.store.queries import as_utc, in_list

    if not rows:
        return []
    names = _version_names(reader, (r["model_version_id"] for r in rows))
    targets = sorted({r["target"] for r in rows})
    placeholders, params = in_list("t", targets)
    needed = {
        e["name"]: int(e["approvals"])
        for e in reader.fetch_all(
            f"SELECT name, approvals FROM environment WHERE name IN {placeholders}", params
        )
    }
    # the newest live deployment per (model, environment), as _live() reads it for one
    live: dict[tuple[int, str], int] = {}
    if any(r["status"] == "pending" for r in rows):
        model_ids = sorted({names[r["model_version_id"]][2] for r in rows})
        model_list, model_params = in_list("m", model_ids)
        live_list, live_params = in_list("s", LIVE)
        for d in reader.fetch_all(
            "SELECT d.id AS id, mv.model_id AS model_id, d.target AS target FROM deployment AS d"
            " JOIN model_version AS mv ON mv.id = d.model_version_id"
            f" WHERE mv.model_id IN {model_list} AND d.target IN {placeholders}"
            f" AND d.status IN {live_list}",
            {**model_params, **params, **live_params},
        ):
            key = (int(d["model_id"]), d["target"])
            live[key] = max(live.get(key, 0), int(d["id"] or 0))
    approvals = _approvals_of(reader, (r["id"] for r in rows))
    infos = []
    for row in rows:
        model, version, model_id = names[row["model_version_id"]]
        stale = False
        if row["status"] == "pending" and row["target"] in needed:
            stale = live.get((model_id, row["target"])) != row["base_deployment_id"]
        raw_checks = json.loads(row["checks_json"] or "[]")
        requested = as_utc(row["requested_at"])
        assert requested is not None  # a NOT NULL column
        infos.append(
            RequestInfo(
                id=int(row["id"]),
                model=model,
                version=version,
                target=row["target"],
                status=row["status"],
                requested_by=row["requested_by"],
                reason=row["reason"],
                requested_at=requested,
                decided_at=as_utc(row["decided_at"]),
                kind=row["kind"],
                checks=tuple(
                    Check(**c) for c in raw_checks if isinstance(c, dict) and "blocking" in c
                ),
                approvals=tuple(approvals.get(int(row["id"]), ())),
                needed=needed.get(row["target"], 0),
                stale=stale,
                input_schema=json.loads(row["input_schema_json"] or "null"),
            )
        )
    return infos


def _live(session: Session, model_id: int, env: str) -> Deployment | None:
    """The newest deployment of the model in ``env`` that is running or being switched to."""
    from sqlmodel import col, select

    from dockyard.store.models import Deployment, ModelVersion

    return session.exec(
        select(Deployment)
        .join(ModelVersion, col(ModelVersion.id) == col(Deployment.model_version_id))
        .where(
            ModelVersion.model_id == model_id,
            Deployment.target == env,
            col(Deployment.status).in_(LIVE),
        )
        .order_by(col(Deployment.id).desc())
    ).first()


def _deployment_info(session: Session, row: Deployment) -> DeploymentInfo:
    from dockyard.store.queries import SessionReader

    return _deployment_infos(SessionReader(session), [_as_row(row, DEPLOYMENT_COLUMNS)])[0]


def _deployment_infos(reader: Reader, rows: list[dict[str, Any]]) -> list[DeploymentInfo]:
    """``DeploymentInfo`` of each ``deployment`` row, with its approvers."""
    from dockyard.store.queries import as_utc

    names = _version_names(reader, (r["model_version_id"] for r in rows))
    approvals = _approvals_of(reader, (r["request_id"] for r in rows if r["request_id"]))
    infos = []
    for row in rows:
        model, version, _ = names[row["model_version_id"]]
        approvers = [
            a.reviewer for a in approvals.get(row["request_id"] or 0, ()) if a.decision == "approve"
        ]
        manifest = json.loads(row["manifest_json"] or "{}")
        deployed = as_utc(row["deployed_at"])
        assert deployed is not None  # a NOT NULL column
        infos.append(
            DeploymentInfo(
                id=int(row["id"]),
                model=model,
                version=version,
                target=row["target"],
                status=row["status"],
                deployed_by=row["deployed_by"],
                deployed_at=deployed,
                retired_at=as_utc(row["retired_at"]),
                request_id=row["request_id"],
                approved_by=tuple(approvers),
                path=row["path"],
                sha256=str(manifest.get("sha256", "")),
            )
        )
    return infos


def deployment_status(workspace: Workspace, at: datetime | None = None) -> list[DeploymentInfo]:
    """What runs in each environment now (or at ``at``), since when, approved by whom."""
    from dockyard.store.queries import sql_time

    if at is None:
        recover_deployments(workspace)
    reader = reader_for(workspace)
    if at is None:
        rows = reader.fetch_all(DEPLOYMENT_SELECT + " WHERE status = 'active' ORDER BY target, id")
    else:
        rows = reader.fetch_all(
            DEPLOYMENT_SELECT + " WHERE status IN ('active', 'retired') AND deployed_at <= :at"
            " AND (retired_at IS NULL OR retired_at > :at) ORDER BY target, id",
            {"at": sql_time(at)},
        )
    infos = _deployment_infos(reader, rows)
    return sorted(infos, key=lambda d: (d.target, d.model))


def deployment_history(workspace: Workspace, env: str, model: str) -> list[DeploymentInfo]:
    """Every deployment of ``model`` in ``env``, oldest first, with dates and approvers."""
    from sqlmodel import Session, col, select

    from dockyard.store.models import Deployment, ModelVersion, RegisteredModel

    with Session(engine_for(workspace)) as session:
        environment_row(session, check_env_name(env))
        model_row = session.exec(
            select(RegisteredModel).where(RegisteredModel.name == model)
        ).first()
        if model_row is None:
            raise NotFoundError(f"no model named {model!r}; see `dockyard model list`")
        rows = session.exec(
            select(Deployment)
            .join(ModelVersion, col(ModelVersion.id) == col(Deployment.model_version_id))
            .where(ModelVersion.model_id == model_row.id, Deployment.target == env)
            .order_by(col(Deployment.id))
        ).all()
        return [_deployment_info(session, r) for r in rows]


def live_deployment(workspace: Workspace, env: str, model: str) -> DeploymentInfo:
    """The active deployment of ``model`` in ``env``; none is refused naming the fix."""
    recover_deployments(workspace)
    for info in deployment_status(workspace):
        if info.target == env and info.model == model:
            return info
    from sqlmodel import Session

    with Session(engine_for(workspace)) as session:
        environment_row(session, check_env_name(env))
    raise NotFoundError(
        f"no version of {model} is deployed in {env}; "
        f"request one with `dockyard deploy request {model}@VERSION --env {env}`"
    )


# --- refusals ---------------------------------------------------------------------------------


def _refuse(
    workspace: Workspace,
    actor: str,
    action: str,
    entity_id: str | int,
    error: Exception,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a refused attempt (its own transaction: nothing else is written), then raise."""
    from sqlmodel import Session

    from dockyard.store.models import DeploymentRequest

    with Session(engine_for(workspace)) as session:
        row = session.get(DeploymentRequest, entity_id) if isinstance(entity_id, int) else None
        if row is not None:  # so that `audit log --model/--env` finds the refusal
            model, version, _ = _names(session, row.model_version_id)
            details = {"model": model, "version": version, "env": row.target, **(details or {})}
        append_event(
            session,
            actor,
            "deploy.refused",
            "deployment_request",
            entity_id,
            {"attempt": action, "error": str(error), **(details or {})},
        )
        session.commit()
    raise error


# --- requesting -------------------------------------------------------------------------------


def _input_schema(workspace: Workspace, info: VersionInfo) -> list[dict[str, Any]] | None:
    """The columns the version takes, in order, with dtype and (if known) categories.

    The model's own ``feature_names_in_`` (scikit-learn records them when fitted on a
    DataFrame) give names and order; the dataset version's profile gives their types and,
    for text columns profiled exactly, the categories seen in training.
    """
    from sqlmodel import Session

    from dockyard.core.projects import get_project
    from dockyard.core.registry import load_model
    from dockyard.store.models import Dataset, DatasetVersion

    columns: dict[str, dict[str, Any]] = {}
    target: str | None = None
    if info.dataset_version_id is not None:
        with Session(engine_for(workspace)) as session:
            dv = session.get(DatasetVersion, info.dataset_version_id)
            ds = session.get(Dataset, dv.dataset_id) if dv else None
            if dv is not None and ds is not None:
                try:
                    spec = get_project(workspace, info.project).spec
                    target = next((d.target for d in spec.datasets if d.name == ds.name), None)
                except NotFoundError:
                    target = None
                profile = json.loads(dv.profile_json or "{}")
                for column in profile.get("columns", []) or json.loads(dv.columns_json):
                    entry: dict[str, Any] = {"name": column["name"], "dtype": column["dtype"]}
                    top = column.get("top")
                    if top and column.get("top_exact") and not column.get("other"):
                        entry["categories"] = sorted(str(label) for label, _ in top)
                    columns[column["name"]] = entry
    features = getattr(load_model(workspace, info.ref), "feature_names_in_", None)
    if features is not None:
        return [columns.get(str(n), {"name": str(n), "dtype": "float64"}) for n in features]
    if columns:
        return [c for name, c in columns.items() if name != target]
    return None


def _schema_change(old: list[dict[str, Any]] | None, new: list[dict[str, Any]] | None) -> str:
    if old is None or new is None:
        return "" if old == new else "input schema unknown for one of the versions"
    before = {c["name"]: c["dtype"] for c in old}
    after = {c["name"]: c["dtype"] for c in new}
    parts = []
    if added := [n for n in after if n not in before]:
        parts.append("added " + ", ".join(added))
    if removed := [n for n in before if n not in after]:
        parts.append("removed " + ", ".join(removed))
    if retyped := [
        f"{n} {before[n]}->{after[n]}" for n in after if n in before and before[n] != after[n]
    ]:
        parts.append("retyped " + ", ".join(retyped))
    return "; ".join(parts)


def _run_checks(
    workspace: Workspace,
    session: Session,
    info: VersionInfo,
    env: str,
    schema: list[dict[str, Any]] | None,
    *,
    rollback: bool,
) -> tuple[list[Check], int | None]:
    """The checks of a request and the live deployment id they were made against."""
    from dockyard.core.comparison import metric_direction
    from dockyard.core.projects import get_project
    from dockyard.core.registry import get_version
    from dockyard.core.validation import evaluate_gates
    from dockyard.store.models import ModelVersion

    spec = get_project(workspace, info.project).spec
    checks = [
        Check(
            f"gate {g.metric} {g.rule}",
            g.passed,
            not rollback,
            f"{g.metric} = {'missing' if g.value is None else f'{g.value:.6g}'}",
        )
        for g in evaluate_gates(spec.gates, info.metrics)
    ]
    model_version = session.get(ModelVersion, info.id)
    assert model_version is not None
    live = _live(session, model_version.model_id, env)
    primary = spec.primary_metric
    if live is None:
        checks.append(
            Check(
                "not worse than the live version",
                True,
                not rollback,
                f"nothing of {info.model} is deployed in {env} yet",
            )
        )
        checks.append(Check("input schema", True, False, "first deployment in " + env))
    else:
        current = get_version(
            workspace, f"{info.model}@{_names(session, live.model_version_id)[1]}"
        )
        if current.id == info.id:
            raise InputError(f"{info.ref} is already deployed in {env}")
        if primary is None:
            checks.append(
                Check(
                    "not worse than the live version",
                    True,
                    not rollback,
                    f"project {info.project} declares no primary metric",
                )
            )
        else:
            mine, theirs = info.metrics.get(primary), current.metrics.get(primary)
            direction = metric_direction(primary, primary, spec.direction)
            ok = mine is not None and (
                theirs is None or (mine >= theirs if direction == "maximize" else mine <= theirs)
            )
            checks.append(
                Check(
                    f"{primary} not worse than {current.ref} in {env}",
                    ok,
                    not rollback,
                    f"{primary}: {_num(theirs)} ({current.ref}) -> {_num(mine)} ({info.ref})",
                )
            )
        old_schema = json.loads(live.manifest_json or "{}").get("input_schema")
        change = _schema_change(old_schema, schema)
        checks.append(
            Check("input schema", not change, False, change or f"matches what {current.ref} takes")
        )
    checks.append(Check("model file hash", True, True, f"sha256 {info.artifact_sha256} verified"))
    return checks, (live.id if live else None)


def _num(value: float | None) -> str:
    return "missing" if value is None else f"{value:.6g}"


def request_deployment(
    workspace: Workspace,
    ref: str,
    env: str,
    reason: str = "",
    actor: str | None = None,
    *,
    kind: str = "deploy",
) -> Decision:
    """Ask for ``ref`` (``NAME@VERSION``) to be deployed in ``env``; runs and stores the checks.

    An environment that needs no approval deploys at once when every blocking check
    passes. A model file that is missing or altered is refused (and the refusal recorded).
    """
    from sqlmodel import Session

    from dockyard.core.registry import verify_version_files
    from dockyard.store.models import DeploymentRequest

    actor = actor or acting_user(workspace)
    check_env_name(env)
    recover_deployments(workspace)
    with Session(engine_for(workspace)) as session:
        environment_row(session, env)
    try:
        info = verify_version_files(workspace, ref)
    except InputError as exc:
        if isinstance(exc, NotFoundError):
            raise
        _refuse(workspace, actor, "request", ref, exc, {"env": env, "ref": ref})
        raise
    schema = _input_schema(workspace, info)
    with Session(engine_for(workspace)) as session:
        _lock_chain(session)
        environment = _env_info(environment_row(session, env))
        checks, base = _run_checks(
            workspace, session, info, env, schema, rollback=kind == "rollback"
        )
        row = DeploymentRequest(
            model_version_id=info.id,
            target=env,
            requested_by=actor,
            reason=reason,
            kind=kind,
            base_deployment_id=base,
            checks_json=json.dumps([c.to_dict() for c in checks]),
            input_schema_json=json.dumps(schema),
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        append_event(
            session,
            actor,
            f"deploy.{kind}",
            "deployment_request",
            row.id,
            {
                "model": info.model,
                "version": info.version,
                "env": env,
                "reason": reason,
                "sha256": info.artifact_sha256,
                "checks": [c.to_dict() for c in checks],
            },
        )
        deployment = None
        if environment.approvals == 0 and all(c.passed for c in checks if c.blocking):
            deployment = _start_deployment(session, row, info, environment, actor, schema)
        session.commit()
        request_id = row.id
        deployment_id = deployment.id if deployment else None
    return _finish(workspace, request_id, deployment_id)


def recheck_request(workspace: Workspace, request_id: int, actor: str | None = None) -> RequestInfo:
    """Run a pending request's checks again against what its environment runs now.

    Approvals given before are void (they judged other numbers); the request is no longer
    stale.
    """
    from sqlmodel import Session, col, delete

    from dockyard.core.registry import get_version, verify_version_files
    from dockyard.store.models import Approval

    actor = actor or acting_user(workspace)
    recover_deployments(workspace)
    with Session(engine_for(workspace)) as session:
        row = _request_row(session, request_id)
        if row.status != "pending":
            _refuse(
                workspace,
                actor,
                "recheck",
                request_id,
                ConflictError(
                    f"request {request_id} is {row.status}; only a pending "
                    "request can be re-checked"
                ),
            )
        model, version, _ = _names(session, row.model_version_id)
    try:
        info = verify_version_files(workspace, get_version(workspace, f"{model}@{version}"))
    except InputError as exc:
        _refuse(workspace, actor, "recheck", request_id, exc)
        raise
    schema = _input_schema(workspace, info)
    with Session(engine_for(workspace)) as session:
        _lock_chain(session)
        row = _request_row(session, request_id)
        if row.status != "pending":
            raise ConflictError(f"request {request_id} changed to {row.status} meanwhile")
        checks, base = _run_checks(
            workspace, session, info, row.target, schema, rollback=row.kind == "rollback"
        )
        voided = [a.reviewer for a in _approvals(session, request_id) if a.decision == "approve"]
        session.exec(delete(Approval).where(col(Approval.request_id) == request_id))
        row.checks_json = json.dumps([c.to_dict() for c in checks])
        row.input_schema_json = json.dumps(schema)
        row.base_deployment_id = base
        session.add(row)
        append_event(
            session,
            actor,
            "deploy.recheck",
            "deployment_request",
            request_id,
            {
                "model": model,
                "version": version,
                "env": row.target,
                "checks": [c.to_dict() for c in checks],
                "voided_approvals": voided,
            },
        )
        session.commit()
        return _request_info(session, row)


# --- deciding ---------------------------------------------------------------------------------


def approve_request(
    workspace: Workspace,
    request_id: int,
    comment: str = "",
    override_reason: str | None = None,
    actor: str | None = None,
) -> Decision:
    """Approve a pending request as ``actor`` (default: the OS account of this process).

    Refused, recorded and nothing changed: the requester approving, a user who is not an
    approver of the environment, a second approval by the same user, a request that is
    not pending or is stale, failed blocking checks without ``override_reason``, an empty
    ``override_reason``, a model file that is missing or altered. When the approvals are
    complete the deployment happens at once.
    """
    from sqlmodel import Session, col, update

    from dockyard.core.registry import get_version, verify_version_files
    from dockyard.store.models import Approval, DeploymentRequest

    actor = actor or acting_user(workspace)
    recover_deployments(workspace)
    if override_reason is not None and not override_reason.strip():
        _refuse(
            workspace,
            actor,
            "approve",
            request_id,
            InputError("--override-gates needs a written reason; nothing was approved"),
        )
    with Session(engine_for(workspace)) as session:
        model, version, _ = _names(session, _request_row(session, request_id).model_version_id)
    try:
        info = verify_version_files(workspace, get_version(workspace, f"{model}@{version}"))
    except InputError as exc:
        _refuse(workspace, actor, "approve", request_id, exc)
        raise
    with Session(engine_for(workspace)) as session:
        _lock_chain(session)  # every read below sees the state this decision commits on
        row = _request_row(session, request_id)
        request = _request_info(session, row)
        environment = _env_info(environment_row(session, row.target))
        problem = _approval_problem(session, request, environment, actor, override_reason)
        if problem is not None:
            session.rollback()
            _refuse(workspace, actor, "approve", request_id, problem)
        session.add(
            Approval(
                request_id=request_id,
                reviewer=actor,
                decision="approve",
                comment=comment,
                override_reason=(override_reason or "").strip(),
            )
        )
        failed = [c.to_dict() for c in request.checks if c.blocking and not c.passed]
        append_event(
            session,
            actor,
            "deploy.approve",
            "deployment_request",
            request_id,
            {"model": model, "version": version, "env": row.target, "comment": comment},
        )
        if failed and override_reason:
            append_event(
                session,
                actor,
                "deploy.override",
                "deployment_request",
                request_id,
                {
                    "model": model,
                    "version": version,
                    "env": row.target,
                    "reason": override_reason.strip(),
                    "failed_checks": failed,
                },
            )
        deployment = None
        if len(set(request.approved_by) | {actor}) >= environment.approvals:
            session.flush()  # the approval before the status, which PostgreSQL checks
            # the compare-and-set: a request leaves `pending` once, whoever races for it
            moved = session.exec(
                update(DeploymentRequest)
                .where(
                    col(DeploymentRequest.id) == request_id,
                    col(DeploymentRequest.status) == "pending",
                )
                .values(status="approved")
            )
            if moved.rowcount != 1:
                session.rollback()
                raise ConflictError(f"request {request_id} was decided by someone else just now")
            session.refresh(row)
            schema = json.loads(row.input_schema_json or "null")
            deployment = _start_deployment(session, row, info, environment, actor, schema)
        session.commit()
        deployment_id = deployment.id if deployment else None
    return _finish(workspace, request_id, deployment_id)


def _approval_problem(
    session: Session,
    request: RequestInfo,
    env: EnvironmentInfo,
    actor: str,
    override_reason: str | None,
) -> Exception | None:
    rid = request.id
    if request.status != "pending":
        return ConflictError(
            f"request {rid} is {request.status}; only a pending request can be approved"
        )
    if request.stale:
        return ConflictError(
            f"request {rid} is stale: what runs in {request.target} changed after its checks "
            f"ran; re-check it with `dockyard deploy recheck {rid}`"
        )
    if actor == request.requested_by:
        return NotPermittedError(
            f"{actor} requested {rid} and cannot approve it; another approver must"
        )
    if not is_approver(actor, env.approvers, session):
        listed = ", ".join(env.approvers) or "nobody"
        return NotPermittedError(f"{actor} is not an approver of {env.name} (approvers: {listed})")
    if actor in request.approved_by:
        return NotPermittedError(
            f"{actor} has already approved request {rid}; an approval counts once"
        )
    failed = [c.name for c in request.checks if c.blocking and not c.passed]
    if failed and not override_reason:
        return NotPermittedError(
            f"request {rid} failed {', '.join(failed)}; approve with --override-gates REASON "
            "to deploy it anyway"
        )
    return None


def reject_request(
    workspace: Workspace, request_id: int, comment: str, actor: str | None = None
) -> RequestInfo:
    """Reject a pending request (an approver or the requester withdrawing it) with a comment."""
    from sqlmodel import Session, col, update

    from dockyard.store.models import Approval, DeploymentRequest, utcnow

    actor = actor or acting_user(workspace)
    if not comment.strip():
        _refuse(
            workspace,
            actor,
            "reject",
            request_id,
            InputError("a rejection needs a comment (-m WHY)"),
        )
    with Session(engine_for(workspace)) as session:
        _lock_chain(session)
        row = _request_row(session, request_id)
        environment = _env_info(environment_row(session, row.target))
        problem: Exception | None = None
        if row.status != "pending":
            problem = ConflictError(
                f"request {request_id} is {row.status}; only a pending request can be rejected"
            )
        elif actor != row.requested_by and not is_approver(actor, environment.approvers, session):
            problem = NotPermittedError(
                f"{actor} is not an approver of {environment.name} and did not make request "
                f"{request_id}; only they may reject it"
            )
        if problem is not None:
            session.rollback()
            _refuse(workspace, actor, "reject", request_id, problem)
        moved = session.exec(
            update(DeploymentRequest)
            .where(
                col(DeploymentRequest.id) == request_id, col(DeploymentRequest.status) == "pending"
            )
            .values(status="rejected", decided_at=utcnow())
        )
        if moved.rowcount != 1:
            raise ConflictError(f"request {request_id} was decided by someone else just now")
        session.add(
            Approval(request_id=request_id, reviewer=actor, decision="reject", comment=comment)
        )
        model, version, _ = _names(session, row.model_version_id)
        append_event(
            session,
            actor,
            "deploy.reject",
            "deployment_request",
            request_id,
            {"model": model, "version": version, "env": row.target, "comment": comment},
        )
        session.commit()
        session.refresh(row)
        return _request_info(session, row)


def rollback(
    workspace: Workspace, env: str, model: str, reason: str = "", actor: str | None = None
) -> Decision:
    """Return ``model`` in ``env`` to the version that ran before the current one.

    A rollback is a request like any other (same approvals), except that an approver of an
    environment that allows emergency rollback deploys it at once, alone.
    """
    from sqlmodel import Session

    from dockyard.store.models import Deployment

    actor = actor or acting_user(workspace)
    current = live_deployment(workspace, env, model)
    with Session(engine_for(workspace)) as session:
        row = session.get(Deployment, current.id)
        previous = session.get(Deployment, row.previous_id) if row and row.previous_id else None
        if previous is None:
            _refuse(
                workspace,
                actor,
                "rollback",
                f"{model}@{env}",
                InputError(
                    f"{current.ref} is the first version of {model} deployed in "
                    f"{env}; there is nothing to roll back to"
                ),
            )
        assert previous is not None
        _, version, _ = _names(session, previous.model_version_id)
        environment = _env_info(environment_row(session, env))
        alone = environment.emergency_rollback and is_approver(
            actor, environment.approvers, session
        )
    decision = request_deployment(
        workspace, f"{model}@{version}", env, reason, actor, kind="rollback"
    )
    if decision.deployment is not None:
        return decision
    if alone:
        return _emergency(workspace, decision.request.id, actor, reason)
    return decision


def _emergency(workspace: Workspace, request_id: int, actor: str, reason: str) -> Decision:
    from sqlmodel import Session, col, update

    from dockyard.core.registry import get_version, verify_version_files
    from dockyard.store.models import Approval, DeploymentRequest

    with Session(engine_for(workspace)) as session:
        _lock_chain(session)
        row = _request_row(session, request_id)
        model, version, _ = _names(session, row.model_version_id)
        info = verify_version_files(workspace, get_version(workspace, f"{model}@{version}"))
        session.add(
            Approval(
                request_id=request_id,
                reviewer=actor,
                decision="approve",
                comment="emergency rollback",
                override_reason=reason,
            )
        )
        # the approval first: on PostgreSQL a request becomes approved only with its
        # approvals already there (the migrations' trigger counts them)
        session.flush()
        moved = session.exec(
            update(DeploymentRequest)
            .where(
                col(DeploymentRequest.id) == request_id, col(DeploymentRequest.status) == "pending"
            )
            .values(status="approved")
        )
        if moved.rowcount != 1:
            raise ConflictError(f"request {request_id} was decided by someone else just now")
        append_event(
            session,
            actor,
            "deploy.rollback.emergency",
            "deployment_request",
            request_id,
            {"model": model, "version": version, "env": row.target, "reason": reason},
        )
        session.refresh(row)
        environment = _env_info(environment_row(session, row.target))
        deployment = _start_deployment(
            session, row, info, environment, actor, json.loads(row.input_schema_json or "null")
        )
        session.commit()
        deployment_id = deployment.id
    return _finish(workspace, request_id, deployment_id)


# --- deploying --------------------------------------------------------------------------------


def _start_deployment(
    session: Session,
    row: DeploymentRequest,
    info: VersionInfo,
    env: EnvironmentInfo,
    actor: str,
    schema: list[dict[str, Any]] | None,
) -> Deployment:
    """First commit of a deployment: a ``switching`` row with its manifest."""
    from dockyard.store.models import Deployment, ModelVersion, utcnow

    model_version = session.get(ModelVersion, info.id)
    assert model_version is not None and row.id is not None
    live = _live(session, model_version.model_id, env.name)
    if live is not None and live.status == "switching":
        raise ConflictError(f"{info.model} is being deployed in {env.name} right now; try again")
    approvals = [a.to_dict() for a in _approvals(session, row.id) if a.decision == "approve"]
    deployment = Deployment(
        request_id=row.id,
        model_version_id=info.id,
        target=env.name,
        status="switching",
        deployed_by=actor,
        previous_id=live.id if live else None,
    )
    session.add(deployment)
    session.flush()
    assert deployment.id is not None
    deployment.path = f"{DEPLOY_DIR}/{env.name}/{info.model}/releases/{deployment.id}"
    deployment.manifest_json = json.dumps(
        {
            "model": info.model,
            "version": info.version,
            "ref": info.ref,
            "project": info.project,
            "environment": env.name,
            "deployment_id": deployment.id,
            "request_id": row.id,
            "requested_by": row.requested_by,
            "approved_by": approvals,
            "approved_at": utcnow().isoformat(),
            "file": MODEL_FILE,
            "format": info.artifact_format,
            "sha256": info.artifact_sha256,
            "size_bytes": info.size_bytes,
            "input_schema": schema,
        },
        indent=2,
        sort_keys=True,
    )
    session.add(deployment)
    append_event(
        session,
        actor,
        "deploy.switching",
        "deployment",
        deployment.id,
        {
            "model": info.model,
            "version": info.version,
            "env": env.name,
            "request": row.id,
            "previous": live.id if live else None,
        },
    )
    return deployment


def _finish(workspace: Workspace, request_id: int, deployment_id: int | None) -> Decision:
    deployment = None
    if deployment_id is not None:
        deployment = _switch(workspace, deployment_id)
    return Decision(get_request(workspace, request_id), deployment)


@contextmanager
def _model_lock(folder: Path) -> Iterator[None]:
    """One file switch per model and environment at a time, across processes."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _switch(workspace: Workspace, deployment_id: int) -> DeploymentInfo:
    """Write the release, swap ``current`` to it and commit the deployment (idempotent)."""
    from sqlmodel import Session

    from dockyard.core.registry import ArtifactIntegrityError, object_file
    from dockyard.store.models import Deployment

    with Session(engine_for(workspace)) as session:
        row = session.get(Deployment, deployment_id)
        assert row is not None
        if row.status != "switching":
            return _deployment_info(session, row)
        manifest = json.loads(row.manifest_json)
        release = workspace.home / row.path
        from dockyard.core.registry import get_version

        info = get_version(workspace, manifest["ref"])
    model_dir = release.parent.parent
    with _model_lock(model_dir):
        try:
            _write_release(release, object_file(workspace, info.artifact_path), manifest)
        except ArtifactIntegrityError as exc:
            _abandon(workspace, deployment_id, str(exc))
            raise
        link = model_dir / "current"
        if not (link.is_symlink() and os.readlink(link) == f"releases/{deployment_id}"):
            temp = model_dir / f".current-{os.getpid()}"
            temp.unlink(missing_ok=True)
            os.symlink(f"releases/{deployment_id}", temp)
            os.replace(temp, link)  # atomic: a reader follows the old link or the new one
            _fsync_dir(model_dir)
        return _complete(workspace, deployment_id)


def _write_release(release: Path, source: Path, manifest: dict[str, Any]) -> None:
    """Write the model file and manifest aside, then rename the folder into place."""
    from dockyard.core.registry import ArtifactIntegrityError

    if (release / MANIFEST).is_file():
        return  # written before a crash: a release folder is only ever renamed in complete
    release.parent.mkdir(parents=True, exist_ok=True)
    for stray in release.parent.glob(".tmp-*"):
        shutil.rmtree(stray, ignore_errors=True)  # a crash mid-write; we hold the lock
    temp = release.parent / f".tmp-{release.name}-{os.getpid()}"
    temp.mkdir()
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        shutil.rmtree(temp)
        raise ArtifactIntegrityError(
            f"{manifest['ref']}: model file {source} is missing; it cannot be deployed"
        ) from None
    if (
        len(data) != manifest["size_bytes"]
        or hashlib.sha256(data).hexdigest() != manifest["sha256"]
    ):
        shutil.rmtree(temp)
        raise ArtifactIntegrityError(
            f"{manifest['ref']}: model file {source} has been tampered with (its SHA-256 no "
            "longer matches the recorded one); it will not be deployed"
        )
    for name, content in (
        (MODEL_FILE, data),
        (MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode()),
    ):
        with (temp / name).open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    _fsync_dir(temp)
    os.rename(temp, release)
    _fsync_dir(release.parent)


def _complete(workspace: Workspace, deployment_id: int) -> DeploymentInfo:
    """Second commit: active, the previous one retired, the alias moved; exactly once."""
    from sqlmodel import Session, col, select

    from dockyard.store.models import (
        Deployment,
        DeploymentRequest,
        ModelAlias,
        ModelVersion,
        utcnow,
    )

    with Session(engine_for(workspace)) as session:
        _lock_chain(session)
        row = session.get(Deployment, deployment_id)
        assert row is not None
        if row.status != "switching":  # another process completed it
            return _deployment_info(session, row)
        model, version, model_id = _names(session, row.model_version_id)
        now = utcnow()
        others = session.exec(
            select(Deployment)
            .join(ModelVersion, col(ModelVersion.id) == col(Deployment.model_version_id))
            .where(
                ModelVersion.model_id == model_id,
                Deployment.target == row.target,
                Deployment.status == "active",
            )
        ).all()
        for other in others:
            other.status, other.retired_at = "retired", now
            session.add(other)
        row.status, row.deployed_at = "active", now
        session.add(row)
        if row.request_id is not None:
            request = session.get(DeploymentRequest, row.request_id)
            if request is not None:
                request.status, request.decided_at = "deployed", now
                session.add(request)
        alias = session.get(ModelAlias, (model_id, row.target))
        if alias is None:
            alias = ModelAlias(
                model_id=model_id, alias=row.target, model_version_id=row.model_version_id
            )
        alias.model_version_id, alias.updated_at = row.model_version_id, now
        session.add(alias)
        manifest = json.loads(row.manifest_json)
        append_event(
            session,
            row.deployed_by,
            "deploy.deployed",
            "deployment",
            deployment_id,
            {
                "model": model,
                "version": version,
                "env": row.target,
                "request": row.request_id,
                "sha256": manifest.get("sha256"),
                "path": row.path,
                "approved_by": [a["reviewer"] for a in manifest.get("approved_by", [])],
                "retired": [o.id for o in others],
            },
        )
        session.commit()
        session.refresh(row)
        return _deployment_info(session, row)


def _abandon(workspace: Workspace, deployment_id: int, why: str) -> None:
    from sqlmodel import Session

    from dockyard.store.models import Deployment, DeploymentRequest, utcnow

    with Session(engine_for(workspace)) as session:
        _lock_chain(session)
        row = session.get(Deployment, deployment_id)
        if row is None or row.status != "switching":
            return
        row.status, row.retired_at = "failed", utcnow()
        session.add(row)
        if row.request_id is not None:
            request = session.get(DeploymentRequest, row.request_id)
            if request is not None:
                request.status = "failed"
                session.add(request)
        model, version, _ = _names(session, row.model_version_id)
        append_event(
            session,
            row.deployed_by,
            "deploy.failed",
            "deployment",
            deployment_id,
            {"model": model, "version": version, "env": row.target, "error": why},
        )
        session.commit()


def recover_deployments(workspace: Workspace) -> list[DeploymentInfo]:
    """Complete (or abandon, if its model file is no longer intact) every deployment a
    crash left ``switching``; idempotent, and a no-op costing one query otherwise."""
    switching = "SELECT id FROM deployment WHERE status = 'switching' ORDER BY id"
    pending = [int(r["id"]) for r in reader_for(workspace).fetch_all(switching)]
    if not pending:  # the usual case: one query, and no ORM import for `deploy status`
        return []
    from sqlmodel import Session

    from dockyard.core.registry import ArtifactIntegrityError

    done = []
    for deployment_id in pending:
        try:
            done.append(_switch(workspace, deployment_id))
        except ArtifactIntegrityError:
            continue  # abandoned and recorded as deploy.failed
    if done:
        with Session(engine_for(workspace)) as session:
            append_event(
                session,
                acting_user(workspace),
                "deploy.recovered",
                "deployment",
                ",".join(str(d.id) for d in done),
                {"completed": [d.to_dict() for d in done]},
            )
            session.commit()
    return done


def release_folder(workspace: Workspace, deployment: DeploymentInfo) -> Path:
    """The folder holding a deployment's model file and manifest."""
    return workspace.home / deployment.path
