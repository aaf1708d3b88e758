"""The statistics of a monitor run: the reference side of a model version, and the checks
of one batch against it. Pure computation (pandas, NumPy, scikit-learn metrics); the store
side, scheduling and alerts live in ``core.monitoring``.

The reference (:func:`build_reference`) is computed once per model version from its
training data and stored as JSON; a check (:func:`check_batch`) reads only the new batch.
Every rule that turns a statistic into ok / warn / alert is here, so the command line,
the TUI and the agent agree on it; ``docs/monitoring.md`` explains each one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dockyard.core.drift import chi_square, ks_pvalue, psi, psi_categorical, rank_counts

STATUSES = ("ok", "warn", "alert", "error")
#: The most values of one column kept in a reference: its order statistics at evenly
#: spaced ranks, enough for a KS test at this precision and bounded in size.
SAMPLE_SIZE = 5000
NUMERIC_KINDS = "iufb"
#: Relative loss against the version's validation value that makes a metric ``warn``.
BASELINE_TOLERANCE = 0.1
LOWER_IS_BETTER = ("rmse", "mae", "mse", "loss", "error")


class BatchError(Exception):
    """The batch cannot be checked; the message names why (stored as an ``error``)."""


@dataclass(frozen=True)
class CheckResult:
    """One line of a result: a check (``drift``, ``prediction_drift``, ``dataset_drift``,
    ``missing``, ``range``, ``categories``, ``schema``, ``performance``) on one column or
    metric, its statistic and the threshold it was held to."""

    check: str
    column: str | None
    status: str
    statistic: str
    value: float | None
    threshold: float | None
    detail: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            check=str(data.get("check", "")),
            column=data.get("column"),
            status=str(data.get("status", "error")),
            statistic=str(data.get("statistic", "")),
            value=data.get("value"),
            threshold=data.get("threshold"),
            detail=str(data.get("detail", "")),
            extras=dict(data.get("extras") or {}),
        )


def worst(statuses: Sequence[str]) -> str:
    """The most severe of ``statuses`` (``ok`` for none)."""
    rank = {s: i for i, s in enumerate(STATUSES)}
    return max(statuses, key=lambda s: rank.get(s, 0), default="ok")


# -------------------------------------------------------------------------- reading


def read_batch(path: Path) -> Any:
    """A CSV or Parquet batch as a DataFrame; BatchError naming the problem."""
    import pandas as pd

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise BatchError(f"{path.name} is empty (no header, no rows)") from None
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BatchError(f"{path.name} is not a readable table: {first}") from None
    except Exception as exc:  # pyarrow raises its own types for damaged Parquet
        raise BatchError(f"{path.name} is not a readable table: {exc}") from None
    if len(frame) == 0:
        raise BatchError(f"{path.name} has a header but zero rows")
    return frame


def conform(frame: Any, schema: Sequence[Mapping[str, Any]], label: str | None) -> Any:
    """The batch's input columns in the schema's order and types; BatchError for missing,
    extra or retyped columns (all of them named)."""
    import pandas as pd

    names = [str(c["name"]) for c in schema]
    present = [str(c) for c in frame.columns]
    missing = [n for n in names if n not in present]
    extra = [c for c in present if c not in names and c != label]
    problems = []
    if missing:
        problems.append("missing column(s) " + ", ".join(missing))
    if extra:
        problems.append("extra column(s) " + ", ".join(extra))
    out = {}
    retyped = []
    for column in schema:
        name = str(column["name"])
        if name in missing:
            continue
        values = frame[name]
        if _numeric_dtype(str(column.get("dtype", ""))):
            if values.dtype == np.float64:  # already what the checks read: no copy
                out[name] = values
                continue
            converted = pd.to_numeric(values, errors="coerce")
            bad = converted.isna() & values.notna()
            if bad.any():
                index = int(bad.to_numpy().nonzero()[0][0])
                retyped.append(
                    f"{name} (numbers expected, row {index + 1} holds "
                    f"{str(values.iloc[index])[:40]!r})"
                )
            out[name] = converted.astype("float64")
        elif isinstance(values.dtype, pd.StringDtype):
            # text as pandas reads it (Arrow-backed under pandas 3): counted in Arrow,
            # the same values and missing cells a model was trained on
            out[name] = values
        else:
            out[name] = values.astype("object").where(values.notna(), None)
    if retyped:
        problems.append("retyped column(s) " + "; ".join(retyped))
    if problems:
        raise BatchError("the batch does not match the model's input: " + "; ".join(problems))
    # the batch's own columns where they already fit: a check reads, never writes, them
    return pd.DataFrame(out, index=frame.index, copy=False)


def _numeric_dtype(dtype: str) -> bool:
    return dtype.startswith(("int", "float", "uint", "bool"))


# ------------------------------------------------------------------------ reference


def _numeric_reference(values: Any) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    finite = np.sort(arr[np.isfinite(arr)])
    n = len(finite)
    sample = np.quantile(finite, np.linspace(0, 1, SAMPLE_SIZE)) if n > SAMPLE_SIZE else finite
    if n:
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, 11)[1:-1]))
        counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
        low, high = float(finite[0]), float(finite[-1])
    else:
        edges, counts, low, high = np.array([]), np.array([0]), math.nan, math.nan
    return {
        "kind": "numeric",
        "n": n,
        "missing": float(1 - n / len(arr)) if len(arr) else 0.0,
        "sample": sample.tolist(),
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "min": low,
        "max": high,
    }


def _categorical_reference(values: Any) -> dict[str, Any]:
    series = values.dropna().astype(str)
    counts = {str(k): int(v) for k, v in series.value_counts().items()}
    total = len(values)
    return {
        "kind": "categorical",
        "n": len(series),
        "missing": float(1 - len(series) / total) if total else 0.0,
        "counts": counts,
    }


def _column_reference(values: Any, numeric: bool) -> dict[str, Any]:
    return _numeric_reference(values) if numeric else _categorical_reference(values)


def is_classifier(estimator: Any) -> bool:
    return hasattr(estimator, "classes_")


def build_reference(
    train: Any, schema: Sequence[Mapping[str, Any]], label: str | None, estimator: Any
) -> dict[str, Any]:
    """The reference side of every check, from the version's training data ``train``:
    per input column a sorted sample (numbers: order statistics), decile bins with their
    counts, range and missing share, or category counts; and the model's outputs on
    that data (class counts, or a numeric reference of its predictions)."""
    import pandas as pd

    inputs = conform(train, schema, label)
    columns = {
        str(c["name"]): _column_reference(
            inputs[str(c["name"])], _numeric_dtype(str(c.get("dtype", "")))
        )
        for c in schema
    }
    predictions = estimator.predict(inputs)
    classifier = is_classifier(estimator)
    prediction = _column_reference(pd.Series(predictions), not classifier)
    return {
        "schema": [dict(c) for c in schema],
        "label": label,
        "task": "classification" if classifier else "regression",
        "rows": len(train),
        "columns": columns,
        "prediction": prediction,
    }


# ------------------------------------------------------------------------ statistics


def _ks_from_counts(sample: Any, points: Any, under: Any, upto: Any, m: int) -> tuple[float, float]:
    """KS of the sorted ``sample`` against a batch of ``m`` values of which ``under`` lie
    below and ``upto`` at or below each of ``points`` (a sorted superset of the sample's
    distinct values; :func:`core.drift.rank_counts`).

    Between two sample points the sample's CDF is flat and the batch's rises, so the
    largest gap is at a sample point or just below one: the two CDFs there give exactly
    what comparing at every point of both samples would (``scipy.stats.ks_2samp``'s
    statistic)."""
    a = sample
    n = len(a)
    if not n or not m:
        return 0.0, 1.0
    at = np.searchsorted(points, a)
    below = np.abs(np.searchsorted(a, a, side="left") / n - under[at] / m)
    upon = np.abs(np.searchsorted(a, a, side="right") / n - upto[at] / m)
    d = float(max(np.max(below), np.max(upon)))
    return d, ks_pvalue(d, n, m)


#: Categories a stored histogram names; the rest are summed as "other".
HISTOGRAM_CATEGORIES = 12


def _binned(ref: Mapping[str, Any], current: Any) -> list[int]:
    """Counts of finite numbers ``current`` in the reference's decile bins."""
    edges = np.asarray(ref["edges"], dtype=np.float64)
    counts = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    return [int(c) for c in counts]


def _histogram(ref: Mapping[str, Any], current: Any) -> dict[str, Any]:
    """Reference and batch counts in the same bins, stored with a result so that a face
    draws them without reading the reference or the batch again. Numbers: the
    reference's decile bins (``edges`` between them); categories: the reference's most
    common ones, then everything else as one ``other`` bin."""
    if ref["kind"] == "numeric":
        return {
            "kind": "numeric",
            "edges": list(ref["edges"]),
            "reference": list(ref["counts"]),
            "current": list(current),
        }
    reference: Mapping[str, int] = ref["counts"]
    ranked = sorted(reference, key=lambda k: (-reference[k], k))[:HISTOGRAM_CATEGORIES]
    ref_counts = [int(reference[k]) for k in ranked]
    cur_counts = [int(current.get(k, 0)) for k in ranked]
    labels = list(ranked)
    ref_rest = sum(int(v) for k, v in reference.items() if k not in ranked)
    cur_rest = sum(int(v) for k, v in current.items() if k not in ranked)
    if ref_rest or cur_rest:
        labels.append("other")
        ref_counts.append(ref_rest)
        cur_counts.append(cur_rest)
    return {"kind": "categorical", "labels": labels, "reference": ref_counts, "current": cur_counts}


def _column_drift(
    name: str | None,
    ref: Mapping[str, Any],
    values: Any,
    alpha: float,
    config: Mapping[str, Any],
    check: str,
) -> CheckResult:
    """KS (numbers) or chi-square (categories) at ``alpha``, plus PSI. A column has drifted
    (alert) when the test is significant and PSI reaches ``psi_alert``; one of the two
    alone is a warning; a PSI between ``psi_warn`` and ``psi_alert`` without a
    significant test is sampling noise of a small batch and stays ok."""
    warn_at, alert_at = float(config["psi_warn"]), float(config["psi_alert"])
    if ref["kind"] == "numeric":
        current = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(current)
        if not finite.all():
            current = current[finite]
        sample = np.asarray(ref["sample"], dtype=np.float64)
        edges = np.asarray(ref["edges"], dtype=np.float64)
        # one pass over the batch places it among the sample's points and the bin edges
        # together (no sort of a million values)
        points = np.unique(np.concatenate([sample, edges]))
        under, upto = rank_counts(points, current)
        # the bins' counts: values below each edge, differenced (a value equal to an
        # edge belongs to the bin above it, as in the reference)
        below_edges = under[np.searchsorted(points, edges)]
        actual = np.diff(np.concatenate([[0], below_edges, [len(current)]])).tolist()
        value = psi(ref["counts"], actual) if len(current) else 0.0
        stat, p = _ks_from_counts(sample, points, under, upto, len(current))
        test = "ks"
        histogram = _histogram(ref, actual)
    else:
        counts: dict[str, int] = {}
        # count the values first and stringify the few distinct ones (not a million cells)
        for key, count in values.value_counts(dropna=True).items():
            counts[str(key)] = counts.get(str(key), 0) + int(count)
        value = psi_categorical(ref["counts"], counts)
        stat, _dof, p = chi_square(ref["counts"], counts)
        test = "chi2"
        histogram = _histogram(ref, counts)
    significant = p < alpha
    if significant and value >= alert_at:
        status = "alert"
    elif significant or value >= alert_at:
        status = "warn"
    else:
        status = "ok"
    level = "alert" if value >= alert_at else "warn" if value >= warn_at else "ok"
    detail = f"PSI {value:.3f} ({level}), {test} p={p:.3g} (significant below {alpha:.3g})"
    return CheckResult(
        check=check,
        column=name,
        status=status,
        statistic="psi",
        value=round(value, 6),
        threshold=alert_at,
        detail=detail,
        extras={
            "test": test,
            "test_statistic": round(stat, 6),
            "p_value": p,
            "alpha": alpha,
            "psi_warn": warn_at,
            "psi_status": level,
            "histogram": histogram,
        },
    )


def drift_checks(
    reference: Mapping[str, Any], inputs: Any, predictions: Any, config: Mapping[str, Any]
) -> list[CheckResult]:
    """Every input column against the reference (Bonferroni: the test level is divided by
    the number of columns), the dataset verdict (share of drifted columns against the
    monitor's ``threshold``), and the model's outputs against its outputs on the
    training data."""
    import pandas as pd

    columns: Mapping[str, Any] = reference["columns"]
    alpha = float(config["p_value"]) / max(len(columns), 1)
    results = [
        _column_drift(name, ref, inputs[name], alpha, config, "drift")
        for name, ref in columns.items()
    ]
    drifted = [r.column for r in results if r.status == "alert"]
    share = len(drifted) / max(len(results), 1)
    limit = 0.5 if config.get("threshold") is None else float(config["threshold"])
    results.append(
        CheckResult(
            check="dataset_drift",
            column=None,
            status="alert" if drifted and share >= limit else "warn" if drifted else "ok",
            statistic="drifted_share",
            value=round(share, 6),
            threshold=limit,
            detail=f"{len(drifted)} of {len(results)} columns drifted"
            + (f": {', '.join(str(d) for d in drifted)}" if drifted else ""),
            extras={"drifted": drifted},
        )
    )
    if predictions is not None:
        results.append(
            _column_drift(
                None,
                reference["prediction"],
                pd.Series(predictions),
                float(config["p_value"]),
                config,
                "prediction_drift",
            )
        )
    return results


def quality_checks(
    reference: Mapping[str, Any], inputs: Any, config: Mapping[str, Any]
) -> list[CheckResult]:
    """Per column: the missing share against the reference's, the share of numbers outside
    the training range, the share of categories never seen in training. Each share
    above the monitor's ``threshold`` (default 0.05) is an alert; any out-of-range or
    unseen value below it is a warning."""
    limit = 0.05 if config.get("threshold") is None else float(config["threshold"])
    results = [
        CheckResult(
            "schema",
            None,
            "ok",
            "columns",
            float(len(reference["columns"])),
            None,
            "every input column present with the expected type",
        )
    ]
    rows = len(inputs)
    for name, ref in reference["columns"].items():
        values = inputs[name]
        missing = float(values.isna().mean()) if rows else 0.0
        increase = missing - float(ref["missing"])
        present = values.dropna()
        if ref["kind"] == "numeric":
            numbers = present.to_numpy(dtype=np.float64)
            histogram = _histogram(ref, _binned(ref, numbers[np.isfinite(numbers)]))
        else:
            labels = present.astype(str).value_counts()
            histogram = _histogram(ref, {str(k): int(v) for k, v in labels.items()})
        results.append(
            CheckResult(
                "missing",
                name,
                "alert" if increase > limit else "ok",
                "missing_share_increase",
                round(increase, 6),
                limit,
                f"{missing:.1%} missing (training {float(ref['missing']):.1%})",
                {"missing_share": missing, "histogram": histogram},
            )
        )
        if not len(present):
            continue
        if ref["kind"] == "numeric":
            arr = present.to_numpy(dtype=np.float64)
            outside = int(np.count_nonzero((arr < ref["min"]) | (arr > ref["max"])))
            share = outside / len(arr)
            status = "alert" if share > limit else "warn" if outside else "ok"
            results.append(
                CheckResult(
                    "range",
                    name,
                    status,
                    "outside_share",
                    round(share, 6),
                    limit,
                    f"{outside} value(s) outside the training range "
                    f"[{ref['min']:.6g}, {ref['max']:.6g}]",
                    {
                        "outside": outside,
                        "batch_min": float(arr.min()),
                        "batch_max": float(arr.max()),
                    },
                )
            )
        else:
            known = set(ref["counts"])
            labels = present.astype(str)
            unseen_mask = ~labels.isin(known)
            unseen = sorted(set(labels[unseen_mask]))
            share = float(unseen_mask.mean())
            status = "alert" if share > limit else "warn" if unseen else "ok"
            results.append(
                CheckResult(
                    "categories",
                    name,
                    status,
                    "unseen_share",
                    round(share, 6),
                    limit,
                    (
                        f"unseen: {', '.join(repr(u) for u in unseen[:5])}"
                        if unseen
                        else "no unseen category"
                    ),
                    {"unseen": unseen[:20]},
                )
            )
    return results


def metric_value(name: str, y_true: Any, y_pred: Any, proba: Any, classes: Any) -> float:
    """``name`` (accuracy, f1, f1_macro, precision, recall, roc_auc, rmse, mae, mse, r2)
    of predictions against labels; BatchError for a metric it does not know."""
    from sklearn import metrics

    key = name.rsplit("/", 1)[-1]
    if key == "accuracy":
        return float(metrics.accuracy_score(y_true, y_pred))
    if key in ("f1", "precision", "recall"):
        fn = {
            "f1": metrics.f1_score,
            "precision": metrics.precision_score,
            "recall": metrics.recall_score,
        }[key]
        average = "binary" if len(classes) == 2 else "macro"
        kwargs = {"pos_label": classes[-1]} if average == "binary" else {}
        return float(fn(y_true, y_pred, average=average, zero_division=0, **kwargs))
    if key.endswith("_macro") and key[: -len("_macro")] in ("f1", "precision", "recall"):
        fn = {
            "f1": metrics.f1_score,
            "precision": metrics.precision_score,
            "recall": metrics.recall_score,
        }[key[: -len("_macro")]]
        return float(fn(y_true, y_pred, average="macro", zero_division=0))
    if key == "roc_auc":
        if proba is None:
            raise BatchError("roc_auc needs a model with predict_proba")
        if len(set(np.asarray(y_true).tolist())) < 2:
            raise BatchError("roc_auc needs both classes among the batch's labels")
        if len(classes) == 2:
            return float(metrics.roc_auc_score(y_true, proba[:, 1]))
        return float(metrics.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
    if key == "rmse":
        return float(np.sqrt(metrics.mean_squared_error(y_true, y_pred)))
    if key == "mse":
        return float(metrics.mean_squared_error(y_true, y_pred))
    if key == "mae":
        return float(metrics.mean_absolute_error(y_true, y_pred))
    if key == "r2":
        return float(metrics.r2_score(y_true, y_pred))
    raise BatchError(
        f"metric {name!r} cannot be computed on a batch (known: accuracy, f1, "
        "f1_macro, precision, recall, roc_auc, rmse, mse, mae, r2)"
    )


def lower_is_better(name: str, direction: str | None = None) -> bool:
    if direction is not None:
        return direction == "minimize"
    key = name.rsplit("/", 1)[-1]
    return any(word in key for word in LOWER_IS_BETTER)


def performance_checks(
    estimator: Any,
    inputs: Any,
    labels: Any,
    config: Mapping[str, Any],
    primary: str | None,
    direction: str | None,
    baseline: Mapping[str, float],
) -> list[CheckResult]:
    """The monitor's metric against its bound (alert when past it) and, with the project's
    primary metric, against the version's validation value (warn when worse by more
    than 10%)."""
    y_pred = estimator.predict(inputs)
    proba = None
    classes: Any = []
    if is_classifier(estimator):
        classes = list(estimator.classes_)
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(inputs)
        labels = labels.astype(type(classes[0])) if classes else labels
    names = [str(config["metric"])] if config.get("metric") else []
    if primary and primary not in names:
        names.append(primary)
    results = []
    for name in names:
        value = metric_value(name, labels, y_pred, proba, classes)
        lower = lower_is_better(name, direction if name == primary else None)
        bound = None
        status = "ok"
        parts = []
        if name == config.get("metric"):
            low, high = config.get("min"), config.get("max")
            if low is not None and value < float(low):
                status, bound = "alert", float(low)
                parts.append(f"below the floor {float(low):g}")
            elif high is not None and value > float(high):
                status, bound = "alert", float(high)
                parts.append(f"above the ceiling {float(high):g}")
            else:
                bound = float(low) if low is not None else float(high) if high is not None else None
        base = baseline.get(name)
        if base is not None and math.isfinite(base) and base != 0:
            change = (value - base) / abs(base)
            worse = change > BASELINE_TOLERANCE if lower else change < -BASELINE_TOLERANCE
            parts.append(f"validation {base:.4g} ({change:+.1%})")
            if worse and status == "ok":
                status = "warn"
        results.append(
            CheckResult(
                "performance",
                name,
                status,
                name,
                round(value, 6),
                bound,
                f"{name} {value:.4g}" + (": " + ", ".join(parts) if parts else ""),
                {"baseline": base, "rows": len(inputs)},
            )
        )
    return results


def check_batch(
    reference: Mapping[str, Any],
    frame: Any,
    kind: str,
    config: Mapping[str, Any],
    estimator: Any,
    *,
    primary: str | None = None,
    direction: str | None = None,
    baseline: Mapping[str, float] | None = None,
) -> list[CheckResult]:
    """The checks of a monitor of ``kind`` on one batch (already read); BatchError when the
    batch cannot be checked at all (schema, no labels for a performance monitor)."""
    label = reference.get("label")
    inputs = conform(frame, reference["schema"], label)
    if kind == "drift":
        return drift_checks(reference, inputs, estimator.predict(inputs), config)
    if kind == "quality":
        return quality_checks(reference, inputs, config)
    if kind == "performance":
        if not label or label not in frame.columns:
            return [
                CheckResult(
                    "performance",
                    None,
                    "ok",
                    "rows",
                    float(len(frame)),
                    None,
                    f"the batch carries no labels (no column {label!r}); nothing to score",
                )
            ]
        labels = frame[label]
        if labels.isna().any():
            raise BatchError(f"label column {label} has missing values")
        return performance_checks(
            estimator, inputs, labels, config, primary, direction, baseline or {}
        )
    raise BatchError(f"unknown monitor kind {kind!r}")


def summarise(results: Sequence[CheckResult]) -> tuple[str, str]:
    """(status, one-line summary) of a run's checks."""
    status = worst([r.status for r in results])
    flagged = [r for r in results if r.status in ("alert", "warn") and r.column is not None]
    dataset = next((r for r in results if r.check == "dataset_drift"), None)
    if status == "ok":
        return status, "all checks ok" + (f" ({dataset.detail})" if dataset else "")
    by_status = {
        s: sorted({str(r.column) for r in flagged if r.status == s}) for s in ("alert", "warn")
    }
    parts = [f"{s}: {', '.join(cols)}" for s, cols in by_status.items() if cols]
    prediction = next((r for r in results if r.check == "prediction_drift"), None)
    if prediction is not None and prediction.status != "ok":
        parts.append(f"predictions {prediction.status}")
    return status, "; ".join(parts) or status


def headline(kind: str, results: Sequence[CheckResult]) -> float | None:
    """The one number a list shows a run's history by: a drift monitor's share of drifted
    columns, a quality monitor's worst share of bad values, a performance monitor's
    first metric. None when the run has no such number (an error, no labels)."""
    if kind == "drift":
        verdict = next((r for r in results if r.check == "dataset_drift"), None)
        return None if verdict is None else verdict.value
    if kind == "quality":
        shares = [
            r.value
            for r in results
            if r.check in ("missing", "range", "categories") and r.value is not None
        ]
        return max(shares) if shares else None
    if kind == "performance":
        scored = next((r for r in results if r.check == "performance" and r.column), None)
        return None if scored is None else scored.value
    return None
