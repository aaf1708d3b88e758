"""The drift checks' statistics are exact, and bench/monitoring.py's shifted columns are
found (and only they) at 100,000 rows: the detection half of the bench, untimed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from dockyard.core.monitor_checks import _column_drift, _ks_against_sample, build_reference

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
        d, _p = _ks_against_sample(np.sort(a).tolist(), np.sort(b))
        assert d == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


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
