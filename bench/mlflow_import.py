"""Importing an MLflow SQLite store: Dockyard against raw sqlite3 and MLflow's own client.

    python bench/mlflow_import.py [--runs 10000] [--metrics 5] [--steps 100] [--repeat 3]
                                  [--mlflow-runs 300] [--no-mlflow] [--out FILE]

The store: a copy of the MLflow 3.17 fixture database (``tests/fixtures/mlflow``, written
by real MLflow, so the schema is MLflow's own) with an experiment ``bench`` of ``--runs``
finished runs, each with 3 params, 2 tags and ``--metrics`` metrics of ``--steps`` steps,
inserted with ``executemany``.

Timed, side by side in one process run on the same store, the first two ``--repeat``
times each, taken in turns (raw, import, raw, import, ...) so that a change of the
machine's load falls on both; medians are reported:

* ``raw sqlite3 read``: the same rows read with the standard library, run by run (the
  runs of the experiment, then each run's params, tags and metric points, all fetched):
  the floor for anything that reads the store;
* ``dockyard import``: ``core.mlflow_import.import_mlflow(workspace, store, ["bench"])``
  into a fresh workspace (``init_workspace``): reading, one transaction per run, every
  point written; the metric rows are counted after it;
* ``mlflow log_batch``: the same runs re-logged through ``MlflowClient`` (``create_run``,
  one ``log_batch`` of the run's params and points, ``set_terminated``) into a fresh
  MLflow SQLite store, in MLflow's own environment (``bench/mlflow_env.py``). On
  ``--mlflow-runs`` runs only (MLflow needs minutes for a few hundred), scaled per run to
  ``--runs``: the table says so.

Targets (issue 13): the import within 3x the raw read, and at least 20x faster than
re-logging through MLflow.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent / "tests" / "fixtures" / "mlflow" / "mlflow3" / "sqlite" / "mlflow.db"
T0 = 1_704_164_645_000


def make_store(db: Path, runs: int, metrics: int, steps: int) -> str:
    """Copy the fixture store to ``db`` and add experiment ``bench``; returns its id."""
    shutil.copyfile(TEMPLATE, db)
    con = sqlite3.connect(db)
    with con:
        cur = con.execute(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
            "last_update_time) VALUES ('bench', '', 'active', ?, ?)",
            (T0, T0),
        )
        experiment = int(cur.lastrowid or 0)
        keys = [f"metric_{k}" for k in range(metrics)]
        for i in range(runs):
            run = f"{i:032x}"
            start = T0 + i * 1000
            con.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id) VALUES (?, ?, 'LOCAL', '', '', 'bench', "
                "'FINISHED', ?, ?, '', 'active', '', ?)",
                (run, f"run-{i}", start, start + 900, experiment),
            )
            con.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                [("lr", str(0.01 * (i % 7 + 1)), run), ("depth", str(i % 9), run),
                 ("model", "gbm", run)],
            )  # fmt: skip
            con.executemany(
                "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                [("mlflow.runName", f"run-{i}", run), ("mlflow.user", "bench", run)],
            )
            con.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                [
                    (key, 1.0 / (step + k + 1), start + step, run, step)
                    for k, key in enumerate(keys)
                    for step in range(steps)
                ],
            )
    con.close()
    return str(experiment)


def raw_read(db: Path, experiment: str) -> int:
    """Every row the import reads, read with ``sqlite3``; returns the metric points."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    points = 0
    for (run,) in con.execute(
        "SELECT run_uuid FROM runs WHERE experiment_id = ? ORDER BY start_time", (experiment,)
    ).fetchall():
        con.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run,)).fetchall()
        con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run,)).fetchall()
        points += len(
            con.execute(
                "SELECT key, step, value, timestamp, is_nan FROM metrics WHERE run_uuid = ? "
                "ORDER BY key, step, timestamp",
                (run,),
            ).fetchall()
        )
    con.close()
    return points


def dockyard_import(db: Path, folder: Path) -> tuple[int, int]:
    """(runs imported, metric rows stored) of an import into a fresh workspace."""
    sys.path.insert(0, str(HERE.parent / ".pkg"))
    from dockyard.core.mlflow_import import import_mlflow
    from dockyard.core.workspace import init_workspace

    workspace = init_workspace(folder)
    summary = import_mlflow(workspace, f"sqlite:///{db}", ["bench"])
    assert workspace.db_path is not None
    with sqlite3.connect(workspace.db_path) as con:
        stored = con.execute("SELECT count(*) FROM metric").fetchone()[0]
    return summary.counts["run"]["imported"], int(stored)


# --------------------------------------------------------------------------- MLflow side


def relog(directory: Path, runs: int, metrics: int, steps: int) -> dict[str, Any]:
    """Re-log ``runs`` runs like the store's through ``MlflowClient.log_batch`` (run in
    MLflow's environment)."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    directory.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{directory / 'mlflow.db'}")
    experiment = client.create_experiment("bench", artifact_location=str(directory / "art"))
    keys = [f"metric_{k}" for k in range(metrics)]
    wall = time.perf_counter()
    cpu = time.process_time()
    for i in range(runs):
        start = T0 + i * 1000
        run = client.create_run(experiment, start_time=start, tags={"mlflow.user": "bench"})
        points = [
            Metric(key, 1.0 / (step + k + 1), start + step, step)
            for k, key in enumerate(keys)
            for step in range(steps)
        ]
        params = [Param("lr", str(0.01 * (i % 7 + 1))), Param("depth", str(i % 9)),
                  Param("model", "gbm")]  # fmt: skip
        for at in range(0, len(points), 1000):  # MLflow's most per call
            client.log_batch(
                run.info.run_id,
                metrics=points[at : at + 1000],
                params=params if at == 0 else [],
                tags=[RunTag("mlflow.runName", f"run-{i}")] if at == 0 else [],
            )
        client.set_terminated(run.info.run_id, "FINISHED", end_time=start + 900)
    return {
        "runs": runs,
        "points": runs * metrics * steps,
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", nargs="?", default="bench", choices=("bench", "relog"))
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mlflow-runs", type=int, default=300)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.task == "relog":  # in MLflow's environment
        print(json.dumps(relog(args.dir, args.runs, args.metrics, args.steps)))
        return 0

    sys.path.insert(0, str(HERE))
    from benchkit import (
        Target,
        fmt_number,
        print_table,
        print_targets,
        summary,
        timed,
        write_results,
    )

    load_before = list(os.getloadavg())
    commit = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    points = args.runs * args.metrics * args.steps
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-mlflow-") as tmp:
        root = Path(tmp)
        db = root / "mlflow.db"
        make_seconds, _, experiment = timed(
            lambda: make_store(db, args.runs, args.metrics, args.steps)
        )
        print(f"store: {args.runs:,} runs, {points:,} points ({make_seconds:.1f} s to write)")
        raw_walls: list[float] = []
        raw_cpus: list[float] = []
        dy_walls: list[float] = []
        dy_cpus: list[float] = []
        for attempt in range(args.repeat):
            wall, cpu, raw_points = timed(lambda: raw_read(db, experiment))
            assert raw_points == points, (raw_points, points)
            raw_walls.append(wall)
            raw_cpus.append(cpu)
            folder = root / f"ws{attempt}"
            wall, cpu, (dy_runs, dy_points) = timed(partial(dockyard_import, db, folder))
            assert dy_runs == args.runs and dy_points == points, (dy_runs, dy_points)
            dy_walls.append(wall)
            dy_cpus.append(cpu)
            shutil.rmtree(folder)  # a fresh workspace each time; the disk is not ours
            print(f"  {attempt + 1}/{args.repeat}: raw {raw_walls[-1]:.1f} s, "
                  f"import {dy_walls[-1]:.1f} s wall")  # fmt: skip
        raw_wall, raw_cpu = summary(raw_walls)["median"], summary(raw_cpus)["median"]
        dy_wall, dy_cpu = summary(dy_walls)["median"], summary(dy_cpus)["median"]
        mlflow: dict[str, Any] | None = None
        if not args.no_mlflow:
            import mlflow_env

            env = mlflow_env.ensure(install=True)
            if env.available:
                assert env.python is not None
                done = subprocess.run(
                    [str(env.python), __file__, "relog", "--dir", str(root / "mlflow"),
                     "--runs", str(args.mlflow_runs), "--metrics", str(args.metrics),
                     "--steps", str(args.steps)],
                    capture_output=True, text=True, timeout=3600,
                    env={**os.environ, **mlflow_env.QUIET_ENV},
                )  # fmt: skip
                if done.returncode != 0:
                    raise RuntimeError(done.stderr[-2000:])
                mlflow = json.loads(done.stdout.strip().splitlines()[-1])
                mlflow["version"] = env.version
            else:
                print(f"MLflow not measured: {env.reason}")
    mlflow_scaled = mlflow["seconds"] * args.runs / mlflow["runs"] if mlflow else None

    def spread(walls: list[float]) -> str:
        return f"median of {len(walls)}, wall {min(walls):.1f}-{max(walls):.1f}"

    rows = [
        ("raw sqlite3 read", fmt_number(raw_wall), fmt_number(raw_cpu), f"{points:,}",
         spread(raw_walls)),
        ("dockyard import", fmt_number(dy_wall), fmt_number(dy_cpu), f"{points:,}",
         spread(dy_walls)),
    ]  # fmt: skip
    if mlflow:
        rows.append((
            f"mlflow {mlflow['version']} log_batch", fmt_number(mlflow_scaled), "-",
            f"{mlflow['points']:,}",
            f"{mlflow['runs']:,} runs took {mlflow['seconds']:.1f} s; scaled to {args.runs:,}",
        ))  # fmt: skip
    print_table("Import of an MLflow SQLite store (seconds)",
                ("method", "wall", "cpu", "points", "note"), rows)  # fmt: skip
    targets = [
        Target("import / raw sqlite3 read", dy_wall / raw_wall, 3.0, "x", False,
               f"wall clock medians, same store, same process run; CPU {dy_cpu / raw_cpu:.2f}x"),
        Target("mlflow log_batch / import", (mlflow_scaled or 0) / dy_wall if mlflow else None,
               20.0, "x", True, "MLflow scaled per run from --mlflow-runs"),
    ]  # fmt: skip
    print_targets(targets)
    params = {"runs": args.runs, "metrics": args.metrics, "steps": args.steps,
              "repeat": args.repeat, "mlflow_runs": args.mlflow_runs, "commit": commit,
              "load_before": load_before}  # fmt: skip
    results = {"make_store_seconds": make_seconds,
               "raw": {"seconds": raw_wall, "cpu_seconds": raw_cpu, "points": raw_points,
                       "walls": raw_walls, "cpus": raw_cpus},
               "dockyard": {"seconds": dy_wall, "cpu_seconds": dy_cpu, "points": dy_points,
                            "walls": dy_walls, "cpus": dy_cpus},
               "mlflow": mlflow, "mlflow_scaled_seconds": mlflow_scaled,
               "mlflow_scaled_cpu_seconds": mlflow["cpu_seconds"] * args.runs / mlflow["runs"]
               if mlflow else None}  # fmt: skip
    path = write_results("mlflow_import", params, results, targets, args.out)
    print(f"results: {path}")
    return 0 if all(t.met is not False for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
