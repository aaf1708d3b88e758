"""PostgreSQL only: ``metric.run_id`` is checked once per statement instead of once per row
(a no-op on SQLite)

Revision ID: 0012
Revises: 0011

The foreign key ``metric_run_id_fkey`` costs the server more than half of its CPU per
tracked point: PostgreSQL queues one check for every row a ``COPY`` adds and runs them one
by one at the end of the statement, although a batch of 10,000 points names a single run
(docs/performance.md, "Tracking into PostgreSQL"). These triggers keep the same guarantee
with one query per statement (docs/architecture.md, the decision on this migration):

* after an INSERT (``COPY`` included) or UPDATE of ``metric``, the distinct run ids of the
  statement's new rows must all be rows of ``run``, and those rows are locked
  ``FOR KEY SHARE`` as the foreign key locks them, so that a concurrent delete of the run
  waits for this transaction, and fails if the points commit;
* after a DELETE of ``run`` (and an UPDATE of its id, and a TRUNCATE), no point may still
  name a run that is gone. The foreign key had no ``ON DELETE`` action: a run that still
  has points is refused, as before; ``dockyard run delete`` removes the points first.

The functions run as the tables' owner (``SECURITY DEFINER``, fixed ``search_path``), as
the foreign key's checks do: a login granted INSERT on ``metric`` alone may log points.

A refusal is the foreign key's own: SQLSTATE 23503 (``foreign_key_violation``), the same
constraint name, message and detail, so drivers raise the same exception
(``IntegrityError``) and every message built on it reads as before.

The guarantee holds for READ COMMITTED transactions (PostgreSQL's default, and every
connection Dockyard writes with): each check reads what has committed when it runs. A
REPEATABLE READ transaction deleting runs reads its snapshot instead, where the foreign
key would have re-checked with a fresh one; delete runs at READ COMMITTED.
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The foreign key's name (PostgreSQL's default), kept in every refusal and restored by
#: the downgrade.
CONSTRAINT = "metric_run_id_fkey"

#: (trigger name, table, timing and events, transition tables, level, function); the names
#: are not ``dockyard_*``, which are 0008's rules for members
TRIGGERS = (
    ("metric_run_insert", "metric", "AFTER INSERT", "NEW TABLE AS added",
     "STATEMENT", "dockyard_metric_run_exists"),
    # transition tables cannot go with a column list (UPDATE OF run_id): every UPDATE of
    # metric is checked, and nothing in Dockyard updates points
    ("metric_run_update", "metric", "AFTER UPDATE", "NEW TABLE AS added",
     "STATEMENT", "dockyard_metric_run_exists"),
    ("run_metric_delete", "run", "AFTER DELETE", "OLD TABLE AS removed",
     "STATEMENT", "dockyard_run_metric_gone"),
    ("run_metric_truncate", "run", "AFTER TRUNCATE", "",
     "STATEMENT", "dockyard_run_metric_truncated"),
)  # fmt: skip

FUNCTIONS = (
    "dockyard_metric_run_exists()",
    "dockyard_run_metric_gone()",
    "dockyard_run_metric_truncated()",
)


def _functions(schema: str) -> list[str]:
    # as the tables' owner, as the foreign key's own checks run: a login that may insert
    # points need not be granted UPDATE on run for the lock, nor a deleter SELECT on metric
    path = f"SECURITY DEFINER SET search_path = pg_catalog, {schema}"
    # the fields the foreign key's own error carries, for drivers and error handlers
    fields = (
        f"ERRCODE = 'foreign_key_violation', CONSTRAINT = '{CONSTRAINT}', TABLE = 'metric',"
        " SCHEMA = TG_TABLE_SCHEMA"
    )
    return [
        # one query on the way that succeeds: the runs counted are the runs locked
        f"""
        CREATE FUNCTION dockyard_metric_run_exists() RETURNS trigger LANGUAGE plpgsql {path}
        AS $$
        DECLARE
            wanted integer;
            locked bigint;
            missing bigint;
        BEGIN
            -- an array, so that the runs are found through their primary key whatever
            -- the planner guesses of the transition table's size
            SELECT cardinality(w.ids),
                   (SELECT count(*) FROM (SELECT 1 FROM run WHERE run.id = ANY (w.ids)
                                          FOR KEY SHARE OF run) AS held)
                INTO wanted, locked
                FROM (SELECT ARRAY(SELECT DISTINCT run_id FROM added) AS ids) AS w;
            IF locked < wanted THEN
                SELECT min(a.run_id) INTO missing FROM added AS a
                    WHERE NOT EXISTS (SELECT 1 FROM run WHERE run.id = a.run_id);
                RAISE EXCEPTION 'insert or update on table "metric" violates foreign key '
                    'constraint "{CONSTRAINT}"'
                    USING DETAIL = format('Key (run_id)=(%s) is not present in table "run".',
                                          missing), {fields};
            END IF;
            RETURN NULL;
        END
        $$""",
        f"""
        CREATE FUNCTION dockyard_run_metric_gone() RETURNS trigger LANGUAGE plpgsql {path}
        AS $$
        DECLARE
            kept bigint;
        BEGIN
            SELECT min(r.id) INTO kept FROM removed AS r
                WHERE EXISTS (SELECT 1 FROM metric WHERE metric.run_id = r.id);
            IF kept IS NOT NULL THEN
                RAISE EXCEPTION 'update or delete on table "run" violates foreign key '
                    'constraint "{CONSTRAINT}" on table "metric"'
                    USING DETAIL = format('Key (id)=(%s) is still referenced from table '
                                          '"metric".', kept), {fields};
            END IF;
            RETURN NULL;
        END
        $$""",
        # a TRUNCATE of run alone is refused by run's other foreign keys; one that names
        # their tables but not metric would leave every point without its run
        f"""
        CREATE FUNCTION dockyard_run_metric_truncated() RETURNS trigger LANGUAGE plpgsql
        {path} AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM metric) THEN
                RAISE EXCEPTION 'cannot truncate table "run": table "metric" still refers '
                    'to it; truncate both'
                    USING {fields};
            END IF;
            RETURN NULL;
        END
        $$""",
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite keeps its foreign key (its tracker skips it per connection)
    schema = bind.execute(text("SELECT quote_ident(current_schema())")).scalar_one()
    for statement in _functions(schema):
        op.execute(statement)
    for name, table, events, transition, level, function in TRIGGERS:
        referencing = f" REFERENCING {transition}" if transition else ""
        op.execute(
            f"CREATE TRIGGER {name} {events} ON {table}{referencing} FOR EACH {level}"
            f" EXECUTE FUNCTION {function}()"
        )
    # a change of a run's id is a key update, which the row lock above also blocks; it
    # must not strand the old id's points (nothing in Dockyard changes a run's id)
    op.execute(
        f"""
        CREATE FUNCTION dockyard_run_id_kept() RETURNS trigger LANGUAGE plpgsql
        SECURITY DEFINER SET search_path = pg_catalog, {schema} AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM metric WHERE run_id = OLD.id) THEN
                RAISE EXCEPTION 'update or delete on table "run" violates foreign key '
                    'constraint "{CONSTRAINT}" on table "metric"'
                    USING DETAIL = format('Key (id)=(%s) is still referenced from table '
                                          '"metric".', OLD.id),
                    ERRCODE = 'foreign_key_violation', CONSTRAINT = '{CONSTRAINT}',
                    TABLE = 'metric', SCHEMA = TG_TABLE_SCHEMA;
            END IF;
            RETURN NULL;
        END
        $$"""
    )
    op.execute(
        "CREATE TRIGGER run_id_kept AFTER UPDATE OF id ON run FOR EACH ROW"
        " WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION dockyard_run_id_kept()"
    )
    # the whole migration is one transaction: no point goes in unchecked meanwhile
    op.execute(f"ALTER TABLE metric DROP CONSTRAINT {CONSTRAINT}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # validates every existing point, as the constraint of 0001 did when it was created
    op.execute(
        f"ALTER TABLE metric ADD CONSTRAINT {CONSTRAINT} FOREIGN KEY (run_id) REFERENCES run (id)"
    )
    op.execute("DROP TRIGGER IF EXISTS run_id_kept ON run")
    op.execute("DROP FUNCTION IF EXISTS dockyard_run_id_kept()")
    for name, table, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
