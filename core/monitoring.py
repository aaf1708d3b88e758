"""Monitors: the scheduled checks a project declares, their runs, results and alerts.

Monitors are declared in ``dockyard.toml`` and synced into the store by
``core.projects.add_project``, or added with :func:`add_monitor`. :func:`run_monitor`
checks every batch the monitor has not seen (by content hash) against the model deployed
now, stores one result per batch (per check and per column: statistic, threshold,
status), raises an alert and runs the monitor's ``on_alert`` command when a result is an
alert. The statistics and their rules are in ``core.monitor_checks``; the schedule in
``core.scheduling``. Every function here returns plain dataclasses for the faces.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import ConflictError, DockyardError, InputError, NotFoundError
from dockyard.core.workspace import Workspace, acting_user, current_user, engine_for, host_name

if TYPE_CHECKING:
    from sqlmodel import Session

    # numpy, through core.drift: loaded by the functions that check batches, not by lists
    from dockyard.core.monitor_checks import CheckResult

#: A file modified this recently is watched for this long before it is read: a batch
#: whose size or modification time changes meanwhile is still being written.
SETTLE_SECONDS = float(os.environ.get("DOCKYARD_MONITOR_SETTLE", "1.0"))
ACTION_TIMEOUT = 120.0
ACTION_OUTPUT_LIMIT = 8192
RESULTS_DIR = "monitor-results"


@dataclass(frozen=True)
class MonitorInfo:
    id: int
    project: str
    name: str
    kind: str
    schedule: str
    enabled: bool
    config: dict[str, Any]
    last_status: str | None
    last_run_at: datetime | None
    last_summary: str
    open_alerts: int
    paused: bool = False
    source: str = "file"
    #: its project is archived: the agent does not run it until the project is restored
    project_archived: bool = False

    @property
    def state(self) -> str:
        """``project archived``, ``paused``, ``enabled`` or ``disabled``: whether the
        agent runs it on its schedule, and if not, why."""
        if self.project_archived:
            return "project archived"
        if self.paused:
            return "paused"
        return "enabled" if self.enabled else "disabled"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "kind": self.kind,
            "schedule": self.schedule,
            "enabled": self.enabled,
            "config": self.config,
            "last_status": self.last_status,
            "last_run_at": None if self.last_run_at is None else self.last_run_at.isoformat(),
            "last_summary": self.last_summary,
            "open_alerts": self.open_alerts,
            "paused": self.paused,
            "source": self.source,
            "project_archived": self.project_archived,
        }


def list_monitors(
    workspace: Workspace, project: str | None = None, include_disabled: bool = False
) -> list[MonitorInfo]:
    """Monitors by project and name, each with its latest result and open alert count."""
    from dockyard.core.workspace import reader_for
    from dockyard.store.queries import as_utc

    reader = reader_for(workspace)
    sql = MONITORS_SQL
    if project:
        sql += " AND p.name = :project"
    if not include_disabled:
        sql += " AND m.enabled"
    result = []
    for row in reader.fetch_all(sql + " ORDER BY p.name, m.name", {"project": project}):
        last = reader.fetch_one(LAST_RESULT_SQL, {"m": row["id"]})
        alerts = reader.fetch_one(OPEN_ALERTS_SQL, {"m": row["id"]})
        result.append(
            MonitorInfo(
                id=int(row["id"]),
                project=row["project"],
                name=row["name"],
                kind=row["kind"],
                schedule=row["schedule"],
                enabled=bool(row["enabled"]),
                config=json.loads(row["config_json"] or "{}"),
                last_status=last["status"] if last else None,
                last_run_at=as_utc(last["ran_at"]) if last else None,
                last_summary=last["summary"] if last else "",
                open_alerts=int(alerts["n"]) if alerts else 0,
                paused=bool(row["paused"]),
                source=row["source"],
                project_archived=row["project_archived_at"] is not None,
            )
        )
    return result


# Read through ``reader_for`` (sqlite3 on a SQLite store): `monitor list` must not pay for
# importing SQLAlchemy and SQLModel (decision 21).
MONITORS_SQL = """
SELECT m.id AS id, p.name AS project, m.name AS name, m.kind AS kind, m.schedule AS schedule,
       m.enabled AS enabled, m.config_json AS config_json, m.paused AS paused,
       m.source AS source, p.archived_at AS project_archived_at
FROM monitor AS m JOIN project AS p ON p.id = m.project_id
WHERE 1 = 1"""
LAST_RESULT_SQL = (
    "SELECT status, ran_at, summary FROM monitor_result WHERE monitor_id = :m"
    " ORDER BY ran_at DESC LIMIT 1"
)
OPEN_ALERTS_SQL = (
    "SELECT COUNT(*) AS n FROM alert WHERE monitor_id = :m AND acknowledged_at IS NULL"
)


@dataclass(frozen=True)
class MonitorRun:
    """One stored result: a batch checked by a monitor (or why it could not be)."""

    id: int
    monitor_id: int
    monitor: str
    project: str
    status: str  # running | ok | warn | alert | error | interrupted
    summary: str
    batch_path: str
    batch_hash: str
    rows: int | None
    model_ref: str
    started_at: datetime | None
    finished_at: datetime | None
    checks: tuple[CheckResult, ...] = ()
    error: str = ""
    action: dict[str, Any] | None = None
    alert_id: int | None = None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checks"] = [c.to_dict() for c in self.checks]
        for key in ("started_at", "finished_at"):
            value = getattr(self, key)
            data[key] = None if value is None else value.isoformat()
        data["seconds"] = self.seconds
        return data


@dataclass(frozen=True)
class AlertInfo:
    id: int
    monitor_id: int
    monitor: str
    project: str
    result_id: int | None
    severity: str
    message: str
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "acknowledged_at"):
            value = getattr(self, key)
            data[key] = None if value is None else value.isoformat()
        return data


@dataclass(frozen=True)
class Batch:
    """A batch waiting to be checked: a file, or a dataset version's stored file."""

    label: str  # what results show: the path, or ``dataset@N``
    path: Path


@dataclass
class _Target:
    deployment_id: int
    model_version_id: int
    ref: str
    project: str


# --------------------------------------------------------------------------- lookups


def _monitor_row(session: Session, ident: str | int) -> Any:
    """A monitor by id, ``NAME`` (unique across projects) or ``PROJECT/NAME``."""
    from sqlmodel import col, select

    from dockyard.store.models import Monitor, Project

    text = str(ident).strip()
    if text.isdigit():
        row = session.get(Monitor, int(text))
        if row is None:
            raise NotFoundError(f"no monitor with id {text}; see `dockyard monitor list`")
        return row
    query = select(Monitor).join(Project, col(Project.id) == col(Monitor.project_id))
    if "/" in text:
        project, name = text.split("/", 1)
        query = query.where(Project.name == project, Monitor.name == name)
    else:
        query = query.where(Monitor.name == text)
    rows = session.exec(query).all()
    if not rows:
        raise NotFoundError(f"no monitor named {text!r}; see `dockyard monitor list`")
    if len(rows) > 1:
        names = []
        for row in rows:
            project_row = session.get(Project, row.project_id)
            names.append(f"{project_row.name if project_row else '?'}/{row.name}")
        raise InputError(f"{text!r} names {len(rows)} monitors; say which: {', '.join(names)}")
    return rows[0]


def monitor_config(row: Any) -> dict[str, Any]:
    """A monitor row's settings with every default filled in."""
    from dockyard.core.projects import MonitorSpec

    defaults = asdict(MonitorSpec(name=row.name, kind=row.kind, schedule=row.schedule))
    return {**defaults, **json.loads(row.config_json or "{}")}


def get_monitor(workspace: Workspace, ident: str | int) -> MonitorInfo:
    """The monitor ``ident`` names (id, name or project/name) with its latest result."""
    from sqlmodel import Session

    with Session(engine_for(workspace)) as session:
        row = _monitor_row(session, ident)
    for info in list_monitors(workspace, include_disabled=True):
        if info.id == row.id:
            return info
    raise NotFoundError(f"no monitor {ident!r}")  # pragma: no cover (deleted meanwhile)


def _result(session: Session, row: Any, monitor: Any, project: str) -> MonitorRun:
    from sqlmodel import select

    from dockyard.core.monitor_checks import CheckResult
    from dockyard.store.models import Alert

    details = json.loads(row.details_json or "{}")
    alert = session.exec(select(Alert.id).where(Alert.result_id == row.id)).first()
    return MonitorRun(
        id=row.id,
        monitor_id=monitor.id,
        monitor=monitor.name,
        project=project,
        status=row.status,
        summary=row.summary,
        batch_path=row.batch_path,
        batch_hash=row.batch_hash,
        rows=row.rows,
        model_ref=row.model_ref,
        started_at=row.started_at,
        finished_at=row.finished_at,
        checks=tuple(CheckResult.from_dict(c) for c in details.get("checks", [])),
        error=str(details.get("error", "")),
        action=details.get("action"),
        alert_id=alert,
    )


def monitor_history(
    workspace: Workspace, ident: str | int, limit: int = 50, offset: int = 0
) -> list[MonitorRun]:
    """A monitor's stored results, newest first (paged; nothing is recomputed)."""
    from sqlmodel import Session, col, select

    from dockyard.store.models import MonitorResult, Project

    with Session(engine_for(workspace)) as session:
        monitor = _monitor_row(session, ident)
        project = session.get(Project, monitor.project_id)
        rows = session.exec(
            select(MonitorResult)
            .where(MonitorResult.monitor_id == monitor.id)
            .order_by(col(MonitorResult.ran_at).desc(), col(MonitorResult.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return [_result(session, r, monitor, project.name if project else "") for r in rows]


def get_result(workspace: Workspace, result_id: int) -> MonitorRun:
    """One stored result with its checks."""
    from sqlmodel import Session

    from dockyard.store.models import Monitor, MonitorResult, Project

    with Session(engine_for(workspace)) as session:
        row = session.get(MonitorResult, result_id)
        if row is None:
            raise NotFoundError(f"no monitor result {result_id}")
        monitor = session.get(Monitor, row.monitor_id)
        project = session.get(Project, monitor.project_id) if monitor else None
        return _result(session, row, monitor, project.name if project else "")


def list_alerts(
    workspace: Workspace, include_acknowledged: bool = False, limit: int = 100
) -> list[AlertInfo]:
    """Alerts, open ones only unless asked, newest first."""
    from sqlmodel import Session, col, select

    from dockyard.store.models import Alert, Monitor, Project

    with Session(engine_for(workspace)) as session:
        query = (
            select(Alert, Monitor.name, Project.name)
            .join(Monitor, col(Monitor.id) == col(Alert.monitor_id))
            .join(Project, col(Project.id) == col(Monitor.project_id))
            .order_by(col(Alert.created_at).desc(), col(Alert.id).desc())
            .limit(limit)
        )
        if not include_acknowledged:
            query = query.where(col(Alert.acknowledged_at).is_(None))
        return [
            _alert_info(alert, monitor, project)
            for alert, monitor, project in session.exec(query).all()
        ]


def _alert_info(alert: Any, monitor: str, project: str) -> AlertInfo:
    return AlertInfo(
        id=alert.id,
        monitor_id=alert.monitor_id,
        monitor=monitor,
        project=project,
        result_id=alert.result_id,
        severity=alert.severity,
        message=alert.message,
        created_at=alert.created_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
    )


# --------------------------------------------------------------------------- changes


def acknowledge_alert(
    workspace: Workspace, alert_id: int, reason: str, actor: str | None = None
) -> AlertInfo:
    """Mark an alert as seen, with the reason, in the audit log (same transaction)."""
    from sqlmodel import Session

    from dockyard.core.audit import append_event
    from dockyard.store.models import Alert, Monitor, Project, utcnow

    reason = reason.strip()
    if not reason:
        raise InputError("say why the alert is acknowledged: -m 'WHY'")
    actor = actor or acting_user(workspace, current_user)
    with Session(engine_for(workspace)) as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise NotFoundError(f"no alert {alert_id}; see `dockyard monitor show NAME`")
        if alert.acknowledged_at is not None:
            raise ConflictError(
                f"alert {alert_id} was acknowledged by {alert.acknowledged_by} already"
            )
        alert.acknowledged_at, alert.acknowledged_by = utcnow(), actor
        session.add(alert)
        append_event(
            session,
            actor,
            "alert.ack",
            "alert",
            alert_id,
            {"monitor": alert.monitor_id, "result": alert.result_id, "reason": reason},
        )
        session.commit()
        monitor = session.get(Monitor, alert.monitor_id)
        project = session.get(Project, monitor.project_id) if monitor else None
        return _alert_info(alert, monitor.name if monitor else "", project.name if project else "")


def set_paused(workspace: Workspace, ident: str | int, paused: bool) -> MonitorInfo:
    """Pause or resume a monitor; the agent's scheduler follows within a heartbeat."""
    from sqlmodel import Session

    with Session(engine_for(workspace)) as session:
        row = _monitor_row(session, ident)
        row.paused = paused
        session.add(row)
        session.commit()
        monitor_id = row.id
    return get_monitor(workspace, monitor_id)


def add_monitor(workspace: Workspace, project: str, raw: dict[str, Any]) -> MonitorInfo:
    """Add a monitor to a registered project from the command line (validated like a
    ``[[monitors]]`` table). It is kept when the project file is re-added."""
    from sqlmodel import Session, select

    from dockyard.core.projects import PROJECT_FILE, _check_monitor, _Checker, get_project
    from dockyard.store.models import Monitor

    info = get_project(workspace, project)
    checker = _Checker(Path(info.path) / PROJECT_FILE)
    spec = _check_monitor(checker, raw, 0)
    with Session(engine_for(workspace)) as session:
        clash = session.exec(
            select(Monitor).where(Monitor.project_id == info.id, Monitor.name == spec.name)
        ).first()
        if clash is not None:
            raise ConflictError(f"{project} already has a monitor named {spec.name!r}")
        row = Monitor(
            project_id=info.id,
            name=spec.name,
            kind=spec.kind,
            schedule=spec.schedule,
            config_json=json.dumps(asdict(spec), sort_keys=True),
            source="cli",
        )
        session.add(row)
        session.commit()
        monitor_id = row.id
    assert monitor_id is not None
    return get_monitor(workspace, monitor_id)


# --------------------------------------------------------------------- the reference


def _resolve_target(workspace: Workspace, project: str, config: dict[str, Any]) -> _Target:
    """The deployment the monitor watches now: its ``model`` (or the project's one model)
    in its ``env``. After a rollback this is the version deployed now."""
    from sqlmodel import Session

    from dockyard.core.deployments import deployment_status
    from dockyard.core.monitor_checks import BatchError
    from dockyard.core.registry import get_version
    from dockyard.store.models import Deployment

    env = config.get("env") or "production"
    live = [d for d in deployment_status(workspace) if d.target == env]
    if config.get("model"):
        live = [d for d in live if d.model == config["model"]]
        what = f"model {config['model']}"
    else:
        live = [d for d in live if get_version(workspace, d.ref).project == project]
        what = f"a model of project {project}"
    if not live:
        raise BatchError(f"no version of {what} is deployed in {env}; nothing to check against")
    if len(live) > 1:
        names = ", ".join(d.ref for d in live)
        raise BatchError(
            f"{len(live)} models of {project} run in {env} ({names}); "
            "name one with `model = ...` on the monitor"
        )
    deployment = live[0]
    with Session(engine_for(workspace)) as session:
        row = session.get(Deployment, deployment.id)
        assert row is not None
        version_id = row.model_version_id
    return _Target(deployment.id, version_id, deployment.ref, project)


def _read_table(path: Path) -> Any:
    """A stored dataset version (a file, or a folder of same-shaped files) as a frame."""
    import pandas as pd

    from dockyard.core.monitor_checks import read_batch

    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        return pd.concat([read_batch(f) for f in files], ignore_index=True)
    return read_batch(path)


def load_reference(workspace: Workspace, target: _Target, estimator: Any) -> dict[str, Any]:
    """The stored reference of the deployed version, computed and stored the first time."""
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import Session

    from dockyard.core.datasets import version_path
    from dockyard.core.monitor_checks import BatchError, build_reference
    from dockyard.core.projects import get_project
    from dockyard.core.registry import get_version
    from dockyard.store.models import Dataset, DatasetVersion, Deployment, MonitorReference

    with Session(engine_for(workspace)) as session:
        stored = session.get(MonitorReference, target.model_version_id)
        if stored is not None:
            reference: dict[str, Any] = json.loads(stored.reference_json)
            return reference
        deployment = session.get(Deployment, target.deployment_id)
        manifest = json.loads(deployment.manifest_json or "{}") if deployment else {}
    info = get_version(workspace, target.ref)
    schema = manifest.get("input_schema")
    if info.dataset_version_id is None or not schema:
        raise BatchError(
            f"{info.ref} records no training dataset or input schema; "
            "drift and quality need them (train on a registered dataset)"
        )
    with Session(engine_for(workspace)) as session:
        dv = session.get(DatasetVersion, info.dataset_version_id)
        ds = session.get(Dataset, dv.dataset_id) if dv else None
        dataset_name = ds.name if ds else None
    label = None
    try:
        spec = get_project(workspace, info.project).spec
        label = next((d.target for d in spec.datasets if d.name == dataset_name), None)
    except NotFoundError:
        pass
    train = _read_table(version_path(workspace, info.dataset_version_id))
    reference = build_reference(train, schema, label, estimator)
    reference["model_ref"] = info.ref
    text = json.dumps(reference, allow_nan=True)
    with Session(engine_for(workspace)) as session:
        session.add(MonitorReference(model_version_id=target.model_version_id, reference_json=text))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another process stored the same reference first
    return reference


def ensure_reference(workspace: Workspace, env: str, model: str) -> None:
    """Compute and store the reference of the version deployed in ``env`` now (the
    demo and a deploy hook call it so the first monitor run reads only its batch)."""
    from dockyard.core.deployments import live_deployment
    from dockyard.core.prediction import load_deployed
    from dockyard.core.registry import get_version

    deployment = live_deployment(workspace, env, model)
    version = get_version(workspace, deployment.ref)
    estimator, _manifest = load_deployed(workspace, env, model)
    load_reference(
        workspace, _Target(deployment.id, version.id, deployment.ref, version.project), estimator
    )


# -------------------------------------------------------------------------- batches


def _batches(workspace: Workspace, project_path: Path, config: dict[str, Any]) -> list[Batch]:
    """Every batch the monitor's source holds now, oldest first."""
    if config.get("dataset"):
        from dockyard.core.datasets import list_versions

        try:
            versions = list_versions(workspace, config["dataset"], archived="include")
        except NotFoundError:
            return []
        return [
            Batch(f"{config['dataset']}@{v.version}", Path(v.object_path))
            for v in sorted(versions, key=lambda v: v.version)
            if not v.is_folder
        ]
    pattern = config.get("batches") or "incoming/*.csv"
    base = project_path if not Path(pattern).is_absolute() else Path("/")
    rel = pattern if not Path(pattern).is_absolute() else pattern.lstrip("/")
    found = []
    for path in base.glob(rel):
        if path.is_file() and not path.name.startswith("."):
            try:
                found.append((path.stat().st_mtime_ns, str(path), path))
            except OSError:
                continue
    return [Batch(str(p), p) for _m, _s, p in sorted(found)]


def _seen(
    session: Session,
    monitor_id: int,
    *,
    path: str = "",
    size: int = 0,
    mtime_ns: int = 0,
    digest: str = "",
) -> bool:
    from sqlmodel import col, select

    from dockyard.store.models import MonitorResult

    query = select(MonitorResult.id).where(
        MonitorResult.monitor_id == monitor_id,
        MonitorResult.batch_hash != "",
        col(MonitorResult.status).not_in(("interrupted",)),
    )
    if digest:
        query = query.where(MonitorResult.batch_hash == digest)
    else:
        query = query.where(
            MonitorResult.batch_path == path,
            MonitorResult.batch_size == size,
            MonitorResult.batch_mtime_ns == mtime_ns,
        )
    return session.exec(query.limit(1)).first() is not None


def _settled(path: Path) -> tuple[int, int] | str:
    """(size, mtime_ns) of a file that is not being written, else why it is not ready."""
    try:
        first = path.stat()
    except OSError as exc:
        return f"cannot read {path.name}: {exc.strerror or exc}"
    if time.time() - first.st_mtime < SETTLE_SECONDS:
        time.sleep(SETTLE_SECONDS)
        try:
            second = path.stat()
        except OSError as exc:
            return f"cannot read {path.name}: {exc.strerror or exc}"
        if (second.st_size, second.st_mtime_ns) != (first.st_size, first.st_mtime_ns):
            return (
                f"{path.name} is still being written (its size went from {first.st_size} "
                f"to {second.st_size} bytes); it will be checked once it stops changing"
            )
    return first.st_size, first.st_mtime_ns


def _runner() -> str:
    return f"{host_name()}:{os.getpid()}"


# --------------------------------------------------------------------------- running


def mark_interrupted(workspace: Workspace, gone_runners: Collection[str] = ()) -> list[int]:
    """Results left ``running`` by a process that is gone become ``interrupted``; their
    batches are free to be checked again. Returns the monitors concerned.

    A runner on this host is judged by its pid; one on another host only when it is in
    ``gone_runners`` (``host:pid``: the agent whose expired lease the caller took).
    """
    from sqlalchemy import update
    from sqlmodel import Session, col, select

    from dockyard.core.agent import holder_gone
    from dockyard.store.models import MonitorResult, utcnow

    monitors = []
    with Session(engine_for(workspace)) as session:
        rows = session.exec(
            select(MonitorResult).where(col(MonitorResult.status) == "running")
        ).all()
        for row in rows:
            host, _, pid = row.runner.rpartition(":")
            started = row.started_at or row.ran_at
            if started is not None and started.tzinfo is None:
                from datetime import UTC

                started = started.replace(tzinfo=UTC)
            if row.runner not in gone_runners and (
                not pid.isdigit() or not holder_gone(host, int(pid), started)
            ):
                continue
            done = session.exec(
                update(MonitorResult)
                .where(col(MonitorResult.id) == row.id, col(MonitorResult.status) == "running")
                .values(
                    status="interrupted",
                    finished_at=utcnow(),
                    summary=f"interrupted: the process checking it ({row.runner}) stopped; "
                    "the batch will be checked again",
                )
            )
            if done.rowcount:
                monitors.append(row.monitor_id)
        session.commit()
    return sorted(set(monitors))


def run_monitor(
    workspace: Workspace, ident: str | int, *, batch: Path | None = None
) -> list[MonitorRun]:
    """Check every batch the monitor has not seen yet (or just ``batch``) against the
    model deployed now, store one result per batch, raise alerts and run ``on_alert``.

    A batch already checked (same content hash) is skipped, so each batch is checked
    once whoever runs the monitor; a result is stored for a batch that cannot be checked
    (unreadable, wrong schema, still being written: status ``error`` with the reason).
    A monitor of an archived project does not run
    (:class:`~dockyard.core.projects.ProjectArchivedError`).
    """
    from sqlalchemy import update
    from sqlmodel import Session, col

    from dockyard.core.projects import ProjectArchivedError
    from dockyard.store.models import Monitor, Project, utcnow

    mark_interrupted(workspace)
    with Session(engine_for(workspace)) as session:
        monitor = _monitor_row(session, ident)
        project_row = session.get(Project, monitor.project_id)
        assert project_row is not None and monitor.id is not None
        if project_row.archived_at is not None:
            raise ProjectArchivedError(project_row.name, "its monitors do not run")
        monitor_id, project, project_path = monitor.id, project_row.name, Path(project_row.path)
        config = monitor_config(monitor)
        session.exec(
            update(Monitor)
            .where(col(Monitor.id) == monitor_id)
            .values(checks_count=col(Monitor.checks_count) + 1, last_checked_at=utcnow())
        )
        session.commit()
    if batch is not None:
        if not batch.is_file():
            raise InputError(f"{batch} is not a file")
        candidates = [Batch(str(batch.resolve()), batch.resolve())]
    else:
        candidates = _batches(workspace, project_path, config)
    results = []
    context: dict[str, Any] = {}
    for candidate in candidates:
        result = _check_one(workspace, monitor_id, project, config, candidate, context)
        if result is not None:
            results.append(result)
    return results


def _check_one(
    workspace: Workspace,
    monitor_id: int,
    project: str,
    config: dict[str, Any],
    batch: Batch,
    context: dict[str, Any],
) -> MonitorRun | None:
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import Session

    from dockyard.core.hashing import hash_file
    from dockyard.store.models import MonitorResult, utcnow

    with Session(engine_for(workspace)) as session:
        try:
            st = batch.path.stat()
        except OSError:
            return None  # gone since it was listed
        if _seen(session, monitor_id, path=batch.label, size=st.st_size, mtime_ns=st.st_mtime_ns):
            return None
    started = utcnow()
    settled = _settled(batch.path)
    digest = ""
    problem = settled if isinstance(settled, str) else ""
    if not problem:
        assert not isinstance(settled, str)
        try:
            digest = hash_file(batch.path)
            after = batch.path.stat()
        except OSError as exc:
            problem = f"cannot read {batch.path.name}: {exc.strerror or exc}"
        else:
            if (after.st_size, after.st_mtime_ns) != settled:
                problem, digest = (
                    (
                        f"{batch.path.name} changed while it was read; it is still "
                        "being written and will be checked once it stops"
                    ),
                    "",
                )
    size, mtime = settled if not isinstance(settled, str) else (0, 0)
    with Session(engine_for(workspace)) as session:
        if digest and _seen(session, monitor_id, digest=digest):
            return None
        row = MonitorResult(
            monitor_id=monitor_id,
            status="running" if not problem else "error",
            summary=problem if problem else "",
            details_json=json.dumps({"error": problem} if problem else {}),
            batch_path=batch.label,
            batch_hash=digest,
            batch_size=size,
            batch_mtime_ns=mtime,
            runner=_runner(),
            started_at=started,
            ran_at=started,
            finished_at=utcnow() if problem else None,
        )
        session.add(row)
        try:
            session.commit()  # the claim: one result per batch and monitor
        except IntegrityError:
            session.rollback()
            return None
        result_id = row.id
    assert result_id is not None
    if problem:
        return get_result(workspace, result_id)
    pause = float(os.environ.get("DOCKYARD_TEST_MONITOR_PAUSE", "0") or 0)
    if pause > 0:  # fault-injection hook of the crash tests: a window to kill the runner
        time.sleep(pause)
    return _finish(workspace, result_id, project, config, batch, context)


def _evaluate(
    workspace: Workspace,
    project: str,
    config: dict[str, Any],
    batch: Batch,
    context: dict[str, Any],
) -> tuple[_Target, int, list[CheckResult]]:
    from dockyard.core.monitor_checks import check_batch, read_batch
    from dockyard.core.prediction import load_deployed
    from dockyard.core.projects import get_project
    from dockyard.core.registry import get_version

    if "target" not in context:
        target = _resolve_target(workspace, project, config)
        deployment_env = config.get("env") or "production"
        model = target.ref.split("@", 1)[0]
        estimator, _manifest = load_deployed(workspace, deployment_env, model)
        reference = load_reference(workspace, target, estimator)
        version = get_version(workspace, target.ref)
        try:
            spec = get_project(workspace, project).spec
            primary, direction = spec.primary_metric, spec.direction
        except NotFoundError:
            primary, direction = None, None
        context.update(
            target=target,
            estimator=estimator,
            reference=reference,
            primary=primary,
            direction=direction,
            baseline=version.metrics,
        )
    frame = read_batch(batch.path)
    checks = check_batch(
        context["reference"],
        frame,
        config["kind"],
        config,
        context["estimator"],
        primary=context["primary"],
        direction=context["direction"],
        baseline=context["baseline"],
    )
    return context["target"], len(frame), checks


def _finish(
    workspace: Workspace,
    result_id: int,
    project: str,
    config: dict[str, Any],
    batch: Batch,
    context: dict[str, Any],
) -> MonitorRun:
    from sqlalchemy import update
    from sqlmodel import Session, col

    from dockyard.core.monitor_checks import BatchError, headline, summarise
    from dockyard.store.models import Alert, MonitorResult, utcnow

    target: _Target | None = context.get("target")
    rows: int | None = None
    checks: list[CheckResult] = []
    error = ""
    try:
        target, rows, checks = _evaluate(workspace, project, config, batch, context)
        status, summary = summarise(checks)
    except BatchError as exc:
        status, summary, error = "error", str(exc), str(exc)
    except DockyardError as exc:
        status, summary, error = "error", str(exc), str(exc)
    except Exception as exc:  # a fault in one batch must not stop the schedule
        status = "error"
        summary = error = f"the check failed: {type(exc).__name__}: {exc}"
    details: dict[str, Any] = {"checks": [c.to_dict() for c in checks]}
    if error:
        details["error"] = error
    with Session(engine_for(workspace)) as session:
        values: dict[str, Any] = {
            "status": status,
            "summary": summary,
            "details_json": json.dumps(details, allow_nan=True, default=str),
            "rows": rows,
            "finished_at": utcnow(),
            "headline": headline(str(config["kind"]), checks),
        }
        if target is not None:
            values.update(
                model_ref=target.ref,
                model_version_id=target.model_version_id,
                deployment_id=target.deployment_id,
            )
        kept = session.exec(
            update(MonitorResult)
            .where(col(MonitorResult.id) == result_id, col(MonitorResult.status) == "running")
            .values(**values)
        ).rowcount
        row = session.get(MonitorResult, result_id)
        assert row is not None
        # not kept: the result was marked interrupted meanwhile (this process was presumed
        # gone, its lease taken); the batch is checked again, and alerted on, by the next
        if kept and status == "alert":
            session.add(
                Alert(
                    monitor_id=row.monitor_id,
                    result_id=result_id,
                    severity="alert",
                    message=f"{config['name']}: {summary}",
                )
            )
        session.commit()
    if kept and status == "alert" and config.get("on_alert"):
        _run_action(workspace, result_id, config)
    return get_result(workspace, result_id)


def _run_action(workspace: Workspace, result_id: int, config: dict[str, Any]) -> None:
    """Run the monitor's ``on_alert`` command with the result in a file and its exit
    status and output recorded; a failing command is recorded, never raised."""
    from sqlmodel import Session

    from dockyard.store.models import MonitorResult

    result = get_result(workspace, result_id)
    folder = workspace.home / RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    result_file = folder / f"result-{result_id}.json"
    result_file.write_text(json.dumps(result.to_dict(), indent=2, default=str))
    env = {
        **os.environ,
        "DOCKYARD_MONITOR": result.monitor,
        "DOCKYARD_MONITOR_ID": str(result.monitor_id),
        "DOCKYARD_PROJECT": result.project,
        "DOCKYARD_MODEL": result.model_ref.split("@", 1)[0],
        "DOCKYARD_MODEL_REF": result.model_ref,
        "DOCKYARD_BATCH": result.batch_path,
        "DOCKYARD_RESULT_ID": str(result_id),
        "DOCKYARD_RESULT_FILE": str(result_file),
        "DOCKYARD_STATUS": result.status,
    }
    started = time.monotonic()
    action: dict[str, Any] = {"command": config["on_alert"]}
    try:
        done = subprocess.run(
            shlex.split(config["on_alert"]),
            env=env,
            cwd=workspace.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=ACTION_TIMEOUT,
        )
        action["exit_status"] = done.returncode
        output = (done.stdout + done.stderr)[-ACTION_OUTPUT_LIMIT:]
        action["output"] = output.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        action["exit_status"] = None
        action["output"] = f"killed after {ACTION_TIMEOUT:g} s"
    except OSError as exc:
        action["exit_status"] = None
        action["output"] = f"could not start: {exc}"
    action["seconds"] = round(time.monotonic() - started, 3)
    with Session(engine_for(workspace)) as session:
        row = session.get(MonitorResult, result_id)
        assert row is not None
        details = json.loads(row.details_json or "{}")
        details["action"] = action
        row.details_json = json.dumps(details, allow_nan=True, default=str)
        session.add(row)
        session.commit()


def iter_checks(run: MonitorRun, status: str | None = None) -> Iterator[CheckResult]:
    """A result's checks, optionally only those of one status."""
    return (c for c in run.checks if status is None or c.status == status)


# -------------------------------------------------------------------------- retraining


@dataclass(frozen=True)
class RetrainPlan:
    """What a retraining run of a monitored model starts from: the project, the run
    parameters of the version checked last, and the newest version of its dataset."""

    project: str
    model_ref: str
    run_id: int
    params: dict[str, str]
    dataset: str | None  # NAME@VERSION, the newest one; None: the project's own files


def retrain_plan(workspace: Workspace, ident: str | int) -> RetrainPlan:
    """The launch form's preset to retrain what monitor ``ident`` watches: the version its
    latest result checked (else the one deployed now), with the params of that version's
    run, on the newest version of the dataset it was trained on."""
    from dockyard.core.datasets import list_versions
    from dockyard.core.monitor_checks import BatchError
    from dockyard.core.registry import get_version
    from dockyard.core.runs import get_run

    info = get_monitor(workspace, ident)
    ref = next((r.model_ref for r in monitor_history(workspace, info.id, limit=1)), "")
    if not ref:
        from sqlmodel import Session

        with Session(engine_for(workspace)) as session:
            config = monitor_config(_monitor_row(session, info.id))
        try:
            ref = _resolve_target(workspace, info.project, config).ref
        except BatchError as exc:
            raise ConflictError(f"nothing to retrain: {exc}") from None
    version = get_version(workspace, ref)
    run = get_run(workspace, version.run_id)
    dataset = None
    name = (version.dataset or "").rsplit("@", 1)[0]
    if name:
        try:
            newest = list_versions(workspace, name)
        except NotFoundError:
            newest = []
        dataset = f"{name}@{newest[0].version}" if newest else version.dataset
    return RetrainPlan(version.project, ref, run.id, dict(run.params), dataset)


def reference_histogram(workspace: Workspace, result_id: int, column: str | None) -> dict[str, Any]:
    """The stored reference bins of ``column`` (None: the model's outputs) for the version a
    result checked, in the shape of a check's ``histogram`` extra without a batch side;
    for results stored before checks kept their histogram. Empty when none is stored."""
    from sqlmodel import Session

    from dockyard.core.monitor_checks import _histogram
    from dockyard.store.models import MonitorReference, MonitorResult

    with Session(engine_for(workspace)) as session:
        row = session.get(MonitorResult, result_id)
        if row is None or row.model_version_id is None:
            return {}
        stored = session.get(MonitorReference, row.model_version_id)
        if stored is None:
            return {}
        reference = json.loads(stored.reference_json)
    ref = reference["prediction"] if column is None else reference["columns"].get(column)
    if not ref:
        return {}
    empty: Any = [] if ref["kind"] == "numeric" else {}
    histogram = _histogram(ref, empty)
    histogram["current"] = []
    return histogram
