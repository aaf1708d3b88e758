"""Fill a workspace with a realistic, large history, fast: the store the benches measure.

    python bench/seed.py DIR --runs 100000 [--metrics-per-run N] [--seed 7]

Projects (and their monitors) are registered through ``core.projects.add_project`` so that
those rows are exactly what Dockyard writes; everything else (datasets and versions, runs,
params, tags, metrics, artifacts, models and versions, aliases, deployment requests,
approvals, deployments, monitor results, alerts) goes in with the standard ``sqlite3``
module, ``executemany`` in one transaction, with explicit ids so that foreign keys are
computed rather than queried. 100,000 runs take a few seconds.

Values follow what SQLModel writes: datetimes are UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``,
booleans 0/1, metric timestamps epoch seconds. The output is deterministic for a given
``--seed`` and ``now``.
"""

from __future__ import annotations

import argparse
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


def _write_project_folder(root: Path, project: ProjectDef) -> Path:
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
        f"[[gates]]\n{project.gate}\n{project.monitors}"
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
) -> SeedReport:
    """Create (or reuse) a workspace in ``directory`` and add ``runs`` runs with history.

    ``metrics_per_run`` metric points are written per finished run (half the primary
    metric, half ``train_loss``, step by step), and when it is not 0 each running run has
    logged :data:`LIVE_STEPS` steps of both, so that the Runs pane draws its sparklines.
    A store that already holds runs is refused: seeding twice would mix two histories.
    """
    if runs < 0 or metrics_per_run < 0:
        raise ValueError("--runs and --metrics-per-run must be zero or more")
    started_at = time.perf_counter()
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    workspace = init_workspace(directory)
    db_path = workspace.db_path
    if db_path is None:
        raise ValueError("seeding needs a SQLite store; unset DOCKYARD_DB")
    for project in PROJECTS:
        add_project(workspace, _write_project_folder(workspace.root, project))

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
            "AND tbl_name IN ('run', 'metric')"
        ).fetchall()
        for name, _sql in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        counts = _fill(conn, rng, now, months, runs, metrics_per_run, workspace)
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
    return SeedReport(workspace, time.perf_counter() - started_at, counts)


def _fill(
    conn: sqlite3.Connection,
    rng: random.Random,
    now: datetime,
    months: int,
    n_runs: int,
    metrics_per_run: int,
    workspace: Workspace,
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
    counts.update(_monitoring(conn, ids, rng, now, project_ids))
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


def _monitoring(
    conn: sqlite3.Connection,
    ids: _Ids,
    rng: random.Random,
    now: datetime,
    project_ids: dict[str, int],
) -> dict[str, int]:
    """Two weeks of results for every monitor add_project created, with alerts for the
    bad ones; alerts older than two days have been acknowledged."""
    active = dict(
        conn.execute(
            "SELECT p.id, d.id FROM deployment d JOIN model_version v ON v.id = d.model_version_id"
            " JOIN run r ON r.id = v.run_id JOIN project p ON p.id = r.project_id"
            " WHERE d.status = 'active'"
        ).fetchall()
    )
    monitors = conn.execute(
        "SELECT id, project_id, kind FROM monitor WHERE enabled = 1 ORDER BY id"
    ).fetchall()
    results: list[tuple[Any, ...]] = []
    alerts: list[tuple[Any, ...]] = []
    wanted = set(project_ids.values())
    for monitor_id, project_id, kind in monitors:
        if project_id not in wanted:
            continue
        moment = now - timedelta(days=14)
        while moment < now:
            result_id = ids.take("monitor_result")
            roll = rng.random()
            status = "critical" if roll < 0.03 else "warning" if roll < 0.12 else "ok"
            score = round(rng.uniform(0.25, 0.6) if status != "ok" else rng.uniform(0, 0.18), 4)
            results.append(
                (
                    result_id,
                    monitor_id,
                    active.get(project_id),
                    status,
                    f"{kind}: score {score}" + ("" if status == "ok" else " over 0.2"),
                    json.dumps({"score": score, "threshold": 0.2}),
                    f"incoming/batch-{moment:%Y%m%d-%H}.csv",
                    ts(moment),
                )
            )
            if status != "ok":
                acknowledged = moment < now - timedelta(days=2)
                alerts.append(
                    (
                        ids.take("alert"),
                        monitor_id,
                        result_id,
                        status,
                        f"{kind} score {score} is over the threshold 0.2",
                        ts(moment),
                        ts(moment + timedelta(hours=3)) if acknowledged else None,
                        rng.choice(USERS) if acknowledged else None,
                    )
                )
            moment += timedelta(hours=6, minutes=rng.randint(0, 4))
    return {
        "monitor results": _insert(
            conn,
            "monitor_result",
            "id, monitor_id, deployment_id, status, summary, details_json, batch_path, ran_at",
            results,
        ),
        "alerts": _insert(
            conn,
            "alert",
            "id, monitor_id, result_id, severity, message, created_at, acknowledged_at, "
            "acknowledged_by",
            alerts,
        ),
    }


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
    args = parser.parse_args(argv)
    try:
        report = seed_workspace(
            args.directory,
            runs=args.runs,
            metrics_per_run=args.metrics_per_run,
            seed=args.seed,
            months=args.months,
        )
    except (ValueError, OSError, DockyardError) as exc:
        print(f"seed: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
