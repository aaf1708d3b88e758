"""Archive, restore and delete projects, datasets, runs and model versions.

*Archive* hides a row from every list and pane and is undone by *restore*; nothing else
changes (an archived run can still be shown, an archived dataset version still read by
the runs that trained on it), except that an archived project is retired: it takes no new
run (``core.projects.hold_live_project``), its queued runs are cancelled, its monitors do
not run, and archiving it is refused while one of its runs is running.

*Delete* removes rows for good, and is refused, naming the reason, for anything another
record needs: a run that produced a model version, a version a deployment, a deployment
request, an alias or a monitor's results name, a dataset version a run or a model version
trained on or a monitor checked, a project with runs. A deleted version's number is never
given again (``max_deleted_version``): a record that says ``iris@3`` means one content for
ever. The files those rows named stay in ``objects/`` until ``dockyard gc``
(:mod:`core.object_gc`) removes what nothing refers to.

Every archive, restore and delete is an audit event, written in the same transaction as
the change. The checks and the change share one write transaction (the store's write lock
is taken first), so a run registered from a version between the check and the delete
cannot slip through.

A reference names one thing (``noun`` is the command line's noun):

====== ==========================================================================
noun   ``ref``
====== ==========================================================================
project  ``NAME``
data     ``NAME`` (the dataset with all its versions) or ``NAME@N`` (one version)
run      ``ID``
model    ``NAME`` (the model with all its versions) or ``NAME@N`` (one version)
====== ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import ConflictError, InputError, NotFoundError
from dockyard.core.parsing import INT64_MAX, parse_int, parse_version, shown
from dockyard.core.workspace import Workspace, acting_user, engine_for

if TYPE_CHECKING:
    from sqlmodel import Session

#: The nouns archive, restore and delete take, as the command line spells them.
NOUNS = ("project", "data", "run", "model")

#: How many referring rows a refusal names before "and N more".
NAMED = 3

#: Target details that are for this module only, not for the audit event.
_INTERNAL = frozenset({"dataset_id", "model_id", "log_path"})


class DeleteRefusedError(ConflictError):
    """Something still needs the row; the message names it and what to do first."""


@dataclass(frozen=True)
class Target:
    """The row a reference names."""

    noun: str
    #: ``project``, ``dataset``, ``dataset_version``, ``run``, ``registered_model`` or
    #: ``model_version``: the table, and the audit event's entity type
    table: str
    id: int
    #: how messages name it: ``project wine``, ``dataset iris@2``, ``run 42``, ``model m@3``
    label: str
    archived_at: datetime | None
    details: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What an archive, restore or delete did."""

    action: str  # archive | restore | delete
    label: str
    changed: bool
    #: archiving a project: the ids of its queued runs it cancelled (None: not that)
    cancelled_runs: tuple[int, ...] | None = None

    @property
    def message(self) -> str:
        done = {"archive": "Archived", "restore": "Restored", "delete": "Deleted"}[self.action]
        if self.changed:
            if self.cancelled_runs:
                ids = [str(i) for i in self.cancelled_runs]
                runs = "run" if len(ids) == 1 else "runs"
                return f"{done} {self.label}; cancelled its queued {runs} {_named(ids)}"
            return f"{done} {self.label}"
        state = "archived" if self.action == "archive" else "not archived"
        return f"{self.label} was already {state}; nothing changed"

    def to_dict(self) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "action": self.action,
            "target": self.label,
            "changed": self.changed,
        }
        if self.cancelled_runs is not None:
            shape["cancelled_runs"] = list(self.cancelled_runs)
        return shape


def archived_filter(table: Any, archived: str) -> Any:
    """The ORM condition on ``table.archived_at`` that ``archived`` (``hide``, ``only``,
    ``include``: ``store.queries.ARCHIVED_CHOICES``) asks for."""
    from sqlalchemy import true
    from sqlmodel import col

    from dockyard.store.queries import archived_clause

    archived_clause("archived_at", archived)  # refuses an unknown choice
    column = col(table.archived_at)
    if archived == "hide":
        return column.is_(None)
    if archived == "only":
        return column.is_not(None)
    return true()


# --------------------------------------------------------------------------- the faces' calls


def archive(workspace: Workspace, noun: str, ref: str) -> Outcome:
    """Hide ``ref`` from lists and panes (restorable); refused for a live run and for a
    model version an alias, a live deployment or a pending request names.

    An archived project is retired: it takes no new run and its monitors do not run.
    Archiving it cancels its queued runs (the reason recorded on each), and is refused
    while one of its runs is running.
    """
    return _change(workspace, noun, ref, "archive")


def restore(workspace: Workspace, noun: str, ref: str) -> Outcome:
    """Show an archived ``ref`` in lists again."""
    return _change(workspace, noun, ref, "restore")


def delete(workspace: Workspace, noun: str, ref: str) -> Outcome:
    """Remove ``ref`` for good, or raise :class:`DeleteRefusedError` naming what needs it.

    Its objects stay until ``dockyard gc``; a run's log file goes with it.
    """
    return _change(workspace, noun, ref, "delete")


def blockers(workspace: Workspace, noun: str, ref: str, action: str = "delete") -> list[str]:
    """Why ``action`` (``archive`` or ``delete``) would be refused, one reason a line;
    empty when it would go through. For a face that asks before it acts."""
    from sqlmodel import Session

    with Session(engine_for(workspace)) as session:
        target = resolve(session, noun, ref)
        return _blockers(session, target, action)


def resolve(session: Session, noun: str, ref: str) -> Target:
    """The row ``ref`` names (archived or not); NotFoundError names what exists."""
    if noun == "project":
        return _project_target(session, ref)
    if noun == "data":
        return _dataset_target(session, ref)
    if noun == "run":
        return _run_target(session, ref)
    if noun == "model":
        return _model_target(session, ref)
    raise InputError(f"{shown(noun)} is not something to archive; use one of {', '.join(NOUNS)}")


# ------------------------------------------------------------------------------ resolving


def _rows(session: Session, sql: str, **params: Any) -> list[Any]:
    from sqlalchemy import text

    return list(session.execute(text(sql), params).all())


def _project_target(session: Session, ref: str) -> Target:
    rows = _rows(session, "SELECT id, name, archived_at FROM project WHERE name = :n", n=ref)
    if not rows:
        raise NotFoundError(f"no project named {shown(ref)}; see `dockyard project list --all`")
    row = rows[0]
    return Target(
        "project", "project", row.id, f"project {row.name}", row.archived_at, {"name": row.name}
    )


def _split(ref: str, what: str) -> tuple[str, int | None]:
    name, sep, selector = ref.strip().partition("@")
    if not name:
        raise InputError(f"{shown(ref)} is not a {what} reference; write NAME or NAME@N")
    if not sep:
        return name, None
    number = parse_version(selector, ref)
    if number is None:
        # archive and delete name versions by number: "latest" or an alias moves
        raise InputError(
            f"{shown(ref, 60)}: name the version by its number (NAME@N), not {shown(selector)}"
        )
    return name, number


def _dataset_target(session: Session, ref: str) -> Target:
    name, number = _split(ref, "dataset")
    found = _rows(session, "SELECT id, name, archived_at FROM dataset WHERE name = :n", n=name)
    if not found:
        raise NotFoundError(f"no dataset named {shown(name)}; see `dockyard data list --all`")
    dataset = found[0]
    if number is None:
        return Target(
            "data", "dataset", dataset.id, f"dataset {name}", dataset.archived_at, {"name": name}
        )
    rows = _rows(
        session,
        "SELECT id, archived_at, content_hash, object_path FROM dataset_version"
        " WHERE dataset_id = :d AND version = :v",
        d=dataset.id,
        v=number,
    )
    if not rows:
        raise NotFoundError(
            f"dataset {name} has no version {number}; see `dockyard data versions {name} --all`"
        )
    row = rows[0]
    return Target(
        "data",
        "dataset_version",
        row.id,
        f"dataset {name}@{number}",
        row.archived_at,
        {
            "name": name,
            "version": number,
            "content_hash": row.content_hash,
            "object_path": row.object_path,
            "dataset_id": dataset.id,
        },
    )


def _run_target(session: Session, ref: str) -> Target:
    try:
        run_id = parse_int(ref, 1, INT64_MAX)
    except InputError:
        raise InputError(f"{shown(ref)} is not a run id; runs are numbered 1, 2, ...") from None
    rows = _rows(
        session,
        "SELECT r.id, r.status, r.archived_at, r.log_path, p.name AS project FROM run AS r"
        " LEFT JOIN project AS p ON p.id = r.project_id WHERE r.id = :id",
        id=run_id,
    )
    if not rows:
        raise NotFoundError(f"no run with id {run_id}; see `dockyard run list --all`")
    row = rows[0]
    return Target(
        "run",
        "run",
        run_id,
        f"run {run_id}",
        row.archived_at,
        {"project": row.project, "status": row.status, "log_path": row.log_path},
    )


def _model_target(session: Session, ref: str) -> Target:
    name, number = _split(ref, "model")
    found = _rows(
        session, "SELECT id, name, archived_at FROM registered_model WHERE name = :n", n=name
    )
    if not found:
        raise NotFoundError(f"no model named {shown(name)}; see `dockyard model list --all`")
    model = found[0]
    if number is None:
        return Target(
            "model",
            "registered_model",
            model.id,
            f"model {name}",
            model.archived_at,
            {"name": name},
        )
    rows = _rows(
        session,
        "SELECT v.id, v.archived_at, v.run_id, a.sha256 FROM model_version AS v"
        " JOIN artifact AS a ON a.id = v.artifact_id WHERE v.model_id = :m AND v.version = :v",
        m=model.id,
        v=number,
    )
    if not rows:
        raise NotFoundError(
            f"model {name} has no version {number}; see `dockyard model show {name} --all`"
        )
    row = rows[0]
    return Target(
        "model",
        "model_version",
        row.id,
        f"model {name}@{number}",
        row.archived_at,
        {
            "name": name,
            "version": number,
            "run_id": row.run_id,
            "sha256": row.sha256,
            "model_id": model.id,
        },
    )


# ------------------------------------------------------------------------------ blockers


def _named(items: list[str], total: int | None = None) -> str:
    """``a, b and c`` / ``a, b, c and 4 more``."""
    total = len(items) if total is None else total
    head = items[:NAMED]
    rest = total - len(head)
    if rest > 0:
        return f"{', '.join(head)} and {rest} more"
    return head[0] if len(head) == 1 else f"{', '.join(head[:-1])} and {head[-1]}"


def _blockers(session: Session, target: Target, action: str) -> list[str]:
    """Every reason ``action`` on ``target`` must be refused (empty: it may go ahead)."""
    if action == "restore":
        return []
    table = target.table
    if table == "run":
        return _run_blockers(session, target, action)
    if table == "model_version":
        ref = target.label.split(" ", 1)[1]  # "model m@3" -> "m@3"
        return _model_version_blockers(session, target.id, ref, action)
    if table == "registered_model":
        versions = _rows(
            session,
            "SELECT id, version FROM model_version WHERE model_id = :m ORDER BY version",
            m=target.id,
        )
        name = target.details["name"]
        return [
            reason
            for v in versions
            for reason in _model_version_blockers(session, v.id, f"{name}@{v.version}", action)
        ]
    if table == "project" and action == "archive":
        return _live_run_blockers(session, target)
    if action == "archive":
        return []  # hiding a dataset breaks nothing that refers to it
    if table == "dataset_version":
        return _dataset_version_blockers(session, target.id, target.label.split(" ", 1)[1])
    if table == "dataset":
        return _dataset_blockers(session, target)
    if table == "project":
        return _project_blockers(session, target)
    raise AssertionError(table)  # pragma: no cover


def _run_blockers(session: Session, target: Target, action: str) -> list[str]:
    from dockyard.core.runs import ACTIVE

    reasons = []
    status = target.details["status"]
    if status in ACTIVE:
        reasons.append(
            f"{target.label} is {status}; cancel it first (`dockyard run cancel {target.id}`)"
        )
    if action == "delete":
        produced = _rows(
            session,
            "SELECT m.name, v.version FROM model_version AS v"
            " JOIN registered_model AS m ON m.id = v.model_id WHERE v.run_id = :r"
            " ORDER BY m.name, v.version",
            r=target.id,
        )
        if produced:
            refs = [f"{p.name}@{p.version}" for p in produced]
            reasons.append(
                f"{target.label} produced model {_named(refs)}; the registry needs it "
                "(delete the version first, or archive the run)"
            )
    return reasons


def _model_version_blockers(session: Session, version_id: int, ref: str, action: str) -> list[str]:
    reasons = []
    aliases = [
        r.alias
        for r in _rows(
            session,
            "SELECT alias FROM model_alias WHERE model_version_id = :v ORDER BY alias",
            v=version_id,
        )
    ]
    if aliases:
        name = ref.split("@", 1)[0]
        reasons.append(
            f"model {ref} has alias {_named(aliases)}; move or remove it first "
            f"(`dockyard model alias {name} {aliases[0]} --remove`)"
        )
    deployments = _rows(
        session,
        "SELECT id, target, status FROM deployment WHERE model_version_id = :v ORDER BY id",
        v=version_id,
    )
    live = [d for d in deployments if d.status in ("active", "switching")]
    if live:
        places = [f"{d.target} (deployment {d.id})" for d in live]
        reasons.append(f"model {ref} is deployed to {_named(places)}")
    requests = _rows(
        session,
        "SELECT id, target, status FROM deployment_request WHERE model_version_id = :v ORDER BY id",
        v=version_id,
    )
    pending = [q for q in requests if q.status == "pending"]
    if pending:
        names = [f"{q.id} to {q.target}" for q in pending]
        reasons.append(f"model {ref} has pending deployment request {_named(names)}")
    if action != "delete":
        return reasons
    past = [d for d in deployments if d not in live]
    if past:
        names = [f"{d.id} ({d.target}, {d.status})" for d in past]
        reasons.append(
            f"model {ref} was deployed (deployment {_named(names)}); the record needs it"
        )
    decided = [q for q in requests if q not in pending]
    if decided:
        names = [f"{q.id} ({q.status})" for q in decided]
        reasons.append(
            f"model {ref} has deployment request {_named(names)}; the approval record needs it"
        )
    checked = _rows(
        session,
        "SELECT COUNT(*) AS n FROM monitor_result WHERE model_version_id = :v",
        v=version_id,
    )[0].n
    if checked:
        reasons.append(f"model {ref} has {checked} monitor result(s); the monitors need it")
    return reasons


def _dataset_version_blockers(session: Session, version_id: int, ref: str) -> list[str]:
    reasons = []
    runs = _rows(
        session,
        "SELECT id FROM run WHERE dataset_version_id = :v ORDER BY id LIMIT :n",
        v=version_id,
        n=NAMED,
    )
    if runs:
        total = _rows(
            session, "SELECT COUNT(*) AS n FROM run WHERE dataset_version_id = :v", v=version_id
        )[0].n
        reasons.append(
            f"dataset {ref} trained run {_named([str(r.id) for r in runs], total)}; "
            "delete those runs first, or archive the version"
        )
    models = _rows(
        session,
        "SELECT m.name, v.version FROM model_version AS v"
        " JOIN registered_model AS m ON m.id = v.model_id WHERE v.dataset_version_id = :d"
        " ORDER BY m.name, v.version",
        d=version_id,
    )
    if models:
        refs = [f"{m.name}@{m.version}" for m in models]
        reasons.append(f"dataset {ref} trained model {_named(refs)}; the registry needs it")
    checked = _rows(
        session,
        "SELECT DISTINCT mo.name, p.name AS project FROM monitor_result AS r"
        " JOIN monitor AS mo ON mo.id = r.monitor_id JOIN project AS p ON p.id = mo.project_id"
        " WHERE r.batch_path = :ref ORDER BY mo.name",
        ref=ref,
    )
    if checked:
        names = [f"{c.name} ({c.project})" for c in checked]
        reasons.append(f"dataset {ref} was checked by monitor {_named(names)}; its results need it")
    return reasons


def _dataset_blockers(session: Session, target: Target) -> list[str]:
    import json

    name = target.details["name"]
    reasons = []
    readers = []
    for row in _rows(
        session,
        "SELECT mo.name, mo.config_json, p.name AS project FROM monitor AS mo"
        " JOIN project AS p ON p.id = mo.project_id ORDER BY mo.name",
    ):
        try:
            config = json.loads(row.config_json or "{}")
        except ValueError:
            continue
        if isinstance(config, dict) and config.get("dataset") == name:
            readers.append(f"{row.name} ({row.project})")
    if readers:
        reasons.append(
            f"monitor {_named(readers)} reads its batches from dataset {name}; "
            "remove it from the project first"
        )
    for v in _rows(
        session,
        "SELECT id, version FROM dataset_version WHERE dataset_id = :d ORDER BY version",
        d=target.id,
    ):
        reasons += _dataset_version_blockers(session, v.id, f"{name}@{v.version}")
    return reasons


def _live_run_blockers(session: Session, target: Target) -> list[str]:
    """A project is not retired under a run that is running (or being cancelled): the
    user waits for it or cancels it. Its queued runs do not block: archiving cancels them."""
    name = target.details["name"]
    live = _rows(
        session,
        "SELECT id, status FROM run WHERE project_id = :p AND status IN ('running', 'cancelling')"
        " ORDER BY id",
        p=target.id,
    )
    if not live:
        return []
    ids = [str(r.id) for r in live]
    runs, them = ("run", "it") if len(ids) == 1 else ("runs", "them")
    return [
        f"project {name} has {runs} {_named(ids)} running; wait for {them} to end or cancel "
        f"{them} (`dockyard run cancel {ids[0]}`) first"
    ]


def _project_blockers(session: Session, target: Target) -> list[str]:
    name = target.details["name"]
    reasons = []
    runs = _rows(session, "SELECT COUNT(*) AS n FROM run WHERE project_id = :p", p=target.id)[0].n
    if runs:
        reasons.append(
            f"project {name} has {runs} run(s); delete them first "
            f"(`dockyard run list --all --project {name}`), or archive the project"
        )
    checked = _rows(
        session,
        "SELECT mo.name, COUNT(r.id) AS n FROM monitor AS mo"
        " JOIN monitor_result AS r ON r.monitor_id = mo.id WHERE mo.project_id = :p"
        " GROUP BY mo.name ORDER BY mo.name",
        p=target.id,
    )
    if checked:
        names = [f"{c.name} ({c.n} results)" for c in checked]
        reasons.append(f"project {name} has monitor {_named(names)}; their history needs it")
    return reasons


# ------------------------------------------------------------------------------- changing


def _change(workspace: Workspace, noun: str, ref: str, action: str) -> Outcome:
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import Session

    from dockyard.core.audit import _lock_chain, append_event
    from dockyard.store.models import utcnow

    user = acting_user(workspace)
    log_file: Path | None = None
    with Session(engine_for(workspace)) as session:
        # The store's write lock first (the audit chain's lock is that lock): the checks
        # below and the change then see the same rows, whoever writes meanwhile.
        _lock_chain(session)
        target = resolve(session, noun, ref)
        if action == "archive" and target.archived_at is not None:
            return Outcome(action, target.label, changed=False)
        if action == "restore" and target.archived_at is None:
            return Outcome(action, target.label, changed=False)
        reasons = _blockers(session, target, action)
        if reasons:
            verb = "delete" if action == "delete" else "archive"
            raise DeleteRefusedError(f"cannot {verb} {target.label}: {'; '.join(reasons)}")
        details = {k: v for k, v in target.details.items() if k not in _INTERNAL}
        cancelled: tuple[int, ...] | None = None
        try:
            if action == "delete":
                details |= _delete_rows(session, target)
                if target.table == "run" and target.details.get("log_path"):
                    log_file = Path(target.details["log_path"])
            else:
                stamp = utcnow() if action == "archive" else None
                _rows_update(session, target, stamp, user if stamp else None)
                if action == "archive" and target.table == "project":
                    cancelled = _retire_project(session, target, user)
                    details["cancelled_runs"] = list(cancelled)
            entity = "dataset" if noun == "data" else noun
            append_event(session, user, f"{entity}.{action}", target.table, target.id, details)
            session.commit()
        except IntegrityError as exc:
            # A reference the checks above do not know (a table added later) still names
            # the row: the foreign key refuses, the transaction rolls back, nothing changed.
            session.rollback()
            raise DeleteRefusedError(
                f"cannot delete {target.label}: another record still refers to it ({exc.orig})"
            ) from None
    if log_file is not None:
        _remove_log(workspace, log_file)
    return Outcome(action, target.label, changed=True, cancelled_runs=cancelled)


def _retire_project(session: Session, target: Target, user: str) -> tuple[int, ...]:
    """Cancel an archived project's queued runs, recording why on each; the ids.

    Runs after the project row's update, in the same transaction: on PostgreSQL that row
    lock makes a run start (``projects.hold_live_project``) wait, so its runs are either
    seen here or refused there; the agent's claim and this update are compare-and-sets on
    the run's status. A run the agent started meanwhile refuses the archive.
    """
    from sqlalchemy import update
    from sqlmodel import col

    from dockyard.store.models import Run, utcnow

    name = target.details["name"]
    why = f"cancelled before it started: project {name} was archived by {user}"
    # through the ORM, so ended_at is stored in the format every other time has
    cancelled = session.execute(
        update(Run)
        .where(col(Run.project_id) == target.id, col(Run.status) == "queued")
        .values(status="cancelled", ended_at=utcnow(), error=why[:500])
        .returning(col(Run.id))
    ).scalars()
    ids = tuple(sorted(int(i) for i in cancelled))
    reasons = _live_run_blockers(session, target)  # a run started since the check
    if reasons:
        raise DeleteRefusedError(f"cannot archive {target.label}: {'; '.join(reasons)}")
    return ids


def _rows_update(session: Session, target: Target, stamp: datetime | None, by: str | None) -> None:
    from sqlalchemy import DateTime, bindparam, text

    # target.table is one of six fixed names (resolve), never user text; the time typed, so
    # SQLite stores it as every other time (``store.queries.sql_time``), not with "+00:00"
    sql = text(f"UPDATE {target.table} SET archived_at = :at, archived_by = :by WHERE id = :id")
    session.execute(
        sql.bindparams(bindparam("at", type_=DateTime())),
        {"at": stamp, "by": by, "id": target.id},
    )


def _delete_rows(session: Session, target: Target) -> dict[str, Any]:
    """Delete the target's rows (children first); what the audit event should record."""
    from sqlalchemy import text

    def run(sql: str, **params: Any) -> int:
        result = session.execute(text(sql), params)
        return int(getattr(result, "rowcount", 0) or 0)

    table, row_id = target.table, target.id
    if table == "run":
        artifacts = [
            r.sha256
            for r in _rows(session, "SELECT sha256 FROM artifact WHERE run_id = :r", r=row_id)
        ]
        points = run("DELETE FROM metric WHERE run_id = :r", r=row_id)
        run("DELETE FROM param WHERE run_id = :r", r=row_id)
        run("DELETE FROM run_tag WHERE run_id = :r", r=row_id)
        run("DELETE FROM artifact WHERE run_id = :r", r=row_id)
        run("DELETE FROM run_log_chunk WHERE run_id = :r", r=row_id)
        # a clone keeps its own record; only the link to the deleted run goes
        run("UPDATE run SET parent_run_id = NULL WHERE parent_run_id = :r", r=row_id)
        run("DELETE FROM run WHERE id = :r", r=row_id)
        return {"artifacts": artifacts, "metric_points": points}
    if table == "model_version":
        _delete_model_version(run, row_id)
        # the model stays, even empty: it remembers the number so it is never reused
        _remember_deleted(run, "registered_model", target.details["model_id"], target)
        return {}
    if table == "registered_model":
        versions = _rows(
            session, "SELECT id, version FROM model_version WHERE model_id = :m", m=row_id
        )
        for version in versions:
            _delete_model_version(run, version.id)
        run("DELETE FROM registered_model WHERE id = :m", m=row_id)
        return {"versions": sorted(v.version for v in versions)}
    if table == "dataset_version":
        run("DELETE FROM dataset_version WHERE id = :v", v=row_id)
        # the dataset stays, even empty: it remembers the number so it is never reused
        _remember_deleted(run, "dataset", target.details["dataset_id"], target)
        return {}
    if table == "dataset":
        versions = [
            r.version
            for r in _rows(
                session, "SELECT version FROM dataset_version WHERE dataset_id = :d", d=row_id
            )
        ]
        run("DELETE FROM dataset_version WHERE dataset_id = :d", d=row_id)
        run("DELETE FROM dataset WHERE id = :d", d=row_id)
        return {"versions": sorted(versions)}
    if table == "project":
        # monitors without a result are the project file's declarations: they go with it
        monitors = [
            r.name
            for r in _rows(session, "SELECT name FROM monitor WHERE project_id = :p", p=row_id)
        ]
        run(
            "DELETE FROM alert WHERE monitor_id IN (SELECT id FROM monitor WHERE project_id = :p)",
            p=row_id,
        )
        run("DELETE FROM monitor WHERE project_id = :p", p=row_id)
        run("DELETE FROM project WHERE id = :p", p=row_id)
        return {"monitors": monitors}
    raise AssertionError(table)  # pragma: no cover


def _remember_deleted(run: Any, table: str, owner_id: int, target: Target) -> None:
    """Raise ``max_deleted_version`` of the dataset or model ``owner_id`` (``table``) to
    the deleted version's number, so the next version is numbered above it."""
    # table is "dataset" or "registered_model" (the callers above), never user text
    run(
        f"UPDATE {table} SET max_deleted_version = CASE"
        " WHEN coalesce(max_deleted_version, 0) > :v THEN max_deleted_version ELSE :v END"
        " WHERE id = :owner",
        v=target.details["version"],
        owner=owner_id,
    )


def _delete_model_version(run: Any, version_id: int) -> None:
    run("DELETE FROM monitor_reference WHERE model_version_id = :v", v=version_id)
    run("DELETE FROM model_version WHERE id = :v", v=version_id)


def _remove_log(workspace: Workspace, log_file: Path) -> None:
    """Remove a deleted run's log, if it lies in the workspace's logs folder (a path from
    the store is never trusted to point anywhere else)."""
    import contextlib

    path = log_file if log_file.is_absolute() else workspace.home / log_file
    try:
        if path.resolve().parent != workspace.logs.resolve():
            return
    except OSError:
        return
    with contextlib.suppress(OSError):
        path.unlink()
