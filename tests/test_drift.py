"""Drift statistics: PSI, KS and chi-square, from samples and from stored profiles."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from dockyard.core import drift
from dockyard.core.drift import (
    aligned_counts,
    chi2_sf,
    chi_square,
    ks_from_quantiles,
    ks_pvalue,
    ks_statistic,
    profile_column_drift,
    psi,
    psi_from_quantiles,
    psi_numeric,
    sample_drift,
    severity,
)

RNG = np.random.default_rng(7)
BASE = RNG.normal(0, 1, 20_000)
SAME = RNG.normal(0, 1, 20_000)
SHIFTED = RNG.normal(1.0, 1, 20_000)


def quantiles(x: np.ndarray) -> list[float]:
    return [float(q) for q in np.quantile(x, np.linspace(0, 1, 101))]


def test_psi_of_identical_histograms_is_zero_and_symmetric_in_sign() -> None:
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    assert psi([10, 20, 30], [30, 20, 10]) > 0
    assert psi([10, 20, 30], [30, 20, 10]) == pytest.approx(psi([30, 20, 10], [10, 20, 30]))
    assert math.isfinite(psi([10, 0], [0, 10]))  # empty bins are floored, not infinite
    with pytest.raises(ValueError):
        psi([1, 2], [1])


def test_severity_cut_offs() -> None:
    assert severity(0.05) == "none"
    assert severity(0.1) == "moderate"
    assert severity(0.3) == "major"
    assert severity(None) == "none"


def test_numeric_psi_and_ks_tell_same_from_shifted() -> None:
    assert psi_numeric(BASE, SAME) < drift.PSI_MODERATE
    assert psi_numeric(BASE, SHIFTED) > drift.PSI_MAJOR
    assert ks_statistic(BASE, SAME) < 0.03
    assert ks_statistic(BASE, SHIFTED) == pytest.approx(0.38, abs=0.03)


def test_ks_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    a, b = BASE[:500], SHIFTED[:700] * 0.3 + 0.1
    expected = stats.ks_2samp(a, b)
    d = ks_statistic(a, b)
    assert d == pytest.approx(expected.statistic)
    assert ks_pvalue(d, 500, 700) == pytest.approx(expected.pvalue, rel=0.2, abs=1e-6)


def test_chi_square_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for x, dof in ((0.5, 1), (3.84, 1), (12.0, 5), (50.0, 10), (200.0, 30), (1e-9, 3)):
        assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-300)
    table = {"a": 10, "b": 20, "c": 30}, {"a": 25, "b": 20, "c": 15}
    stat, dof, p = chi_square(*table)
    expected = stats.chi2_contingency([[10, 20, 30], [25, 20, 15]], correction=False)
    assert stat == pytest.approx(expected[0]) and dof == 2 and p == pytest.approx(expected[1])


def test_quantile_grids_approximate_the_sample_statistics() -> None:
    exact = ks_statistic(BASE, SHIFTED)
    assert ks_from_quantiles(quantiles(BASE), quantiles(SHIFTED)) == pytest.approx(exact, abs=0.02)
    assert ks_from_quantiles(quantiles(BASE), quantiles(SAME)) < 0.03
    from_grid = psi_from_quantiles(quantiles(BASE), quantiles(SHIFTED))
    assert from_grid == pytest.approx(psi_numeric(BASE, SHIFTED), rel=0.15)


def test_quantile_ks_handles_heavy_ties() -> None:
    a = np.array([0.0] * 900 + list(range(1, 101)), dtype=float)
    b = np.array([0.0] * 500 + list(range(1, 501)), dtype=float)
    approx = ks_from_quantiles(quantiles(a), quantiles(b))
    assert approx == pytest.approx(ks_statistic(a, b), abs=0.02)


def test_sample_drift_picks_the_kind() -> None:
    numeric = sample_drift(BASE, SHIFTED)
    assert numeric.kind == "numeric" and numeric.severity == "major"
    assert numeric.ks_pvalue is not None and numeric.ks_pvalue < 1e-6
    cats = sample_drift(["a"] * 50 + ["b"] * 50, ["a"] * 90 + ["b"] * 10 + [None])
    assert cats.kind == "categorical" and cats.chi2_pvalue is not None
    assert cats.chi2_pvalue < 1e-6 and cats.severity == "major"
    calm = sample_drift(["a", "b"] * 100, ["b", "a"] * 100)
    assert calm.psi == pytest.approx(0.0) and calm.severity == "none"


def profile_column(
    top: list[list[Any]], count: int, distinct: int, exact: bool = True
) -> dict[str, Any]:
    return {"kind": "text", "top": top, "count": count, "distinct": distinct, "top_exact": exact}


def test_aligned_counts_put_unknown_labels_in_other() -> None:
    complete = profile_column([["a", 60], ["b", 40]], 100, 2)
    partial = profile_column([["a", 50], ["c", 30]], 100, 5, exact=False)
    a, b = aligned_counts(complete, partial)
    # A's list is complete, so "c" is known to be absent there (0); B's list is partial,
    # so B's count of "b" is unknown and "b" goes to (other) on both sides
    assert a == {"a": 60, "c": 0, drift.OTHER: 40}
    assert b == {"a": 50, "c": 30, drift.OTHER: 20}


def test_profile_column_drift_by_kind() -> None:
    num_a = {"kind": "numeric", "quantiles": quantiles(BASE)}
    num_b = {"kind": "numeric", "quantiles": quantiles(SHIFTED)}
    moved = profile_column_drift(num_a, num_b)
    assert moved is not None and moved.kind == "numeric" and moved.severity == "major"
    assert moved.ks is not None and moved.ks > 0.3
    same = profile_column_drift(num_a, num_a)
    assert same is not None and same.psi == pytest.approx(0.0) and same.ks == 0.0
    text = profile_column([["x", 10]], 10, 1)
    assert profile_column_drift(num_a, text) is None
    assert profile_column_drift({"kind": "numeric"}, num_b) is None
    cats = profile_column_drift(text, profile_column([["x", 5], ["y", 5]], 10, 2))
    assert cats is not None and cats.kind == "categorical" and cats.chi2_dof == 1
    assert set(cats.to_dict()) >= {"kind", "psi", "severity", "chi2", "chi2_pvalue"}
