"""Distribution-shift statistics, shared by dataset diffs and production monitors.

Two kinds of input:

* raw samples (a monitor scoring a new batch against its reference):
  :func:`sample_drift`, :func:`psi_numeric`, :func:`ks_test`, :func:`chi_square`;
* stored profiles (``core.profiling``; a dataset diff never re-reads data):
  :func:`profile_column_drift`, which works from each column's 101 quantiles (numbers) or
  its top values (categories).

The statistics:

* **PSI** (population stability index), ``sum((a - e) * ln(a / e))`` over bins, bins
  being the reference's deciles for numbers and the categories for text. Reading:
  below 0.1 no real shift, 0.1 to 0.25 a moderate shift, above 0.25 a major one.
* **KS**, the largest distance between the two cumulative distributions (0 to 1), with
  its asymptotic p-value when computed from samples. From profiles it is computed on the
  quantile grids, so it is accurate to about 0.01 and no p-value is given.
* **chi-square** test of the category counts (2 x k table) with its p-value.

Only the standard library and numpy are used (no scipy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from dockyard.core.text import visible

PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
PSI_EPSILON = 1e-4
DEFAULT_BINS = 10
OTHER = "(other)"
MOVED_SHOWN = 3  # categories named as having moved most
MOVED_MIN = 0.001  # a share change below a tenth of a point is not a move

Floats = npt.NDArray[np.float64]


def severity(psi: float | None) -> str:
    """``none``, ``moderate`` or ``major`` for a PSI value (the usual 0.1 / 0.25 cut-offs)."""
    if psi is None or math.isnan(psi):
        return "none"
    if psi >= PSI_MAJOR:
        return "major"
    if psi >= PSI_MODERATE:
        return "moderate"
    return "none"


@dataclass(frozen=True)
class ColumnDrift:
    """How far one column's distribution moved from ``reference`` to ``current``."""

    kind: str  # numeric | categorical
    psi: float
    severity: str
    ks: float | None = None
    ks_pvalue: float | None = None
    chi2: float | None = None
    chi2_dof: int | None = None
    chi2_pvalue: float | None = None
    # categories only: labels seen on one side alone, and the largest moves in share
    # (label, current share - reference share), largest first
    appeared: tuple[str, ...] | None = None
    disappeared: tuple[str, ...] | None = None
    moved: tuple[tuple[str, float], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if self.appeared is not None:
            out["appeared"], out["disappeared"] = list(self.appeared), list(self.disappeared or ())
            out["moved"] = [{"value": label, "share_change": d} for label, d in self.moved or ()]
        return out

    def categories_text(self, limit: int = MOVED_SHOWN) -> str:
        """The category changes in one line (``new: c · gone: a · moved: b +12.5 pts``),
        control characters made visible; empty when nothing changed or not categories."""
        parts = []
        if self.appeared:
            parts.append("new: " + _labels(self.appeared, limit))
        if self.disappeared:
            parts.append("gone: " + _labels(self.disappeared, limit))
        if self.moved:
            parts.append(
                "moved: "
                + ", ".join(f"{visible(k)} {100 * d:+.1f} pts" for k, d in self.moved[:limit])
            )
        return " · ".join(parts)


def _labels(labels: Sequence[str], limit: int) -> str:
    shown = ", ".join(visible(label) for label in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def category_changes(
    reference: Mapping[str, int], current: Mapping[str, int], limit: int = MOVED_SHOWN
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, float], ...]]:
    """Labels only in ``current`` (appeared), only in ``reference`` (disappeared), and the
    ``limit`` labels on both sides whose share of the values moved most (at least
    ``MOVED_MIN``), as (label, share change). Counts as :func:`aligned_counts` gives them:
    ``(other)`` is never named."""
    total_a, total_b = sum(reference.values()), sum(current.values())
    if not total_a or not total_b:
        return (), (), ()
    labels = [k for k in reference if k != OTHER]
    appeared = tuple(k for k in labels if not reference[k] and current.get(k, 0))
    disappeared = tuple(k for k in labels if reference[k] and not current.get(k, 0))
    shifts = [
        (k, current.get(k, 0) / total_b - reference[k] / total_a)
        for k in labels
        if reference[k] and current.get(k, 0)
    ]
    shifts = [s for s in shifts if abs(s[1]) >= MOVED_MIN]
    shifts.sort(key=lambda s: (-abs(s[1]), s[0]))
    return appeared, disappeared, tuple(shifts[:limit])


# ----------------------------------------------------------------------------------- PSI


def psi(expected: Sequence[float], actual: Sequence[float], eps: float = PSI_EPSILON) -> float:
    """PSI between two histograms over the same bins (counts or proportions).

    Empty bins are floored at ``eps`` so that a category absent on one side gives a large
    but finite value.
    """
    if len(expected) != len(actual):
        raise ValueError("psi needs the same number of bins on both sides")
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if not len(e) or e.sum() <= 0 or a.sum() <= 0:
        return 0.0
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def decile_edges(reference: Floats, bins: int = DEFAULT_BINS) -> Floats:
    """Inner bin edges at the reference's quantiles, duplicates removed."""
    inner = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    edges: Floats = np.unique(inner)
    return edges


def psi_numeric(
    reference: Sequence[float] | Floats,
    current: Sequence[float] | Floats,
    bins: int = DEFAULT_BINS,
) -> float:
    """PSI of two numeric samples over bins at the reference's quantiles (NaN ignored)."""
    ref = _finite(reference)
    cur = _finite(current)
    if not len(ref) or not len(cur):
        return 0.0
    edges = decile_edges(ref, bins)
    expected = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    return psi(expected.tolist(), actual.tolist())


def _finite(values: Sequence[float] | Floats) -> Floats:
    arr = np.asarray(values, dtype=np.float64)
    out: Floats = arr[np.isfinite(arr)]
    return out


# ------------------------------------------------------------------------------------ KS


#: Buckets per point of :func:`rank_counts`' lookup table: enough that a bucket of data
#: spread like its points holds at most one or two of them.
RANK_BUCKETS_PER_POINT = 4
#: Steps :func:`rank_counts` takes from a bucket's first point before it leaves the
#: values still unplaced (crowded buckets: far tails, heavy skew) to a binary search.
RANK_STEPS = 3

Ints = npt.NDArray[np.intp]


def rank_counts(points: Floats, values: Floats) -> tuple[Ints, Ints]:
    """For sorted, distinct ``points`` and finite ``values`` in any order: how many values
    lie below each point, and how many at or below it. The same numbers as binary searches
    of the points in the sorted values, without sorting a large batch.

    Each value's place among the points (how many are at or below it) starts from a
    lookup table over evenly spaced buckets between the first and last point and steps
    up past the few points of its bucket; a value that is not then proven to sit between
    two neighbouring points (a crowded bucket) is placed by a binary search, so the
    result is exact whatever the data's shape, and only heavy-tailed data pays the
    search."""
    k, m = len(points), len(values)
    if not k or not m:
        zeros: Ints = np.zeros(k, dtype=np.intp)
        return zeros, zeros.copy()
    places = _places(points, values)
    above: Floats = np.append(points, np.inf)  # above[i]: the first point above place i
    below: Floats = np.concatenate([[-np.inf], points])  # below[i]: the last one at or below
    lower = below[places]
    unproven = (above[places] <= values) | (lower > values)
    if unproven.any():
        rest = np.flatnonzero(unproven)
        places[rest] = np.searchsorted(points, values[rest], side="right")
        lower[rest] = below[places[rest]]
    # values in place i lie in [points[i-1], points[i]): below points[j] are those in
    # places 0..j; the ones equal to points[j] sit at place j + 1 with lower == value
    under: Ints = np.cumsum(np.bincount(places, minlength=k + 1))[:k]
    equal = np.bincount(places[lower == values] - 1, minlength=k)[:k]
    return under, under + equal


def _places(points: Floats, values: Floats) -> Ints:
    """A guess, exact for most values, of how many ``points`` are at or below each value."""
    lo, hi = float(points[0]), float(points[-1])
    buckets = RANK_BUCKETS_PER_POINT * len(points)
    scale = buckets / (hi - lo) if hi > lo else 0.0
    if not 0.0 < scale < math.inf:  # one point, or a span past the largest float
        searched: Ints = np.searchsorted(points, values, side="right")
        return searched

    def bucket(v: Floats) -> Ints:
        # (v - lo) * scale is monotone in v, so a point's bucket never exceeds the
        # bucket of a value at or above it; the table's start is a lower bound
        position = v - lo
        position *= scale
        np.clip(position, 0, buckets - 1, out=position)
        out: Ints = position.astype(np.intp)
        return out

    start = np.searchsorted(bucket(points), np.arange(buckets), side="left")
    places: Ints = start[bucket(values)]
    above = np.append(points, np.inf)
    for _ in range(RANK_STEPS):
        step = above[places] <= values
        if not step.any():
            break
        places += step
    return places


def ks_statistic(reference: Sequence[float] | Floats, current: Sequence[float] | Floats) -> float:
    """Exact two-sample Kolmogorov-Smirnov D of two samples (NaN ignored)."""
    a = np.sort(_finite(reference))
    b = np.sort(_finite(current))
    if not len(a) or not len(b):
        return 0.0
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Asymptotic p-value of a two-sample KS statistic ``d`` (Kolmogorov distribution)."""
    if n <= 0 or m <= 0:
        return 1.0
    ne = n * m / (n + m)
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
    if lam < 1e-3:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return min(1.0, max(0.0, total))


def ks_test(
    reference: Sequence[float] | Floats, current: Sequence[float] | Floats
) -> tuple[float, float]:
    """(D, p-value) of two samples."""
    d = ks_statistic(reference, current)
    return d, ks_pvalue(d, len(_finite(reference)), len(_finite(current)))


def _step_cdf(quantiles: Floats, probs: Floats, points: Floats) -> Floats:
    """The distribution function implied by a quantile grid, right-continuous."""
    idx = np.searchsorted(quantiles, points, side="right")
    out: Floats = np.where(idx > 0, probs[np.maximum(idx - 1, 0)], 0.0)
    return out


def ks_from_quantiles(reference: Sequence[float], current: Sequence[float]) -> float:
    """KS D from two quantile grids over the same evenly spaced probabilities (0..1)."""
    qa = np.asarray(reference, dtype=np.float64)
    qb = np.asarray(current, dtype=np.float64)
    if len(qa) < 2 or len(qb) < 2:
        return 0.0
    pa = np.linspace(0, 1, len(qa))
    pb = np.linspace(0, 1, len(qb))
    points = np.unique(np.concatenate([qa, qb]))
    gap = np.abs(_step_cdf(qa, pa, points) - _step_cdf(qb, pb, points))
    return float(np.max(gap))


def psi_from_quantiles(
    reference: Sequence[float], current: Sequence[float], bins: int = DEFAULT_BINS
) -> float:
    """PSI over the reference's deciles, each side's share read off its quantile grid."""
    qa = np.asarray(reference, dtype=np.float64)
    qb = np.asarray(current, dtype=np.float64)
    if len(qa) < 2 or len(qb) < 2:
        return 0.0
    pa = np.linspace(0, 1, len(qa))
    pb = np.linspace(0, 1, len(qb))
    inner = np.unique(np.interp(np.linspace(0, 1, bins + 1)[1:-1], pa, qa))
    cdf_a = np.concatenate([[0.0], _step_cdf(qa, pa, inner), [1.0]])
    cdf_b = np.concatenate([[0.0], _step_cdf(qb, pb, inner), [1.0]])
    return psi(np.diff(cdf_a).tolist(), np.diff(cdf_b).tolist())


# ---------------------------------------------------------------------------- chi-square


def _lower_gamma_series(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x) by its power series (x < a + 1)."""
    term = total = 1.0 / a
    n = a
    for _ in range(10_000):
        n += 1.0
        term *= x / n
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_gamma_fraction(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) by its continued fraction (x >= a + 1),
    evaluated with the modified Lentz method."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for a chi-square variable with ``dof`` degrees of freedom."""
    if dof <= 0:
        return 1.0
    if x <= 0:
        return 1.0
    a, half = dof / 2.0, x / 2.0
    if half < a + 1.0:
        return max(0.0, min(1.0, 1.0 - _lower_gamma_series(a, half)))
    return max(0.0, min(1.0, _upper_gamma_fraction(a, half)))


def chi_square(
    reference: Mapping[str, float], current: Mapping[str, float]
) -> tuple[float, int, float]:
    """(statistic, degrees of freedom, p-value) of the 2 x k table of category counts."""
    labels = [k for k in {**reference, **current} if reference.get(k, 0) + current.get(k, 0) > 0]
    if len(labels) < 2:
        return 0.0, 0, 1.0
    table = np.array(
        [[reference.get(k, 0) for k in labels], [current.get(k, 0) for k in labels]],
        dtype=np.float64,
    )
    rows = table.sum(axis=1, keepdims=True)
    if (rows <= 0).any():
        return 0.0, 0, 1.0
    cols = table.sum(axis=0, keepdims=True)
    expected = rows * cols / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    dof = len(labels) - 1
    return stat, dof, chi2_sf(stat, dof)


def psi_categorical(reference: Mapping[str, float], current: Mapping[str, float]) -> float:
    labels = sorted({**reference, **current})
    return psi([reference.get(k, 0) for k in labels], [current.get(k, 0) for k in labels])


def categorical_drift(reference: Mapping[str, float], current: Mapping[str, float]) -> ColumnDrift:
    value = psi_categorical(reference, current)
    stat, dof, p = chi_square(reference, current)
    return ColumnDrift(
        kind="categorical",
        psi=value,
        severity=severity(value),
        chi2=stat,
        chi2_dof=dof,
        chi2_pvalue=p,
    )


# ----------------------------------------------------------------------- whole columns


def sample_drift(
    reference: Sequence[Any] | npt.NDArray[Any], current: Sequence[Any] | npt.NDArray[Any]
) -> ColumnDrift:
    """Drift of one column from two raw samples; numbers if both sides are numeric."""
    ref = np.asarray(reference)
    cur = np.asarray(current)
    if _is_numeric(ref) and _is_numeric(cur):
        value = psi_numeric(ref, cur)
        d, p = ks_test(ref, cur)
        return ColumnDrift(kind="numeric", psi=value, severity=severity(value), ks=d, ks_pvalue=p)
    return categorical_drift(_counts(ref), _counts(cur))


def _is_numeric(arr: npt.NDArray[Any]) -> bool:
    return arr.dtype.kind in "iuf"


def _counts(values: npt.NDArray[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values.tolist():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        key = str(value)
        counts[key] = counts.get(key, 0) + 1
    return counts


def known_counts(column: Mapping[str, Any]) -> tuple[dict[str, int], bool]:
    """A profile column's top values as counts, and whether they are all its values."""
    top = {str(label): int(count) for label, count in column.get("top", [])}
    complete = bool(column.get("top_exact")) and len(top) >= int(column.get("distinct", 0))
    return top, complete


def aligned_counts(
    reference: Mapping[str, Any], current: Mapping[str, Any]
) -> tuple[dict[str, int], dict[str, int]]:
    """Category counts of two profile columns over the same labels.

    A label is kept when both sides know its count (it is in the top list, or the top list
    is complete so the label is known to be absent); everything else on each side goes to
    ``(other)``, so both histograms cover all values.
    """
    top_a, complete_a = known_counts(reference)
    top_b, complete_b = known_counts(current)
    labels = [
        k
        for k in sorted({*top_a, *top_b})
        if (k in top_a or complete_a) and (k in top_b or complete_b)
    ]
    a = {k: top_a.get(k, 0) for k in labels}
    b = {k: top_b.get(k, 0) for k in labels}
    other_a = int(reference.get("count", 0)) - sum(a.values())
    other_b = int(current.get("count", 0)) - sum(b.values())
    if other_a > 0 or other_b > 0:
        a[OTHER], b[OTHER] = max(other_a, 0), max(other_b, 0)
    return a, b


def profile_column_drift(
    reference: Mapping[str, Any], current: Mapping[str, Any]
) -> ColumnDrift | None:
    """Drift between two profile columns (``core.profiling`` shape), or None if the
    columns are of different kinds or one has no values."""
    kind_a, kind_b = reference.get("kind"), current.get("kind")
    if kind_a == "numeric" and kind_b == "numeric":
        qa, qb = reference.get("quantiles"), current.get("quantiles")
        if not qa or not qb:
            return None
        value = psi_from_quantiles(qa, qb)
        return ColumnDrift(
            kind="numeric", psi=value, severity=severity(value), ks=ks_from_quantiles(qa, qb)
        )
    if kind_a in ("text", "boolean") and kind_b in ("text", "boolean"):
        a, b = aligned_counts(reference, current)
        if set(a) <= {OTHER} or sum(a.values()) == 0 or sum(b.values()) == 0:
            return None  # no value is known on both sides (e.g. an id column)
        appeared, disappeared, moved = category_changes(a, b)
        return replace(
            categorical_drift(a, b), appeared=appeared, disappeared=disappeared, moved=moved
        )
    return None
