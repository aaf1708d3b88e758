"""The drift checks' statistics are exact, and bench/monitoring.py's shifted columns are
found (and only they) at 100,000 rows: the detection half of the bench, untimed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from dockyard.core.drift import rank_counts
from dockyard.core.monitor_checks import _column_drift, _ks_from_counts, build_reference

BENCH = Path(__file__).resolve().parent.parent / "bench" / "monitoring.py"
CONFIG = {"p_value": 0.05, "psi_warn": 0.1, "psi_alert": 0.25}


def load_bench() -> ModuleType:
    sys.path.insert(0, str(BENCH.parent))  # its `from benchkit import ...`
    spec = importlib.util.spec_from_file_location("dockyard_bench_monitoring", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("ties", [False, True])
def test_ks_against_the_sample_is_scipys_two_sample_statistic(ties: bool) -> None:
    from scipy import stats

    rng = np.random.default_rng(3)
    for _ in range(200):
        n, m = int(rng.integers(1, 80)), int(rng.integers(1, 400))
        if ties:  # discrete values: the batch lands on the sample's own points
            a, b = rng.integers(0, 6, n).astype(float), rng.integers(-1, 7, m).astype(float)
        else:
            a, b = rng.normal(0, 1, n), rng.normal(rng.normal(), 1, m)
        sample = np.sort(a)
        points = np.unique(sample)
        under, upto = rank_counts(points, b)  # the batch unsorted, as a monitor reads it
        d, _p = _ks_from_counts(sample, points, under, upto, m)
        assert d == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


def _shapes(rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    return {
        "normal": rng.normal(3, 1.3, size),
        "whole numbers": rng.integers(0, 10, size).astype(float),
        "heavy tail": rng.lognormal(0, 3, size),
        "one huge outlier": np.append(rng.normal(0, 1, size - 1), 1e300),
        "two far clusters": np.concatenate(
            [rng.normal(0, 1, size // 2), rng.normal(1e6, 1e-3, size - size // 2)]
        ),
        "extremes": np.array([-1.7e308, 1.7e308] * (size // 2)),
        "one value": np.full(size, 2.5),
    }


@pytest.mark.parametrize(
    "shape",
    [
        "normal",
        "whole numbers",
        "heavy tail",
        "one huge outlier",
        "two far clusters",
        "extremes",
        "one value",
    ],
)
def test_rank_counts_are_binary_searches_in_the_sorted_batch(shape: str) -> None:
    """The lookup table's guesses are exact for normal-looking data, and the binary
    search behind them for the rest: both counts equal searches in the sorted batch, for
    any shape of data (points off the data, on it, and around its extremes)."""
    rng = np.random.default_rng(11)
    reference = _shapes(rng, 20_000)[shape]
    batch = _shapes(rng, 30_000)[shape]
    points = np.unique(
        np.concatenate([np.quantile(reference, np.linspace(0, 1, 500)), rng.choice(batch, 50)])
    )
    under, upto = rank_counts(points, batch)
    ordered = np.sort(batch)
    assert (under == np.searchsorted(ordered, points, side="left")).all()
    assert (upto == np.searchsorted(ordered, points, side="right")).all()


def test_rank_counts_of_nothing() -> None:
    empty = np.array([], dtype=np.float64)
    under, upto = rank_counts(np.array([1.0, 2.0]), empty)
    assert under.tolist() == upto.tolist() == [0, 0]
    under, upto = rank_counts(empty, np.array([1.0]))
    assert len(under) == len(upto) == 0


def test_a_batch_equal_to_the_reference_has_no_psi_even_on_the_bin_edges() -> None:
    import pandas as pd

    # whole numbers: many values sit exactly on a decile edge, and must fall in the same
    # bin as the reference put them
    values = pd.Series(np.random.default_rng(5).integers(0, 12, 10_000).astype(float))
    schema = [{"name": "x", "dtype": "float64"}]

    class Constant:
        def predict(self, frame: object) -> object:
            return np.zeros(10_000)

    reference = build_reference(pd.DataFrame({"x": values}), schema, None, Constant())
    result = _column_drift("x", reference["columns"]["x"], values, 0.05, CONFIG, "drift")
    assert result.value == 0.0 and result.status == "ok"
    assert result.extras["test_statistic"] < 1e-3  # the sample is 5,000 quantiles


@pytest.mark.timeout(300)
def test_the_benchs_shifted_columns_are_found_and_no_other_at_100k_rows() -> None:
    bench = load_bench()
    found, shifted = bench.detection(100_000)
    assert set(found) == shifted, found
    assert len(shifted) == 5 and any(name.startswith("k") for name in shifted)


def _mixed_frame(rows: int, seed: int, text: str) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    colours = np.asarray(["red", "green", "blue", "teal"], dtype=object)[rng.integers(0, 4, rows)]
    colours[rng.random(rows) < 0.1] = None  # missing cells
    return pd.DataFrame(
        {
            "x": rng.normal(0, 1, rows),
            "n": rng.integers(0, 5, rows),
            "colour": pd.Series(colours, dtype=text),
        }
    )


SCHEMA = [
    {"name": "x", "dtype": "float64"},
    {"name": "n", "dtype": "int64"},
    {"name": "colour", "dtype": "object"},
]


def test_conform_keeps_the_batchs_own_columns_where_they_already_fit() -> None:
    """Numbers already float64 and text as pandas reads it are the batch's own arrays
    (a million-row batch is not copied); other numbers become float64."""
    from dockyard.core.monitor_checks import conform

    batch = _mixed_frame(1000, 1, "str")
    inputs = conform(batch, SCHEMA, None)
    assert np.shares_memory(inputs["x"].to_numpy(), batch["x"].to_numpy())
    assert inputs["colour"].dtype == batch["colour"].dtype
    assert inputs["n"].dtype == np.float64


def test_text_read_by_pandas_checks_the_same_as_python_objects() -> None:
    """A categorical column counted in Arrow (how pandas 3 reads text) gives every drift
    and quality result that the same column of Python objects gives."""
    from dockyard.core.monitor_checks import conform, drift_checks, quality_checks

    class Constant:
        def predict(self, frame: object) -> object:
            return np.zeros(2000)

    config = {**CONFIG, "threshold": 0.2}
    reference = build_reference(_mixed_frame(2000, 1, "object"), SCHEMA, None, Constant())
    results = {}
    for text in ("str", "object"):
        inputs = conform(_mixed_frame(2000, 2, text), SCHEMA, None)
        checks = drift_checks(reference, inputs, None, config)
        checks += quality_checks(reference, inputs, config)
        results[text] = [c.to_dict() for c in checks]
    assert results["str"] == results["object"]
    colour = next(r for r in results["str"] if r["column"] == "colour" and r["check"] == "missing")
    assert 0.05 < colour["extras"]["missing_share"] < 0.15
