"""Fill a workspace with a realistic, large history, fast: the store the benches measure.

    python bench/seed.py DIR --runs 100000 [--metrics-per-run N] [--seed 7]
    python bench/seed.py DIR --monitors 1000 --monitor-results 1000000   # issue 9's store
    python bench/seed.py DIR --runs 100000 --db postgresql+psycopg://USER@HOST/DBNAME

Projects (and their monitors) are registered through ``core.projects.add_project`` so that
those rows are exactly what Dockyard writes; everything else (datasets and versions, runs,
params, tags, metrics, artifacts, models and versions, aliases, deployment requests,
approvals, deployments, monitor results, alerts) goes in with the standard ``sqlite3``
module, ``executemany`` in one transaction, with explicit ids so that foreign keys are
computed rather than queried. 100,000 runs take a few seconds.

Values follow what SQLModel writes: datetimes are UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``,
booleans 0/1, metric timestamps epoch seconds. The output is deterministic for a given
``--seed`` and ``now``.

With ``--db URL`` (an empty PostgreSQL database), the same history is written into the
workspace's SQLite file first, then every table is copied into the database with ``COPY``
(parents before children, the id sequences moved past the copied ids) and the workspace
is pointed at it (``settings.toml``, as ``dockyard init --db`` does); the SQLite file is
removed. The rows are exactly those of a SQLite seeding, so both stores hold one history.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sqlite3
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dockyard.core.errors import DockyardError
from dockyard.core.projects import add_project
from dockyard.core.workspace import Workspace, init_workspace

USERS = ("ana", "ben", "chen", "dana", "emeka")
HOSTS = ("gpu-box-1", "gpu-box-2", "ml-worker-3", "laptop-ana")
PACKAGES = {"scikit-learn": "1.5.2", "pandas": "2.2.3", "numpy": "2.1.3"}


@dataclass(frozen=True)
class ParamDef:
    """One parameter of a seeded project: how it reads in dockyard.toml and how to draw it."""

    name: str
    toml: str
    draw: Any  # (random.Random) -> value


@dataclass(frozen=True)
class ProjectDef:
    name: str
    description: str
    dataset: str
    target: str
    columns: tuple[str, ...]
    primary: str
    direction: str
    base: float  # typical primary value at the start of the history
    gain: float  # how much it improves over the history (sign follows the direction)
    noise: float
    weight: float  # share of all runs
    params: tuple[ParamDef, ...]
    gate: str
    monitors: str


def _choice(*options: str) -> Any:
    return lambda rng: options[int(rng.random() * len(options))]


def _log_uniform(low: float, high: float) -> Any:
    return lambda rng: round(math.exp(rng.uniform(math.log(low), math.log(high))), 5)


def _int(low: int, high: int) -> Any:
    return lambda rng: low + int(rng.random() * (high - low + 1))


CLASSIFIER_PARAMS = (
    ParamDef(
        "model",
        'type = "choice"\nchoices = ["logreg", "forest", "gbm"]\ndefault = "logreg"',
        _choice("logreg", "forest", "gbm"),
    ),
    ParamDef(
        "C", 'type = "float"\ndefault = 1.0\nmin = 0.001\nmax = 100.0', _log_uniform(1e-3, 100)
    ),
    ParamDef("n_estimators", 'type = "int"\ndefault = 200\nmin = 10\nmax = 2000', _int(10, 2000)),
    ParamDef("max_depth", 'type = "int"\ndefault = 6\nmin = 1\nmax = 32', _int(1, 32)),
)
REGRESSOR_PARAMS = (
    ParamDef(
        "model",
        'type = "choice"\nchoices = ["ridge", "forest", "gbm"]\ndefault = "ridge"',
        _choice("ridge", "forest", "gbm"),
    ),
    ParamDef(
        "alpha", 'type = "float"\ndefault = 1.0\nmin = 0.0001\nmax = 100.0', _log_uniform(1e-4, 100)
    ),
    ParamDef("n_estimators", 'type = "int"\ndefault = 300\nmin = 10\nmax = 2000', _int(10, 2000)),
)
DRIFT_MONITOR = """
[[monitors]]
name = "input-drift"
kind = "drift"
schedule = "every 6h"
threshold = 0.2
"""

PROJECTS = (
    ProjectDef(
        name="churn",
        description="Which customers leave next quarter (binary classifier)",
        dataset="customers",
        target="churned",
        columns=("tenure", "plan", "monthly_charges", "support_calls", "churned"),
        primary="roc_auc",
        direction="maximize",
        base=0.78,
        gain=0.09,
        noise=0.025,
        weight=0.34,
        params=CLASSIFIER_PARAMS,
        gate='metric = "roc_auc"\nmin = 0.8',
        monitors=DRIFT_MONITOR + '\n[[monitors]]\nname = "weekly-auc"\nkind = "performance"\n'
        'schedule = "0 6 * * 1"\nmetric = "roc_auc"\nmin = 0.8\n',
    ),
    ProjectDef(
        name="fraud",
        description="Card transactions flagged for review (binary, imbalanced)",
        dataset="transactions",
        target="is_fraud",
        columns=("amount", "merchant", "hour", "country", "is_fraud"),
        primary="pr_auc",
        direction="maximize",
        base=0.52,
        gain=0.18,
        noise=0.04,
        weight=0.26,
        params=CLASSIFIER_PARAMS,
        gate='metric = "pr_auc"\nmin = 0.6',
        monitors=DRIFT_MONITOR
        + '\n[[monitors]]\nname = "data-quality"\nkind = "quality"\nschedule = "every 1h"\n',
    ),
    ProjectDef(
        name="wine-quality",
        description="Wine cultivar from its chemistry (multiclass)",
        dataset="wine",
        target="cultivar",
        columns=("alcohol", "malic_acid", "ash", "flavanoids", "cultivar"),
        primary="accuracy",
        direction="maximize",
        base=0.88,
        gain=0.07,
        noise=0.02,
        weight=0.12,
        params=CLASSIFIER_PARAMS,
        gate='metric = "accuracy"\nmin = 0.9',
        monitors=DRIFT_MONITOR,
    ),
    ProjectDef(
        name="house-prices",
        description="Sale price of a house (regressor)",
        dataset="houses",
        target="price",
        columns=("rooms", "area", "year_built", "district", "price"),
        primary="rmse",
        direction="minimize",
        base=41_000.0,
        gain=-9_000.0,
        noise=2_500.0,
        weight=0.16,
        params=REGRESSOR_PARAMS,
        gate='metric = "rmse"\nmax = 40000',
        monitors=DRIFT_MONITOR,
    ),
    ProjectDef(
        name="demand-forecast",
        description="Units sold per store and day (regressor)",
        dataset="sales",
        target="units",
        columns=("store", "weekday", "promo", "price", "units"),
        primary="mae",
        direction="minimize",
        base=14.0,
        gain=-3.5,
        noise=0.8,
        weight=0.12,
        params=REGRESSOR_PARAMS,
        gate='metric = "mae"\nmax = 13.5',
        monitors=DRIFT_MONITOR,
    ),
)

# Final status of runs that are not among the newest (those are running or queued).
DONE_STATUSES = ("finished", "failed", "cancelled", "lost")
DONE_WEIGHTS = (0.88, 0.07, 0.03, 0.02)
FAILURES = (
    "ValueError: Input contains NaN, infinity or a value too large for dtype('float64')",
    "MemoryError: Unable to allocate 3.2 GiB for an array",
    "KeyError: 'churned'",
    "ConvergenceWarning raised as error: lbfgs failed to converge (max_iter=100)",
)


@dataclass
class SeedReport:
    """What was written, and how long it took."""

    workspace: Workspace
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = ", ".join(f"{n:,} {table}" for table, n in self.counts.items())
        return f"seeded {self.workspace.root} in {self.seconds:.1f} s: {parts}"


def ts(moment: datetime) -> str:
    """``moment`` (naive UTC) as SQLModel writes a datetime into SQLite."""
    return moment.isoformat(sep=" ", timespec="microseconds")


def _write_project_folder(root: Path, project: ProjectDef, extra_monitors: str = "") -> Path:
    folder = root / "projects" / project.name
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / f"{project.dataset}.csv").write_text(
        ",".join(project.columns) + "\n" + ",".join("0" for _ in project.columns) + "\n"
    )
    (folder / "train.py").write_text("# seeded by bench/seed.py; never run by the bench\n")
    params = "\n\n".join(f"[params.{p.name}]\n{p.toml}" for p in project.params)
    (folder / "dockyard.toml").write_text(
        f'[project]\nname = "{project.name}"\ndescription = "{project.description}"\n'
        f'entry = "python train.py"\n\n'
        f'[[datasets]]\nname = "{project.dataset}"\npath = "data/{project.dataset}.csv"\n'
        f'target = "{project.target}"\n\n{params}\n\n'
        f'[metrics]\nprimary = "{project.primary}"\ndirection = "{project.direction}"\n\n'
        f"[[gates]]\n{project.gate}\n{project.monitors}\n{extra_monitors}"
    )
    return folder


def _json_scalar(value: Any) -> str:
    """``json.dumps`` of a parameter value, without its cost (a third of the seeding time).

    The values here are numbers and plain choice words, which need no escaping."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _hex(rng: random.Random, bits: int = 256) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


class _Ids:
    """Next free id per table, so rows can point at each other before they are written."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.next: dict[str, int] = {}

    def take(self, table: str) -> int:
        if table not in self.next:
            row = self.conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
            self.next[table] = int(row[0]) + 1
        value = self.next[table]
        self.next[table] = value + 1
        return value


def _insert(
    conn: sqlite3.Connection, table: str, columns: str, rows: Sequence[tuple[Any, ...]]
) -> int:
    if rows:
        marks = ", ".join("?" for _ in columns.split(","))
        conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    return len(rows)


def _insert_iter(
    conn: sqlite3.Connection, table: str, columns: str, rows: Iterable[tuple[Any, ...]]
) -> int:
    """Stream rows (metrics can be tens of millions) and count them on the way."""
    count = 0

    def counted() -> Iterable[tuple[Any, ...]]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    marks = ", ".join("?" for _ in columns.split(","))
    conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", counted())
    return count


@dataclass
class _Run:
    id: int
    project: ProjectDef
    status: str
    created: datetime
    started: datetime | None
    ended: datetime | None
    value: float | None
    dataset_version_id: int | None


def seed_workspace(
    directory: Path,
    runs: int = 100_000,
    metrics_per_run: int = 4,
    seed: int = 7,
    now: datetime | None = None,
    months: int = 6,
    monitors: int | None = None,
    monitor_results: int | None = None,
    db: str | None = None,
) -> SeedReport:
    """Create (or reuse) a workspace in ``directory`` and add ``runs`` runs with history.

    ``metrics_per_run`` metric points are written per finished run (half the primary
    metric, half ``train_loss``, step by step), and when it is not 0 each running run has
    logged :data:`LIVE_STEPS` steps of both, so that the Runs pane draws its sparklines.
    ``monitors``: how many monitors the store holds in all (the projects' own seven, then
    more added to their files); each gets two weeks of results on its schedule, or an even
    share of ``monitor_results``. A store that already holds runs is refused: seeding twice
    would mix two histories. ``db``: a PostgreSQL URL to hold the store instead (see the
    module's docstring).
    """
    if runs < 0 or metrics_per_run < 0:
        raise ValueError("--runs and --metrics-per-run must be zero or more")
    own = sum(p.monitors.count("[[monitors]]") for p in PROJECTS)
    if monitors is not None and monitors < own:
        raise ValueError(f"--monitors must be at least {own} (the seeded projects' own)")
    if monitor_results is not None and monitor_results < 0:
        raise ValueError("--monitor-results must be zero or more")
    extra = extra_monitors(0 if monitors is None else monitors - own)
    started_at = time.perf_counter()
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    if db is not None:
        _check_empty_postgres(db)
    # With db, the SQLite file is only the staging area: the environment must not move it.
    workspace = init_workspace(directory, env={} if db is not None else None)
    db_path = workspace.db_path
    if db_path is None:
        raise ValueError("seeding needs a SQLite store; unset DOCKYARD_DB (or give --db)")
    for project in PROJECTS:
        add_project(workspace, _write_project_folder(workspace.root, project, extra[project.name]))

    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        if conn.execute("SELECT 1 FROM run LIMIT 1").fetchone() is not None:
            raise ValueError(f"{db_path} already holds runs; seed a fresh folder")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("BEGIN")
        # Bulk tables load faster without their secondary indexes; they are rebuilt from
        # their own recorded SQL, so the schema ends exactly as the migrations made it.
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('run', 'metric', 'monitor_result', 'alert')"
        ).fetchall()
        for name, _sql in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        counts = _fill(conn, rng, now, months, runs, metrics_per_run, workspace, monitor_results)
        for _name, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        # Leave one self-contained file: the bench must not replay a big WAL on open.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    if db is not None:
        workspace = copy_to_postgres(workspace, db)
    return SeedReport(workspace, time.perf_counter() - started_at, counts)


def _libpq(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as libpq takes it."""
    return "postgresql://" + url.split("://", 1)[1]


def _check_empty_postgres(url: str) -> None:
    """Refuse a database that already holds runs before anything is written anywhere."""
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        raise ValueError(f"--db must be a postgresql+psycopg:// URL, not {url.split(':', 1)[0]}")
    import psycopg

    with psycopg.connect(_libpq(url)) as conn:
        exists = conn.execute("SELECT to_regclass('run')").fetchone()
        has_table = exists is not None and exists[0] is not None
        if has_table and conn.execute("SELECT 1 FROM run LIMIT 1").fetchone() is not None:
            raise ValueError("that database already holds runs; seed an empty one")


def copy_to_postgres(workspace: Workspace, url: str) -> Workspace:
    """Move the seeded SQLite store of ``workspace`` into the PostgreSQL database ``url``.

    The schema comes from Dockyard's own migrations (``init_workspace(db=url)``, which also
    records the URL in the workspace's settings); the rows go in by ``COPY``, parents first,
    in one transaction. Values are copied as SQLite holds them (UTC datetime text, 0/1
    booleans), which PostgreSQL's input functions read as the same values.
    """
    import psycopg
    from sqlmodel import SQLModel

    import dockyard.store.models  # noqa: F401  (fills SQLModel.metadata)

    assert workspace.db_path is not None
    source = workspace.db_path
    target = init_workspace(workspace.root, db=url)
    lite = sqlite3.connect(source)
    try:
        with psycopg.connect(_libpq(url)) as pg:
            pg.execute("SET TIME ZONE 'UTC'")  # the SQLite text is naive UTC
            for table in reversed(SQLModel.metadata.sorted_tables):
                pg.execute(f'DELETE FROM "{table.name}"')  # rows the migrations made
            for table in SQLModel.metadata.sorted_tables:
                names = [c.name for c in table.columns]
                quoted = ", ".join(f'"{n}"' for n in names)
                cursor = lite.execute(f'SELECT {quoted} FROM "{table.name}"')
                with pg.cursor().copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                    for row in cursor:
                        copy.write_row(row)
                if "id" in names and table.columns["id"].autoincrement is not False:
                    pg.execute(
                        "SELECT setval(pg_get_serial_sequence(%s, 'id'),"
                        f' (SELECT COALESCE(MAX(id), 0) + 1 FROM "{table.name}"), false)',
                        (f'"{table.name}"',),
                    )
        # As autovacuum would have done over months of history: statistics, and the
        # visibility map that lets counts read an index alone (without it, every Runs page
        # count reads the whole run table).
        with psycopg.connect(_libpq(url), autocommit=True) as pg:
            pg.execute("VACUUM (ANALYZE)")
    finally:
        lite.close()
    for suffix in ("", "-wal", "-shm"):
        source.with_name(source.name + suffix).unlink(missing_ok=True)
    return target


def _fill(
    conn: sqlite3.Connection,
    rng: random.Random,
    now: datetime,
    months: int,
    n_runs: int,
    metrics_per_run: int,
    workspace: Workspace,
    monitor_results: int | None = None,
) -> dict[str, int]:
    ids = _Ids(conn)
    counts: dict[str, int] = {}
    span = timedelta(days=30 * months)
    origin = now - span
    project_ids = dict(conn.execute("SELECT name, id FROM project").fetchall())

    # Datasets: a few versions each, spread over the history; runs use the newest
    # version that existed when they were created.
    existing = dict(conn.execute("SELECT name, id FROM dataset").fetchall())
    datasets: list[tuple[Any, ...]] = []
    versions: list[tuple[Any, ...]] = []
    dataset_versions: dict[str, list[tuple[datetime, int]]] = {}
    for project in PROJECTS:
        dataset_id = existing.get(project.dataset)
        created = origin - timedelta(days=rng.randint(3, 20))
        if dataset_id is None:
            dataset_id = ids.take("dataset")
            datasets.append(
                (dataset_id, project.dataset, f"{project.description} data", ts(created), ts(now))
            )
        n_rows = rng.randint(2_000, 400_000)
        for number in range(1, rng.randint(3, 6) + 1):
            version_id = ids.take("dataset_version")
            digest = _hex(rng)
            columns = [{"name": c, "dtype": "float64"} for c in project.columns]
            n_rows += rng.randint(100, 20_000)
            versions.append(
                (
                    version_id,
                    dataset_id,
                    number,
                    digest,
                    "sha256",
                    digest,
                    f"objects/{digest}",
                    f"projects/{project.name}/data/{project.dataset}.csv",
                    "csv",
                    n_rows * 48,
                    n_rows,
                    len(project.columns),
                    json.dumps(columns),
                    "{}",
                    "initial import" if number == 1 else f"monthly refresh #{number - 1}",
                    rng.choice(USERS),
                    ts(created),
                )
            )
            dataset_versions.setdefault(project.name, []).append((created, version_id))
            created += timedelta(days=rng.randint(20, 45))
    counts["datasets"] = _insert(
        conn, "dataset", "id, name, description, created_at, updated_at", datasets
    )
    counts["dataset versions"] = _insert(
        conn,
        "dataset_version",
        "id, dataset_id, version, content_hash, hash_algo, sha256, object_path, source_path, "
        "file_format, size_bytes, n_rows, n_cols, columns_json, profile_json, message, author, "
        "created_at",
        versions,
    )

    # Runs, oldest first so that ids follow time as they do in a real store.
    offsets = sorted(rng.random() for _ in range(n_runs))
    n_running = min(n_runs, 6)
    n_queued = min(n_runs - n_running, 12)
    first_active = n_runs - n_running - n_queued
    weights = [p.weight for p in PROJECTS]
    # Drawn in bulk: per-run rng.choices/randint calls were half of the seeding time.
    random = rng.random
    projects = rng.choices(PROJECTS, weights, k=n_runs)
    statuses = rng.choices(DONE_STATUSES, DONE_WEIGHTS, k=n_runs)
    log_prefix = str(workspace.logs / "run-")
    # env_json as core.runs queues it (data paths) and the supervisor completes it.
    queued_env, started_env = {}, {}
    for project in PROJECTS:
        folder = workspace.root / "projects" / project.name
        data = {project.dataset: str(folder / "data" / f"{project.dataset}.csv")}
        queued_env[project.name] = json.dumps({"data_paths": data})
        started_env[project.name] = json.dumps(
            {
                "data_paths": data,
                "argv": ["python", "train.py"],
                "cwd": str(folder),
                "python": "3.11.7",
                "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
                "packages": PACKAGES,
            }
        )
    run_rows: list[tuple[Any, ...]] = []
    param_rows: list[tuple[Any, ...]] = []
    tag_rows: list[tuple[Any, ...]] = []
    seeded: list[_Run] = []
    group: tuple[ProjectDef, str, int] | None = None
    by_project: dict[str, list[int]] = {}
    for index, offset in enumerate(offsets):
        run_id = ids.take("run")
        # Sweeps: runs of one project launched together share a group id.
        if group is None and random() < 0.03:
            group = (
                rng.choices(PROJECTS, weights)[0],
                _hex(rng, 32),
                rng.randint(8, 24),
            )
        if group is not None:
            project, group_id, left = group
            group = (project, group_id, left - 1) if left > 1 else None
        else:
            project, group_id = projects[index], None
        created = origin + span * offset
        if index >= first_active + n_queued:
            status = "running"
        elif index >= first_active:
            status = "queued"
        else:
            status = statuses[index]
        started = ended = heartbeat = None
        exit_code = pid = None
        error = ""
        value = None
        if status != "queued":
            started = created + timedelta(seconds=0.5 + 90 * random())
            heartbeat = started + timedelta(seconds=1 + 600 * random())
            pid = 2_000 + int(4_000_000 * random())
        if status in ("finished", "failed", "cancelled"):
            assert started is not None
            ended = started + timedelta(seconds=rng.expovariate(1 / 420))
            heartbeat = ended
        if status == "running":
            heartbeat = now - timedelta(seconds=rng.uniform(0.5, 5))
            started = min(now - timedelta(seconds=30), started or now)
        if status == "finished":
            exit_code = 0
            progress = offset * project.gain
            value = project.base + progress + rng.gauss(0, project.noise)
            value = round(min(value, 0.999) if project.direction == "maximize" else value, 5)
        elif status == "failed":
            exit_code, error = 1, rng.choice(FAILURES)
        elif status == "cancelled":
            exit_code, error = -15, "cancelled by the user"
        elif status == "lost":
            error = "the process vanished (no heartbeat for 5 min); the host may have rebooted"
        data_version: int | None = None
        for version_created, candidate in dataset_versions[project.name]:
            if version_created <= created:
                data_version = candidate
        parents = by_project.setdefault(project.name, [])
        parent = parents[int(random() * len(parents))] if parents and random() < 0.02 else None
        parents.append(run_id)
        params = {p.name: p.draw(rng) for p in project.params}
        queued = status == "queued"
        run_rows.append(
            (
                run_id,
                project_ids[project.name],
                data_version,
                group_id,
                parent,
                status,
                "python train.py",
                exit_code,
                error,
                pid,
                "" if queued else HOSTS[int(random() * len(HOSTS))],
                USERS[int(random() * len(USERS))],
                "" if queued else f"{log_prefix}{run_id}.log",
                None,  # core sets a seed only when the project has a `seed` parameter
                None if queued else _hex(rng, 160),
                None if queued else int(random() < 0.15),
                (queued_env if queued else started_env)[project.name],
                project.primary,
                value,
                ts(created),
                None if started is None else ts(started),
                None if ended is None else ts(ended),
                None if heartbeat is None else ts(heartbeat),
            )
        )
        param_rows.extend((run_id, k, _json_scalar(v)) for k, v in params.items())
        if random() < 0.05:
            tag_rows.append(
                (run_id, "note", rng.choice(("baseline", "try me", "paper", "bad data")))
            )
        seeded.append(_Run(run_id, project, status, created, started, ended, value, data_version))
    counts["runs"] = _insert(
        conn,
        "run",
        "id, project_id, dataset_version_id, group_id, parent_run_id, status, command, "
        "exit_code, error, pid, host, user, log_path, seed, git_commit, git_dirty, env_json, "
        "primary_metric, primary_value, created_at, started_at, ended_at, heartbeat_at",
        run_rows,
    )
    del run_rows
    counts["params"] = _insert(conn, "param", "run_id, key, value", param_rows)
    counts["run tags"] = _insert(conn, "run_tag", "run_id, key, value", tag_rows)
    del param_rows, tag_rows
    if metrics_per_run:
        counts["metric points"] = _insert_iter(
            conn,
            "metric",
            "run_id, key, step, value, timestamp",
            _metric_rows(seeded, metrics_per_run, rng),
        )

    counts.update(_registry(conn, ids, rng, now, seeded, workspace))
    counts.update(_monitoring(conn, ids, rng, now, project_ids, monitor_results))
    return counts


#: Steps each running run has logged so far: more than the Runs pane's sparkline shows
#: (``core.overview.SPARK_POINTS``, 12), so that every live row draws one.
LIVE_STEPS = 24


def _metric_rows(seeded: list[_Run], per_run: int, rng: random.Random) -> Iterable[tuple[Any, ...]]:
    """Curves that end at the run's primary value; ``train_loss`` falls alongside. Running
    runs have logged :data:`LIVE_STEPS` steps of both so far, one a second from their start."""
    steps = max(1, per_run // 2)
    for run in seeded:
        if run.status == "running" and run.started is not None:
            yield from _live_rows(run, rng)
            continue
        if run.value is None or run.started is None or run.ended is None:
            continue
        start = run.started.replace(tzinfo=UTC).timestamp()
        duration = max(1.0, (run.ended - run.started).total_seconds())
        project = run.project
        first = project.base - project.gain * 2 if project.gain else run.value
        for step in range(steps):
            share = (step + 1) / steps
            at = start + duration * share
            value = first + (run.value - first) * (1 - (1 - share) ** 2)
            yield (run.id, project.primary, step, round(value, 5), at)
            if step * 2 + 1 < per_run:
                loss = 0.08 + 0.9 * (1 - share) ** 2 + rng.uniform(0, 0.02)
                yield (run.id, "train_loss", step, round(loss, 5), at)


def _live_rows(run: _Run, rng: random.Random) -> Iterable[tuple[Any, ...]]:
    assert run.started is not None
    start = run.started.replace(tzinfo=UTC).timestamp()
    project = run.project
    first = project.base - project.gain * 2 if project.gain else project.base
    for step in range(LIVE_STEPS):
        share = (step + 1) / LIVE_STEPS
        value = first + (project.base - first) * (1 - (1 - share) ** 2)
        value += rng.gauss(0, project.noise / 4)
        yield (run.id, project.primary, step, round(value, 5), start + step + 1)
        loss = 0.08 + 0.9 * (1 - share) ** 2 + rng.uniform(0, 0.02)
        yield (run.id, "train_loss", step, round(loss, 5), start + step + 1)


def _registry(
    conn: sqlite3.Connection,
    ids: _Ids,
    rng: random.Random,
    now: datetime,
    seeded: list[_Run],
    workspace: Workspace,
) -> dict[str, int]:
    """One registered model per project, versions from its best runs over time, and the
    deployment requests, approvals and deployments that moved them to production."""
    models: list[tuple[Any, ...]] = []
    artifacts: list[tuple[Any, ...]] = []
    model_versions: list[tuple[Any, ...]] = []
    aliases: list[tuple[Any, ...]] = []
    requests: list[tuple[Any, ...]] = []
    approvals: list[tuple[Any, ...]] = []
    deployments: list[tuple[Any, ...]] = []
    finished: dict[str, list[_Run]] = {}
    for run in seeded:
        if run.status == "finished":
            finished.setdefault(run.project.name, []).append(run)
    for project in PROJECTS:
        candidates = finished.get(project.name, [])
        if not candidates:
            continue
        model_id = ids.take("registered_model")
        name = f"{project.name}-model"
        # Spread versions over the history: the best run of each slice becomes a version.
        n_versions = min(len(candidates), rng.randint(5, 12))
        size = len(candidates) // n_versions
        sign = 1 if project.direction == "maximize" else -1
        version_rows: list[tuple[int, _Run, datetime]] = []
        for number in range(1, n_versions + 1):
            chunk = candidates[(number - 1) * size : number * size] or candidates[-1:]
            best = max(chunk, key=lambda r: sign * (r.value or 0.0))
            assert best.ended is not None
            artifact_id = ids.take("artifact")
            digest = _hex(rng)
            created = best.ended + timedelta(minutes=rng.randint(5, 600))
            artifacts.append(
                (
                    artifact_id,
                    best.id,
                    "model.skops",
                    "model",
                    digest,
                    rng.randint(40_000, 9_000_000),
                    f"objects/{digest}",
                    "skops",
                    ts(best.ended),
                )
            )
            version_id = ids.take("model_version")
            model_versions.append(
                (
                    version_id,
                    model_id,
                    number,
                    best.id,
                    artifact_id,
                    best.dataset_version_id,
                    f"best {project.primary} of its month: {best.value}",
                    json.dumps({"stage": "candidate"}),
                    rng.choice(USERS),
                    ts(created),
                )
            )
            version_rows.append((version_id, best, created))
        first_created = version_rows[0][2]
        models.append(
            (model_id, name, project.description, ts(first_created), ts(version_rows[-1][2]))
        )
        # Every version but the newest two went through review; older approvals were
        # deployed and later retired, the newest approval is the active deployment.
        active: int | None = None
        for position, (version_id, best, created) in enumerate(version_rows):
            newest = position >= len(version_rows) - 2
            requester = rng.choice(USERS)
            reviewer = rng.choice([u for u in USERS if u != requester])
            asked = created + timedelta(hours=rng.uniform(1, 48))
            checks = json.dumps([{"metric": project.primary, "value": best.value, "passed": True}])
            request_id = ids.take("deployment_request")
            if newest and position == len(version_rows) - 1:
                requests.append(
                    (
                        request_id,
                        version_id,
                        "production",
                        "pending",
                        requester,
                        "beats the champion on the holdout",
                        checks,
                        ts(min(asked, now)),
                        None,
                    )
                )
                continue
            decision = "rejected" if rng.random() < 0.2 and not newest else "approved"
            decided = asked + timedelta(hours=rng.uniform(0.5, 30))
            requests.append(
                (
                    request_id,
                    version_id,
                    "production",
                    decision,
                    requester,
                    "monthly refresh",
                    checks,
                    ts(asked),
                    ts(decided),
                )
            )
            approvals.append(
                (
                    ids.take("approval"),
                    request_id,
                    reviewer,
                    decision,
                    "looks good" if decision == "approved" else "drift on the new data",
                    ts(decided),
                )
            )
            if decision == "approved":
                deployment_id = ids.take("deployment")
                if active is not None:
                    old = deployments[-1]
                    deployments[-1] = (*old[:4], "retired", old[5], old[6], ts(decided))
                deployments.append(
                    (
                        deployment_id,
                        request_id,
                        version_id,
                        "production",
                        "active",
                        reviewer,
                        ts(decided),
                        None,
                    )
                )
                active = version_id
        if active is not None:
            aliases.append((model_id, "champion", active, ts(now)))
        aliases.append((model_id, "latest", version_rows[-1][0], ts(version_rows[-1][2])))
    return {
        "registered models": _insert(
            conn, "registered_model", "id, name, description, created_at, updated_at", models
        ),
        "artifacts": _insert(
            conn,
            "artifact",
            "id, run_id, name, kind, sha256, size_bytes, object_path, file_format, created_at",
            artifacts,
        ),
        "model versions": _insert(
            conn,
            "model_version",
            "id, model_id, version, run_id, artifact_id, dataset_version_id, description, "
            "tags_json, created_by, created_at",
            model_versions,
        ),
        "model aliases": _insert(
            conn, "model_alias", "model_id, alias, model_version_id, updated_at", aliases
        ),
        "deployment requests": _insert(
            conn,
            "deployment_request",
            "id, model_version_id, target, status, requested_by, reason, checks_json, "
            "requested_at, decided_at",
            requests,
        ),
        "approvals": _insert(
            conn, "approval", "id, request_id, reviewer, decision, comment, created_at", approvals
        ),
        "deployments": _insert(
            conn,
            "deployment",
            "id, request_id, model_version_id, target, status, deployed_by, deployed_at, "
            "retired_at",
            deployments,
        ),
    }


#: Columns the seeded projects treat as categories (chi-square and counts, not deciles).
CATEGORICAL = frozenset({"plan", "merchant", "country", "district", "store", "weekday", "promo"})
#: Extra monitors (``--monitors``): kinds and schedules taken in turn, and the spacing of
#: their seeded results by schedule.
EXTRA_KINDS = ("drift", "quality", "drift", "performance")
EXTRA_SCHEDULES = ("every 6h", "every 1h", "every 30m", "0 6 * * 1", "every 1d")
SPACING = {
    "every 6h": timedelta(hours=6),
    "every 1h": timedelta(hours=1),
    "every 30m": timedelta(minutes=30),
    "0 6 * * 1": timedelta(days=7),
    "every 1d": timedelta(days=1),
}
RESULT_STATUSES = ("ok", "warn", "alert", "error")
RESULT_WEIGHTS = (0.86, 0.08, 0.03, 0.03)
#: Results of a monitor when ``--monitor-results`` is not given: two weeks of its schedule.
DEFAULT_HISTORY = timedelta(days=14)
#: Differently drawn ``details_json`` documents per (monitor, status); results reuse them,
#: so seeding a million rows costs the writes, not a million JSON encodings.
DETAIL_VARIANTS = 4


def extra_monitors(count: int) -> dict[str, str]:
    """``[[monitors]]`` blocks to add to each project's file so that the store holds
    ``count`` more monitors, spread over the projects in turn."""
    blocks: dict[str, list[str]] = {project.name: [] for project in PROJECTS}
    for i in range(count):
        project = PROJECTS[i % len(PROJECTS)]
        kind = EXTRA_KINDS[i % len(EXTRA_KINDS)]
        schedule = EXTRA_SCHEDULES[(i // len(PROJECTS)) % len(EXTRA_SCHEDULES)]
        block = f'[[monitors]]\nname = "{kind}-{i + 1:04d}"\nkind = "{kind}"\n'
        block += f'schedule = "{schedule}"\n'
        if kind == "drift":
            block += "threshold = 0.2\n"
        if kind == "performance":
            bound = "min" if project.direction == "maximize" else "max"
            block += f'metric = "{project.primary}"\n{bound} = {project.base:g}\n'
        blocks[project.name].append(block)
    return {name: "\n".join(parts) for name, parts in blocks.items()}


def _check(
    check: str,
    column: str | None,
    status: str,
    statistic: str,
    value: float | None,
    threshold: float | None,
    detail: str,
    extras: dict[str, Any],
) -> dict[str, Any]:
    """One line of a result, as ``core.monitor_checks.CheckResult.to_dict`` writes it."""
    return {
        "check": check,
        "column": column,
        "status": status,
        "statistic": statistic,
        "value": value,
        "threshold": threshold,
        "detail": detail,
        "extras": extras,
    }


def _histogram(column: str, rng: random.Random, shift: float) -> dict[str, Any]:
    if column in CATEGORICAL:
        labels = ["a", "b", "c", "d", "e"]
        reference = [rng.randint(800, 1200) for _ in labels]
        current = [max(0, int(r * (1 + rng.uniform(-shift, shift)))) for r in reference]
        return {"kind": "categorical", "labels": labels, "reference": reference, "current": current}
    edges = sorted(round(rng.gauss(0, 1), 4) for _ in range(9))
    reference = [1000] * 10
    current = [max(0, int(1000 * (1 + rng.uniform(-shift, shift)))) for _ in range(10)]
    return {"kind": "numeric", "edges": edges, "reference": reference, "current": current}


def _details(
    project: ProjectDef, kind: str, status: str, rng: random.Random
) -> tuple[str, str, float | None]:
    """(summary, details_json, headline) of one result, shaped as ``core.monitoring``
    stores a check of ``kind`` that came out ``status``."""
    inputs = [c for c in project.columns if c != project.target]
    if status == "error":
        missing = rng.choice(inputs)
        message = f"the batch does not match the model's input: missing column(s) {missing}"
        return message, json.dumps({"checks": [], "error": message}), None
    flagged = [] if status == "ok" else rng.sample(inputs, rng.randint(1, 2))
    checks: list[dict[str, Any]] = []
    if kind == "performance":
        bound_at = project.base
        worse = status != "ok"
        value = round(project.base * (0.9 if worse else 1.05), 6)
        check_status = "alert" if status == "alert" else "warn" if worse else "ok"
        checks.append(
            _check(
                "performance",
                project.primary,
                check_status,
                project.primary,
                value,
                bound_at,
                f"{project.primary} {value:.4g}",
                {"baseline": project.base, "rows": 5000},
            )
        )
        return _summary(status, [project.primary]), json.dumps({"checks": checks}), value
    if kind == "drift":
        alpha = 0.05 / len(inputs)
        for column in inputs:
            bad = column in flagged
            # an alert result has its first flagged column past psi_alert, the rest warn
            past = status == "alert" and column == flagged[0]
            psi = round(
                rng.uniform(0.26, 0.4) if past else rng.uniform(0.1, 0.24) if bad else 0.01, 6
            )
            col_status = "alert" if past else "warn" if bad else "ok"
            p_value = rng.uniform(0, alpha / 10) if bad else rng.uniform(alpha, 1)
            test = "chi2" if column in CATEGORICAL else "ks"
            level = "alert" if psi >= 0.25 else "warn" if psi >= 0.1 else "ok"
            checks.append(
                _check(
                    "drift",
                    column,
                    col_status,
                    "psi",
                    psi,
                    0.25,
                    f"PSI {psi:.3f} ({level}), {test} p={p_value:.3g} "
                    f"(significant below {alpha:.3g})",
                    {
                        "test": test,
                        "test_statistic": round(rng.uniform(0, 0.2), 6),
                        "p_value": p_value,
                        "alpha": alpha,
                        "psi_warn": 0.1,
                        "psi_status": level,
                        "histogram": _histogram(column, rng, psi),
                    },
                )
            )
        drifted = [c["column"] for c in checks if c["status"] == "alert"]
        share = round(len(drifted) / len(inputs), 6)
        checks.append(
            _check(
                "dataset_drift",
                None,
                "alert" if drifted and share >= 0.2 else "warn" if drifted else "ok",
                "drifted_share",
                share,
                0.2,
                f"{len(drifted)} of {len(inputs)} columns drifted"
                + (f": {', '.join(drifted)}" if drifted else ""),
                {"drifted": drifted},
            )
        )
        statuses = {c["column"]: c["status"] for c in checks if c["column"]}
        summary = (
            f"all checks ok ({checks[-1]['detail']})"
            if status == "ok"
            else _summary(status, flagged, statuses)
        )
        return summary, json.dumps({"checks": checks}), share
    # quality
    checks.append(
        _check(
            "schema",
            None,
            "ok",
            "columns",
            float(len(inputs)),
            None,
            "every input column present with the expected type",
            {},
        )
    )
    worst = 0.0
    for column in inputs:
        bad = column in flagged
        share = round(rng.uniform(0.06, 0.2) if bad else rng.uniform(0, 0.01), 6)
        worst = max(worst, share)
        checks.append(
            _check(
                "missing",
                column,
                "alert" if bad and status == "alert" else "ok",
                "missing_share_increase",
                share,
                0.05,
                f"{share:.1%} missing (training 0.0%)",
                {"missing_share": share, "histogram": _histogram(column, rng, 0.05)},
            )
        )
        check = "categories" if column in CATEGORICAL else "range"
        checks.append(
            _check(
                check,
                column,
                "warn" if bad and status == "warn" else "ok",
                "unseen_share" if check == "categories" else "outside_share",
                0.0,
                0.05,
                "no unseen category" if check == "categories" else "0 value(s) outside",
                {"unseen": []} if check == "categories" else {"outside": 0},
            )
        )
    summary = "all checks ok" if status == "ok" else _summary(status, flagged)
    return summary, json.dumps({"checks": checks}), worst


def _summary(status: str, flagged: Sequence[str], statuses: dict[str, str] | None = None) -> str:
    """``core.monitor_checks.summarise``'s line: the flagged columns by status."""
    if status == "ok":
        return "all checks ok"
    by: dict[str, list[str]] = {"alert": [], "warn": []}
    for column in flagged:
        by[(statuses or {}).get(column, status)].append(column)
    return "; ".join(f"{s}: {', '.join(sorted(cols))}" for s, cols in by.items() if cols)


def _monitoring(
    conn: sqlite3.Connection,
    ids: _Ids,
    rng: random.Random,
    now: datetime,
    project_ids: dict[str, int],
    total_results: int | None = None,
) -> dict[str, int]:
    """Results for every monitor add_project created, newest ``now``, spaced by the
    monitor's schedule: two weeks' worth each, or ``total_results`` shared evenly. Rows
    are what ``core.monitoring`` writes (statuses ok / warn / alert / error, the checks
    as JSON, the batch's hash and size, the model version checked, the headline); every
    ``alert`` result raises an alert, acknowledged if older than two days."""
    by_project = {p.name: p for p in PROJECTS}
    names = {v: k for k, v in project_ids.items()}
    active = {
        project_id: (deployment_id, version_id, f"{model}@{version}")
        for project_id, deployment_id, version_id, model, version in conn.execute(
            "SELECT p.id, d.id, v.id, m.name, v.version FROM deployment d"
            " JOIN model_version v ON v.id = d.model_version_id"
            " JOIN registered_model m ON m.id = v.model_id"
            " JOIN run r ON r.id = v.run_id JOIN project p ON p.id = r.project_id"
            " WHERE d.status = 'active'"
        ).fetchall()
    }
    monitors = [
        (monitor_id, project_id, name, kind, schedule)
        for monitor_id, project_id, name, kind, schedule in conn.execute(
            "SELECT id, project_id, name, kind, schedule FROM monitor WHERE enabled = 1 ORDER BY id"
        ).fetchall()
        if project_id in names
    ]
    if not monitors:
        return {"monitor results": 0, "alerts": 0}
    share, extra = divmod(total_results or 0, len(monitors))

    def history(index: int, spacing: timedelta) -> int:
        if total_results is None:
            return max(1, int(DEFAULT_HISTORY / spacing))
        return share + (1 if index < extra else 0)

    variants: dict[tuple[int, str], list[tuple[str, str, float | None]]] = {}
    for monitor_id, project_id, _name, kind, _schedule in monitors:
        project = by_project[names[project_id]]
        for status in RESULT_STATUSES:
            variants[(monitor_id, status)] = [
                _details(project, kind, status, rng) for _ in range(DETAIL_VARIANTS)
            ]

    def times(index: int) -> Iterable[tuple[datetime, int]]:
        spacing = SPACING.get(monitors[index][4], timedelta(hours=6))
        count = history(index, spacing)
        # every monitor's newest result is a little before now, oldest first
        newest = now - timedelta(minutes=1 + index % 50)
        for k in range(count - 1, -1, -1):
            yield newest - k * spacing, index

    alerts: list[tuple[Any, ...]] = []
    checked: dict[int, tuple[int, datetime]] = {}
    host = HOSTS[0]

    def rows() -> Iterable[tuple[Any, ...]]:
        # in time order across monitors, as an agent writes them
        for moment, index in heapq.merge(*(times(i) for i in range(len(monitors)))):
            monitor_id, project_id, name, _kind, _schedule = monitors[index]
            result_id = ids.take("monitor_result")
            status = rng.choices(RESULT_STATUSES, RESULT_WEIGHTS)[0]
            summary, details, headline = rng.choice(variants[(monitor_id, status)])
            deployment_id, version_id, ref = active.get(project_id, (None, None, ""))
            finished = moment + timedelta(seconds=1 + rng.random() * 3)
            count, _last = checked.get(monitor_id, (0, moment))
            checked[monitor_id] = (count + 1, moment)
            if status == "alert":
                acknowledged = moment < now - timedelta(days=2)
                alerts.append(
                    (
                        ids.take("alert"),
                        monitor_id,
                        result_id,
                        "alert",
                        f"{name}: {summary}",
                        ts(finished),
                        ts(finished + timedelta(hours=3)) if acknowledged else None,
                        rng.choice(USERS) if acknowledged else None,
                    )
                )
            yield (
                result_id,
                monitor_id,
                deployment_id,
                status,
                summary,
                details,
                f"incoming/batch-{moment:%Y%m%d-%H%M}.csv",
                ts(moment),
                "" if status == "error" else _hex(rng),
                rng.randint(200_000, 2_000_000),
                int(moment.timestamp() * 1e9),
                None if status == "error" else rng.randint(1_000, 10_000),
                version_id,
                ref,
                f"{host}:{rng.randint(1000, 60000)}",
                ts(moment),
                ts(finished),
                headline,
            )

    counts = {
        "monitor results": _insert_iter(
            conn,
            "monitor_result",
            "id, monitor_id, deployment_id, status, summary, details_json, batch_path, ran_at, "
            "batch_hash, batch_size, batch_mtime_ns, rows, model_version_id, model_ref, runner, "
            "started_at, finished_at, headline",
            rows(),
        ),
        "alerts": _insert(
            conn,
            "alert",
            "id, monitor_id, result_id, severity, message, created_at, acknowledged_at, "
            "acknowledged_by",
            alerts,
        ),
    }
    conn.executemany(
        "UPDATE monitor SET checks_count = ?, last_checked_at = ? WHERE id = ?",
        [(count, ts(last), monitor_id) for monitor_id, (count, last) in checked.items()],
    )
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Create a Dockyard workspace in DIR filled with a large, realistic history.",
        epilog="example: python bench/seed.py /tmp/big --runs 100000 --metrics-per-run 10",
    )
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument("--runs", type=int, default=100_000, help="runs to create (100000)")
    parser.add_argument(
        "--metrics-per-run",
        type=int,
        default=4,
        metavar="N",
        help="metric points per finished run (4)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    parser.add_argument("--months", type=int, default=6, help="months of history (6)")
    parser.add_argument(
        "--monitors",
        type=int,
        metavar="N",
        help="monitors in all (the projects' own 7, then more in their files)",
    )
    parser.add_argument(
        "--monitor-results",
        type=int,
        metavar="N",
        help="monitor results in all, shared evenly (default: two weeks per monitor)",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="an empty PostgreSQL database (postgresql+psycopg://...) to hold the store",
    )
    args = parser.parse_args(argv)
    try:
        report = seed_workspace(
            args.directory,
            runs=args.runs,
            metrics_per_run=args.metrics_per_run,
            seed=args.seed,
            months=args.months,
            monitors=args.monitors,
            monitor_results=args.monitor_results,
            db=args.db,
        )
    except (ValueError, OSError, DockyardError) as exc:
        print(f"seed: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
