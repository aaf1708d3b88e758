"""Identities on PostgreSQL: each person's login acts, and the database holds the rules.

The roles are made by running the SQL of docs/team.md ("Roles") as it is written (only the
passwords are filled in), so the page a team follows is the page that is tested. The
admin creates the schema (its migrations install the triggers); alice, bob and carol are
members, bob an approver of production by name and carol through the role ``reviewers``;
erin is a member on no list. Refusals are checked both through Dockyard and with raw SQL
as each login, as someone bypassing Dockyard would write it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.deployments import approve_request, request_deployment, rollback
from dockyard.core.environments import NotPermittedError, set_environment
from dockyard.core.workspace import Workspace, find_workspace, init_workspace
from tests.test_cli import dockyard, one_line_error

pytestmark = [pytest.mark.xdist_group("team")]

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = ("alice", "bob", "carol", "erin")
DB = "dockyard"


def _role_sql() -> tuple[list[str], list[str]]:
    """The two SQL blocks of docs/team.md's Roles section: as a superuser, then as the
    admin in the new database; each a list of statements."""
    text = (ROOT / "docs" / "team.md").read_text()
    section = text.split("\n## Roles\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "docs/team.md's Roles section should hold two SQL blocks"
    return tuple(  # type: ignore[return-value]
        [s.strip() for s in block.split(";\n") if s.strip()] for block in blocks
    )


def _connect(server: Any, user: str, database: str = DB) -> Any:
    import psycopg

    from tests.pg_server import PASSWORD

    return psycopg.connect(
        f"host=127.0.0.1 port={server.port} dbname={database} user={user} password={PASSWORD}",
        autocommit=True,
    )


def _as(team: dict[str, Any], user: str) -> Workspace:
    """The shared workspace folder, with the store opened as ``user``'s login."""
    url = team["server"].url(DB, user=user)
    return find_workspace(home=team["root"], env={"DOCKYARD_DB": url})


def _seed_models(admin: Workspace) -> None:
    """A project and two finished runs with real (tiny) model files, registered as
    iris-clf@1 and @2; written as the admin, no training process."""
    import hashlib

    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sqlmodel import Session

    from dockyard.core.projects import ProjectSpec
    from dockyard.core.registry import register_version
    from dockyard.core.workspace import engine_for
    from dockyard.store.models import Artifact, Metric, Project, Run

    spec = ProjectSpec.from_json(
        json.dumps({"name": "iris", "entry": "python train.py", "primary_metric": "accuracy"})
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    with Session(engine_for(admin)) as session:
        session.add(Project(name="iris", path=str(admin.root), entry="python train.py",
                            spec_json=spec.to_json(), spec_hash="h"))  # fmt: skip
        session.flush()
        for run_id, (c, accuracy) in enumerate(((1.0, 0.90), (0.5, 0.95)), start=1):
            data = sio.dumps(LogisticRegression(C=c).fit(X, y))
            sha = hashlib.sha256(data).hexdigest()
            admin.objects.mkdir(parents=True, exist_ok=True)
            (admin.objects / sha).write_bytes(data)
            session.add(Run(id=run_id, project_id=1, status="finished", user="alice",
                            primary_metric="accuracy", primary_value=accuracy))  # fmt: skip
            session.flush()
            session.add(Metric(run_id=run_id, key="accuracy", step=0, value=accuracy,
                               timestamp=0.0))  # fmt: skip
            session.add(Artifact(run_id=run_id, name="model.skops", kind="model", sha256=sha,
                                 size_bytes=len(data), object_path=f"objects/{sha}",
                                 file_format="skops"))  # fmt: skip
        session.commit()
    for run_id in (1, 2):
        register_version(admin, run_id, "iris-clf")


@pytest.fixture(scope="module")
def team(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from tests.pg_server import PASSWORD

    as_superuser, as_admin = _role_sql()
    with _connect(pg_server, "dockyard", "postgres") as conn:
        for statement in as_superuser:
            conn.execute(statement.replace("'...'", f"'{PASSWORD}'"))
        conn.execute(f"CREATE ROLE erin LOGIN PASSWORD '{PASSWORD}' IN ROLE dockyard_member")
        conn.execute(f"CREATE ROLE sloppy LOGIN PASSWORD '{PASSWORD}'")
    root = tmp_path_factory.mktemp("team") / "ws"
    # the admin's first command creates the schema: the admin owns the tables
    admin = init_workspace(root, env={}, db=pg_server.url(DB, user="dockyard_admin"))
    with _connect(pg_server, "dockyard_admin") as conn:
        for statement in as_admin:
            conn.execute(statement)
        conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO sloppy")  # a careless grant
    _seed_models(admin)
    set_environment(admin, "staging", approvals=0)
    set_environment(admin, "production", approvals=1, approvers=("bob", "@reviewers"),
                    protected=True, emergency_rollback=True)  # fmt: skip
    yield {"server": pg_server, "root": root, "admin": admin}
    from tests.conftest import _forget_store

    for user in ("dockyard_admin", *MEMBERS):
        _forget_store(pg_server.url(DB, user=user))
    with _connect(pg_server, "dockyard", "postgres") as conn:
        conn.execute(f"DROP DATABASE {DB} WITH (FORCE)")
        for role in (*MEMBERS, "sloppy", "reviewers", "dockyard_member", "dockyard_admin"):
            conn.execute(f"DROP ROLE {role}")


def _refused(conn: Any, statement: str, *params: object) -> str:
    """The message of the database's refusal of ``statement`` (it must be refused)."""
    import psycopg

    with pytest.raises(psycopg.Error) as caught:
        conn.execute(statement, params)
    error = caught.value
    assert error.sqlstate in ("DY001", "42501"), error
    return str(error.diag.message_primary)


APPROVE = (
    "INSERT INTO approval (request_id, reviewer, decision, comment, override_reason, "
    "created_at) VALUES (%s, %s, 'approve', '', '', now())"
)


def test_the_admin_runs_the_migrations_and_owns_what_they_made(team: dict[str, Any]) -> None:
    from dockyard.store.schema import HEAD_REVISION

    with _connect(team["server"], "alice") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (
            HEAD_REVISION,
        )
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        assert owners == [("dockyard_admin",)]
        triggers = {r[0] for r in conn.execute("SELECT tgname FROM pg_trigger")}
        assert {"dockyard_approval_rules", "dockyard_audit_append_only"} <= triggers
        # a member cannot undo them
        assert "owner" in _refused(conn, "DROP TRIGGER dockyard_approval_rules ON approval")


def test_the_requester_cannot_approve_even_by_writing_sql(team: dict[str, Any]) -> None:
    alice = _as(team, "alice")
    request = request_deployment(alice, "iris-clf@1", "production", "ship it").request
    assert request.requested_by == "alice"  # the login, whatever the OS account is
    with pytest.raises(NotPermittedError, match=r"alice requested .* cannot approve"):
        approve_request(alice, request.id)  # Dockyard's own check
    with _connect(team["server"], "alice") as conn:  # Dockyard bypassed
        assert "alice requested" in _refused(conn, APPROVE, request.id, "alice")
        assert "may not record a decision as bob" in _refused(conn, APPROVE, request.id, "bob")
        assert "0 approval(s)" in _refused(
            conn, "UPDATE deployment_request SET status = 'approved' WHERE id = %s", request.id
        )
        assert "never changed" in _refused(
            conn, "UPDATE deployment_request SET requested_by = 'carol' WHERE id = %s", request.id
        )
        assert "request a deployment as bob" in _refused(
            conn,
            "INSERT INTO deployment_request (model_version_id, target, status, requested_by,"
            " reason, checks_json, requested_at, kind, input_schema_json)"
            " VALUES (1, 'production', 'pending', 'bob', '', '[]', now(), 'deploy', 'null')",
        )
        assert "approved request" in _refused(
            conn,
            "INSERT INTO deployment (request_id, model_version_id, target, status, deployed_by,"
            " deployed_at, path, manifest_json) VALUES (%s, 1, 'production', 'switching',"
            " 'alice', now(), '', '{}')",
            request.id,
        )
        assert conn.execute(
            "SELECT count(*) FROM approval WHERE request_id = %s", (request.id,)
        ).fetchone() == (0,)


def test_a_member_off_the_list_is_refused_and_a_forged_name_is_one_line(
    team: dict[str, Any],
) -> None:
    from dockyard.core.overview import waiting_for
    from dockyard.core.workspace import reader_for

    request = request_deployment(_as(team, "alice"), "iris-clf@1", "production").request
    erin = _as(team, "erin")
    # the home screen's "waiting for you" asks the login, not the OS account it is given
    assert waiting_for(reader_for(erin), "carol") == 0
    assert waiting_for(reader_for(_as(team, "carol")), "erin") >= 1
    with _connect(team["server"], "erin") as conn:
        assert "erin is not an approver of production" in _refused(
            conn, APPROVE, request.id, "erin"
        )
    # Dockyard's check passes for the name bob; the database knows the login is erin's
    with pytest.raises(NotPermittedError, match="refused by the database: erin may not"):
        approve_request(erin, request.id, actor="bob")
    env = {"DOCKYARD_DB": team["server"].url(DB, user="erin"), "DOCKYARD_HOME": str(team["root"])}
    result = dockyard("deploy", "approve", str(request.id), env=env, cwd=team["root"])
    assert result.returncode == 1
    assert "erin is not an approver of production" in one_line_error(result)
    with pytest.raises(NotPermittedError, match="protected"):
        set_environment(erin, "production", approvals=0)
    with _connect(team["server"], "erin") as conn:
        assert "protected" in _refused(
            conn, "UPDATE environment SET approvals = 0 WHERE name = 'production'"
        )


@pytest.mark.slow
def test_approvers_by_name_and_by_role_deploy_and_roll_back(team: dict[str, Any]) -> None:
    alice, bob = _as(team, "alice"), _as(team, "bob")
    first = request_deployment(alice, "iris-clf@1", "production").request
    done = approve_request(bob, first.id, "ok")
    assert done.deployment is not None and done.deployment.deployed_by == "bob"
    assert done.request.approvals[0].reviewer == "bob"
    second = request_deployment(alice, "iris-clf@2", "production").request
    # carol through the role reviewers, as a real process that names only her login
    env = {"DOCKYARD_DB": team["server"].url(DB, user="carol"), "DOCKYARD_HOME": str(team["root"])}
    result = dockyard("deploy", "approve", str(second.id), "-m", "fine", env=env, cwd=team["root"])
    assert result.returncode == 0, result.stderr
    # an emergency rollback: bob requests it and deploys it alone, which the rules allow
    back = rollback(bob, "production", "iris-clf", "pager")
    assert back.deployment is not None and back.deployment.version == 1
    assert back.request.requested_by == "bob" and back.request.approved_by == ["bob"]
    with _connect(team["server"], "alice") as conn:
        actors = {r[0] for r in conn.execute("SELECT DISTINCT actor FROM audit_event")}
    assert {"alice", "bob", "carol"} <= actors
    verified = dockyard("audit", "verify", env=env, cwd=team["root"])
    assert verified.returncode == 0, verified.stderr


def test_members_cannot_change_the_audit_log(team: dict[str, Any]) -> None:
    with _connect(team["server"], "alice") as conn:
        assert "permission denied" in _refused(conn, "UPDATE audit_event SET actor = 'x'")
        assert "permission denied" in _refused(conn, "DELETE FROM audit_event")
        assert "may not write an audit event as bob" in _refused(
            conn,
            "INSERT INTO audit_event (at, actor, action, entity_type, entity_id, details_json,"
            " prev_hash, hash) VALUES (now(), 'bob', 'x', 'x', 'x', '{}', '', 'forged')",
        )
    # a role granted everything by mistake is still refused, by the trigger
    with _connect(team["server"], "sloppy") as conn:
        assert "append-only" in _refused(conn, "UPDATE audit_event SET actor = 'x'")
        assert "append-only" in _refused(conn, "DELETE FROM audit_event")
        assert "append-only" in _refused(conn, "TRUNCATE audit_event")
    # the admin owns the table: exempt (it could disable the trigger anyway)
    with _connect(team["server"], "dockyard_admin") as conn, conn.transaction(force_rollback=True):
        assert conn.execute("UPDATE audit_event SET actor = actor").rowcount > 0


def _check(team: dict[str, Any], user: str) -> dict[str, Any]:
    env = {"DOCKYARD_DB": team["server"].url(DB, user=user), "DOCKYARD_HOME": str(team["root"])}
    result = dockyard("team", "check", "--json", env=env, cwd=team["root"])
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_team_check_says_what_each_login_may_do(team: dict[str, Any]) -> None:
    def rights(report: dict[str, Any]) -> dict[str, tuple[bool, bool, str]]:
        return {
            e["name"]: (e["may_request"], e["may_approve"], e["roll_back"])
            for e in report["environments"]
        }

    alice = _check(team, "alice")
    assert (alice["backend"], alice["user"], alice["role"]) == ("postgresql", "alice", "member")
    assert alice["memberships"] == ["dockyard_member"] and not alice["may_alter_audit"]
    assert rights(alice) == {
        "production": (True, False, "request"),
        "staging": (True, False, "request"),
    }
    bob = _check(team, "bob")
    assert bob["role"] == "approver" and rights(bob)["production"] == (True, True, "alone")
    carol = _check(team, "carol")
    assert carol["memberships"] == ["dockyard_member", "reviewers"]
    assert rights(carol)["production"] == (True, True, "alone") and not carol["may_alter_audit"]
    admin = _check(team, "dockyard_admin")
    assert admin["role"] == "admin" and admin["may_alter_audit"]
    env = {"DOCKYARD_DB": team["server"].url(DB, user="carol"), "DOCKYARD_HOME": str(team["root"])}
    text = dockyard("team", "check", env=env, cwd=team["root"])
    assert text.returncode == 0
    assert "role        carol (approver)" in text.stdout
    assert "may not alter it" in text.stdout
    assert re.search(r"production\s+yes\s+yes\s+request \(emergency: alone\)", text.stdout)


def test_team_check_on_sqlite_says_the_database_enforces_nothing(tmp_path: Path) -> None:
    init_workspace(tmp_path, env={})
    result = dockyard("team", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "backend     sqlite" in result.stdout
    assert "not enforced by the database" in result.stdout
    report = json.loads(dockyard("team", "check", "--json", cwd=tmp_path).stdout)
    assert report["enforced_by_database"] is False and report["environments"] == []


def test_migration_0008_downgrades_and_upgrades_on_both_engines(
    tmp_path: Path, pg_url: str
) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from dockyard.store.db import MIGRATIONS_DIR, open_engine

    def triggers(engine: Any) -> int:
        if engine.dialect.name == "sqlite":
            query = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'dockyard%'"
        with engine.connect() as conn:
            return int(conn.execute(text(query)).scalar_one())

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    for url, installed in ((f"sqlite:///{tmp_path / 'd.db'}", 0), (pg_url, 7)):
        engine = open_engine(url)
        try:
            assert triggers(engine) == installed
            for target, expected in (("0007", 0), ("head", installed)):
                with engine.begin() as conn:
                    config.attributes["connection"] = conn
                    (command.downgrade if target == "0007" else command.upgrade)(config, target)
                assert triggers(engine) == expected
        finally:
            engine.dispose()


def test_a_member_opening_a_store_behind_the_code_is_told_to_ask_the_admin(
    team: dict[str, Any],
) -> None:
    from dockyard.store.schema import HEAD_REVISION

    env = {"DOCKYARD_DB": team["server"].url(DB, user="alice"), "DOCKYARD_HOME": str(team["root"])}
    with _connect(team["server"], "dockyard_admin") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0007'")
        try:
            result = dockyard("team", "check", env=env, cwd=team["root"])
        finally:
            conn.execute("UPDATE alembic_version SET version_num = %s", (HEAD_REVISION,))
    assert result.returncode == 1
    line = one_line_error(result)
    assert "revision 0007" in line and "as the admin role" in line


def test_every_test_the_when_something_is_wrong_table_names_exists() -> None:
    """The table of docs/team.md that says which test proves each bad-input case must not
    name a test that was renamed or removed."""
    text = (ROOT / "docs" / "team.md").read_text()
    section = text.split("\n## When something is wrong\n", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", section)
    assert len(named) >= 8
    for path, name in named:
        assert f"\ndef {name}(" in (ROOT / path).read_text(), f"{path}::{name}"
