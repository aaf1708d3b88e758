"""Train a wine classifier (which of three cultivars) and report it to Dockyard.

    python train.py                                  # standalone: prints @dockyard lines
    DOCKYARD_PARAMS='{"model": "forest"}' python train.py
    dockyard run start wine -p model=forest          # under the agent: straight to the store

The run: hold out a seeded, stratified test split; k-fold cross-validation on the rest
(one point per fold); then the final fit grown in steps -- more trees for the ensembles,
more training rows for logistic regression -- with the held-out metrics logged at every
step, so the last step is the final model. Then per-class metrics, the confusion matrix
and the fitted pipeline.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from dockyard import Tracker

DATASET = "wine"
TARGET = "target"
CLASS_NAMES = {0: "cultivar_0", 1: "cultivar_1", 2: "cultivar_2"}


def build_pipeline(params: dict[str, Any]) -> Pipeline:
    """StandardScaler + the estimator the ``model`` param names."""
    seed = int(params["seed"])
    depth = int(params["max_depth"]) or None
    model: Any
    if params["model"] == "logreg":
        model = LogisticRegression(C=float(params["C"]), max_iter=5000)
    elif params["model"] == "forest":
        model = RandomForestClassifier(
            n_estimators=int(params["n_estimators"]), max_depth=depth, random_state=seed, n_jobs=1
        )
    elif params["model"] == "gboost":
        model = GradientBoostingClassifier(
            n_estimators=int(params["n_estimators"]),
            learning_rate=float(params["learning_rate"]),
            max_depth=depth or 3,
            random_state=seed,
        )
    else:
        raise SystemExit(f"unknown model {params['model']!r}; use logreg, forest or gboost")
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def scores(pipe: Pipeline, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    """The held-out metrics; ``f1_macro`` is the project's primary metric."""
    predicted = pipe.predict(x)
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1_macro": float(f1_score(y, predicted, average="macro")),
    }


def growth_plan(pipe: Pipeline, y_train: pd.Series, steps: int, seed: int) -> list[Any]:
    """What grows at each step: tree counts for ensembles, row subsets otherwise."""
    if pipe.named_steps["model"].__class__.__name__ != "LogisticRegression":
        total = int(pipe.named_steps["model"].n_estimators)
        return sorted({max(1, round(total * i / steps)) for i in range(1, steps + 1)})
    # A learning curve on stratified prefixes: rows of each class are shuffled and
    # interleaved, so every prefix keeps the class balance of the whole training set.
    rng = np.random.default_rng(seed)
    labels = y_train.to_numpy()
    key = np.empty(len(labels))
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        key[where] = (rng.permutation(len(where)) + 0.5) / len(where)
    order = np.argsort(key, kind="stable")
    smallest = min(len(order), 10 * len(np.unique(labels)))
    sizes = sorted({max(smallest, round(len(order) * i / steps)) for i in range(1, steps + 1)})
    return [order[:size] for size in sizes]


def main() -> None:
    with Tracker.from_env() as t:
        params = t.params
        seed = int(params["seed"])
        t.log_params(params)
        data_file = t.data_path(DATASET, default="data/train.csv")
        t.set_tags(
            {
                "dataset": DATASET,
                "data_sha256": hashlib.sha256(data_file.read_bytes()).hexdigest(),
                "task": "multiclass classification",
            }
        )
        frame = pd.read_csv(data_file)
        x, y = frame.drop(columns=[TARGET]), frame[TARGET]
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=float(params["test_size"]), stratify=y, random_state=seed
        )
        pipe = build_pipeline(params)
        print(f"{params['model']}: {len(x_train)} training rows, {len(x_test)} held out")

        # Cross-validation on the training rows: one point per fold.
        folds = StratifiedKFold(int(params["cv_folds"]), shuffle=True, random_state=seed)
        fold_scores = []
        for fold, (fit_rows, val_rows) in enumerate(folds.split(x_train, y_train), start=1):
            model = clone(pipe).fit(x_train.iloc[fit_rows], y_train.iloc[fit_rows])
            result = scores(model, x_train.iloc[val_rows], y_train.iloc[val_rows])
            fold_scores.append(result["f1_macro"])
            t.log_metrics({f"cv/{k}": v for k, v in result.items()}, step=fold)
            print(f"fold {fold}: f1_macro {result['f1_macro']:.4f}")
        t.log_metrics(
            {
                "cv/f1_macro_mean": float(np.mean(fold_scores)),
                "cv/f1_macro_std": float(np.std(fold_scores)),
            }
        )

        # The final fit, grown step by step, scored on the held-out rows at every step.
        started = time.perf_counter()
        plan = growth_plan(pipe, y_train, int(params["steps"]), seed)
        result: dict[str, float] = {}
        for step, grow in enumerate(plan, start=1):
            if isinstance(grow, int):
                pipe.set_params(model__n_estimators=grow, model__warm_start=True)
                pipe.fit(x_train, y_train)
                progress = {"n_estimators": float(grow)}
            else:
                pipe.fit(x_train.iloc[grow], y_train.iloc[grow])
                progress = {"train_rows": float(len(grow))}
            result = scores(pipe, x_test, y_test)
            t.log_metrics({**result, **progress}, step=step)
            print(
                f"step {step}/{len(plan)}: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items())
            )
        t.log_metric("fit_seconds", time.perf_counter() - started)

        # Per-class view of the final model.
        predicted = pipe.predict(x_test)
        labels = sorted(y.unique())
        precision, recall, f1, support = precision_recall_fscore_support(
            y_test, predicted, labels=labels, zero_division=0
        )
        for i, label in enumerate(labels):
            t.log_metrics(
                {
                    f"precision/class_{label}": float(precision[i]),
                    f"recall/class_{label}": float(recall[i]),
                    f"f1/class_{label}": float(f1[i]),
                    f"support/class_{label}": float(support[i]),
                },
                step=len(plan),
            )
        matrix = confusion_matrix(y_test, predicted, labels=labels)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "confusion_matrix.json"
            path.write_text(
                json.dumps(
                    {
                        "labels": [int(v) for v in labels],
                        "names": [CLASS_NAMES.get(int(v), str(v)) for v in labels],
                        "rows_are": "true class",
                        "columns_are": "predicted class",
                        "matrix": matrix.tolist(),
                    },
                    indent=2,
                )
            )
            t.log_artifact(path)
        t.log_model(pipe, name="model")
        print("held out: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
