"""Training runs: queue, sweep, clone, retry, cancel, list and show.

A run is queued here and executed by the agent (``core.agent``), which starts one
supervisor process per run (``core.supervisor``). Everything here is a store write or read;
nothing here waits for a process.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import ConflictError, InputError, NotFoundError
from dockyard.core.parsing import INT64_MAX, parse_int, shown
from dockyard.core.projects import (
    ParamSpec,
    ProjectArchivedError,
    ProjectInfo,
    coerce_param,
    get_project,
    hold_live_project,
)
from dockyard.core.run_data import DataChoice, resolve_run_data
from dockyard.core.workspace import Workspace, current_user, engine_for, host_name, reader_for
from dockyard.store.queries import Reader, archived_clause, as_utc
from dockyard.store.schema import RUN_STATUSES

if TYPE_CHECKING:
    from sqlmodel import Session

    from dockyard.store.models import Run

ACTIVE = ("queued", "running", "cancelling")
FINAL = ("finished", "failed", "cancelled", "lost")
MAX_SWEEP = 256


@dataclass(frozen=True)
class RunInfo:
    """A run as the faces show it; ``to_dict`` is the stable ``--json`` shape."""

    id: int
    project: str
    status: str
    params: dict[str, str]
    command: str
    group_id: str | None
    parent_run_id: int | None
    dataset: str | None
    exit_code: int | None
    error: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    primary_metric: str | None
    primary_value: float | None
    user: str
    host: str
    pid: int | None
    log_path: str
    git_commit: str | None = None
    git_dirty: bool | None = None
    seed: int | None = None
    env: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: "<algorithm>:<digest>" of the dataset version the run trained on
    dataset_hash: str | None = None
    #: which code the run ran (``core.code``): a git commit or a snapshot; {} until started
    code: dict[str, Any] = field(default_factory=dict)
    #: when it was archived (hidden from lists; `dockyard run restore`), None if not
    archived_at: datetime | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (or to now while running)."""
        if self.started_at is None:
            return None
        end = self.ended_at or datetime.now(UTC)
        return max(0.0, (end - self.started_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": self.id,
            "project": self.project,
            "status": self.status,
            "params": self.params,
            "command": self.command,
            "group_id": self.group_id,
            "parent_run_id": self.parent_run_id,
            "dataset": self.dataset,
            "dataset_hash": self.dataset_hash,
            "exit_code": self.exit_code,
            "error": self.error,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration_s": self.duration,
            "primary_metric": self.primary_metric,
            "primary_value": self.primary_value,
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "log_path": self.log_path,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "seed": self.seed,
            "env": self.env,
            "tags": self.tags,
            "code": self.code,
            "archived_at": iso(self.archived_at),
        }


def parse_param_args(args: Sequence[str]) -> dict[str, list[str]]:
    """``["C=0.1,1", "model=forest"]`` -> ``{"C": ["0.1", "1"], "model": ["forest"]}``."""
    values: dict[str, list[str]] = {}
    for arg in args:
        key, sep, raw = arg.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"parameter {arg!r} is not KEY=VALUE (for a sweep: KEY=A,B,C)")
        values[key] = [v.strip() for v in raw.split(",")] if raw else [""]
    return values


def expand_grid(
    specs: Sequence[ParamSpec], base: Mapping[str, Any], given: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    """Every combination of the given values over ``base``, each value type-checked."""
    by_name = {p.name: p for p in specs}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        known = ", ".join(by_name) or "none"
        raise InputError(f"unknown parameter {unknown[0]!r} (this project has: {known})")
    axes = [[(k, coerce_param(by_name[k], v)) for v in vs] for k, vs in given.items()]
    combos = list(itertools.product(*axes)) if axes else [()]
    if len(combos) > MAX_SWEEP:
        raise InputError(
            f"the sweep has {len(combos)} runs, more than the limit of {MAX_SWEEP}; "
            "give fewer values"
        )
    return [{**base, **dict(combo)} for combo in combos]


def _defaults(project: ProjectInfo) -> dict[str, Any]:
    return {p.name: p.default for p in project.spec.params}


def _data_paths(project: ProjectInfo, choices: list[DataChoice], named: bool) -> dict[str, str]:
    """name -> immutable file path of each chosen version (``DOCKYARD_DATA``); ``named``:
    the user (or the cloned run) named the version rather than the project's rule."""
    paths: dict[str, str] = {}
    versions = [choice.version for choice in choices if choice.version is not None]
    for version in versions:
        paths[version.dataset] = str(version.object_path)
    if named and versions and len(project.spec.datasets) == 1:
        # the project's one dataset is fed from the chosen version, whatever its name
        paths.setdefault(project.spec.datasets[0].name, str(versions[0].object_path))
    return paths


def queue_runs(
    workspace: Workspace,
    project_name: str | None = None,
    params: Sequence[str] = (),
    data: str | None = None,
    from_run: int | None = None,
) -> list[RunInfo]:
    """Queue one run, or a grid of runs when a parameter is given a list of values.

    ``from_run`` clones a past run: its project, parameters and dataset version, with
    ``params`` applied on top. An archived project takes no run
    (:class:`~dockyard.core.projects.ProjectArchivedError`), checked in the transaction
    that inserts the runs.
    """
    from contextlib import closing

    from dockyard.core.workspace import open_writer

    # Read, then write in one short transaction: plain SQL both ways, so a script queueing
    # runs in a loop does not import the ORM (decisions 21 and 28).
    reader = reader_for(workspace)
    base_data_id: int | None = None
    parent_id: int | None = None
    if from_run is not None:
        parent = None
        if 1 <= from_run <= INT64_MAX:  # beyond it the driver would overflow
            parent = reader.fetch_one(
                "SELECT r.id AS id, r.dataset_version_id AS dataset_version_id, p.name AS name"
                " FROM run AS r JOIN project AS p ON p.id = r.project_id WHERE r.id = :id",
                {"id": from_run},
            )
        if parent is None:
            raise NotFoundError(f"no run with id {shown(from_run)}; see `dockyard run list`")
        parent_id = int(parent["id"])
        project = get_project(workspace, parent["name"])
        if project_name and project_name != project.name:
            raise InputError(
                f"run {from_run} belongs to project {project.name}, not {project_name}"
            )
        stored = {
            str(p["key"]): _decode(p["value"])
            for p in reader.fetch_all(RUN_PARAMS, {"run_id": from_run})
        }
        base = {**_defaults(project), **stored}
        base = {
            p.name: coerce_param(p, base[p.name]) for p in project.spec.params if p.name in base
        }
        base_data_id = parent["dataset_version_id"]
    elif project_name:
        project = get_project(workspace, project_name)
        base = _defaults(project)
    else:
        raise InputError("name a project (dockyard run start PROJECT) or --from RUN_ID")
    if project.archived_at is not None:  # checked again, race-free, where the runs go in
        raise ProjectArchivedError(project.name)
    if not project.entry:
        raise InputError(
            f"project {project.name} was imported from MLflow and has no entry command; "
            f"add a folder whose dockyard.toml names it {project.name} "
            "(`dockyard project add PATH`) to run it here"
        )
    grid = expand_grid(project.spec.params, base, parse_param_args(params))
    clone_of = (parent_id, base_data_id) if parent_id and base_data_id else None
    choices = resolve_run_data(workspace, project, data, clone_of=clone_of)
    version_id = next((c.version.id for c in choices if c.version is not None), None)
    group = uuid.uuid4().hex[:8] if len(grid) > 1 else None
    user = current_user()
    env: dict[str, Any] = {
        "data_paths": _data_paths(project, choices, data is not None or bool(clone_of))
    }
    if choices:  # which version each dataset resolved to and why, as the faces showed it
        env["data"] = [choice.to_dict() for choice in choices]
    env_json = json.dumps(env)
    ids = []
    with closing(open_writer(workspace)) as writer, writer.transaction() as tx:
        hold_live_project(tx, project.id, project.name)
        for values in grid:
            seed = values.get("seed")
            run_id = tx.insert(
                "run",
                {
                    "project_id": project.id,
                    "dataset_version_id": version_id,
                    "group_id": group,
                    "parent_run_id": parent_id,
                    "status": "queued",
                    "command": project.entry,
                    "error": "",
                    "host": "",
                    "user": user,
                    "log_path": "",
                    "seed": seed if isinstance(seed, int) else None,
                    "env_json": env_json,
                    "code_json": "{}",  # the supervisor records the code when it starts
                    "primary_metric": project.spec.primary_metric,
                    "created_at": datetime.now(UTC),
                },
            )
            for key, value in values.items():
                tx.add("param", {"run_id": run_id, "key": key, "value": json.dumps(value)})
            ids.append(run_id)
    return [get_run(workspace, run_id) for run_id in ids]


def retry_run(workspace: Workspace, run_id: int) -> RunInfo:
    """Queue a new run with exactly the parameters and data of a finished one."""
    with _session(workspace) as session:
        run = _get_run_row(session, run_id)
        if run.status in ACTIVE:
            raise ConflictError(f"run {run_id} is still {run.status}; cancel it before retrying")
    return queue_runs(workspace, from_run=run_id)[0]


def requeue_lost_run(workspace: Workspace, run_id: int) -> int | None:
    """Queue a lost run again, once, when its project says ``[runs] requeue_lost = true``:
    a new run with the same parameters and data (a retry), whose record names the lost
    one (``env.requeue_of``). A run that was itself a requeue is not queued a third time.
    Returns the new run's id, or None when nothing was queued."""
    from sqlalchemy import update
    from sqlmodel import col

    from dockyard.store.models import Run

    with _session(workspace) as session:
        run = _get_run_row(session, run_id)
        project = _project_by_id(workspace, session, run.project_id)
        env = json.loads(run.env_json or "{}")
        if run.status != "lost" or not project.spec.requeue_lost or "requeue_of" in env:
            return None
    again = queue_runs(workspace, from_run=run_id)[0]
    with _session(workspace) as session:
        new_env = {**again.env, "requeue_of": run_id}
        session.execute(
            update(Run).where(col(Run.id) == again.id).values(env_json=json.dumps(new_env))
        )
        lost = _get_run_row(session, run_id)
        lost.error = f"{lost.error}; requeued as run {again.id}"[:500]
        session.add(lost)
        session.commit()
    return again.id


def claim_status(
    session: Any,
    run_id: int,
    expected: str | tuple[str, ...],
    new: str,
    *,
    also: Sequence[Any] = (),
    **values: Any,
) -> bool:
    """Set a run's status only if it still is ``expected`` (one status or any of several)
    and the conditions ``also`` hold: a compare-and-set, True when this write won.

    A supervisor may finish, or a user cancel, between our read and our write; a plain
    ORM update would then overwrite their newer status with ours.
    """
    from sqlalchemy import update
    from sqlmodel import col

    from dockyard.store.models import Run

    allowed = (expected,) if isinstance(expected, str) else expected
    result = session.execute(
        update(Run)
        .where(col(Run.id) == run_id, col(Run.status).in_(allowed), *also)
        .values(status=new, **values)
    )
    return bool(result.rowcount == 1)


def in_live_project() -> Any:
    """The condition "the run's project is not archived", for a query on ``run``: an
    archived project's queued runs are never started."""
    from sqlmodel import col, select

    from dockyard.store.models import Project, Run

    live = select(col(Project.id)).where(col(Project.archived_at).is_(None))
    return col(Run.project_id).in_(live)


def cancel_run(workspace: Workspace, run_id: int) -> RunInfo:
    """Cancel a queued run at once; ask a running one to stop (SIGTERM, then SIGKILL).

    The supervisor of a running run turns the signal into status ``cancelled``.
    """
    from dockyard.store.models import utcnow

    with _session(workspace) as session:
        run = _get_run_row(session, run_id)
        seen = run.status
        if seen in FINAL:
            raise ConflictError(f"run {run_id} has already {seen}; nothing to cancel")
        if seen == "queued":
            claimed = claim_status(
                session, run_id, seen, "cancelled", ended_at=utcnow(),
                error=f"cancelled by {current_user()} before it started",
            )  # fmt: skip
        else:
            claimed = claim_status(session, run_id, seen, "cancelling")
        if not claimed:  # the agent started it, or its process ended, just now
            session.rollback()
            session.expire_all()
            now_status = _get_run_row(session, run_id).status
            if now_status in FINAL:
                raise ConflictError(f"run {run_id} has just {now_status}; nothing to cancel")
            session.close()
            return cancel_run(workspace, run_id)
        session.commit()
        session.expire_all()
        run = _get_run_row(session, run_id)
        if run.status == "cancelling" and run.pid and run.host == host_name():
            signal_group(run.pid, signal.SIGTERM)
        return _info(session, run)


# Read through ``reader_for`` (the standard library's sqlite3 on a SQLite store): a read
# command must not pay for importing SQLAlchemy and SQLModel (decision 21).
RUN_SELECT = """
SELECT r.id AS id, p.name AS project, r.status AS status, r.command AS command,
       r.group_id AS group_id, r.parent_run_id AS parent_run_id, r.exit_code AS exit_code,
       r.error AS error, r.created_at AS created_at, r.started_at AS started_at,
       r.ended_at AS ended_at, r.primary_metric AS primary_metric,
       r.primary_value AS primary_value, r.user AS user, r.host AS host, r.pid AS pid,
       r.log_path AS log_path, r.git_commit AS git_commit, r.git_dirty AS git_dirty,
       r.seed AS seed, r.env_json AS env_json, r.code_json AS code_json,
       ds.name AS dataset_name, dv.version AS dataset_version,
       dv.hash_algo AS hash_algo, dv.content_hash AS content_hash, r.archived_at AS archived_at
FROM run AS r
LEFT JOIN project AS p ON p.id = r.project_id
LEFT JOIN dataset_version AS dv ON dv.id = r.dataset_version_id
LEFT JOIN dataset AS ds ON ds.id = dv.dataset_id
"""

RUN_BY_ID = RUN_SELECT + "WHERE r.id = :run_id"

# Active runs first, then the rest, each newest first: two queries, so the active ones
# come from ix_run_status_created and the rest from the primary key, never a sort of the
# whole table on a CASE expression.
_ACTIVE_SQL = ", ".join(f"'{status}'" for status in ACTIVE)
# The casts give PostgreSQL the type of a parameter it would otherwise only see compared
# with NULL (it refuses to guess); SQLite ignores them. {archived}:
# store.queries.archived_clause, hiding archived runs unless asked for.
_RUNS_WHERE = (
    "(CAST(:status AS VARCHAR) IS NULL OR r.status = :status) "
    "AND (CAST(:project AS VARCHAR) IS NULL OR p.name = :project) AND {archived}"
)
RUNS_ACTIVE = (
    f"{RUN_SELECT} WHERE r.status IN ({_ACTIVE_SQL}) AND {_RUNS_WHERE}"
    " ORDER BY r.id DESC LIMIT :limit OFFSET :offset"
)
RUNS_OTHER = (
    f"{RUN_SELECT} WHERE r.status NOT IN ({_ACTIVE_SQL}) AND {_RUNS_WHERE}"
    " ORDER BY r.id DESC LIMIT :limit OFFSET :offset"
)
RUNS_COUNT_ACTIVE = (
    "SELECT COUNT(*) AS n FROM run AS r LEFT JOIN project AS p ON p.id = r.project_id"
    f" WHERE r.status IN ({_ACTIVE_SQL}) AND {_RUNS_WHERE}"
)

RUN_PARAMS = "SELECT key, value FROM param WHERE run_id = :run_id ORDER BY key"
RUN_TAGS = "SELECT key, value FROM run_tag WHERE run_id = :run_id ORDER BY key"


def list_runs(
    workspace: Workspace,
    status: str | None = None,
    project: str | None = None,
    limit: int = 100,
    offset: int = 0,
    archived: str = "hide",
) -> list[RunInfo]:
    """Runs, active first then newest, filtered by status and project; archived runs
    hidden, alone (``archived="only"``) or included (``"include"``)."""
    if status and status not in RUN_STATUSES:
        raise InputError(
            f"{shown(status)} is not a run status; use one of {', '.join(RUN_STATUSES)}"
        )
    parse_int(limit, 1)  # a negative LIMIT means "no limit" to SQLite
    parse_int(offset, 0)

    visible_sql = archived_clause("r.archived_at", archived)
    reader = reader_for(workspace)
    params: dict[str, Any] = {"status": status or None, "project": project or None}
    row = reader.fetch_one(RUNS_COUNT_ACTIVE.format(archived=visible_sql), params)
    active = int(row["n"]) if row else 0
    rows: list[dict[str, Any]] = []
    if offset < active:
        rows += reader.fetch_all(
            RUNS_ACTIVE.format(archived=visible_sql), {**params, "limit": limit, "offset": offset}
        )
    if len(rows) < limit:
        rows += reader.fetch_all(
            RUNS_OTHER.format(archived=visible_sql),
            {**params, "limit": limit - len(rows), "offset": max(0, offset - active)},
        )
    return [_info_from_row(reader, row) for row in rows]


def get_run(workspace: Workspace, run_id: int) -> RunInfo:
    """One run with its parameters, tags and reproducibility record."""
    reader = reader_for(workspace)
    # an id beyond SQLite's 64-bit range cannot exist, and the driver would overflow on it
    row = reader.fetch_one(RUN_BY_ID, {"run_id": run_id}) if 1 <= run_id <= INT64_MAX else None
    if row is None:
        raise NotFoundError(f"no run with id {shown(run_id)}; see `dockyard run list`")
    return _info_from_row(reader, row)


def latest_metrics(workspace: Workspace, run_id: int) -> dict[str, tuple[int, float]]:
    """Each metric's newest point of a run: key -> (step, value)."""
    from dockyard.core.metrics import last_points

    return last_points(reader_for(workspace), run_id)


def _info_from_row(reader: Reader, row: Mapping[str, Any]) -> RunInfo:
    """A :class:`RunInfo` from a ``RUN_SELECT`` row, with its params and tags."""
    run_id = int(row["id"])
    params = {
        str(p["key"]): str(_decode(p["value"]))
        for p in reader.fetch_all(RUN_PARAMS, {"run_id": run_id})
    }
    tags = {str(t["key"]): t["value"] for t in reader.fetch_all(RUN_TAGS, {"run_id": run_id})}
    dataset = dataset_hash = None
    if row["hash_algo"] is not None:
        if row["dataset_name"] is not None:
            dataset = f"{row['dataset_name']}@{row['dataset_version']}"
        dataset_hash = f"{row['hash_algo']}:{row['content_hash']}"
    created = as_utc(row["created_at"])
    assert created is not None
    dirty = row["git_dirty"]
    return RunInfo(
        id=run_id,
        project=row["project"] if row["project"] is not None else "?",
        status=row["status"],
        params=params,
        command=row["command"],
        group_id=row["group_id"],
        parent_run_id=row["parent_run_id"],
        dataset=dataset,
        exit_code=row["exit_code"],
        error=row["error"],
        created_at=created,
        started_at=as_utc(row["started_at"]),
        ended_at=as_utc(row["ended_at"]),
        primary_metric=row["primary_metric"],
        primary_value=row["primary_value"],
        user=row["user"],
        host=row["host"],
        pid=row["pid"],
        log_path=row["log_path"],
        git_commit=row["git_commit"],
        git_dirty=None if dirty is None else bool(dirty),
        seed=row["seed"],
        env=json.loads(row["env_json"] or "{}"),
        tags=tags,
        dataset_hash=dataset_hash,
        code=json.loads(row["code_json"] or "{}"),
        archived_at=as_utc(row["archived_at"]),
    )


def metric_history(
    workspace: Workspace, run_id: int, key: str, after_step: int = -1
) -> list[tuple[int, float]]:
    """(step, value) points of one metric after ``after_step``, in step order."""
    from dockyard.core.metrics import history

    return history(reader_for(workspace), run_id, key, after_step)


def metric_curve(
    workspace: Workspace, run_id: int, key: str, points: int
) -> list[tuple[int, float]]:
    """About ``points`` evenly spaced points of one metric, for a chart."""
    from dockyard.core.metrics import downsample

    return downsample(reader_for(workspace), run_id, key, points)


def log_path(workspace: Workspace, run_id: int) -> Path:
    return workspace.logs / f"run-{run_id}.log"


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to process group ``pid``, if it still exists and is ours to signal."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _session(workspace: Workspace) -> Session:
    from sqlmodel import Session

    return Session(engine_for(workspace))


def _get_run_row(session: Session, run_id: int) -> Run:
    from dockyard.store.models import Run

    # an id beyond SQLite's 64-bit range cannot exist, and the driver would overflow on it
    run = session.get(Run, run_id) if 1 <= run_id <= INT64_MAX else None
    if run is None:
        raise NotFoundError(f"no run with id {shown(run_id)}; see `dockyard run list`")
    return run


def _project_by_id(workspace: Workspace, session: Session, project_id: int) -> ProjectInfo:
    from dockyard.store.models import Project

    row = session.get(Project, project_id)
    assert row is not None
    return get_project(workspace, row.name)


def _run_params(session: Session, run_id: int) -> dict[str, Any]:
    from sqlmodel import select

    from dockyard.store.models import Param

    rows = session.exec(select(Param).where(Param.run_id == run_id)).all()
    return {p.key: _decode(p.value) for p in rows}


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _info(session: Session, run: Run, project_name: str | None = None) -> RunInfo:
    from sqlmodel import select

    from dockyard.store.models import Dataset, DatasetVersion, Project, RunTag

    assert run.id is not None
    if project_name is None:
        project = session.get(Project, run.project_id)
        project_name = project.name if project else "?"
    dataset = dataset_hash = None
    if run.dataset_version_id is not None:
        dv = session.get(DatasetVersion, run.dataset_version_id)
        ds = session.get(Dataset, dv.dataset_id) if dv else None
        dataset = f"{ds.name}@{dv.version}" if dv and ds else None
        dataset_hash = f"{dv.hash_algo}:{dv.content_hash}" if dv else None
    params = {k: str(v) for k, v in _run_params(session, run.id).items()}
    tags = {t.key: t.value for t in session.exec(select(RunTag).where(RunTag.run_id == run.id))}
    return RunInfo(
        id=run.id,
        project=project_name,
        status=run.status,
        params=params,
        command=run.command,
        group_id=run.group_id,
        parent_run_id=run.parent_run_id,
        dataset=dataset,
        exit_code=run.exit_code,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
        primary_metric=run.primary_metric,
        primary_value=run.primary_value,
        user=run.user,
        host=run.host,
        pid=run.pid,
        log_path=run.log_path,
        git_commit=run.git_commit,
        git_dirty=run.git_dirty,
        seed=run.seed,
        env=json.loads(run.env_json or "{}"),
        tags=tags,
        dataset_hash=dataset_hash,
        code=json.loads(run.code_json or "{}"),
        archived_at=run.archived_at,
    )


# --- Artifacts of a run (added for the TUI's run screen) ----------------------------------


@dataclass(frozen=True)
class ArtifactInfo:
    """A file a run logged, as its run screen lists it."""

    name: str
    kind: str
    size_bytes: int
    sha256: str
    file_format: str
    created_at: datetime


def list_artifacts(workspace: Workspace, run_id: int) -> list[ArtifactInfo]:
    """The artifacts of a run, by name (one indexed query on ``artifact.run_id``)."""
    rows = reader_for(workspace).fetch_all(
        "SELECT name, kind, size_bytes, sha256, file_format, created_at FROM artifact"
        " WHERE run_id = :r ORDER BY name",
        {"r": run_id},
    )
    out = []
    for row in rows:
        created = as_utc(row["created_at"])
        assert created is not None  # a NOT NULL column
        out.append(
            ArtifactInfo(
                name=row["name"],
                kind=row["kind"],
                size_bytes=int(row["size_bytes"]),
                sha256=row["sha256"],
                file_format=row["file_format"],
                created_at=created,
            )
        )
    return out
