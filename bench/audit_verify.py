"""How long `dockyard audit verify` takes on a large audit log.

Generates a workspace whose audit log holds N events (default 1,000,000), each chained and
witnessed exactly as ``core.audit.append_event`` would, written with plain ``sqlite3`` so
that generating is quick, then times ``core.audit.check_chain`` on it, alternating (one
unrecorded warm-up each, then ``--repeat`` rounds):

- ``split``: ``check_chain`` as shipped (two processes over the id range on a long log),
- ``one process``: the same with the split turned off (``_SPLIT_MIN_EVENTS`` raised),
- ``command``: ``dockyard audit verify`` as a whole process (what a user waits for).

Wall and CPU (user + system of this process and its finished children) per round, the
CPU of the busier of the two processes (what the wall clock comes down to when each has a
free core), the load average before and after, and the target (issue 8: < 5 s wall for 1,000,000
events); JSON in ``bench/results/audit_verify.json``.

    python bench/audit_verify.py [N] [DIR] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchkit import Target, summary, write_results

from dockyard.core.audit import GENESIS, WITNESS_HEADER, _digest_text, check_chain, witness_path
from dockyard.core.workspace import init_workspace


def generate(directory: Path, count: int, entity_id: str = "1") -> None:
    """Write ``count`` alias moves of model ``m`` (registered_model ``entity_id``)."""
    workspace = init_workspace(directory)
    assert workspace.db_path is not None
    conn = sqlite3.connect(workspace.db_path)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev = GENESIS
    rows, lines = [], [WITNESS_HEADER]
    for number in range(1, count + 1):
        at = start + timedelta(seconds=number, microseconds=number % 1000)
        details = json.dumps({"model": "m", "alias": "champion", "from": number - 1, "to": number},
                             sort_keys=True)  # fmt: skip
        fields = (prev, at.isoformat(), "alice", "model.alias", "registered_model", entity_id,
                  details)  # fmt: skip
        digest = _digest_text(*fields)
        stored_at = at.strftime("%Y-%m-%d %H:%M:%S.%f")
        rows.append((number, stored_at, *fields[2:], prev, digest))
        lines.append(b"%d %d %s\n" % (number, number, digest.encode()))
        prev = digest
        if len(rows) == 50_000:
            _flush(conn, rows)
    _flush(conn, rows)
    conn.close()
    witness_path(workspace).write_bytes(b"".join(lines))


def _flush(conn: sqlite3.Connection, rows: list[Any]) -> None:
    conn.executemany(
        "INSERT INTO audit_event (id, at, actor, action, entity_type, entity_id, details_json, "
        "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    rows.clear()


def _cpu() -> float:
    """User + system CPU of this process and of its children that have ended."""
    return sum(_cpu_parts())


def _cpu_parts() -> tuple[float, float]:
    """(this process, its ended children): user + system CPU of each."""
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


#: The CPU of the busier process of the last ``_time_check``: on a machine with a free
#: core for each, the wall clock cannot be shorter, and with them it is about that.
longest_process_cpu: list[float] = []


def _time_check(workspace: Any, split: bool) -> tuple[float, float, str]:
    import dockyard.core.audit as audit

    threshold = audit._SPLIT_MIN_EVENTS
    audit._SPLIT_MIN_EVENTS = threshold if split else 2**62
    try:
        parts, started = _cpu_parts(), time.perf_counter()
        report = check_chain(workspace)
        elapsed = time.perf_counter() - started
        mine, children = (after - before for after, before in zip(_cpu_parts(), parts, strict=True))
        cpu = mine + children
        longest_process_cpu.append(max(mine, children))
    finally:
        audit._SPLIT_MIN_EVENTS = threshold
    if not report.ok:
        raise SystemExit(f"the generated log does not verify: {report.describe()}")
    return elapsed, cpu, report.describe()


def _time_command(directory: Path) -> tuple[float, float, str]:
    dockyard = Path(sys.executable).with_name("dockyard")
    command = [str(dockyard)] if dockyard.is_file() else [sys.executable, "-m", "dockyard.tui.cli"]
    cpu, started = _cpu(), time.perf_counter()
    done = subprocess.run([*command, "--home", str(directory), "audit", "verify"],
                          capture_output=True, text=True)  # fmt: skip
    elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"dockyard audit verify failed: {done.stderr.strip()}")
    return elapsed, cpu, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=1_000_000)
    parser.add_argument("directory", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/)")
    args = parser.parse_args()
    count = args.count
    directory = args.directory or Path(f"/tmp/dockyard-audit-{count}")
    workspace = init_workspace(directory)
    if not witness_path(workspace).is_file():
        started = time.perf_counter()
        generate(directory, count)
        print(f"generated {count:,} events in {time.perf_counter() - started:.1f} s")
    load_before = os.getloadavg()
    ways: dict[str, Callable[[], tuple[float, float, str]]] = {
        "split": lambda: _time_check(workspace, True),
        "one process": lambda: _time_check(workspace, False),
        "command": lambda: _time_command(directory),
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    longest: dict[str, list[float]] = {"split": [], "one process": []}
    for round_number in range(args.repeat + 1):  # round 0 warms the page cache
        for name, way in ways.items():
            wall, cpu, said = way()
            if round_number:
                samples[name].append((wall, cpu))
                if name in longest:
                    longest[name].append(longest_process_cpu[-1])
            # CPU time too: on a shared machine the wall clock says more about the neighbours
            print(f"{'warm-up' if not round_number else f'round {round_number}'} {name}: "
                  f"{wall:.2f} s wall, {cpu:.2f} s CPU ({said})")  # fmt: skip
    load_after = os.getloadavg()
    results: dict[str, Any] = {
        name: {"wall_s": summary([w for w, _ in values]), "cpu_s": summary([c for _, c in values])}
        for name, values in samples.items()
    }
    for name, values in longest.items():
        results[name]["longest_process_cpu_s"] = summary(values)
    print(f"\n{count:,} events, load average {load_before[0]:.1f} -> {load_after[0]:.1f}, "
          f"{args.repeat} rounds, medians (min-max):")  # fmt: skip
    for name, result in results.items():
        wall, cpu = result["wall_s"], result["cpu_s"]
        busiest = result.get("longest_process_cpu_s")
        extra = f", busiest process {busiest['median']:.2f} s CPU" if busiest else ""
        print(f"  {name:12} {wall['median']:6.2f} s wall ({wall['min']:.2f}-{wall['max']:.2f}), "
              f"{cpu['median']:.2f} s CPU{extra}")  # fmt: skip
    one, split = results["one process"]["wall_s"]["median"], results["split"]["wall_s"]["median"]
    print(f"  split / one process: {split / one:.2f}x wall")
    targets = [
        Target("check_chain wall, split", split, 5.0, "s", False, f"{count:,} events"),
        Target(
            "dockyard audit verify wall",
            results["command"]["wall_s"]["median"],
            5.0,
            "s",
            False,
            "whole process",
        ),
    ]
    for target in targets:
        print(f"  target {target.name} < {target.target} s: "
              f"{'met' if target.met else 'MISSED'} ({target.value:.2f} s)")  # fmt: skip
    results["split_over_one_process"] = split / one
    results["load_average_before"] = list(load_before)
    results["load_average_after"] = list(load_after)
    path = write_results("audit_verify", {"events": count, "repeat": args.repeat},
                         results, targets, args.out)  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
