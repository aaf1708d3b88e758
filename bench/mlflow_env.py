"""MLflow, measured in its own environment: never a dependency of Dockyard.

The benches compare Dockyard with MLflow's tracking client on a SQLite backend store.
MLflow lives only in ``bench/.venv`` (ignored by git through the ``.venv/`` pattern),
created on demand with ``python -m venv`` and ``pip install mlflow-skinny sqlalchemy
alembic`` (the tracking client plus what its SQL store needs), and every MLflow number
is measured in a subprocess running that environment's interpreter:

    bench/.venv/bin/python bench/mlflow_env.py batch --dir D --steps N [--uri postgresql://...]
    bench/.venv/bin/python bench/mlflow_env.py metric --dir D --points N
    bench/.venv/bin/python bench/mlflow_env.py history --dir D --steps N --repeat R

Each prints one JSON object. As a library (in the project's venv), :func:`ensure` makes
or finds the environment and :func:`run` calls the worker. ``ensure(postgres=True)`` adds
``psycopg2-binary`` (the driver MLflow's SQL store uses for ``postgresql://``), for
``batch --uri`` on a PostgreSQL server (``bench/pg_tracking.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
REQUIREMENTS = ("mlflow-skinny", "sqlalchemy", "alembic")
#: What MLflow's SQL store needs on top for a ``postgresql://`` tracking URI.
POSTGRES_REQUIREMENTS = ("psycopg2-binary",)
#: MLflow refuses more metrics than this in one ``log_batch`` call.
MAX_BATCH = 1000
#: No telemetry, no network: the bench measures the store, nothing else.
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


@dataclass(frozen=True)
class MlflowEnv:
    """A usable MLflow environment (``python`` is its interpreter), or why there is none."""

    python: Path | None
    version: str | None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.python is not None


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _mlflow_version(python: Path, postgres: bool = False) -> str | None:
    modules = "mlflow, sqlalchemy, alembic" + (", psycopg2" if postgres else "")
    try:
        done = subprocess.run(
            [str(python), "-c", f"import {modules}; print(mlflow.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **QUIET_ENV},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def ensure(install: bool = True, log: Any = print, postgres: bool = False) -> MlflowEnv:
    """The MLflow environment in ``bench/.venv``, made (when ``install``) if missing;
    with ``postgres``, able to use a PostgreSQL tracking store too."""
    python = _venv_python()
    requirements = REQUIREMENTS + (POSTGRES_REQUIREMENTS if postgres else ())
    if python.exists():
        version = _mlflow_version(python, postgres)
        if version:
            return MlflowEnv(python, version)
    if not install:
        return MlflowEnv(None, None, "not installed (run without --no-mlflow to install it)")
    log(f"installing MLflow into {VENV.relative_to(HERE.parent)} (once; about 20 s) ...")
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(VENV)],
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
        done = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *requirements,
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return MlflowEnv(None, None, f"could not create {VENV}: {exc}")
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "WARNING" not in line]
        detail = lines[-1] if lines else f"pip exited with {done.returncode}"
        return MlflowEnv(None, None, f"pip could not install MLflow: {detail}")
    version = _mlflow_version(python, postgres)
    if version is None:
        return MlflowEnv(None, None, "MLflow installed but does not import")
    return MlflowEnv(python, version)


def run(env: MlflowEnv, task: str, *args: str, timeout: float = 1800) -> dict[str, Any]:
    """Run one worker task in the MLflow environment and return its JSON result."""
    assert env.python is not None
    done = subprocess.run(
        [str(env.python), str(Path(__file__).resolve()), task, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **QUIET_ENV},
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"MLflow worker {task} failed ({done.returncode}): {tail}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- worker side


def _client(directory: Path, uri: str | None = None) -> tuple[Any, str]:
    """A client on a fresh SQLite store in ``directory`` (or on the tracking store ``uri``,
    e.g. an empty PostgreSQL database) and a new run's id."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    directory.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=uri or f"sqlite:///{directory / 'mlflow.db'}")
    experiment = client.create_experiment("bench", artifact_location=str(directory / "art"))
    return client, client.create_run(experiment).info.run_id


def _rows(steps: int) -> list[tuple[str, int, float]]:
    from benchkit import metric_rows

    return metric_rows(steps)


def _batch(directory: Path, steps: int, uri: str | None = None) -> dict[str, Any]:
    from mlflow.entities import Metric

    client, run_id = _client(directory, uri)
    stamp = int(time.time() * 1000)
    metrics = [Metric(key, value, stamp, step) for key, step, value in _rows(steps)]
    batches = [metrics[i : i + MAX_BATCH] for i in range(0, len(metrics), MAX_BATCH)]
    cpu, wall = time.process_time(), time.perf_counter()
    for batch in batches:
        client.log_batch(run_id, metrics=batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"points": len(metrics), "seconds": wall, "cpu_seconds": cpu, "batch": MAX_BATCH}


def _metric(directory: Path, points: int) -> dict[str, Any]:
    client, run_id = _client(directory)
    rows = _rows(max(1, points // 4))[:points]
    cpu, wall = time.process_time(), time.perf_counter()
    for key, step, value in rows:
        client.log_metric(run_id, key, value, step=step)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"points": len(rows), "seconds": wall, "cpu_seconds": cpu}


def _history(directory: Path, steps: int, repeat: int) -> dict[str, Any]:
    from mlflow.entities import Metric

    client, run_id = _client(directory)
    stamp = int(time.time() * 1000)
    metrics = [Metric(key, value, stamp, step) for key, step, value in _rows(steps)]
    for i in range(0, len(metrics), MAX_BATCH):
        client.log_batch(run_id, metrics=metrics[i : i + MAX_BATCH])
    samples, cpu_samples, count = [], [], 0
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        count = len(client.get_metric_history(run_id, "loss"))
        samples.append(time.perf_counter() - wall)
        cpu_samples.append(time.process_time() - cpu)
    return {"points": count, "stored": len(metrics), "seconds": samples, "cpu": cpu_samples}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="MLflow side of Dockyard's benches")
    parser.add_argument("task", choices=("batch", "metric", "history", "ensure"))
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--uri", help="batch: this tracking store instead of SQLite in --dir")
    parser.add_argument("--postgres", action="store_true", help="ensure: with psycopg2 too")
    args = parser.parse_args(argv)
    if args.task == "ensure":  # from the project's venv: make the environment now
        env = ensure(install=True, postgres=args.postgres)
        print(f"MLflow {env.version} in {env.python}" if env.available else env.reason)
        return 0 if env.available else 1
    if args.dir is None:
        parser.error("--dir is required")
    if args.task == "batch":
        result = _batch(args.dir, args.steps, args.uri)
    elif args.task == "metric":
        result = _metric(args.dir, args.points)
    else:
        result = _history(args.dir, args.steps, args.repeat)
    import mlflow

    result["mlflow"] = mlflow.__version__
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
