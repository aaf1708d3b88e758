"""SQLModel tables for the whole Dockyard domain.

The tables hold facts only; every rule about them lives in ``core``. Times are UTC
``datetime`` values except metric timestamps, which are epoch seconds (``float``) because
metrics are written by the million and compared numerically.

JSON columns (``*_json``) hold documents whose shape is owned by one core module and is
never queried by SQL; everything a list filters or sorts on is a real, indexed column.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Index, Integer, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Current time in UTC, the one clock every row uses."""
    return datetime.now(UTC)


class Project(SQLModel, table=True):
    """A folder with a ``dockyard.toml``; ``spec_json`` is the validated file."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    path: str
    description: str = ""
    entry: str
    spec_json: str
    spec_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    #: when and by whom it was archived (hidden from lists, restorable); NULL: not archived
    archived_at: datetime | None = None
    archived_by: str | None = None


class Dataset(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    description: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    #: the highest version number ever deleted: new versions are numbered above it
    max_deleted_version: int | None = None
    #: when and by whom it was archived (hidden from lists, restorable); NULL: not archived
    archived_at: datetime | None = None
    archived_by: str | None = None


class DatasetVersion(SQLModel, table=True):
    """One immutable, content-addressed version of a dataset."""

    __tablename__ = "dataset_version"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        UniqueConstraint("dataset_id", "content_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True)
    version: int
    content_hash: str = Field(index=True)
    hash_algo: str
    sha256: str | None = None
    object_path: str
    source_path: str = ""
    file_format: str
    # BIGINT on PostgreSQL (0010), as every column below holding a size, a count of rows,
    # a step or a seed: said here too, or PostgreSQL is sent the value cast to a 32-bit
    # INTEGER
    size_bytes: int = Field(default=0, sa_type=BigInteger)
    n_rows: int = Field(default=0, sa_type=BigInteger)
    n_cols: int = 0
    columns_json: str = "[]"
    profile_json: str = "{}"
    message: str = ""
    author: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    #: when and by whom it was archived (hidden from lists, restorable); NULL: not archived
    archived_at: datetime | None = None
    archived_by: str | None = None


class Run(SQLModel, table=True):
    """One execution of a project's entry command."""

    __table_args__ = (
        # archived_at ends both list indexes so hiding archived runs reads no table row
        # (migration 0007).
        Index("ix_run_status_created", "status", "created_at", "archived_at"),
        Index("ix_run_project_created", "project_id", "created_at"),
        # Newest-first paging, and the Runs pane's text filter evaluated on the index
        # alone (status, user, project) instead of 100,000 wide rows (migration 0002).
        Index("ix_run_created_filter", "created_at", "status", "user", "project_id", "archived_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    dataset_version_id: int | None = Field(
        default=None, foreign_key="dataset_version.id", index=True
    )
    group_id: str | None = Field(default=None, index=True)
    parent_run_id: int | None = Field(default=None, foreign_key="run.id")
    status: str = "queued"
    command: str = ""
    exit_code: int | None = None
    error: str = ""
    pid: int | None = None
    host: str = ""
    user: str = ""
    log_path: str = ""
    seed: int | None = Field(default=None, sa_type=BigInteger)
    git_commit: str | None = None
    git_dirty: bool | None = None
    env_json: str = "{}"
    #: which code the run ran, a document owned by ``core.code`` (migration 0006)
    code_json: str = "{}"
    primary_metric: str | None = None
    primary_value: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    heartbeat_at: datetime | None = None
    #: when and by whom it was archived (hidden from lists, restorable); NULL: not archived
    archived_at: datetime | None = None
    archived_by: str | None = None


class Param(SQLModel, table=True):
    run_id: int = Field(foreign_key="run.id", primary_key=True)
    key: str = Field(primary_key=True)
    value: str


class RunTag(SQLModel, table=True):
    __tablename__ = "run_tag"

    run_id: int = Field(foreign_key="run.id", primary_key=True)
    key: str = Field(primary_key=True)
    value: str


class Metric(SQLModel, table=True):
    """One point of one metric's history; ``(run_id, key, step)`` is the read path."""

    # Covering: a history read (step, value) and downsampled curves never touch the table
    # rows (migration 0002).
    __table_args__ = (Index("ix_metric_run_key_step_value", "run_id", "key", "step", "value"),)

    # 64 bits on PostgreSQL (0010); on SQLite the id stays INTEGER, the rowid's alias
    # (a BIGINT primary key there would be no rowid and get no automatic numbers)
    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    run_id: int = Field(foreign_key="run.id")
    key: str
    step: int = Field(default=0, sa_type=BigInteger)
    value: float
    timestamp: float


class RunLogChunk(SQLModel, table=True):
    """A piece of a run's log, in order (``seq``), streamed by its supervisor (migration
    0009); ``start_char`` is where it starts in the whole log (``core.run_logs``)."""

    __tablename__ = "run_log_chunk"

    run_id: int = Field(foreign_key="run.id", primary_key=True)
    seq: int = Field(primary_key=True)
    start_char: int = Field(sa_type=BigInteger)
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)


class Artifact(SQLModel, table=True):
    """A content-addressed file a run produced (``objects/<sha256>``)."""

    __table_args__ = (UniqueConstraint("run_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    name: str
    kind: str = "file"
    sha256: str = Field(index=True)
    size_bytes: int = Field(default=0, sa_type=BigInteger)
    object_path: str
    file_format: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class RegisteredModel(SQLModel, table=True):
    __tablename__ = "registered_model"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    description: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    #: the highest version number ever deleted: new versions are numbered above it
    max_deleted_version: int | None = None
    #: when and by whom it was archived (hidden from lists, restorable); NULL: not archived
    archived_at: datetime | None = None
    archived_by: str | None = None


class ModelVersion(SQLModel, table=True):
    """An immutable version of a registered model, tied to its run and artifact."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="registered_model.id", index=True)
    version: int
    run_id: int = Field(foreign_key="run.id", index=True)
    artifact_id: int = Field(foreign_key="artifact.id")
    dataset_version_id: int | None = Field(default=None, foreign_key="dataset_version.id")
    description: str = ""
    tags_json: str = "{}"
    created_by: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    #: when and by whom it was archived (hidden from lists, restorable); NULL: not archived
    archived_at: datetime | None = None
    archived_by: str | None = None


class ModelAlias(SQLModel, table=True):
    """Where an alias (``champion``…) points now; its moves are in ``audit_event``."""

    __tablename__ = "model_alias"

    model_id: int = Field(foreign_key="registered_model.id", primary_key=True)
    alias: str = Field(primary_key=True)
    model_version_id: int = Field(foreign_key="model_version.id")
    updated_at: datetime = Field(default_factory=utcnow)


class DeploymentRequest(SQLModel, table=True):
    __tablename__ = "deployment_request"
    __table_args__ = (Index("ix_deployment_request_status", "status", "requested_at"),)

    id: int | None = Field(default=None, primary_key=True)
    model_version_id: int = Field(foreign_key="model_version.id", index=True)
    target: str = "production"
    status: str = "pending"
    requested_by: str = ""
    reason: str = ""
    checks_json: str = "[]"
    requested_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    #: ``deploy`` or ``rollback``
    kind: str = "deploy"
    #: the deployment live in the target when the checks ran; another one live now makes
    #: the request stale
    base_deployment_id: int | None = None
    input_schema_json: str = "null"


class Approval(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="deployment_request.id", index=True)
    reviewer: str
    decision: str
    comment: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    #: the written reason an approver gave for approving despite failed gates
    override_reason: str = ""


class Deployment(SQLModel, table=True):
    __table_args__ = (Index("ix_deployment_target_status", "target", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int | None = Field(default=None, foreign_key="deployment_request.id")
    model_version_id: int = Field(foreign_key="model_version.id", index=True)
    target: str = "production"
    status: str = "active"
    deployed_by: str = ""
    deployed_at: datetime = Field(default_factory=utcnow)
    retired_at: datetime | None = None
    #: the release folder (relative to the workspace folder) and its manifest
    path: str = ""
    manifest_json: str = "{}"
    previous_id: int | None = None


class Environment(SQLModel, table=True):
    """A deployment target of the workspace and its approval rules (``core.environments``)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    approvals: int = 0
    approvers_json: str = "[]"
    protected: bool = False
    emergency_rollback: bool = False
    updated_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class Monitor(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    name: str
    kind: str
    schedule: str
    config_json: str = "{}"
    enabled: bool = True
    #: paused by `dockyard monitor pause`: kept, not scheduled
    paused: bool = False
    #: ``file`` (dockyard.toml, synced on project add) or ``cli`` (`dockyard monitor add`)
    source: str = "file"
    #: how many times it was run (scheduled or by hand), batches or not
    checks_count: int = 0
    last_checked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class MonitorResult(SQLModel, table=True):
    __tablename__ = "monitor_result"
    __table_args__ = (
        Index("ix_monitor_result_monitor_ran", "monitor_id", "ran_at"),
        Index("ix_monitor_result_status", "status"),
        Index(
            "ux_monitor_result_batch",
            "monitor_id",
            "batch_hash",
            unique=True,
            sqlite_where=text("batch_hash != '' AND status != 'interrupted'"),
            postgresql_where=text("batch_hash != '' AND status != 'interrupted'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    monitor_id: int = Field(foreign_key="monitor.id")
    deployment_id: int | None = Field(default=None, foreign_key="deployment.id")
    status: str
    summary: str = ""
    details_json: str = "{}"
    batch_path: str = ""
    ran_at: datetime = Field(default_factory=utcnow, index=True)
    batch_hash: str = ""
    # BIGINT in the table (0004): said here too, or PostgreSQL is sent the value cast
    # to a 32-bit INTEGER, which a nanosecond time overflows
    batch_size: int = Field(default=0, sa_type=BigInteger)
    batch_mtime_ns: int = Field(default=0, sa_type=BigInteger)
    rows: int | None = Field(default=None, sa_type=BigInteger)
    model_version_id: int | None = None
    model_ref: str = ""
    #: ``host:pid`` of the process checking the batch (a ``running`` row whose runner is
    #: gone was interrupted)
    runner: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: the run's one number for lists (``core.monitor_checks.headline``), NULL if none
    headline: float | None = None


class MonitorReference(SQLModel, table=True):
    """The reference side of every check for one model version, computed once."""

    __tablename__ = "monitor_reference"

    model_version_id: int = Field(foreign_key="model_version.id", primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    reference_json: str


class Alert(SQLModel, table=True):
    __table_args__ = (Index("ix_alert_open", "acknowledged_at", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    monitor_id: int = Field(foreign_key="monitor.id", index=True)
    result_id: int | None = Field(default=None, foreign_key="monitor_result.id")
    severity: str = "warning"
    message: str
    created_at: datetime = Field(default_factory=utcnow)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained log: ``hash = sha256(prev_hash + canonical event)``."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str
    action: str
    entity_type: str
    entity_id: str
    details_json: str = "{}"
    prev_hash: str
    hash: str = Field(unique=True)


class AgentLease(SQLModel, table=True):
    """The one agent that serves this store; a row per store, id fixed at 1."""

    __tablename__ = "agent_lease"

    id: int = Field(default=1, primary_key=True)
    holder: str
    host: str
    pid: int
    acquired_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)
