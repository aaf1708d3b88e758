"""Side-by-side comparison of 2 to 10 model versions or runs; the first is the baseline.

Curves are downsampled in SQL: for each of ``points`` evenly spaced step positions, one
index seek fetches the first point at or after it, so drawing a 100-column chart of a
100,000-point history reads about 100 rows, never the whole history.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from dockyard.core.errors import InputError
from dockyard.core.parsing import INT64_MAX, parse_int, shown
from dockyard.core.workspace import Workspace, reader_for

MIN_ITEMS, MAX_ITEMS = 2, 10
LOWER_IS_BETTER = ("loss", "error", "rmse", "mse", "mae", "std", "seconds", "time", "latency")


def metric_direction(name: str, primary: str | None, primary_direction: str) -> str:
    """``maximize`` or ``minimize``: the project's word for its primary metric, otherwise
    a metric whose name says loss/error/rmse/mae/mse/std/seconds/time is minimised."""
    if primary is not None and name == primary:
        return primary_direction
    lowered = name.lower()
    return "minimize" if any(word in lowered for word in LOWER_IS_BETTER) else "maximize"


@dataclass(frozen=True)
class Item:
    """One compared thing: a model version or a bare run."""

    label: str
    run_id: int
    project: str
    params: dict[str, str]
    metrics: dict[str, float]
    dataset: str | None
    duration_s: float | None
    size_bytes: int | None
    primary_metric: str | None
    direction: str
    confusion: dict[str, Any] | None = None


@dataclass(frozen=True)
class Row:
    section: str  # "info" | "param" | "metric"
    name: str
    values: list[Any]
    differs: bool
    deltas: list[float | None] = field(default_factory=list)
    verdicts: list[str | None] = field(default_factory=list)  # better | worse | same

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "values": self.values,
            "differs": self.differs,
            "deltas": self.deltas,
            "verdicts": self.verdicts,
        }


@dataclass(frozen=True)
class Comparison:
    items: list[Item]
    rows: list[Row]
    curves: dict[str, list[list[tuple[int, float]]]]

    @property
    def labels(self) -> list[str]:
        return [i.label for i in self.items]

    @property
    def warnings(self) -> list[str]:
        """Why the metrics are not like for like (today: the training data differs)."""
        return [w for w in (data_warning(self.items),) if w]

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.items[0].label,
            "warnings": self.warnings,
            "columns": self.labels,
            "rows": [r.to_dict() for r in self.rows],
            "curves": {k: [[list(p) for p in c] for c in v] for k, v in self.curves.items()},
            "confusion": {i.label: i.confusion for i in self.items if i.confusion},
        }


def data_warning(items: list[Item]) -> str | None:
    """One line when the compared items were trained on different dataset versions: a
    better metric may then come from the data, not the model."""
    datasets = [item.dataset for item in items]
    if len(set(datasets)) < 2:
        return None
    each = ", ".join(f"{item.label}: {item.dataset or 'unregistered data'}" for item in items)
    text = f"not like for like: trained on different data ({each}); a metric may differ "
    text += "because of the data, not the model"
    base = datasets[0]
    other = next(d for d in datasets if d != base)
    if base and other:
        text += f" (see `dockyard data diff {base} {other}`)"
    return text


def _item_for_ref(workspace: Workspace, ref: str) -> Item:
    from dockyard.core.projects import get_project
    from dockyard.core.registry import verify_version_files
    from dockyard.core.runs import get_run

    text = ref.strip()
    run_id: int | None = None
    size: int | None = None
    if text.isdigit() or text.lower().startswith("run:"):
        try:
            run_id = parse_int(text.split(":", 1)[-1], 1, INT64_MAX)
        except InputError:
            raise InputError(
                f"{shown(ref)} is not a run id; write run:ID with ID from 1 to {INT64_MAX}"
            ) from None
        label = f"run {run_id}"
    else:
        # A comparison vouches for what it shows: a version whose file is gone or altered
        # is refused, not compared on the strength of its stored metrics.
        version = verify_version_files(workspace, text)
        run_id, label, size = version.run_id, version.ref, version.size_bytes
    run = get_run(workspace, run_id)
    project = get_project(workspace, run.project)
    from dockyard.core.runs import latest_metrics

    return Item(
        label=label,
        run_id=run_id,
        project=run.project,
        params=run.params,
        metrics={k: v for k, (_s, v) in latest_metrics(workspace, run_id).items()},
        dataset=run.dataset,
        duration_s=run.duration,
        size_bytes=size,
        primary_metric=project.spec.primary_metric,
        direction=project.spec.direction,
        confusion=_confusion(workspace, run_id),
    )


def _confusion(workspace: Workspace, run_id: int) -> dict[str, Any] | None:
    """The run's ``confusion_matrix.json`` artifact, if it logged one and it is intact."""
    from dockyard.core.registry import ArtifactIntegrityError, verify_artifact

    artifact = reader_for(workspace).fetch_one(
        "SELECT object_path, sha256 FROM artifact"
        " WHERE run_id = :r AND name = 'confusion_matrix.json' LIMIT 1",
        {"r": run_id},
    )
    if artifact is None:
        return None
    try:
        path = verify_artifact(workspace, artifact["object_path"], artifact["sha256"], "confusion")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ArtifactIntegrityError, ValueError, OSError):
        return None
    return data if isinstance(data, dict) and "matrix" in data else None


def _differs(values: list[Any]) -> bool:
    return len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1


def compare(workspace: Workspace, refs: list[str], points: int = 100) -> Comparison:
    """Compare ``refs`` (``NAME@VERSION``, ``NAME@ALIAS`` or ``run:ID``); first = baseline."""
    if len(refs) < MIN_ITEMS:
        raise InputError(
            f"compare needs at least {MIN_ITEMS} versions or runs; give another to compare with"
        )
    if len(refs) > MAX_ITEMS:
        raise InputError(
            f"compare takes at most {MAX_ITEMS} versions or runs at once; {len(refs)} given"
        )
    items = [_item_for_ref(workspace, ref) for ref in refs]
    base = items[0]
    rows: list[Row] = []

    info: list[tuple[str, list[Any]]] = [
        ("project", [i.project for i in items]),
        ("dataset", [i.dataset for i in items]),
        ("run", [i.run_id for i in items]),
        ("training time (s)", [_round(i.duration_s) for i in items]),
        ("model size (bytes)", [i.size_bytes for i in items]),
    ]
    for name, values in info:
        rows.append(Row("info", name, values, _differs(values) if name != "run" else False))

    for name in sorted({k for i in items for k in i.params}):
        values = [i.params.get(name) for i in items]
        rows.append(Row("param", name, values, _differs(values)))

    metric_names = sorted({k for i in items for k in i.metrics})
    if base.primary_metric in metric_names:
        metric_names.remove(base.primary_metric)
        metric_names.insert(0, base.primary_metric)
    for name in metric_names:
        direction = metric_direction(name, base.primary_metric, base.direction)
        values = [i.metrics.get(name) for i in items]
        deltas: list[float | None] = []
        verdicts: list[str | None] = []
        for value in values:
            reference = values[0]
            if value is None or reference is None:
                deltas.append(None)
                verdicts.append(None)
                continue
            delta = value - reference
            deltas.append(delta)
            if math.isclose(delta, 0.0, abs_tol=1e-12):
                verdicts.append("same")
            elif (delta > 0) == (direction == "maximize"):
                verdicts.append("better")
            else:
                verdicts.append("worse")
        rows.append(Row("metric", name, values, _differs(values), deltas, verdicts))

    curves = overlay_curves(workspace, [i.run_id for i in items], points=points)
    return Comparison(items=items, rows=rows, curves=curves)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def overlay_curves(
    workspace: Workspace, run_ids: list[int], points: int = 100
) -> dict[str, list[list[tuple[int, float]]]]:
    """Per metric logged over more than one step by every run: one downsampled curve each."""
    from dockyard.core.metrics import downsample, metric_keys, step_bounds

    reader = reader_for(workspace)
    keys: set[str] | None = None
    for run_id in run_ids:
        multi = set()
        for key in metric_keys(reader, run_id):
            bounds = step_bounds(reader, run_id, key)
            if bounds is not None and bounds[0] != bounds[1]:
                multi.add(key)
        keys = multi if keys is None else keys & multi
    return {
        key: [downsample(reader, run_id, key, points) for run_id in run_ids]
        for key in sorted(keys or ())
    }
