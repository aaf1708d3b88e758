"""How long `dockyard audit verify` takes on a large audit log.

Generates a workspace whose audit log holds N events (default 1,000,000), each chained and
witnessed exactly as ``core.audit.append_event`` would, written with plain ``sqlite3`` so
that generating is quick, then times ``core.audit.check_chain`` on it.

    python bench/audit_verify.py [N] [DIR]
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    directory = Path(sys.argv[2] if len(sys.argv) > 2 else f"/tmp/dockyard-audit-{count}")
    workspace = init_workspace(directory)
    if not witness_path(workspace).is_file():
        started = time.perf_counter()
        generate(directory, count)
        print(f"generated {count:,} events in {time.perf_counter() - started:.1f} s")
    started, cpu = time.perf_counter(), time.process_time()
    report = check_chain(workspace)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    # CPU time too: on a shared machine the wall clock says more about the neighbours
    print(f"verified {report.events:,} events in {elapsed:.2f} s ({cpu:.2f} s of CPU): "
          f"{report.describe()}")  # fmt: skip


if __name__ == "__main__":
    main()
