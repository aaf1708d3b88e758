"""How long `dockyard model show NAME` takes, as a whole process, on a large audit log.

Generates (once) a workspace whose audit log holds N events (default 1,000,000) about
another model, with ``bench/audit_verify.py``'s generator, then registers model ``bench``
and appends a few alias moves of it through ``core.audit.append_event``. Times the median
of several runs of ``dockyard --version`` and of ``dockyard model show bench``.

    python bench/model_show.py [N] [DIR] [RUNS]
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_verify import generate

from dockyard.core.audit import append_event, witness_path
from dockyard.core.workspace import engine_for, init_workspace

MOVES = 5


def prepare(directory: Path, count: int) -> None:
    workspace = init_workspace(directory)
    if witness_path(workspace).is_file():
        return
    from sqlmodel import Session

    started = time.perf_counter()
    generate(directory, count, entity_id="0")  # about no model that `model show` lists
    assert workspace.db_path is not None
    with sqlite3.connect(workspace.db_path) as conn:
        conn.execute(
            "INSERT INTO registered_model (id, name, description, created_at, updated_at) "
            "VALUES (1, 'bench', '', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"
        )
    for number in range(MOVES):
        with Session(engine_for(workspace)) as session:
            append_event(session, "alice", "model.alias", "registered_model", 1,
                         {"model": "bench", "alias": "champion", "from": number or None,
                          "to": number + 1})  # fmt: skip
            session.commit()
    print(f"generated {count:,} events in {time.perf_counter() - started:.1f} s")


def median_seconds(command: list[str], cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    directory = Path(sys.argv[2] if len(sys.argv) > 2 else f"/tmp/dockyard-model-show-{count}")
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    prepare(directory, count)
    dockyard = shutil.which("dockyard") or str(Path(sys.executable).parent / "dockyard")
    env_root = Path(__file__).resolve().parent.parent
    os.environ["PYTHONPATH"] = f"{env_root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    version = median_seconds([dockyard, "--version"], directory, runs)
    show = median_seconds([dockyard, "model", "show", "bench"], directory, runs)
    print(f"{count:,} events, median of {runs} runs: `dockyard --version` {version:.3f} s, "
          f"`dockyard model show bench` {show:.3f} s ({show / version:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
