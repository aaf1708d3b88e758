"""Reading metric histories fast: every query here is a handful of index seeks on
``metric(run_id, key, step)``, never a scan of a run's whole history.

That is what keeps a run with 100,000 points, or a store with 10 million, instant: the
number of distinct keys (a skip-scan), each key's last point, and a downsampled curve all
cost about one seek per row returned. They read through a ``store.queries`` reader (the
standard library's ``sqlite3`` on a SQLite store), so no face pays for importing SQLAlchemy
to draw a chart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.store.queries import Reader

KEYS_SQL = """
WITH RECURSIVE k(key) AS (
    SELECT (SELECT min(key) FROM metric WHERE run_id = :r)
    UNION ALL
    SELECT (SELECT min(key) FROM metric WHERE run_id = :r AND key > k.key)
    FROM k WHERE k.key IS NOT NULL
)
SELECT key FROM k WHERE key IS NOT NULL
"""

LAST_SQL = (
    "SELECT step, value FROM metric WHERE run_id = :r AND key = :k "
    "ORDER BY step DESC, id DESC LIMIT 1"
)

# Two scalar subqueries, not min() and max() in one SELECT: SQLite answers a lone min()
# or max() with one index seek, but computes the pair by scanning the key's whole range.
BOUNDS_SQL = (
    "SELECT (SELECT min(step) FROM metric WHERE run_id = :r AND key = :k), "
    "(SELECT max(step) FROM metric WHERE run_id = :r AND key = :k)"
)

HISTORY_SQL = (
    "SELECT step, value FROM metric WHERE run_id = :r AND key = :k AND step > :after ORDER BY step"
)

# BIGINT, not INTEGER: PostgreSQL's INTEGER is 32 bits, and steps counted in tokens pass
# 2**31 (SQLite reads BIGINT as its one, 64-bit, INTEGER)
DOWNSAMPLE_SQL = """
WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < :n - 1)
SELECT (SELECT step FROM metric WHERE run_id = :r AND key = :k
        AND step >= :lo + CAST(i * :w AS BIGINT) ORDER BY step LIMIT 1),
       (SELECT value FROM metric WHERE run_id = :r AND key = :k
        AND step >= :lo + CAST(i * :w AS BIGINT) ORDER BY step LIMIT 1)
FROM b
"""


def metric_keys(reader: Reader, run_id: int) -> list[str]:
    """The distinct metric keys of a run, sorted (a skip-scan of the index)."""
    return [str(row[0]) for row in reader.iter_rows(KEYS_SQL, {"r": run_id})]


def last_points(reader: Reader, run_id: int) -> dict[str, tuple[int, float]]:
    """key -> (step, value) of each metric's highest step."""
    result = {}
    for key in metric_keys(reader, run_id):
        row = reader.fetch_one(LAST_SQL, {"r": run_id, "k": key})
        if row is not None:
            result[key] = (int(row["step"]), float(row["value"]))
    return result


def history(reader: Reader, run_id: int, key: str, after_step: int = -1) -> list[tuple[int, float]]:
    """(step, value) points of one metric after ``after_step``, in step order."""
    # Tens of thousands of rows: plain tuples, not a dict per row. The columns are INTEGER
    # and FLOAT NOT NULL, so the driver already returns int and float.
    params = {"r": run_id, "k": key, "after": after_step}
    return [(row[0], row[1]) for row in reader.iter_rows(HISTORY_SQL, params)]


def step_bounds(reader: Reader, run_id: int, key: str) -> tuple[int, int] | None:
    row = next(iter(reader.iter_rows(BOUNDS_SQL, {"r": run_id, "k": key})), None)
    return None if row is None or row[0] is None else (int(row[0]), int(row[1]))


def downsample(reader: Reader, run_id: int, key: str, points: int) -> list[tuple[int, float]]:
    """About ``points`` evenly spaced points of one metric (all of them when fewer)."""
    bounds = step_bounds(reader, run_id, key)
    if bounds is None:
        return []
    low, high = bounds
    if high - low + 1 <= points:
        return history(reader, run_id, key)
    width = (high - low) / (points - 1)
    params = {"n": points, "r": run_id, "k": key, "lo": low, "w": width}
    seen: set[int] = set()
    result = []
    for step, value in reader.iter_rows(DOWNSAMPLE_SQL, params):
        if step is not None and step not in seen:
            seen.add(step)
            result.append((int(step), float(value)))
    return result
