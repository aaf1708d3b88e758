"""Tracking into PostgreSQL: Dockyard's Tracker against raw COPY and MLflow's log_batch.

    python bench/pg_tracking.py [--db URL] [--points 1000000] [--repeat 3]
                                [--mlflow-points 100000] [--no-mlflow] [--no-sqlite]
                                [--out FILE]

Target (issue 12): at least 100,000 points/s from one process, and at least 10x MLflow's
``log_batch`` into the same PostgreSQL server.

The server: a private one started with the test suite's code and durable settings
(``bench/pgkit.py``), or the server of ``--db URL`` (its role must be allowed to create
databases; the bench makes ``dockyard_bench_*`` databases and drops them). Each sample
runs in a fresh process on a fresh database copied from a template (``CREATE DATABASE
... TEMPLATE``), so no sample inherits another's rows:

* ``dockyard log_metric``: the workspace made by ``init_workspace(db=URL)`` with a
  project added by ``add_project`` and one running run; ``Tracker.from_env`` with the
  environment the runner sets (``DOCKYARD_DB`` naming the database), default batching
  (``COPY`` of 10,000 points a transaction from a background thread), one
  ``log_metric(key, value, step)`` per point over four metrics, timed from the first call
  until ``close()`` has returned, which is what a training script waits for; the rows are
  counted afterwards (a lost point fails the bench). Also ``log_metrics``, one call a step;
* ``raw psycopg COPY``: the same rows into the same table by binary ``COPY`` (the
  Tracker's format) in transactions of 10,000 rows (the Tracker's batches), from a
  connection opened beforehand, nothing else: the floor;
  also in text format, and, on the private server only, with the triggers of ``metric``
  switched off (its check of ``run_id``, migration 0012: a diagnostic of where the
  server's time goes, not a baseline);
* ``mlflow log_batch``: ``MlflowClient.log_batch`` (1,000 metrics a call, MLflow's
  maximum) into an MLflow tracking store in another database of the same server
  (``bench/mlflow_env.py``'s environment, with psycopg2), fewer points (``--mlflow-points``)
  because it is slow, compared in points/s;
* ``dockyard log_metric, SQLite``: the same as the first into a SQLite workspace, as
  context (``bench/tracking.py`` measures SQLite properly).

The methods take turns in each repeat so that all of them see the same machine load.
CPU per point is reported beside the wall clock, for the client process (all threads)
and, on the private server, for all the server's processes: on a shared machine the wall
clock follows the load, the CPU cost does not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchkit as kit
import mlflow_env
import pgkit
import tracking

TARGET_POINTS_PER_S = 100_000
TARGET_VS_MLFLOW = 10.0
METHODS = (
    "pg_tracker",
    "pg_tracker_metrics",
    "pg_copy",
    "pg_copy_text",
    "pg_copy_no_fk",
    "sqlite_tracker",
    "mlflow_batch",
)
LABELS = {
    "pg_tracker": "dockyard log_metric, PostgreSQL",
    "pg_tracker_metrics": "dockyard log_metrics, PostgreSQL",
    "pg_copy": "raw psycopg COPY (same batches), PostgreSQL",
    "pg_copy_text": "  raw COPY, text format",
    "pg_copy_no_fk": "  diagnostic: raw COPY, FK check off",
    "sqlite_tracker": "dockyard log_metric, SQLite",
    "mlflow_batch": "mlflow log_batch, PostgreSQL",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- worker


def _copy_worker(steps: int, binary: bool = True) -> dict[str, Any]:
    """The floor: the rows the Tracker would write, by ``COPY`` in the Tracker's batches
    (``DEFAULT_FLUSH_POINTS`` rows a transaction) and its binary format (or text, the
    format it used before). One ``COPY`` of a million rows is no floor: PostgreSQL queues
    each row's foreign-key check until the statement ends, and that costs more per row."""
    import psycopg

    from dockyard.core.tracking import _COPY_METRICS, _COPY_TYPES, DEFAULT_FLUSH_POINTS

    run_id = int(os.environ["DOCKYARD_RUN_ID"])
    rows = kit.metric_rows(steps)
    statement = _COPY_METRICS if binary else _COPY_METRICS.split(" (FORMAT")[0]
    conn = psycopg.connect(pgkit.libpq(os.environ["DOCKYARD_DB"]))
    cpu, wall = time.process_time(), time.perf_counter()
    stamp = time.time()
    for start in range(0, len(rows), DEFAULT_FLUSH_POINTS):
        with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
            if binary:
                copy.set_types(_COPY_TYPES)
            for key, step, value in rows[start : start + DEFAULT_FLUSH_POINTS]:
                copy.write_row((run_id, key, step, value, stamp))
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    conn.close()
    return {"points": len(rows), "seconds": seconds, "cpu_seconds": cpu_seconds}


def _run_copy_worker(steps: int, env: dict[str, str], binary: bool = True) -> dict[str, Any]:
    done = subprocess.run(
        [
            kit.python(),
            str(Path(__file__).resolve()),
            "_copy",
            "--steps",
            str(steps),
            *([] if binary else ["--text"]),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the COPY worker failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- parent side


def insert_running_run(url: str, project_id: int) -> int:
    """A run row as the agent leaves it when it starts a run (running, this host)."""
    import psycopg

    with psycopg.connect(pgkit.libpq(url)) as conn:
        row = conn.execute(
            'INSERT INTO run (project_id, status, command, error, pid, host, "user", '
            "log_path, env_json, primary_metric, created_at, started_at, heartbeat_at) "
            "VALUES (%s, 'running', 'python train.py', '', %s, %s, 'bench', '', '{}', "
            "'accuracy', now(), now(), now()) RETURNING id",
            (project_id, os.getpid(), platform.node()),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _disable_fk(url: str) -> None:
    """Diagnostic only (superuser): what the check of ``metric.run_id`` costs the server
    (the per-row foreign key before migration 0012, one query per statement since), by
    switching its triggers off in this sample's database."""
    import psycopg

    with psycopg.connect(pgkit.libpq(url), autocommit=True) as conn:
        conn.execute("ALTER TABLE metric DISABLE TRIGGER ALL")


def count_points(url: str, run_id: int) -> int:
    import psycopg

    with psycopg.connect(pgkit.libpq(url)) as conn:
        row = conn.execute("SELECT count(*) FROM metric WHERE run_id = %s", (run_id,)).fetchone()
    return int(row[0]) if row else 0


class PgTemplate:
    """A PostgreSQL workspace (project, running run) whose database each sample copies."""

    def __init__(self, pg: pgkit.PgServer, root: Path) -> None:
        from dockyard.core.workspace import close_stores

        self.pg = pg
        self.database = pg.create("template")
        self.workspace, project_id = kit.make_workspace(
            root / "pg-workspace", db=pg.url(self.database)
        )
        self.project_dir = root / "pg-workspace" / "projects" / kit.PROJECT_NAME
        self.run_id = insert_running_run(pg.url(self.database), project_id)
        close_stores()  # a template database must have no connections when copied

    def fresh(self) -> tuple[str, dict[str, str]]:
        """(database name, the runner's environment for the run in it)."""
        name = self.pg.create("sample", template=self.database)
        env = kit.tracker_env(self.workspace, self.run_id)
        env["DOCKYARD_DB"] = self.pg.url(name)
        return name, env


def measure(
    pg: pgkit.PgServer,
    root: Path,
    steps: int,
    repeat: int,
    mlflow: mlflow_env.MlflowEnv,
    mlflow_steps: int,
    sqlite: bool,
) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Samples per method, the methods taking turns; and the number of lost points."""
    template = PgTemplate(pg, root)
    sqlite_template = tracking._Template(root / "sqlite") if sqlite else None
    samples: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    methods = [m for m in METHODS if (m != "sqlite_tracker" or sqlite)]
    if not mlflow.available:
        methods.remove("mlflow_batch")
    if pg.private is None:
        methods.remove("pg_copy_no_fk")  # needs a superuser: only on our own server
    lost = 0
    for index in range(repeat):
        shift = index % len(methods)
        for method in methods[shift:] + methods[:shift]:
            log(f"  repeat {index + 1}/{repeat}: {LABELS[method]}")
            if method == "mlflow_batch":
                database = pg.create("mlflow")
                folder = Path(tempfile.mkdtemp(dir=root, prefix="mlflow-"))
                result = mlflow_env.run(
                    mlflow,
                    "batch",
                    "--dir",
                    str(folder),
                    "--steps",
                    str(mlflow_steps),
                    "--uri",
                    # psycopg2, MLflow's documented driver, named: SQLAlchemy 2.1 would
                    # pick psycopg 3 for a bare postgresql://
                    "postgresql+psycopg2://" + pg.url(database).split("://", 1)[1],
                )
                pg.drop(database)
            elif method == "sqlite_tracker":
                assert sqlite_template is not None
                workspace, project_dir = sqlite_template.fresh()
                env = kit.tracker_env(workspace, sqlite_template.run_id)
                result = tracking._run_worker(
                    ["tracker", "--steps", str(steps), "--project-dir", str(project_dir)], env
                )
                result["stored"] = tracking._count_points(workspace, sqlite_template.run_id)
                sqlite_template.discard(workspace)
            else:
                database, env = template.fresh()
                if method == "pg_copy_no_fk":
                    _disable_fk(pg.url(database))
                server_cpu = pg.cpu_seconds()
                if method.startswith("pg_copy"):
                    result = _run_copy_worker(steps, env, binary=method != "pg_copy_text")
                else:
                    kind = "tracker" if method == "pg_tracker" else "tracker_metrics"
                    result = tracking._run_worker(
                        [kind, "--steps", str(steps), "--project-dir", str(template.project_dir)],
                        env,
                    )
                if server_cpu is not None:
                    time.sleep(0.2)  # the backend exits and is reaped after the close
                    after = pg.cpu_seconds()
                    result["server_cpu_seconds"] = None if after is None else after - server_cpu
                result["stored"] = count_points(pg.url(database), template.run_id)
                pg.drop(database)
            if "stored" in result:
                lost += max(0, result["points"] - result["stored"])
            result["points_per_s"] = result["points"] / result["seconds"]
            result["points_per_cpu_s"] = result["points"] / max(1e-9, result["cpu_seconds"])
            samples[method].append(result)
    return samples, lost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Tracking into PostgreSQL: Dockyard vs raw COPY vs MLflow log_batch"
    )
    parser.add_argument("--db", metavar="URL", help="use this server instead of a private one")
    parser.add_argument("--points", type=int, default=1_000_000, help="points per sample")
    parser.add_argument("--repeat", type=int, default=3, help="samples per method (3)")
    parser.add_argument(
        "--mlflow-points", type=int, default=100_000, help="points per log_batch sample"
    )
    parser.add_argument("--no-mlflow", action="store_true", help="skip (and never install) MLflow")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite context")
    parser.add_argument("--out", type=Path, help="JSON file (default results/pg_tracking.json)")
    args = parser.parse_args(argv)
    width = len(kit.KEYS)
    steps = max(1, args.points // width)
    mlflow_steps = max(1, args.mlflow_points // width)
    repeat = max(1, args.repeat)
    if args.no_mlflow:
        mlflow = mlflow_env.MlflowEnv(None, None, "skipped (--no-mlflow)")
    else:
        mlflow = mlflow_env.ensure(install=True, log=log, postgres=True)
    if not mlflow.available:
        log(f"MLflow: {mlflow.reason}; measuring Dockyard alone")
    load_before = os.getloadavg()
    with (
        pgkit.server(args.db) as pg,
        tempfile.TemporaryDirectory(prefix="dockyard-bench-pg-tracking-") as tmp,
    ):
        log(f"PostgreSQL {pg.version()}: {pg.describe()}")
        log(f"{steps * width:,} points per sample ({mlflow_steps * width:,} for MLflow)")
        server_version = pg.version()
        samples, lost = measure(
            pg, Path(tmp), steps, repeat, mlflow, mlflow_steps, not args.no_sqlite
        )
    load_after = os.getloadavg()

    rates = {m: kit.summary([s["points_per_s"] for s in v]) for m, v in samples.items() if v}
    cpu_rates = {
        m: kit.summary([s["points_per_cpu_s"] for s in v]) for m, v in samples.items() if v
    }
    tracker = float(rates["pg_tracker"]["median"])
    copy = float(rates["pg_copy"]["median"])
    batch = rates.get("mlflow_batch", {}).get("median")
    # CPU per point, load-independent: the client process (all its threads) and, on the
    # private server, every server process (the backend, WAL writer, checkpointer ...).
    client_us = {
        m: kit.summary([s["cpu_seconds"] / s["points"] * 1e6 for s in v])
        for m, v in samples.items()
        if v
    }
    server_us = {
        m: kit.summary(
            [s["server_cpu_seconds"] / s["points"] * 1e6 for s in v if s.get("server_cpu_seconds")]
        )
        for m, v in samples.items()
        if v and any(s.get("server_cpu_seconds") for s in v)
    }
    rows = []
    for method, rate in rates.items():
        points = samples[method][0]["points"]
        server = server_us.get(method)
        rows.append(
            (
                LABELS[method],
                f"{points:,}",
                f"{kit.fmt_rate(rate['median'])} "
                f"({kit.fmt_rate(rate['min'])}-{kit.fmt_rate(rate['max'])})",
                f"{client_us[method]['median']:.2f}",
                "-" if server is None else f"{server['median']:.2f}",
                f"{float(rate['median']) / copy:.2f}x",
                f"{float(rate['median']) / batch:.1f}x" if batch else "-",
            )
        )
    kit.print_table(
        f"Points/s into PostgreSQL, median of {repeat} (load {load_before[0]:.1f} -> "
        f"{load_after[0]:.1f})",
        (
            "method",
            "points",
            "points/s (min-max)",
            "client CPU µs/point",
            "server CPU µs/point",
            "vs COPY",
            "vs MLflow",
        ),
        rows,
    )
    targets = [
        kit.Target(
            "PostgreSQL: dockyard log_metric points/s, one process",
            tracker,
            TARGET_POINTS_PER_S,
            "points/s",
            True,
        ),
        kit.Target(
            "PostgreSQL: dockyard log_metric / MLflow log_batch, same server",
            tracker / batch if batch else None,
            TARGET_VS_MLFLOW,
            "x",
            True,
            "" if batch else mlflow.reason,
        ),
        kit.Target("lost points (every Dockyard sample)", float(lost), 1, "points", False),
    ]
    kit.print_targets(targets)
    results = {
        "samples": samples,
        "points_per_s": rates,
        "points_per_cpu_s": cpu_rates,
        "client_cpu_us_per_point": client_us,
        "server_cpu_us_per_point": server_us,
        "ratios": {
            "tracker_vs_copy": tracker / copy,
            "tracker_metrics_vs_copy": float(rates["pg_tracker_metrics"]["median"]) / copy,
            "tracker_vs_mlflow_batch": tracker / batch if batch else None,
        },
        "lost_points": lost,
        "server": {
            "version": server_version,
            "where": "--db" if args.db else "private",
            "settings": None if args.db else "durable (bench/pgkit.py)",
        },
        "load_average_before": list(load_before),
        "load_average_after": list(load_after),
        "mlflow": {
            "available": mlflow.available,
            "version": mlflow.version,
            "reason": mlflow.reason,
        },
    }
    params = {
        "points": steps * width,
        "keys": list(kit.KEYS),
        "repeat": repeat,
        "mlflow_points": mlflow_steps * width,
        "sqlite": not args.no_sqlite,
    }
    path = kit.write_results("pg_tracking", params, results, targets, args.out)
    log(f"wrote {path}")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_copy":
        count = int(sys.argv[sys.argv.index("--steps") + 1])
        print(json.dumps(_copy_worker(count, binary="--text" not in sys.argv)))
        sys.exit(0)
    sys.exit(main())
