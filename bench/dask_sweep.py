"""A sweep on a 2-worker local Dask cluster against the same sweep on the local executor.

    python bench/dask_sweep.py [--runs 16] [--workers 2] [--repeat 1] [--out FILE]

Each measurement: a fresh workspace with the wine sample (``add_project``, its data
registered as a dataset version), a real ``dockyard agent`` process holding the lease
(``--concurrency WORKERS``; with ``--executor dask --scheduler ADDR`` for Dask), then a
sweep of ``--runs`` runs (``-p seed=1,2,...``) queued and timed until every run has ended.
The Dask cluster is a ``dask scheduler`` and ``dask worker --nworkers WORKERS --nthreads
1`` on this machine, started once before the first measurement (like a team's running
cluster) and stopped at the end. The two executors alternate, ``--repeat`` times each,
local first in even rounds and Dask first in odd ones, so a change in the machine's load
hits both alike.

Target (issue 12): the Dask sweep's wall clock within 1.2x the local executor's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchkit as kit

TARGET_RATIO = 1.2
FINAL = ("finished", "failed", "cancelled", "lost")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child_env(home: Path | None = None) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    pkg = str(kit.ROOT / ".pkg")
    env = {**os.environ, "PYTHONPATH": f"{pkg}{os.pathsep}{path}" if path else pkg}
    env.pop("DOCKYARD_DB", None)
    if home is not None:
        env["DOCKYARD_HOME"] = str(home)
    return env


def stop_group(process: subprocess.Popen[Any], grace: float = 15.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_cluster(folder: Path, workers: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    from distributed import Client

    file = folder / "scheduler.json"
    processes = []
    for argv, name in (
        (["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
          "--scheduler-file", str(file)], "scheduler.log"),
        (["worker", "--scheduler-file", str(file), "--nworkers", str(workers),
          "--nthreads", "1", "--no-dashboard"], "workers.log"),
    ):  # fmt: skip
        if name == "workers.log":
            deadline = time.monotonic() + 60
            while not file.is_file():
                if time.monotonic() > deadline:
                    raise SystemExit("the Dask scheduler did not start; see " + str(folder))
                time.sleep(0.2)
        with (folder / name).open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "dask", *argv], cwd=folder, env=child_env(),
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        processes.append(process)
    address = json.loads(file.read_text())["address"]
    connect: Any = Client
    with connect(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, processes


def make_workspace(root: Path) -> Any:
    from dockyard.core.datasets import register_dataset
    from dockyard.core.projects import add_project
    from dockyard.core.workspace import init_workspace

    workspace = init_workspace(root / "ws")
    project = root / "wine"
    shutil.copytree(
        kit.ROOT / "sample_projects" / "wine", project, ignore=shutil.ignore_patterns("outputs")
    )
    add_project(workspace, project)
    register_dataset(workspace, "wine", project / "data" / "train.csv")
    return workspace


def run_sweep(
    root: Path, runs: int, workers: int, cv_folds: int, scheduler: str | None
) -> dict[str, Any]:
    """One measurement: agent up, sweep queued, wall clock until every run ended."""
    from dockyard.core.agent import agent_status
    from dockyard.core.runs import get_run, queue_runs

    workspace = make_workspace(root)
    argv = [sys.executable, "-m", "dockyard.tui", "agent", "--concurrency", str(workers)]
    if scheduler:
        argv += ["--executor", "dask", "--scheduler", scheduler]
    with (root / "agent.log").open("ab") as out:
        agent = subprocess.Popen(
            argv, env=child_env(workspace.home), stdout=out, stderr=out,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while agent_status(workspace).pid != agent.pid:
            if agent.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the agent did not start; see {root / 'agent.log'}")
            time.sleep(0.1)
        seeds = ",".join(str(i) for i in range(1, runs + 1))
        started = time.perf_counter()
        queued = queue_runs(workspace, "wine", [f"seed={seeds}", f"cv_folds={cv_folds}"])
        ids = [r.id for r in queued]
        pending = set(ids)
        while pending:
            pending = {i for i in pending if get_run(workspace, i).status not in FINAL}
            time.sleep(0.2)
        wall = time.perf_counter() - started
    finally:
        stop_group(agent)
    infos = [get_run(workspace, i) for i in ids]
    statuses = [i.status for i in infos]
    if any(s != "finished" for s in statuses):
        failed = next(i for i in infos if i.status != "finished")
        raise SystemExit(f"run {failed.id} {failed.status}: {failed.error}")
    durations = [i.duration for i in infos if i.duration is not None]
    workers_used = sorted({str(i.env.get("executor", {}).get("worker", "local")) for i in infos})
    return {
        "wall_seconds": wall,
        "run_seconds_median": statistics.median(durations),
        "runs": len(ids),
        "workers_used": workers_used,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=16, help="runs in the sweep")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers = concurrency")
    parser.add_argument("--cv-folds", type=int, default=5, help="the wine sample's cv_folds")
    parser.add_argument("--repeat", type=int, default=1, help="sweeps per executor")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/)")
    args = parser.parse_args()
    os.environ.pop("DOCKYARD_DB", None)

    times: dict[str, list[dict[str, Any]]] = {"local": [], "dask": []}
    with tempfile.TemporaryDirectory(prefix="dockyard-dask-bench-") as tmp:
        base = Path(tmp)
        (base / "cluster").mkdir()
        log(f"starting a Dask scheduler and {args.workers} workers")
        address, cluster = start_cluster(base / "cluster", args.workers)
        try:
            for round_ in range(args.repeat):
                # alternating which goes first, so a load that drifts during the bench
                # does not always favour the second
                order = [("local", None), ("dask", address)]
                for name, scheduler in order if round_ % 2 == 0 else order[::-1]:
                    root = base / f"{name}-{round_}"
                    root.mkdir()
                    log(f"{name}: sweep of {args.runs} runs, concurrency {args.workers}")
                    result = run_sweep(root, args.runs, args.workers, args.cv_folds, scheduler)
                    log(f"{name}: {result['wall_seconds']:.1f} s")
                    times[name].append(result)
        finally:
            for process in reversed(cluster):
                stop_group(process)

    local = kit.summary([r["wall_seconds"] for r in times["local"]])
    dask = kit.summary([r["wall_seconds"] for r in times["dask"]])
    ratio = dask["median"] / local["median"]
    results = {
        "local": {"wall_seconds": local, "sweeps": times["local"]},
        "dask": {"wall_seconds": dask, "sweeps": times["dask"], "scheduler": "local"},
        "ratio": ratio,
    }
    targets = [
        kit.Target(
            f"sweep of {args.runs} on {args.workers} Dask workers / local executor "
            f"(concurrency {args.workers})",
            ratio,
            TARGET_RATIO,
            "x",
            False,
            f"local {local['median']:.1f} s, dask {dask['median']:.1f} s (median wall clock)",
        )
    ]
    kit.print_table(
        "Sweeps",
        ["executor", "wall (median)", "min", "max", "run (median)"],
        [
            [
                name,
                f"{summary['median']:.1f} s",
                f"{summary['min']:.1f} s",
                f"{summary['max']:.1f} s",
                f"{statistics.median(r['run_seconds_median'] for r in times[name]):.1f} s",
            ]
            for name, summary in (("local", local), ("dask", dask))
        ],
    )
    kit.print_targets(targets)
    params = {
        "runs": args.runs,
        "workers": args.workers,
        "cv_folds": args.cv_folds,
        "repeat": args.repeat,
    }
    path = kit.write_results("dask_sweep", params, results, targets, args.out)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
