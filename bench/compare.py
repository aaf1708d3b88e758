"""Comparing model versions: ``core.comparison.compare`` on 10 versions of 100,000 points.

    python bench/compare.py [--versions 10] [--points 100000] [--repeat 7] [--out FILE]

The store: a workspace with one project (``add_project``); ``--versions`` finished runs,
each with params, 100,000 metric points (25,000 steps of four metrics, ``executemany``),
a model file and a ``confusion_matrix.json`` stored content-addressed under
``objects/<sha256>`` with their artifact rows; each run registered with
``core.registry.register_version`` (which checks the model's hash), so the versions are
exactly what Dockyard writes.

Timed: ``compare(workspace, ["bench-model@1", ..., "bench-model@10"])`` (the table and
the overlaid, SQL-downsampled curves), warm (median of ``--repeat``) and as the first call
of a fresh process (imports and store opening included); ``overlay_curves`` alone, to see
where the time goes; what a user sees: ``dockyard model compare`` as a whole process
(cold: its first run; then the median of the next ones) beside ``dockyard --version``; and
the TUI's first compare of a session (a fresh process, the app headless under Pilot: the
home screen loaded, then the compare screen opened as the ``c`` key opens it, timed until
its table and chart are drawn and painted).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchkit as kit

MODEL = "bench-model"
TARGET_MS = 200.0
CURVE_POINTS = 100

FRESH_CODE = """
import json, sys, time
t0 = time.perf_counter()
from dockyard.core.comparison import compare
from dockyard.core.workspace import find_workspace
t1 = time.perf_counter()
workspace = find_workspace(home=sys.argv[1], env={})
refs = sys.argv[2:]
result = compare(workspace, refs)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "compare": t2 - t1}))
"""

# The TUI's first compare in a session: the app headless, its home screen loaded, then the
# compare screen pushed as the app's router pushes it for `c`, awaited until painted.
TUI_CODE = """
import asyncio, json, sys, time
from dockyard.core.workspace import find_workspace
from dockyard.tui.app import DockyardApp
from dockyard.tui.screens.compare import CompareScreen

async def main():
    workspace = find_workspace(home=sys.argv[1], env={})
    app = DockyardApp(workspace, user="bench")
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        modules = {name.split(".")[0] for name in sys.modules}
        pressed = time.perf_counter()
        screen = CompareScreen(workspace, sys.argv[2:])
        await app.push_screen(screen)
        while screen.painted_after is None:
            await pilot.pause(0.005)
            if time.perf_counter() - pressed > 300:
                raise SystemExit("the compare screen never painted")
        print(json.dumps({
            "painted": time.perf_counter() - pressed,
            "shown_after": screen.shown_after,
            "load": screen.load_seconds,
            "sqlalchemy_before": "sqlalchemy" in modules,
            "sqlalchemy_after": "sqlalchemy" in sys.modules,
        }))

asyncio.run(main())
"""


def whole_process(args: list[str], home: Path) -> float:
    """Wall seconds of one whole ``dockyard`` process (this checkout's code)."""
    env = {**os.environ, "PYTHONPATH": str(kit.ROOT / ".pkg"), "DOCKYARD_HOME": str(home)}
    started = time.perf_counter()
    done = subprocess.run(
        [kit.python(), "-c", "from dockyard.tui.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"dockyard {' '.join(args)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def _store_object(home: Path, data: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    target = home / "objects" / sha
    if not target.exists():
        target.write_bytes(data)
        target.chmod(0o444)
    return sha, f"objects/{sha}"


def build_store(directory: Path, versions: int, points: int) -> tuple[Any, list[int]]:
    """The workspace and the ids of its registered runs (see the module docstring)."""
    from dockyard.core.registry import register_version

    workspace, project_id = kit.make_workspace(directory)
    assert workspace.db_path is not None
    run_ids = kit.insert_runs(workspace.db_path, project_id, versions, status="finished")
    rng = random.Random(11)
    steps = max(2, points // len(kit.KEYS))
    conn = kit.connect(workspace.db_path)
    conn.execute("BEGIN IMMEDIATE")
    stamp = time.time()
    for index, run_id in enumerate(run_ids):
        params = {
            "model": "forest" if index % 2 else "logreg",
            "C": round(10 ** rng.uniform(-2, 2), 4),
            "n_estimators": 100 + 50 * (index % 3),
            "seed": 42,
        }
        conn.executemany(
            "INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)",
            [(run_id, key, json.dumps(value)) for key, value in params.items()],
        )
        rows = kit.metric_rows(steps)
        conn.executemany(
            "INSERT INTO metric (run_id, key, step, value, timestamp) "
            f"VALUES ({run_id}, ?, ?, ?, {stamp})",
            [(key, step, value + 0.001 * index) for key, step, value in rows],
        )
        model = rng.randbytes(64 * 1024)
        confusion = json.dumps(
            {
                "labels": ["a", "b", "c"],
                "matrix": [[rng.randint(0, 50) for _ in range(3)] for _ in range(3)],
            }
        ).encode()
        for name, kind, data, file_format in (
            ("model", "model", model, "skops"),
            ("confusion_matrix.json", "file", confusion, "json"),
        ):
            sha, object_path = _store_object(workspace.home, data)
            conn.execute(
                "INSERT INTO artifact (run_id, name, kind, sha256, size_bytes, object_path, "
                "file_format, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, name, kind, sha, len(data), object_path, file_format, kit.sql_time()),
            )
        conn.execute(
            "UPDATE run SET primary_value = ? WHERE id = ?",
            (rows[-3][2] + 0.001 * index, run_id),
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for run_id in run_ids:
        register_version(workspace, run_id, MODEL)
    return workspace, run_ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="dockyard.core.comparison.compare on many big runs"
    )
    parser.add_argument("--versions", type=int, default=10, help="versions compared (10)")
    parser.add_argument("--points", type=int, default=100_000, help="points per run (100000)")
    parser.add_argument("--repeat", type=int, default=7, help="samples (7)")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/compare.json)")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    from dockyard.core.comparison import compare, overlay_curves

    with tempfile.TemporaryDirectory(prefix="dockyard-bench-compare-") as tmp:
        log(f"building {args.versions} versions of {args.points:,} points each ...")
        built = time.perf_counter()
        workspace, run_ids = build_store(Path(tmp), args.versions, args.points)
        build_seconds = time.perf_counter() - built
        refs = [f"{MODEL}@{n}" for n in range(1, len(run_ids) + 1)]
        assert workspace.db_path is not None
        conn = sqlite3.connect(workspace.db_path)
        stored = int(conn.execute("SELECT count(*) FROM metric").fetchone()[0])
        conn.close()

        log("compare, first call in a fresh process ...")
        fresh = []
        for _ in range(min(3, repeat)):
            done = subprocess.run(
                [kit.python(), "-c", FRESH_CODE, str(workspace.home), *refs],
                capture_output=True,
                text=True,
                cwd=kit.ROOT,
                timeout=600,
            )
            if done.returncode != 0:
                raise RuntimeError(f"compare failed: {done.stderr[-2000:]}")
            fresh.append(json.loads(done.stdout.strip().splitlines()[-1]))

        log("dockyard model compare, whole process, beside dockyard --version ...")
        cli_walls, version_walls = [], []
        for _ in range(repeat + 1):  # the first of each is the cold one
            version_walls.append(whole_process(["--version"], workspace.home))
            cli_walls.append(whole_process(["model", "compare", *refs, "--format", "json"],
                                           workspace.home))  # fmt: skip

        log("the TUI's first compare of a session (fresh process, Pilot, headless) ...")
        tui = []
        for _ in range(min(3, repeat)):
            done = subprocess.run(
                [kit.python(), "-c", TUI_CODE, str(workspace.home), *refs],
                capture_output=True,
                text=True,
                cwd=kit.ROOT,
                timeout=600,
                env={**os.environ, "TEXTUAL_ANIMATIONS": "none"},
            )
            if done.returncode != 0:
                raise RuntimeError(f"TUI compare failed: {done.stderr[-2000:]}")
            tui.append(json.loads(done.stdout.strip().splitlines()[-1]))

        log("compare, warm ...")
        compare(workspace, refs)  # engine opened, modules imported: what a running TUI has
        walls, cpus = [], []
        result = None
        for _ in range(repeat):
            wall, cpu_seconds, result = kit.timed(lambda: compare(workspace, refs))
            walls.append(wall)
            cpus.append(cpu_seconds)
        assert result is not None
        curve_walls = [
            kit.timed(lambda: overlay_curves(workspace, run_ids, points=CURVE_POINTS))[0]
            for _ in range(repeat)
        ]

    warm = kit.summary(walls)
    cpu = kit.summary(cpus)
    curves = kit.summary(curve_walls)
    fresh_import = kit.summary([f["import"] for f in fresh])
    fresh_compare = kit.summary([f["compare"] for f in fresh])
    cli_warm = kit.summary(cli_walls[1:])
    version_warm = kit.summary(version_walls[1:])
    tui_painted = kit.summary([t["painted"] for t in tui])
    tui_load = kit.summary([t["load"] for t in tui])
    longest_curve = max((len(c) for cs in result.curves.values() for c in cs), default=0)
    kit.print_table(
        f"compare: {len(refs)} versions x {stored // max(1, len(refs)):,} points, "
        f"median of {repeat}",
        ("measure", "ms (median)", "min - max"),
        [
            (
                "compare(), warm",
                kit.fmt_ms(warm["median"]),
                f"{kit.fmt_ms(warm['min'])} - {kit.fmt_ms(warm['max'])}",
            ),
            ("  CPU of it", kit.fmt_ms(cpu["median"]), ""),
            (
                "  of which overlay_curves",
                kit.fmt_ms(curves["median"]),
                f"{kit.fmt_ms(curves['min'])} - {kit.fmt_ms(curves['max'])}",
            ),
            (
                "compare(), first call in a fresh process",
                kit.fmt_ms(fresh_compare["median"]),
                f"{kit.fmt_ms(fresh_compare['min'])} - {kit.fmt_ms(fresh_compare['max'])}",
            ),
            ("  + importing core.comparison", kit.fmt_ms(fresh_import["median"]), ""),
            ("dockyard model compare, whole process, cold", kit.fmt_ms(cli_walls[0]), ""),
            (
                "dockyard model compare, whole process, warm",
                kit.fmt_ms(cli_warm["median"]),
                f"{kit.fmt_ms(cli_warm['min'])} - {kit.fmt_ms(cli_warm['max'])}",
            ),
            ("  dockyard --version beside it, warm", kit.fmt_ms(version_warm["median"]), ""),
            (
                "TUI first compare: open to painted",
                kit.fmt_ms(tui_painted["median"]),
                f"{kit.fmt_ms(tui_painted['min'])} - {kit.fmt_ms(tui_painted['max'])}",
            ),
            ("  of which the compare worker", kit.fmt_ms(tui_load["median"]), ""),
        ],
    )
    log(
        f"{len(result.rows)} table rows, {len(result.curves)} overlaid metrics, "
        f"at most {longest_curve} points per curve; store built in {build_seconds:.1f} s"
    )
    targets = [
        kit.Target(
            f"compare {len(refs)} versions x {args.points:,} points (warm)",
            warm["median"] * 1000,
            TARGET_MS,
            "ms",
            False,
        ),
        kit.Target(
            "compare, first call in a fresh process",
            fresh_compare["median"] * 1000,
            TARGET_MS,
            "ms",
            False,
            "engine opening included; informational",
        ),
    ]
    kit.print_targets(targets)
    results = {
        "compare_seconds": warm,
        "compare_cpu_seconds": cpu,
        "overlay_curves_seconds": curves,
        "fresh_process": {"import_seconds": fresh_import, "compare_seconds": fresh_compare},
        "cli_whole_process": {
            "cold_seconds": cli_walls[0],
            "warm_seconds": cli_warm,
            "version_cold_seconds": version_walls[0],
            "version_warm_seconds": version_warm,
            "ratio_to_version": cli_warm["median"] / version_warm["median"],
        },
        "tui_first_compare": {
            "painted_seconds": tui_painted,
            "worker_seconds": tui_load,
            "sqlalchemy_loaded": sorted({str(t["sqlalchemy_after"]) for t in tui}),
        },
        "table_rows": len(result.rows),
        "curves": len(result.curves),
        "max_points_per_curve": longest_curve,
        "stored_points": stored,
        "build_seconds": build_seconds,
    }
    params = {"versions": len(refs), "points_per_run": args.points, "repeat": repeat}
    path = kit.write_results("compare", params, results, targets[:1], args.out)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
