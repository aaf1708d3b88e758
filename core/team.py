"""Who the current user is to the store, and what the store lets them do.

On PostgreSQL the answer is the database's: the login (``current_user``), its role
memberships, its privileges and the rules the migrations' triggers hold it to (revision
0008; docs/team.md, Roles). On SQLite there are no logins: the OS account acts, Dockyard's
own code applies the rules, and nothing stops whoever can write the file from editing it
(the audit chain and its witness make that detectable, not impossible).

Nothing here writes: ``team_check`` asks, it never tries.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from dockyard.core.workspace import Workspace, is_postgresql, os_user, reader_for

ENVIRONMENTS_SQL = (
    "SELECT name, approvals, approvers_json, emergency_rollback FROM environment ORDER BY name"
)
#: The roles the login belongs to, through any chain of grants (not every role, as
#: ``pg_has_role`` would answer for a superuser).
MEMBERSHIPS_SQL = """
WITH RECURSIVE granted(oid) AS (
    SELECT roleid FROM pg_auth_members
    WHERE member = (SELECT oid FROM pg_roles WHERE rolname = current_user)
    UNION
    SELECT m.roleid FROM pg_auth_members AS m JOIN granted AS g ON m.member = g.oid
)
SELECT CAST(rolname AS TEXT) AS name FROM pg_roles
WHERE oid IN (SELECT oid FROM granted) ORDER BY rolname
"""
PRIVILEGES_SQL = """
SELECT CAST(current_user AS TEXT) AS name,
       dockyard_is_admin() AS admin,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       has_table_privilege('deployment_request', 'INSERT') AS insert_request,
       has_table_privilege('approval', 'INSERT') AS insert_approval,
       has_table_privilege('audit_event', 'INSERT') AS insert_audit,
       has_table_privilege('audit_event', 'UPDATE') AS update_audit,
       has_table_privilege('audit_event', 'DELETE') AS delete_audit
"""


@dataclass(frozen=True)
class EnvironmentRights:
    """What the current user may do in one environment.

    ``roll_back`` is ``no``, ``request`` (a rollback is a request like any other) or
    ``alone`` (an approver of an environment that allows emergency rollback).
    """

    name: str
    may_request: bool
    may_approve: bool
    roll_back: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "may_request": self.may_request,
            "may_approve": self.may_approve,
            "roll_back": self.roll_back,
        }


@dataclass(frozen=True)
class TeamReport:
    """``dockyard team check``: the backend, who acts, and what they may do.

    ``role`` is ``admin`` (the rules do not hold it: it owns the tables), ``approver``
    (listed for at least one environment), ``member`` or, on a login that may not even
    request, ``reader``.
    """

    backend: str
    enforced: bool
    user: str
    role: str
    memberships: tuple[str, ...]
    may_alter_audit: bool
    audit: str
    environments: tuple[EnvironmentRights, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "enforced_by_database": self.enforced,
            "user": self.user,
            "role": self.role,
            "memberships": list(self.memberships),
            "may_alter_audit": self.may_alter_audit,
            "audit": self.audit,
            "environments": [e.to_dict() for e in self.environments],
            "note": self.note,
        }


def team_check(workspace: Workspace) -> TeamReport:
    """What the acting user of ``workspace`` may do: per environment request, approve and
    roll back, and whether they may alter the audit log; read-only."""
    if is_postgresql(workspace):
        return _postgresql(workspace)
    return _sqlite(workspace)


def _rights(
    environments: list[dict[str, Any]], approver: list[bool], may_request: bool
) -> tuple[EnvironmentRights, ...]:
    out = []
    for row, listed in zip(environments, approver, strict=True):
        alone = listed and bool(row["emergency_rollback"])
        out.append(
            EnvironmentRights(
                name=row["name"],
                may_request=may_request,
                may_approve=listed,
                roll_back="alone" if alone and may_request else "request" if may_request else "no",
            )
        )
    return tuple(out)


def _role(admin: bool, rights: tuple[EnvironmentRights, ...], may_request: bool) -> str:
    if admin:
        return "admin"
    if any(r.may_approve for r in rights):
        return "approver"
    return "member" if may_request else "reader"


def _postgresql(workspace: Workspace) -> TeamReport:
    reader = reader_for(workspace)
    me = reader.fetch_one(PRIVILEGES_SQL)
    assert me is not None
    memberships = tuple(r["name"] for r in reader.fetch_all(MEMBERSHIPS_SQL))
    environments = reader.fetch_all(
        "SELECT name, approvals, approvers_json, emergency_rollback,"
        " dockyard_is_approver(current_user, approvers_json) AS approver"
        " FROM environment ORDER BY name"
    )
    may_request = bool(me["insert_request"] and me["insert_audit"])
    approver = [bool(e["approver"]) and bool(me["insert_approval"]) for e in environments]
    rights = _rights(environments, approver, may_request)
    admin = bool(me["admin"])
    # The triggers refuse every change of the audit table to all but the admin, whatever
    # the grants say; the admin owns the table (and could disable the triggers anyway).
    may_alter = admin and bool(me["update_audit"] or me["delete_audit"])
    if may_alter:
        audit = "may alter it (admin: owns the table; `dockyard audit verify` detects it)"
    elif admin:
        audit = "append only (no UPDATE or DELETE granted)"
    else:
        audit = "append only (may not alter it: the database refuses)"
    who = "superuser" if me["superuser"] else "owns the tables" if admin else ""
    return TeamReport(
        backend="postgresql",
        enforced=True,
        user=me["name"],
        role=_role(admin, rights, may_request),
        memberships=memberships,
        may_alter_audit=may_alter,
        audit=audit,
        environments=rights,
        note=(
            "the database enforces identities and the four-eyes rule"
            + (f"; this login is exempt ({who})" if admin else "")
        ),
    )


def _sqlite(workspace: Workspace) -> TeamReport:
    import grp

    from dockyard.core.environments import is_approver

    reader = reader_for(workspace)
    environments = reader.fetch_all(ENVIRONMENTS_SQL)
    user = os_user()
    gids = {os.getegid(), *os.getgroups()}
    groups = sorted({g.gr_name for g in grp.getgrall() if g.gr_gid in gids})
    approver = [
        is_approver(user, tuple(json.loads(e["approvers_json"] or "[]"))) for e in environments
    ]
    rights = _rights(environments, approver, True)
    path = workspace.db_path
    writable = path is not None and os.access(path, os.W_OK)
    return TeamReport(
        backend="sqlite",
        enforced=False,
        user=user,
        role=_role(False, rights, True),
        memberships=tuple(groups),
        may_alter_audit=writable,
        audit=(
            "not prevented: whoever can write the file can edit it; `dockyard audit verify` "
            "detects it"
            if writable
            else "the file is read-only for this account"
        ),
        environments=rights,
        note=(
            "identities are not enforced by the database on SQLite: the OS account acts, "
            "and Dockyard's own code applies the rules"
        ),
    )
