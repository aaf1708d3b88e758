"""Ten users at once on one PostgreSQL store of 100,000 runs (issue 12).

    python bench/pg_load.py [--db URL] [--runs 100000] [--seconds 60] [--writers 8]
                            [--readers 10] [--approvers 2] [--rate 1000] [--every 2]
                            [--approve-every 2] [--requests 40] [--baseline-reads 30]
                            [--refresh all|runs] [--out FILE]

Target: "8 runs logging metrics, 10 TUI-like readers refreshing every 2 s, 2 approvers
approving: 0 errors, 0 lost points, and the p95 of a Runs page read under 100 ms".

The store: ``bench/seed.py --db`` writes 100,000 runs with their params, tags, metrics,
models, requests and monitors into a new database of the server (``bench/pgkit.py``: a
private server with durable settings, or ``--db URL``). Then, through Dockyard's own core
calls: a small project whose run logs a real scikit-learn model with the Tracker, that
model registered as ``load-model@1``, ``--requests`` environments ``load-NNN`` each needing
two approvals from ``approver-a`` and ``approver-b``, and one request per environment made
by ``requester``; and eight new running runs of the seeded ``churn`` project.

Then 20 processes start at the same moment and run for ``--seconds``:

* 8 writers: ``bench/load.py``'s training process, a real ``Tracker.from_env`` with the
  runner's environment (the store's URL), logging four metrics at ``--rate`` points/s
  each into its own running run, every write transaction counted with its errors;
* 10 readers: each opens the store with ``core.workspace.reader_for`` (psycopg) as the
  TUI does and, every ``--every`` seconds (each from its own random phase), does what the
  home screen's refresh does (``--refresh all``: ``core.overview.load_pane`` of the five
  panes and the agent's status; ``runs``: the Runs pane only), timing the Runs page read;
* 2 approvers: ``core.deployments.approve_request`` as ``approver-a`` and ``approver-b``,
  each through its own database login (on PostgreSQL the login is the acting user), each
  taking the oldest pending request it has not approved, one every ``--approve-every``
  seconds; the second approval of a request deploys it.

Reported: errors (count and first message) of every process, points logged against the
points in the store (lost), the Runs page read's p50/p95/max against 100 ms, approvals and
deployments done. Baseline in the same run, before the load: the same Runs page read
alone on the idle store (``--baseline-reads`` reads, 0.2 s apart, in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchkit as kit
import load
import pgkit
import seed
from pg_tracking import insert_running_run

TARGET_P95_MS = 100.0
MODEL = "load-model"
APPROVERS = ("approver-a", "approver-b")
REQUESTER = "requester"
ENV_PREFIX = "load-"
WRITER_PROJECT = "churn"  # a seeded project: the writers' runs are among the 100,000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _first(errors: list[str]) -> str:
    return errors[0][:300] if errors else ""


# --------------------------------------------------------------------------- workers


def reader_main(argv: list[str]) -> int:
    """A TUI's home screen: one refresh every ``--every`` seconds, the Runs read timed."""
    parser = argparse.ArgumentParser(prog="pg_load.py _reader")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--count", type=int, default=0, help="stop after this many (0: none)")
    parser.add_argument("--refresh", choices=("all", "runs"), default="all")
    parser.add_argument("--phase", type=float, default=0.0, help="seconds before the first")
    args = parser.parse_args(argv)

    from dockyard.core.overview import Pane, agent_status, load_pane
    from dockyard.core.workspace import find_workspace, reader_for

    workspace = find_workspace(home=args.home)
    reader = reader_for(workspace)
    load_pane(reader, Pane.RUNS)  # a TUI that is already open: connection made, warm
    print("ready", flush=True)
    sys.stdin.readline()
    runs: list[float] = []
    refresh: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + args.seconds
    due = started + args.phase
    while True:
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        if time.perf_counter() >= deadline or (args.count and len(runs) >= args.count):
            break
        tick = time.perf_counter()
        try:
            load_pane(reader, Pane.RUNS)
            runs.append(time.perf_counter() - tick)
            if args.refresh == "all":
                for pane in Pane:
                    if pane is not Pane.RUNS:
                        load_pane(reader, pane)
                agent_status(reader)
                refresh.append(time.perf_counter() - tick)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        due += args.every
    print(json.dumps({"runs_seconds": runs, "refresh_seconds": refresh, "errors": errors}))
    return 0


def approver_main(argv: list[str]) -> int:
    """A reviewer working through the queue: the oldest pending request not yet approved by
    this reviewer, one every ``--every`` seconds, through core as ``--actor``."""
    parser = argparse.ArgumentParser(prog="pg_load.py _approver")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--actor", required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=2.0)
    args = parser.parse_args(argv)

    from dockyard.core.deployments import approve_request, list_requests
    from dockyard.core.workspace import find_workspace

    workspace = find_workspace(home=args.home)
    list_requests(workspace, status="pending", limit=1)  # connections made
    print("ready", flush=True)
    sys.stdin.readline()
    approved: list[int] = []
    deployed = 0
    seconds: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + args.seconds
    due = started
    while True:
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        if time.perf_counter() >= deadline:
            break
        due += args.every
        tick = time.perf_counter()
        try:
            pending = [
                r
                for r in list_requests(workspace, status="pending")
                # the seeded history's pending requests name model files that do not exist
                if r.target.startswith(ENV_PREFIX) and args.actor not in r.approved_by
            ]
            if not pending:
                break  # the queue is done
            request = min(pending, key=lambda r: r.id)
            decision = approve_request(workspace, request.id, "load test", actor=args.actor)
            approved.append(request.id)
            deployed += decision.deployment is not None
            seconds.append(time.perf_counter() - tick)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(
        json.dumps(
            {"approved": approved, "deployed": deployed, "seconds": seconds, "errors": errors}
        )
    )
    return 0


# --------------------------------------------------------------------------- parent side


def _spawn(role: str, *args: str, db_url: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(kit.ROOT / ".pkg")}
    if db_url is not None:
        env["DOCKYARD_DB"] = db_url
    return subprocess.Popen(
        [kit.python(), str(Path(__file__).resolve()), role, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_ready(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            err = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"a worker failed to start: {line}{err[-2000:]}")


def _go(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()


def _collect(processes: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=900)
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed ({process.returncode}): {err[-2000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def _pg(url: str) -> Any:
    import psycopg

    return psycopg.connect(pgkit.libpq(url), autocommit=True)


#: The approvers' password for their own logins (a private, throwaway bench server).
APPROVER_PASSWORD = "bench-approver"


def approver_logins(workspace: Any) -> dict[str, str]:
    """Each approver's own database login (on PostgreSQL the login is the acting user, so
    two reviewers are two logins), as a store URL per approver name. Superusers here: the
    bench measures load, and the triggers' rules have their own tests (tests/test_team.py)."""
    from sqlalchemy.engine import make_url

    urls = {}
    with _pg(workspace.db_url) as conn:
        for name in APPROVERS:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            if exists is None:
                conn.execute(
                    f"CREATE ROLE \"{name}\" LOGIN SUPERUSER PASSWORD '{APPROVER_PASSWORD}'"
                )
            urls[name] = (
                make_url(workspace.db_url)
                .set(username=name, password=APPROVER_PASSWORD)
                .render_as_string(hide_password=False)
            )
    return urls


def prepare_approvals(workspace: Any, requests: int) -> str:
    """A real model version (a run that logged a fitted model through the Tracker) and one
    pending request for it in each of ``requests`` environments needing two approvals."""
    from sklearn.linear_model import LogisticRegression

    from dockyard.core.deployments import request_deployment
    from dockyard.core.environments import set_environment
    from dockyard.core.registry import register_version
    from dockyard.core.tracking import Tracker

    _, project_id = _add_project(workspace, "approvals")
    run_id = insert_running_run(workspace.db_url, project_id)
    folder = workspace.root / "projects" / "approvals"
    env = kit.tracker_env(workspace, run_id)
    with Tracker.from_env(env, project_dir=folder, handle_signals=False) as tracker:
        model = LogisticRegression().fit(
            [[0.0, 1.0], [1.0, 0.0], [0.5, 0.9], [0.9, 0.2]], [0, 1, 0, 1]
        )
        tracker.log_metric("accuracy", 0.95)
        tracker.log_model(model, name="model")
    with _pg(workspace.db_url) as conn:
        conn.execute(
            "UPDATE run SET status = 'finished', exit_code = 0, ended_at = now() WHERE id = %s",
            (run_id,),
        )
    version = register_version(workspace, run_id, MODEL)
    for index in range(requests):
        name = f"{ENV_PREFIX}{index:03d}"
        set_environment(workspace, name, approvals=2, approvers=APPROVERS, actor="admin")
        request_deployment(workspace, version.ref, name, "load test", actor=REQUESTER)
    return version.ref


def _add_project(workspace: Any, name: str) -> tuple[Path, int]:
    from dockyard.core.projects import add_project

    folder = workspace.root / "projects" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dockyard.toml").write_text(kit.PROJECT_TOML.format(name=name))
    (folder / "train.py").write_text("# made by bench/pg_load.py; never run\n")
    return folder, int(add_project(workspace, folder).id)


def _project_id(url: str, name: str) -> int:
    with _pg(url) as conn:
        row = conn.execute("SELECT id FROM project WHERE name = %s", (name,)).fetchone()
    assert row is not None, name
    return int(row[0])


def _stored(url: str, run_ids: list[int]) -> dict[int, int]:
    with _pg(url) as conn:
        rows = conn.execute(
            "SELECT run_id, count(*) FROM metric WHERE run_id = ANY(%s) GROUP BY run_id",
            (run_ids,),
        ).fetchall()
    counts = {int(r): int(n) for r, n in rows}
    return {run_id: counts.get(run_id, 0) for run_id in run_ids}


def _decided(url: str) -> dict[str, int]:
    with _pg(url) as conn:
        approvals = conn.execute(
            "SELECT count(*) FROM approval WHERE reviewer = ANY(%s)", (list(APPROVERS),)
        ).fetchone()
        deployments = conn.execute(
            "SELECT count(*) FROM deployment WHERE target LIKE 'load-%%'"
        ).fetchone()
    return {
        "approvals_in_store": int(approvals[0]) if approvals else 0,
        "deployments_in_store": int(deployments[0]) if deployments else 0,
    }


def _p(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _stats_ms(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": _p(values, 0.5) * 1000,
        "p95_ms": _p(values, 0.95) * 1000,
        "max_ms": max(values, default=float("nan")) * 1000,
    }


def run(args: argparse.Namespace) -> tuple[dict[str, Any], list[kit.Target]]:
    results: dict[str, Any] = {}
    with (
        pgkit.server(args.db) as pg,
        tempfile.TemporaryDirectory(prefix="dockyard-bench-pg-load-") as tmp,
    ):
        results["server"] = {"version": pg.version(), "where": pg.describe()}
        log(f"PostgreSQL {results['server']['version']}: {pg.describe()}")
        database = pg.create("load")
        url = pg.url(database)
        log(f"seeding {args.runs:,} runs into PostgreSQL ...")
        report = seed.seed_workspace(Path(tmp) / "ws", runs=args.runs, db=url)
        log(report.summary())
        results["seed"] = {"seconds": report.seconds, "counts": report.counts}
        workspace = report.workspace
        home = workspace.home

        log(f"a real model version and {args.requests} requests needing two approvals ...")
        started = time.perf_counter()
        results["model_ref"] = prepare_approvals(workspace, args.requests)
        results["prepare_seconds"] = time.perf_counter() - started
        churn = _project_id(url, WRITER_PROJECT)
        run_ids = [insert_running_run(url, churn) for _ in range(args.writers)]
        from dockyard.core.workspace import close_stores

        close_stores()

        log(f"baseline: {args.baseline_reads} Runs page reads alone on the idle store ...")
        baseline = _spawn(
            "_reader", "--home", str(home), "--every", "0.2", "--count", str(args.baseline_reads),
            "--refresh", "runs", "--seconds", "600",
        )  # fmt: skip
        _wait_ready([baseline])
        _go([baseline])
        idle = _collect([baseline])[0]
        results["baseline"] = {**_stats_ms(idle["runs_seconds"]), "errors": idle["errors"]}

        load_before = os.getloadavg()
        log(
            f"{args.writers} writers, {args.readers} readers, {args.approvers} approvers "
            f"for {args.seconds:g} s (load average {load_before[0]:.1f}) ..."
        )
        rng = random.Random(12)
        readers = [
            _spawn(
                "_reader",
                "--home",
                str(home),
                "--seconds",
                str(args.seconds),
                "--every",
                str(args.every),
                "--refresh",
                args.refresh,
                "--phase",
                f"{rng.uniform(0, args.every):.3f}",
            )
            for _ in range(args.readers)
        ]
        logins = approver_logins(workspace)
        approvers = [
            _spawn(
                "_approver",
                "--home",
                str(home),
                "--actor",
                APPROVERS[i % len(APPROVERS)],
                "--seconds",
                str(args.seconds),
                "--every",
                str(args.approve_every),
                db_url=logins[APPROVERS[i % len(APPROVERS)]],
            )
            for i in range(args.approvers)
        ]
        _wait_ready(readers + approvers)
        project_dir = workspace.root / "projects" / WRITER_PROJECT
        writers = load.Writers.start(
            workspace, run_ids, project_dir, seconds=args.seconds, rate=args.rate
        )
        _go(readers + approvers)
        writer_reports = writers.finish()
        reader_reports = _collect(readers)
        approver_reports = _collect(approvers)
        load_after = os.getloadavg()
        stored = _stored(url, run_ids)
        decided = _decided(url)

    logged = sum(r["logged"] for r in writer_reports)
    lost = sum(
        max(0, r["logged"] - stored[i]) for r, i in zip(writer_reports, run_ids, strict=True)
    )
    writer_errors = [e for r in writer_reports for e in r["errors"]]
    writer_error_count = sum(r["locked"] + r["other_errors"] + r["raised"] for r in writer_reports)
    reader_errors = [e for r in reader_reports for e in r["errors"]]
    approver_errors = [e for r in approver_reports for e in r["errors"]]
    runs_reads = [s for r in reader_reports for s in r["runs_seconds"]]
    refreshes = [s for r in reader_reports for s in r["refresh_seconds"]]
    approval_seconds = [s for r in approver_reports for s in r["seconds"]]
    errors = writer_error_count + len(reader_errors) + len(approver_errors)
    results.update(
        {
            "load_average_before": list(load_before),
            "load_average_after": list(load_after),
            "writers": {
                "logged_points": logged,
                "stored_points": sum(stored.values()),
                "lost_points": lost,
                "points_per_s": logged / args.seconds,
                "write_transactions": sum(r["write_attempts"] for r in writer_reports),
                "errors": writer_error_count,
                "first_error": _first(writer_errors),
                "reports": writer_reports,
            },
            "readers": {
                "runs_page": _stats_ms(runs_reads),
                "whole_refresh": _stats_ms(refreshes),
                "errors": len(reader_errors),
                "first_error": _first(reader_errors),
                "runs_page_seconds": runs_reads,
            },
            "approvers": {
                "approved": sum(len(r["approved"]) for r in approver_reports),
                "deployed": sum(r["deployed"] for r in approver_reports),
                "approve_seconds": _stats_ms(approval_seconds),
                "errors": len(approver_errors),
                "first_error": _first(approver_errors),
                **decided,
            },
            "errors": errors,
        }
    )
    base, under = results["baseline"], results["readers"]["runs_page"]
    w, a = results["writers"], results["approvers"]
    ms = "{:.1f} / {:.1f} / {:.1f} ms".format
    kit.print_table(
        f"{args.writers} writers, {args.readers} readers, {args.approvers} approvers for "
        f"{args.seconds:g} s on {args.runs:,} runs (load {load_before[0]:.1f} -> "
        f"{load_after[0]:.1f})",
        ("measure", "value"),
        [
            ("Runs page alone, idle store: p50 / p95 / max",
             ms(base["p50_ms"], base["p95_ms"], base["max_ms"]) + f" ({base['n']} reads)"),
            ("Runs page under load: p50 / p95 / max",
             ms(under["p50_ms"], under["p95_ms"], under["max_ms"]) + f" ({under['n']} reads)"),
            ("  p95 under load / p95 alone", f"{under['p95_ms'] / base['p95_ms']:.1f}x"),
            ("whole home refresh under load: p50 / p95",
             "-" if not refreshes else
             f"{results['readers']['whole_refresh']['p50_ms']:.1f} / "
             f"{results['readers']['whole_refresh']['p95_ms']:.1f} ms"),
            ("points logged / in the store", f"{w['logged_points']:,} / {w['stored_points']:,}"),
            ("lost points", f"{w['lost_points']:,}"),
            ("writers' points/s (all)", kit.fmt_rate(w["points_per_s"])),
            ("writer errors", f"{w['errors']} {w['first_error']}".strip()),
            ("reader errors", f"{results['readers']['errors']} "
             f"{results['readers']['first_error']}".strip()),
            ("approvals done / deployments", f"{a['approved']} / {a['deployed']} "
             f"(in the store: {a['approvals_in_store']} / {a['deployments_in_store']})"),
            ("approve_request p50 / p95",
             f"{a['approve_seconds']['p50_ms']:.0f} / {a['approve_seconds']['p95_ms']:.0f} ms"),
            ("approver errors", f"{a['errors']} {a['first_error']}".strip()),
        ],
    )  # fmt: skip
    targets = [
        kit.Target("errors (writers, readers, approvers)", float(errors), 1, "errors", False),
        kit.Target("lost points", float(lost), 1, "points", False),
        kit.Target(
            "p95 of a Runs page read under load", under["p95_ms"], TARGET_P95_MS, "ms", False
        ),
    ]
    return results, targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ten users at once on one PostgreSQL store")
    parser.add_argument("--db", metavar="URL", help="use this server instead of a private one")
    parser.add_argument("--runs", type=int, default=100_000, help="seeded runs (100000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (60)")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--approvers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=1000.0, help="points/s per writer (1000)")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between refreshes")
    parser.add_argument("--approve-every", type=float, default=2.0)
    parser.add_argument("--requests", type=int, default=40, help="pending requests (40)")
    parser.add_argument("--baseline-reads", type=int, default=30)
    parser.add_argument("--refresh", choices=("all", "runs"), default="all")
    parser.add_argument("--out", type=Path, help="JSON file (default results/pg_load.json)")
    args = parser.parse_args(argv)
    results, targets = run(args)
    kit.print_targets(targets)
    params = {
        k: getattr(args, k)
        for k in (
            "runs", "seconds", "writers", "readers", "approvers", "rate", "every",
            "approve_every", "requests", "baseline_reads", "refresh",
        )
    }  # fmt: skip
    path = kit.write_results("pg_load", params, results, targets, args.out)
    log(f"wrote {path}")
    hard = [t for t in targets if "p95" not in t.name]
    return 1 if any(t.met is False for t in hard) else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_reader":
        sys.exit(reader_main(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "_approver":
        sys.exit(approver_main(sys.argv[2:]))
    sys.exit(main())
