"""PostgreSQL only: ``run_change``, a counter every statement that can change how many runs
a list shows moves in the same transaction (a no-op on SQLite)

Revision ID: 0011
Revises: 0010

The Runs pane shows its total on every refresh (every 2 s). PostgreSQL counts 100,000 runs
by reading 100,000 index entries each time (about 10 ms of server CPU per TUI per refresh);
SQLite's covering-index count is fast enough and keeps doing it. With this marker a
PostgreSQL reader keeps the total it counted together with the marker it read in the same
statement, and counts again only when the marker has moved (``store.queries.runs_page``):
the total is exact, never an estimate.

What moves it: an INSERT, DELETE or TRUNCATE of ``run``, or an UPDATE that sets
``archived_at`` (archiving and restoring), once per statement. A status change does not:
the running runs are counted on every refresh (an index range of a few rows), and the
others are the total minus them. The marker is a row of a table, not a sequence, so that
it moves when the change commits, for every reader, and not before.

The function runs as the tables' owner (``SECURITY DEFINER``, fixed ``search_path``), so
a member who may insert runs moves the marker whatever privileges the team granted on
this table; everyone may read it (it says only that runs changed).
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.execute(text("SELECT quote_ident(current_schema())")).scalar_one()
    op.execute("CREATE TABLE run_change (id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL)")
    op.execute("INSERT INTO run_change (id, n) VALUES (1, 0)")
    op.execute("GRANT SELECT ON run_change TO PUBLIC")
    op.execute(
        f"""
        CREATE FUNCTION dockyard_run_changed() RETURNS trigger LANGUAGE plpgsql
        SECURITY DEFINER SET search_path = pg_catalog, {schema} AS $$
        BEGIN
            UPDATE run_change SET n = n + 1 WHERE id = 1;
            RETURN NULL;
        END
        $$"""
    )
    op.execute(
        "CREATE TRIGGER run_change_marker"
        " AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF archived_at ON run"
        " FOR EACH STATEMENT EXECUTE FUNCTION dockyard_run_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS run_change_marker ON run")
    op.execute("DROP FUNCTION IF EXISTS dockyard_run_changed()")
    op.execute("DROP TABLE IF EXISTS run_change")
