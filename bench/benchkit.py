"""What the tracking, load and compare benches share: workspaces with a project and runs,
timing helpers, a results table and the JSON written to ``bench/results/``.

Imported by the bench scripts as a sibling module (``python bench/tracking.py`` puts
``bench/`` on ``sys.path``), never by Dockyard itself.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent

PROJECT_NAME = "bench"
PROJECT_TOML = """\
[project]
name = "{name}"
description = "Synthetic project for bench/: never run"
entry = "python train.py"

[metrics]
primary = "accuracy"
direction = "maximize"
"""

#: Metric keys a synthetic training loop logs, in the order it logs them at each step.
KEYS = ("loss", "accuracy", "lr", "grad_norm")


def sql_time(moment: datetime | None = None) -> str:
    """A datetime as SQLModel writes it into SQLite (naive UTC text, microseconds)."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ", timespec="microseconds")


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        memory_gib = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }


def summary(values: Sequence[float]) -> dict[str, float | int]:
    """Median, min and max of repeated measurements."""
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result) of one call."""
    cpu = time.process_time()
    wall = time.perf_counter()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


@dataclass(frozen=True)
class Target:
    """One measured number against the number it must beat."""

    name: str
    value: float | None
    target: float
    unit: str
    higher_is_better: bool
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value < self.target

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "target": self.target,
            "unit": self.unit,
            "comparison": ">=" if self.higher_is_better else "<",
            "met": self.met,
            "note": self.note,
        }


def write_results(
    name: str,
    params: dict[str, Any],
    results: dict[str, Any],
    targets: Iterable[Target],
    out: Path | None = None,
) -> Path:
    """Write ``bench/results/<name>.json`` (or ``out``) atomically; returns the path."""
    payload = {
        "bench": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "params": params,
        "results": results,
        "targets": [t.to_dict() for t in targets],
    }
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def fmt_ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:,.2f}" if seconds < 0.01 else f"{seconds * 1000:,.1f}"


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A rich table on stdout (right-aligned numbers after the first column)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=max(100, min(160, _terminal_width()))).print(table)


def fmt_number(value: float | None) -> str:
    """Thousands separated when large, three significant digits when small."""
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}"
    return f"{value:.3g}"


def print_targets(targets: Iterable[Target]) -> None:
    rows = []
    for t in targets:
        verdict = {True: "[green]met[/]", False: "[red]MISSED[/]", None: "[yellow]n/a[/]"}[t.met]
        comparison = ">=" if t.higher_is_better else "<"
        rows.append(
            (
                t.name,
                f"{fmt_number(t.value)} {t.unit}",
                f"{comparison} {fmt_number(t.target)} {t.unit}",
                verdict,
                t.note,
            )
        )
    print_table("Targets", ("measure", "value", "target", "verdict", "note"), rows)


def _terminal_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 120


# --------------------------------------------------------------------------- workspaces


def make_workspace(
    directory: Path, project: str = PROJECT_NAME, db: str | None = None
) -> tuple[Any, int]:
    """A new workspace in ``directory`` (its store in the database ``db`` when given) with
    one project registered the way Dockyard does it (``core.projects.add_project``);
    returns (workspace, project id)."""
    from dockyard.core.projects import add_project
    from dockyard.core.workspace import init_workspace

    workspace = init_workspace(directory, db=db)
    folder = directory / "projects" / project
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dockyard.toml").write_text(PROJECT_TOML.format(name=project))
    (folder / "train.py").write_text("# made by bench/benchkit.py; never run\n")
    info = add_project(workspace, folder)
    return workspace, int(info.id)


def connect(db_path: Path) -> sqlite3.Connection:
    """A plain ``sqlite3`` connection with the store's pragmas, in autocommit mode."""
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=10.0)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def insert_runs(
    db_path: Path,
    project_id: int,
    count: int,
    *,
    status: str = "running",
    primary_metric: str = "accuracy",
) -> list[int]:
    """``count`` run rows as the agent leaves them (started, this host); returns their ids."""
    now = sql_time()
    ended = now if status in ("finished", "failed", "cancelled", "lost") else None
    conn = connect(db_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        ids = []
        for _ in range(count):
            cursor = conn.execute(
                "INSERT INTO run (project_id, status, command, exit_code, error, pid, host, "
                "user, log_path, env_json, primary_metric, created_at, started_at, ended_at, "
                "heartbeat_at) VALUES (?, ?, 'python train.py', ?, '', ?, ?, 'bench', '', '{}', "
                "?, ?, ?, ?, ?)",
                (
                    project_id,
                    status,
                    0 if status == "finished" else None,
                    os.getpid(),
                    platform.node(),
                    primary_metric,
                    now,
                    now,
                    ended,
                    now,
                ),
            )
            ids.append(int(cursor.lastrowid or 0))
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ids


def metric_rows(
    steps: int, keys: Sequence[str] = KEYS, start_step: int = 0
) -> list[tuple[str, int, float]]:
    """(key, step, value) of a training loop that logs every key at every step."""
    rows = []
    for step in range(start_step, start_step + steps):
        progress = (step + 1) / (start_step + steps)
        for index, key in enumerate(keys):
            rows.append((key, step, round(1.0 / (1 + step) + index + 0.001 * progress, 6)))
    return rows


def tracker_env(workspace: Any, run_id: int) -> dict[str, str]:
    """The environment the runner gives a training process (``docs/tracking.md``)."""
    return {
        **os.environ,
        "DOCKYARD_RUN_ID": str(run_id),
        "DOCKYARD_DB": workspace.db_url,
        "DOCKYARD_HOME": str(workspace.home),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT / ".pkg"), os.environ.get("PYTHONPATH", "")) if p
        ),
    }


def python() -> str:
    """The interpreter running the bench (the project's venv)."""
    return sys.executable
