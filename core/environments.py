"""Deployment environments (``staging``, ``production``…) and who may approve for them.

Environments live in the store's ``environment`` table, not in a file: a change is made
by ``set_environment`` in the same transaction as its audit event, so the rules a
deployment was approved under are always in the hash-chained log. Every value is
validated as strictly as ``dockyard.toml``.

A deployed model lands in ``.dockyard/deployments/ENV/MODEL/``: one release folder per
deployment under ``releases/`` (the model file and ``manifest.json``), and ``current``, a
symbolic link swapped atomically to the newest release (see ``core.deployments``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dockyard.core.audit import append_event
from dockyard.core.errors import InputError, NotFoundError
from dockyard.core.errors import NotPermittedError as NotPermittedError  # re-exported
from dockyard.core.workspace import Workspace, acting_user, engine_for

ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$", re.IGNORECASE)
MAX_APPROVALS = 10
DEPLOY_DIR = "deployments"


@dataclass(frozen=True)
class EnvironmentInfo:
    """One environment's rules; ``to_dict`` is the ``--json`` shape."""

    name: str
    approvals: int
    approvers: tuple[str, ...]
    protected: bool
    emergency_rollback: bool
    updated_by: str
    updated_at: datetime

    def folder(self, workspace: Workspace) -> Path:
        """Where this environment's deployed models live."""
        return workspace.home / DEPLOY_DIR / self.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "approvals": self.approvals,
            "approvers": list(self.approvers),
            "protected": self.protected,
            "emergency_rollback": self.emergency_rollback,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at.isoformat(),
        }


def check_env_name(name: str) -> str:
    if not ENV_NAME_RE.match(name or ""):
        raise InputError(
            f"{name!r} is not a valid environment name; use a lowercase word such as "
            "production (letters, digits, - and _, starting with a letter, at most 32)"
        )
    return name


def parse_approvers(text: str) -> tuple[str, ...]:
    """``alice,bob,@ml-leads`` -> sorted unique entries, each a user or ``@group``."""
    entries = [part.strip() for part in text.split(",") if part.strip()]
    for entry in entries:
        name = entry[1:] if entry.startswith("@") else entry
        if not USER_RE.match(name):
            raise InputError(
                f"{entry!r} is not a user name or @group; write names such as "
                "alice,bob,@ml-leads (letters, digits, _ . -, at most 32)"
            )
    return tuple(sorted(set(entries)))


def _info(row: Any) -> EnvironmentInfo:
    return EnvironmentInfo(
        name=row.name,
        approvals=row.approvals,
        approvers=tuple(json.loads(row.approvers_json)),
        protected=row.protected,
        emergency_rollback=row.emergency_rollback,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def list_environments(workspace: Workspace) -> list[EnvironmentInfo]:
    """Every declared environment, by name."""
    from sqlmodel import Session, col, select

    from dockyard.store.models import Environment

    with Session(engine_for(workspace)) as session:
        rows = session.exec(select(Environment).order_by(col(Environment.name))).all()
        return [_info(row) for row in rows]


def get_environment(workspace: Workspace, name: str) -> EnvironmentInfo:
    """The environment ``name``; an undeclared name is refused naming the declared ones."""
    from sqlmodel import Session

    with Session(engine_for(workspace)) as session:
        return _info(environment_row(session, name))


def environment_row(session: Any, name: str) -> Any:
    from sqlmodel import col, select

    from dockyard.store.models import Environment

    row = session.exec(select(Environment).where(Environment.name == name)).first()
    if row is None:
        known = session.exec(select(Environment.name).order_by(col(Environment.name))).all()
        listed = ", ".join(known) if known else "none yet"
        raise NotFoundError(
            f"environment {name!r} is not declared (declared: {listed}); "
            "see `dockyard env list`, declare one with `dockyard env set NAME`"
        )
    return row


def set_environment(
    workspace: Workspace,
    name: str,
    *,
    approvals: int | None = None,
    approvers: tuple[str, ...] | None = None,
    protected: bool | None = None,
    emergency_rollback: bool | None = None,
    actor: str | None = None,
) -> EnvironmentInfo:
    """Declare ``name`` or change its rules; the change is an audit event (``env.set``).

    A protected environment needs at least one approval, and only one of its listed
    approvers may change it (a requester cannot lower the bar for their own request).
    """
    from sqlmodel import Session, select

    from dockyard.core.audit import _lock_chain
    from dockyard.store.models import Environment, utcnow

    check_env_name(name)
    actor = actor or acting_user(workspace)
    if approvals is not None and not 0 <= approvals <= MAX_APPROVALS:
        raise InputError(f"--approvals must be between 0 and {MAX_APPROVALS}, not {approvals}")
    with Session(engine_for(workspace)) as session:
        _lock_chain(session)  # read and write under the write lock: no lost update
        row = session.exec(select(Environment).where(Environment.name == name)).first()
        before = None if row is None else _info(row).to_dict()
        if row is None:
            _refuse_hand_set_alias(session, name)
            row = Environment(name=name)
        elif row.protected and not is_approver(actor, _info(row).approvers, session):
            raise NotPermittedError(
                f"environment {name} is protected; only its approvers "
                f"({', '.join(_info(row).approvers)}) may change it, not {actor}"
            )
        if approvals is not None:
            row.approvals = approvals
        if approvers is not None:
            row.approvers_json = json.dumps(list(approvers))
        if protected is not None:
            row.protected = protected
        if emergency_rollback is not None:
            row.emergency_rollback = emergency_rollback
        listed = json.loads(row.approvers_json)
        if row.approvals > 0 and not listed:
            raise InputError(
                f"environment {name} needs {row.approvals} approval(s) but lists no approvers; "
                "add --approvers USER,@GROUP"
            )
        if row.protected and row.approvals < 1:
            raise InputError(f"a protected environment needs at least one approval ({name})")
        if row.emergency_rollback and not listed:
            raise InputError(
                f"emergency rollback is done by an approver, and {name} lists none; "
                "add --approvers USER,@GROUP"
            )
        row.updated_by, row.updated_at = actor, utcnow()
        session.add(row)
        session.flush()
        after = _info(row).to_dict()
        append_event(
            session,
            actor,
            "env.set",
            "environment",
            name,
            {
                "env": name,
                "before": before,
                "after": {k: v for k, v in after.items() if k not in ("updated_at",)},
            },
        )
        session.commit()
        return _info(row)


def _refuse_hand_set_alias(session: Any, name: str) -> None:
    """A new environment's name becomes an alias that only deployments move; an alias of
    that name set by hand would be overwritten, unnoticed, by the first deployment."""
    from sqlmodel import col, select

    from dockyard.store.models import ModelAlias, ModelVersion, RegisteredModel

    rows = session.exec(
        select(RegisteredModel.name, ModelVersion.version)
        .select_from(ModelAlias)
        .join(ModelVersion, col(ModelVersion.id) == ModelAlias.model_version_id)
        .join(RegisteredModel, col(RegisteredModel.id) == ModelAlias.model_id)
        .where(ModelAlias.alias == name)
        .order_by(col(RegisteredModel.name))
    ).all()
    if rows:
        named = ", ".join(f"{model}@{version}" for model, version in rows[:3])
        more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
        raise InputError(
            f"alias {name!r} is already set by hand on {named}{more}, and declaring "
            f"environment {name} would hand it to deployments; remove it first "
            f"(`dockyard model alias {rows[0][0]} {name} --remove`) or choose another name"
        )


def group_members(group: str) -> set[str]:
    """Users in OS group ``group``: its listed members and those whose primary group it is."""
    import grp
    import pwd

    try:
        entry = grp.getgrnam(group)
    except KeyError:
        return set()
    members = set(entry.gr_mem)
    members.update(p.pw_name for p in pwd.getpwall() if p.pw_gid == entry.gr_gid)
    return members


def is_approver(user: str, approvers: tuple[str, ...], session: Any = None) -> bool:
    """Whether ``user`` is listed by name or is in a listed ``@group``.

    A group is the OS group of that name, except on a PostgreSQL store (given its
    ``session``), where it is the database role of that name and membership is the
    server's (``pg_has_role``), asked through the same function its triggers use.
    """
    if session is not None and session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        return bool(
            session.execute(
                text("SELECT dockyard_is_approver(:who, :approvers)"),
                {"who": user, "approvers": json.dumps(list(approvers))},
            ).scalar()
        )
    for entry in approvers:
        if entry.startswith("@"):
            if user in group_members(entry[1:]):
                return True
        elif entry == user:
            return True
    return False
