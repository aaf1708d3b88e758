"""How fast the command line answers, against ``dockyard --version`` in the same run (issue 10).

    python bench/cli.py [--store DIR] [--runs 100000] [--repeat 5]

Seeds a store with ``bench/seed.py`` (or uses ``--store``), then runs every command as a
whole process (the code of the ``dockyard`` entry point, with this checkout first on
``PYTHONPATH``), alternating with
``dockyard --version``: one cold call each (the first of the run, caches of the OS
aside), then ``--repeat`` warm calls. It reports each command's median wall time, its
ratio to the baseline's median, and the target: read commands within 1.5x, the writing
ones (``run start``, ``project add``, ``model register``) within 3x. Writes
``bench/results/cli.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchkit import ROOT, Target, summary, write_results

READ_LIMIT = 1.5
WRITE_LIMIT = 3.0


def dockyard(args: list[str], store: Path) -> tuple[float, float, int, str]:
    """(wall s, CPU s of the child, exit status, stdout) of one whole ``dockyard`` process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / ".pkg"), "DOCKYARD_HOME": str(store)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", "from dockyard.tui.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=store,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.returncode, result.stdout


def give_model_files(store: Path) -> None:
    """Give each seeded model artifact a real file with the size and hash its row records
    (``bench/seed.py`` names files it does not write), so that ``model compare`` verifies
    and compares and ``model register`` registers, instead of both exiting 2 on a missing
    file. Idempotent: an artifact whose file exists is left alone."""
    import hashlib
    import sqlite3

    home = store / ".dockyard"
    conn = sqlite3.connect(home / "dockyard.db")
    try:
        with conn:
            rows = conn.execute("SELECT id, object_path FROM artifact WHERE kind = 'model'")
            for artifact_id, object_path in rows.fetchall():
                if (home / object_path).is_file():
                    continue
                data = f"bench model file {artifact_id}\n".encode()
                digest = hashlib.sha256(data).hexdigest()
                (home / "objects" / digest).write_bytes(data)
                conn.execute(
                    "UPDATE artifact SET object_path = ?, sha256 = ?, size_bytes = ? WHERE id = ?",
                    (f"objects/{digest}", digest, len(data), artifact_id),
                )
    finally:
        conn.close()


def model_run(store: Path) -> str:
    """A finished run that logged a model: what ``model register`` needs."""
    import sqlite3

    conn = sqlite3.connect(store / ".dockyard" / "dockyard.db")
    try:
        row = conn.execute(
            "SELECT r.id FROM run AS r JOIN artifact AS a ON a.run_id = r.id"
            " WHERE r.status = 'finished' AND a.kind = 'model' ORDER BY r.id DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return str(row[0]) if row else "1"


def commands(store: Path) -> list[tuple[str, list[str], float]]:
    """(label, arguments, limit) of every command the issue names, on this store."""

    def first(args: list[str], key: str) -> Any:
        _w, _c, code, out = dockyard([*args, "--json"], store)
        return json.loads(out)[0][key] if code == 0 and out.strip().startswith("[") else None

    dataset = first(["data", "list"], "name") or "customers"
    model = first(["model", "list"], "name") or "churn-model"
    project = first(["project", "list"], "name") or "churn"
    run_id = str(first(["run", "list", "--status", "finished", "--limit", "1"], "id") or 1)
    refs = [f"{model}@{v}" for v in range(1, 11)]
    reads = [
        ["run", "list"],
        ["run", "show", run_id],
        ["data", "list"],
        ["data", "versions", dataset],
        ["data", "show", dataset],
        ["data", "head", dataset],
        ["model", "list"],
        ["model", "show", model],
        ["model", "compare", *refs[:6]],
        ["project", "list"],
        ["project", "show", project],
        ["deploy", "list"],
        ["deploy", "status"],
        ["monitor", "list"],
        ["agent", "status"],
    ]
    writes = [
        ["run", "start", project, "--no-agent"],
        ["project", "add", str(store / "projects" / project)],
        ["model", "register", model_run(store), "--name", "bench-cli-model"],
    ]
    return [(" ".join(a[:2]), a, READ_LIMIT) for a in reads] + [
        (" ".join(a[:2]), a, WRITE_LIMIT) for a in writes
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="an already seeded workspace")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="warm calls per command (5)")
    args = parser.parse_args(argv)

    if args.store is None:
        from seed import seed_workspace

        args.store = Path(tempfile.mkdtemp(prefix="dockyard-bench-cli-"))
        print(f"seeding {args.runs:,} runs in {args.store} ...", flush=True)
        seed_workspace(args.store, runs=args.runs)
    store = args.store.resolve()
    give_model_files(store)
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    targets = []
    baseline_walls: list[float] = []
    baseline_cpus: list[float] = []
    print(
        f"{'command':<16} {'cold s':>7} {'warm s':>7} {'cpu s':>6} {'ratio':>6}  target  exit"
        "  cpu ratio"
    )
    for label, cmd, limit in commands(store):
        walls, cpus, codes = [], [], []
        for index in range(args.repeat + 1):
            base_wall, base_cpu, _code, _out = dockyard(["--version"], store)
            wall, cpu, code, _out = dockyard(cmd, store)
            baseline_walls.append(base_wall)
            baseline_cpus.append(base_cpu)
            codes.append(code)
            if index == 0:
                cold = wall
                continue
            walls.append(wall)
            cpus.append(cpu)
        base = summary(baseline_walls)["median"]
        warm = summary(walls)
        ratio = warm["median"] / base
        # CPU is the steadier figure on a shared machine: the wall clock waits for others
        cpu_ratio = summary(cpus)["median"] / summary(baseline_cpus)["median"]
        results[label] = {
            "args": cmd,
            "cold_s": cold,
            "warm": warm,
            "cpu_median_s": summary(cpus)["median"],
            "exit_codes": sorted(set(codes)),
            "ratio_to_version": ratio,
            "cpu_ratio_to_version": cpu_ratio,
            "limit": limit,
        }
        targets.append(Target(f"{label} / --version", ratio, limit, "x", False))
        met = "met" if ratio < limit else "MISSED"
        print(
            f"{label:<16} {cold:7.3f} {warm['median']:7.3f} {results[label]['cpu_median_s']:6.2f}"
            f" {ratio:5.2f}x  <{limit}x {met:<6} {sorted(set(codes))}  {cpu_ratio:5.2f}x",
            flush=True,
        )
    results["--version"] = {"warm": summary(baseline_walls), "cpu": summary(baseline_cpus)}
    print(
        f"dockyard --version: median {summary(baseline_walls)['median']:.3f} s, "
        f"CPU {summary(baseline_cpus)['median']:.3f} s"
    )
    path = write_results(
        "cli",
        {
            "store": str(store),
            "repeat": args.repeat,
            "load_before": load_before,
            "load_after": os.getloadavg(),
            "commit": subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
            ).stdout.strip(),
        },
        results,
        targets,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
