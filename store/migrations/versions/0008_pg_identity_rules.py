"""PostgreSQL only: the database login is the acting user, and the database itself keeps
the four-eyes rule and the append-only audit table (a no-op on SQLite)

Revision ID: 0008
Revises: 0007

Triggers, not row-level security: a policy can refuse a row but cannot say why, and it
does not hold the table's owner unless forced. A trigger says what it refused in one line
(SQLSTATE ``DY001``, which ``core.workspace`` turns into a ``NotPermittedError``).

Who is exempt: a superuser and any role that is a member of the role owning the tables
(the admin role that runs the migrations). They could drop or disable these triggers
anyway (an owner always can), so exempting them hides nothing; it lets the admin repair
a store and lets the test suite act as several users from one login. Everyone else is a
member, held to the rules below. The functions are ``SECURITY INVOKER`` (the default):
inside them ``current_user`` is the member's own login, never the owner's. Their
``search_path`` is fixed, so that a member cannot shadow ``pg_has_role`` with a function
of their own.
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The SQLSTATE of every refusal below (class "DY" is Dockyard's own).
REFUSED = "DY001"

#: (trigger name, table, timing and events, level, function)
TRIGGERS = (
    ("dockyard_approval_rules", "approval", "BEFORE INSERT OR UPDATE", "ROW",
     "dockyard_check_approval"),
    ("dockyard_request_rules", "deployment_request", "BEFORE INSERT OR UPDATE", "ROW",
     "dockyard_check_request"),
    ("dockyard_deployment_rules", "deployment", "BEFORE INSERT OR UPDATE", "ROW",
     "dockyard_check_deployment"),
    ("dockyard_environment_rules", "environment", "BEFORE INSERT OR UPDATE OR DELETE", "ROW",
     "dockyard_check_environment"),
    ("dockyard_audit_insert", "audit_event", "BEFORE INSERT", "ROW",
     "dockyard_check_audit_insert"),
    ("dockyard_audit_append_only", "audit_event", "BEFORE UPDATE OR DELETE", "ROW",
     "dockyard_refuse_audit_change"),
    ("dockyard_audit_no_truncate", "audit_event", "BEFORE TRUNCATE", "STATEMENT",
     "dockyard_refuse_audit_change"),
)  # fmt: skip

FUNCTIONS = (
    "dockyard_check_approval()",
    "dockyard_check_request()",
    "dockyard_check_deployment()",
    "dockyard_check_environment()",
    "dockyard_check_audit_insert()",
    "dockyard_refuse_audit_change()",
    "dockyard_is_approver(text, text)",
    "dockyard_is_admin()",
)


def _functions(schema: str) -> list[str]:
    # every function reads the tables of the migrated schema, and pg_catalog first
    path = f"SET search_path = pg_catalog, {schema}"
    refuse = f"USING ERRCODE = '{REFUSED}'"
    return [
        f"""
        CREATE FUNCTION dockyard_is_admin() RETURNS boolean LANGUAGE sql STABLE {path} AS $$
            SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper)
                OR pg_has_role(current_user,
                               (SELECT relowner FROM pg_class
                                WHERE oid = 'audit_event'::regclass), 'MEMBER')
        $$""",
        # an entry is a login name, or @ROLE: every member of that role (directly or
        # through other roles); role names that do not exist match nobody
        f"""
        CREATE FUNCTION dockyard_is_approver(who text, approvers text) RETURNS boolean
        LANGUAGE sql STABLE {path} AS $$
            SELECT EXISTS (
                SELECT 1 FROM json_array_elements_text(CAST(approvers AS json)) AS e(entry)
                WHERE e.entry = who
                   OR (left(e.entry, 1) = '@' AND EXISTS (
                        SELECT 1 FROM pg_roles AS w, pg_roles AS g
                        WHERE w.rolname = who AND g.rolname = substr(e.entry, 2)
                          AND pg_has_role(w.oid, g.oid, 'MEMBER')))
            )
        $$""",
        f"""
        CREATE FUNCTION dockyard_check_approval() RETURNS trigger LANGUAGE plpgsql {path} AS $$
        DECLARE
            req record;
            env record;
        BEGIN
            IF dockyard_is_admin() THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'UPDATE' THEN
                RAISE EXCEPTION 'a recorded decision is never changed (% may not edit it)',
                    current_user {refuse};
            END IF;
            IF NEW.reviewer IS DISTINCT FROM current_user THEN
                RAISE EXCEPTION
                    '% may not record a decision as %: the database login is who decides',
                    current_user, NEW.reviewer {refuse};
            END IF;
            SELECT requested_by, kind, target INTO req
                FROM deployment_request WHERE id = NEW.request_id;
            IF NOT FOUND THEN
                RETURN NEW;  -- the foreign key refuses it
            END IF;
            SELECT approvers_json, emergency_rollback INTO env
                FROM environment WHERE name = req.target;
            IF NEW.decision = 'approve' THEN
                IF NEW.reviewer = req.requested_by AND NOT (
                        req.kind = 'rollback' AND COALESCE(env.emergency_rollback, false)
                        AND dockyard_is_approver(NEW.reviewer, env.approvers_json)) THEN
                    RAISE EXCEPTION '% requested % and cannot approve it; another approver must',
                        NEW.reviewer, NEW.request_id {refuse};
                END IF;
                IF NOT COALESCE(dockyard_is_approver(NEW.reviewer, env.approvers_json), false)
                THEN
                    RAISE EXCEPTION '% is not an approver of % (approvers: %)',
                        NEW.reviewer, req.target, COALESCE(env.approvers_json, '[]') {refuse};
                END IF;
            ELSIF NEW.decision = 'reject' THEN
                IF NEW.reviewer <> req.requested_by
                        AND NOT COALESCE(dockyard_is_approver(NEW.reviewer, env.approvers_json),
                                         false) THEN
                    RAISE EXCEPTION
                        '% is not an approver of % and did not make request %; only they may '
                        'reject it', NEW.reviewer, req.target, NEW.request_id {refuse};
                END IF;
            ELSE
                RAISE EXCEPTION 'a decision is approve or reject, not %', NEW.decision {refuse};
            END IF;
            RETURN NEW;
        END
        $$""",
        f"""
        CREATE FUNCTION dockyard_check_request() RETURNS trigger LANGUAGE plpgsql {path} AS $$
        DECLARE
            env record;
            approved integer;
        BEGIN
            IF dockyard_is_admin() THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'INSERT' THEN
                IF NEW.requested_by IS DISTINCT FROM current_user THEN
                    RAISE EXCEPTION '% may not request a deployment as %: the database login is '
                        'who requests', current_user, NEW.requested_by {refuse};
                END IF;
                IF NEW.status <> 'pending' THEN
                    RAISE EXCEPTION 'a new request is pending, not %', NEW.status {refuse};
                END IF;
                RETURN NEW;
            END IF;
            IF NEW.requested_by IS DISTINCT FROM OLD.requested_by
                    OR NEW.target IS DISTINCT FROM OLD.target
                    OR NEW.kind IS DISTINCT FROM OLD.kind
                    OR NEW.model_version_id IS DISTINCT FROM OLD.model_version_id THEN
                RAISE EXCEPTION 'who made request %, and what for, is never changed', OLD.id
                    {refuse};
            END IF;
            IF NEW.status = 'approved' AND OLD.status <> 'approved' THEN
                SELECT approvals, emergency_rollback INTO env
                    FROM environment WHERE name = NEW.target;
                SELECT count(DISTINCT reviewer) INTO approved
                    FROM approval WHERE request_id = NEW.id AND decision = 'approve';
                IF NOT (approved >= COALESCE(env.approvals, 1)
                        OR (NEW.kind = 'rollback' AND COALESCE(env.emergency_rollback, false)
                            AND approved >= 1)) THEN
                    RAISE EXCEPTION 'request % has % approval(s) of the % % needs',
                        NEW.id, approved, COALESCE(env.approvals, 1), NEW.target {refuse};
                END IF;
            END IF;
            RETURN NEW;
        END
        $$""",
        # a switching deployment is completed by the next command anyone runs, so only an
        # approved request (or one for an environment that needs no approval) may start one
        f"""
        CREATE FUNCTION dockyard_check_deployment() RETURNS trigger LANGUAGE plpgsql {path}
        AS $$
        DECLARE
            req record;
            needed integer;
        BEGIN
            IF dockyard_is_admin() THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'UPDATE' THEN
                IF NEW.request_id IS DISTINCT FROM OLD.request_id
                        OR NEW.model_version_id IS DISTINCT FROM OLD.model_version_id
                        OR NEW.target IS DISTINCT FROM OLD.target
                        OR (NEW.status = 'switching' AND OLD.status <> 'switching') THEN
                    RAISE EXCEPTION 'deployment % is never pointed at another request, version '
                        'or environment, nor restarted', OLD.id {refuse};
                END IF;
                RETURN NEW;
            END IF;
            IF NEW.deployed_by IS DISTINCT FROM current_user THEN
                RAISE EXCEPTION '% may not deploy as %: the database login is who deploys',
                    current_user, NEW.deployed_by {refuse};
            END IF;
            SELECT status, target, model_version_id INTO req
                FROM deployment_request WHERE id = NEW.request_id;
            SELECT approvals INTO needed FROM environment WHERE name = NEW.target;
            IF NOT FOUND OR req.status IS NULL OR req.target <> NEW.target
                    OR req.model_version_id <> NEW.model_version_id
                    OR NOT (req.status = 'approved'
                            OR (req.status = 'pending' AND needed = 0)) THEN
                RAISE EXCEPTION 'a deployment needs an approved request for that version and '
                    'environment' {refuse};
            END IF;
            RETURN NEW;
        END
        $$""",
        f"""
        CREATE FUNCTION dockyard_check_environment() RETURNS trigger LANGUAGE plpgsql {path}
        AS $$
        BEGIN
            IF dockyard_is_admin() THEN
                IF TG_OP = 'DELETE' THEN
                    RETURN OLD;
                END IF;
                RETURN NEW;
            END IF;
            IF TG_OP <> 'INSERT' AND OLD.protected
                    AND NOT dockyard_is_approver(current_user, OLD.approvers_json) THEN
                RAISE EXCEPTION 'environment % is protected; only its approvers (%) may change '
                    'it, not %', OLD.name, OLD.approvers_json, current_user {refuse};
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            IF NEW.updated_by IS DISTINCT FROM current_user THEN
                RAISE EXCEPTION '% may not change an environment as %', current_user,
                    NEW.updated_by {refuse};
            END IF;
            RETURN NEW;
        END
        $$""",
        f"""
        CREATE FUNCTION dockyard_check_audit_insert() RETURNS trigger LANGUAGE plpgsql {path}
        AS $$
        BEGIN
            IF NEW.actor IS DISTINCT FROM current_user AND NOT dockyard_is_admin() THEN
                RAISE EXCEPTION '% may not write an audit event as %: the database login is '
                    'the actor', current_user, NEW.actor {refuse};
            END IF;
            RETURN NEW;
        END
        $$""",
        f"""
        CREATE FUNCTION dockyard_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql {path}
        AS $$
        BEGIN
            IF NOT dockyard_is_admin() THEN
                RAISE EXCEPTION 'the audit log is append-only: % may not % its events',
                    current_user, lower(TG_OP) {refuse};
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END
        $$""",
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if op.get_context().dialect.name != "postgresql":
        return  # SQLite has no logins: the OS account acts (decision 24)
    schema = bind.execute(text("SELECT quote_ident(current_schema())")).scalar_one()
    for statement in _functions(schema):
        op.execute(statement)
    for name, table, events, level, function in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} {events} ON {table} FOR EACH {level} EXECUTE FUNCTION "
            f"{function}()"
        )
    # Members get INSERT and SELECT on the audit table only (docs/team.md); the trigger
    # above also covers a role given more by mistake, and the table's owner.
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM PUBLIC")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for name, table, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
