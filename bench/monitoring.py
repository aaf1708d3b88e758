"""Monitoring at scale: every drift check of one batch of N rows (default 1,000,000) x 25
columns (20 numeric, 5 categorical), against a reference of the same size computed
beforehand (as a deployment stores it), against baselines measured in the same run.

- dockyard: ``core.monitor_checks.conform`` + ``drift_checks`` (per column KS against the
  reference's order statistics, PSI over its deciles, chi-square for categories; the
  dataset verdict), in this process, on a DataFrame already in memory. Target: < 2 s
  (median). Peak traced memory (tracemalloc sees NumPy's and pandas' buffers) against the
  batch DataFrame's own size (``memory_usage(deep=True)``). Target: < 2x.
- numpy/scipy: the plain way on the same frames: ``scipy.stats.ks_2samp`` on the two raw
  columns, PSI from ``np.histogram`` over the reference deciles (precomputed, as ours),
  ``scipy.stats.chi2_contingency`` on the two columns' category counts.
- evidently (``--with-evidently``): ``DataDriftPreset`` of Evidently in a virtualenv of
  its own (``/tmp/evidently-venv``, made and filled with ``pip install evidently
  "pandas<3"`` if needed; Evidently is not a dependency of Dockyard), on the same data, in
  a subprocess; only ``Report.run`` is timed.

Detection (at every size measured, and at 100,000 rows in ``tests/test_monitor_bench.py``):
five shifted columns (a mean shift of 0.25 sd, a 1.25x spread, a mean shift of 0.6 sd, a
10% tail moved by 3 sd, one category's share up 5 points) must all be flagged (warn or
alert) and none of the other twenty.

Runs alternate (dockyard, baseline, dockyard, ...) so that the shared machine's load hits
both; medians are reported.

    python bench/monitoring.py [--rows 1000000] [--repeat 3] [--with-evidently]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / ".pkg"))

from benchkit import Target, print_table, print_targets, summary, timed, write_results

NUMERIC = [f"n{i:02d}" for i in range(20)]
CATEGORICAL = [f"k{i}" for i in range(5)]
CATEGORIES = ["a", "b", "c", "d", "e"]
SHARES = [0.2, 0.2, 0.2, 0.2, 0.2]
#: the columns the batch shifts, and how
SHIFTED = {
    "n03": "mean +0.25 sd",
    "n07": "spread x1.25",
    "n11": "mean +0.6 sd",
    "n15": "10% tail +3 sd",
    "k2": "share of 'a' +5 points",
}
CONFIG = {"p_value": 0.05, "psi_warn": 0.1, "psi_alert": 0.25, "threshold": 0.2}
EVIDENTLY_VENV = Path("/tmp/evidently-venv")


def make_frame(rows: int, seed: int, shifted: bool) -> Any:
    """``rows`` x 25 columns; ``shifted``: the batch, with :data:`SHIFTED` applied."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        loc, scale = float(i), 1.0 + i / 10
        if shifted and name == "n03":
            loc += 0.25 * scale
        if shifted and name == "n07":
            scale *= 1.25
        if shifted and name == "n11":
            loc += 0.6 * scale
        values = rng.normal(loc, scale, rows)
        if shifted and name == "n15":
            tail = rng.random(rows) < 0.1
            values[tail] += 3 * scale
        data[name] = values
    for name in CATEGORICAL:
        shares = list(SHARES)
        if shifted and name == "k2":
            shares = [0.25] + [s * 0.75 / 0.8 for s in SHARES[1:]]
        data[name] = np.asarray(CATEGORIES, dtype=object)[
            rng.choice(len(CATEGORIES), size=rows, p=shares)
        ]
    return pd.DataFrame(data)


def schema() -> list[dict[str, str]]:
    return [{"name": n, "dtype": "float64"} for n in NUMERIC] + [
        {"name": n, "dtype": "object"} for n in CATEGORICAL
    ]


class _NoModel:
    """The reference is built without a model: this bench times the input columns' drift."""

    def predict(self, frame: Any) -> Any:
        import numpy as np

        return np.zeros(len(frame))


def reference_of(frame: Any) -> dict[str, Any]:
    from dockyard.core.monitor_checks import build_reference

    return build_reference(frame, schema(), None, _NoModel())


def dockyard_checks(reference: dict[str, Any], batch: Any) -> list[Any]:
    from dockyard.core.monitor_checks import conform, drift_checks

    return drift_checks(reference, conform(batch, reference["schema"], None), None, CONFIG)


def flagged(results: list[Any]) -> dict[str, str]:
    """Column -> status of every column check that is not ok."""
    return {r.column: r.status for r in results if r.column is not None and r.status != "ok"}


def baseline_edges(reference_frame: Any) -> dict[str, Any]:
    import numpy as np

    return {n: np.quantile(reference_frame[n].to_numpy(), np.linspace(0, 1, 11)) for n in NUMERIC}


def baseline_checks(reference_frame: Any, edges: dict[str, Any], batch: Any) -> dict[str, Any]:
    """KS + PSI per numeric column, chi-square per category column, with NumPy/SciPy."""
    import numpy as np
    from scipy import stats

    out: dict[str, Any] = {}
    for name in NUMERIC:
        ref, cur = reference_frame[name].to_numpy(), batch[name].to_numpy()
        bins = edges[name].copy()
        bins[0], bins[-1] = -np.inf, np.inf
        expected = np.histogram(ref, bins)[0] / len(ref)
        actual = np.histogram(cur, bins)[0] / len(cur)
        expected, actual = np.clip(expected, 1e-4, None), np.clip(actual, 1e-4, None)
        psi = float(np.sum((actual - expected) * np.log(actual / expected)))
        out[name] = (psi, stats.ks_2samp(ref, cur).pvalue)
    for name in CATEGORICAL:
        ref_counts = reference_frame[name].value_counts()
        cur_counts = batch[name].value_counts().reindex(ref_counts.index, fill_value=0)
        out[name] = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))[1]
    return out


def measure_memory(reference: dict[str, Any], batch: Any) -> tuple[float, float]:
    """(peak traced bytes of one check run, the batch frame's bytes)."""
    frame_bytes = float(batch.memory_usage(deep=True).sum())
    tracemalloc.start()
    tracemalloc.reset_peak()
    dockyard_checks(reference, batch)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return float(peak), frame_bytes


EVIDENTLY_SCRIPT = """
import sys, time
import numpy as np, pandas as pd
data = np.load(sys.argv[1], allow_pickle=False)
def frame(prefix):
    return pd.DataFrame({k.split("/", 1)[1]: (data[k].astype(object) if data[k].dtype.kind == "U"
                         else data[k]) for k in data.files if k.startswith(prefix + "/")})
reference, current = frame("ref"), frame("cur")
try:  # Evidently 0.7 and later
    from evidently import Report
    from evidently.presets import DataDriftPreset
    report = Report([DataDriftPreset()])
    start = time.perf_counter()
    report.run(current, reference)
except ImportError:  # 0.4 - 0.6
    from evidently.report import Report
    from evidently.metric_preset import DataDriftPreset
    report = Report(metrics=[DataDriftPreset()])
    start = time.perf_counter()
    report.run(reference_data=reference, current_data=current)
print(time.perf_counter() - start)
"""


def evidently_python(install_timeout: float) -> tuple[Path | None, str]:
    """The venv's python with Evidently importable, installing it if needed; or why not."""
    python = EVIDENTLY_VENV / "bin" / "python"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        probe = subprocess.run([str(python), "-c", "import evidently"], capture_output=True)
        if probe.returncode != 0:
            started = time.monotonic()
            got = subprocess.run(
                # Evidently 0.7 imports a pandas internal that pandas 3 removed
                [str(python), "-m", "pip", "install", "-q", "evidently", "pandas<3"],
                capture_output=True,
                text=True,
                timeout=install_timeout,
            )
            if got.returncode != 0:
                return None, f"pip install evidently failed: {got.stderr.strip()[-300:]}"
            print(f"installed evidently in {time.monotonic() - started:.0f} s", file=sys.stderr)
        version = subprocess.run(
            [str(python), "-c", "import evidently; print(evidently.__version__)"],
            capture_output=True,
            text=True,
        )
        return python, version.stdout.strip()
    except subprocess.TimeoutExpired:
        return None, f"pip install evidently did not finish in {install_timeout:.0f} s"
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"no virtualenv for evidently: {exc}"


def run_evidently(python: Path, reference_frame: Any, batch: Any, repeat: int) -> list[float]:
    import numpy as np

    arrays = {}
    for prefix, frame in (("ref", reference_frame), ("cur", batch)):
        for name in frame.columns:
            values = frame[name].to_numpy()
            arrays[f"{prefix}/{name}"] = values.astype(str) if values.dtype == object else values
    times = []
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data.npz"
        np.savez(data, **arrays)
        for _ in range(repeat):
            done = subprocess.run(
                [str(python), "-c", EVIDENTLY_SCRIPT, str(data)],
                capture_output=True,
                text=True,
                timeout=3600,
            )
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip()[-500:])
            times.append(float(done.stdout.strip().splitlines()[-1]))
    return times


def detection(rows: int, seed: int = 7) -> tuple[dict[str, str], set[str]]:
    """What the checks flag on a ``rows``-row batch: (flagged column -> status, the shifted)."""
    reference = reference_of(make_frame(rows, seed, shifted=False))
    batch = make_frame(rows, seed + 1, shifted=True)
    return flagged(dockyard_checks(reference, batch)), set(SHIFTED)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--with-evidently", action="store_true")
    parser.add_argument("--install-timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import numpy as np

    rows = args.rows
    print(f"making {rows:,} x 25 reference and batch ...", file=sys.stderr)
    reference_frame = make_frame(rows, 1, shifted=False)
    batch = make_frame(rows, 2, shifted=True)
    reference_seconds, _cpu, _ = timed(lambda: reference_of(reference_frame))
    reference = reference_of(reference_frame)
    edges = baseline_edges(reference_frame)

    ours, plain, ours_cpu, plain_cpu = [], [], [], []
    for _ in range(args.repeat):
        wall, cpu, _ = timed(lambda: dockyard_checks(reference, batch))
        ours.append(wall)
        ours_cpu.append(cpu)
        wall, cpu, _ = timed(lambda: baseline_checks(reference_frame, edges, batch))
        plain.append(wall)
        plain_cpu.append(cpu)
    results = dockyard_checks(reference, batch)
    found = flagged(results)
    peak, frame_bytes = measure_memory(reference, batch)

    small_found, shifted = detection(100_000)
    detections = {
        f"{rows:,} rows": sorted(found.items()),
        "100,000 rows": sorted(small_found.items()),
    }
    detected_ok = set(found) == shifted and set(small_found) == shifted

    evidently: dict[str, Any] = {"measured": False}
    if args.with_evidently:
        python, note = evidently_python(args.install_timeout)
        evidently["note"] = note
        if python is not None:
            try:
                times = run_evidently(python, reference_frame, batch, args.repeat)
                evidently.update(measured=True, version=note, seconds=summary(times))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                evidently["note"] = f"evidently {note} failed: {exc}"

    ours_s, plain_s = summary(ours), summary(plain)
    ours_c, plain_c = summary(ours_cpu), summary(plain_cpu)
    table = [
        ("dockyard drift checks (conform + drift_checks)", ours_s, f"{ours_c['median']:.2f}"),
        ("numpy/scipy KS + PSI + chi-square", plain_s, f"{plain_c['median']:.2f}"),
    ]
    if evidently["measured"]:
        table.append(
            (f"evidently {evidently['version']} DataDriftPreset", evidently["seconds"], "-")
        )
    print_table(
        f"Drift checks of {rows:,} rows x 25 columns, reference precomputed "
        f"(load {os.getloadavg()[0]:.1f})",
        ("what", "median s", "min s", "max s", "CPU s", "vs dockyard"),
        [
            (
                what,
                f"{s['median']:.2f}",
                f"{s['min']:.2f}",
                f"{s['max']:.2f}",
                cpu,
                f"{s['median'] / ours_s['median']:.1f}x",
            )
            for what, s, cpu in table
        ],
    )
    print(
        f"reference built once in {reference_seconds:.2f} s; peak traced memory of a run "
        f"{peak / 2**20:,.0f} MiB = {peak / frame_bytes:.2f}x the batch frame "
        f"({frame_bytes / 2**20:,.0f} MiB)"
    )
    for label, flags in detections.items():
        print(f"flagged at {label}: {flags}")
    if not evidently["measured"] and args.with_evidently:
        print(f"evidently not measured: {evidently['note']}")

    targets = [
        Target("drift checks, median", ours_s["median"], 2.0, "s", False, f"{rows:,} x 25"),
        Target("drift checks, median CPU", ours_c["median"], 2.0, "s", False, "one core"),
        Target("peak memory / batch frame", peak / frame_bytes, 2.0, "x", False),
        Target(
            "shifted columns flagged, others not",
            1.0 if detected_ok else 0.0,
            1.0,
            "",
            True,
            "at 100k and the measured size",
        ),
    ]
    print_targets(targets)
    path = write_results(
        "monitoring",
        {"rows": rows, "columns": 25, "repeat": args.repeat, "shifted": SHIFTED, "config": CONFIG},
        {
            "dockyard_seconds": ours_s,
            "dockyard_cpu_seconds": ours_c,
            "numpy_scipy_seconds": plain_s,
            "numpy_scipy_cpu_seconds": plain_c,
            "ratio_numpy_scipy_to_dockyard": plain_s["median"] / ours_s["median"],
            "evidently": evidently,
            "ratio_evidently_to_dockyard": (
                evidently["seconds"]["median"] / ours_s["median"] if evidently["measured"] else None
            ),
            "reference_build_seconds": reference_seconds,
            "peak_traced_bytes": peak,
            "batch_frame_bytes": frame_bytes,
            "flagged": detections,
            "numpy": np.__version__,
        },
        targets,
        args.out,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
