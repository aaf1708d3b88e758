"""Train a diabetes progression regressor and report it to Dockyard.

    python train.py                                  # standalone: prints @dockyard lines
    DOCKYARD_PARAMS='{"model": "forest"}' python train.py
    dockyard run start diabetes -p model=forest      # under the agent: straight to the store

The run: hold out a seeded test split; k-fold cross-validation on the rest (one point per
fold); then the final fit grown in steps -- more trees for the ensembles, more training
rows for ridge regression -- with the held-out metrics logged at every step, so the last
step is the final model. Then the fitted pipeline.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from dockyard import Tracker

DATASET = "diabetes"
TARGET = "target"


def build_pipeline(params: dict[str, Any]) -> Pipeline:
    """StandardScaler + the estimator the ``model`` param names."""
    seed = int(params["seed"])
    depth = int(params["max_depth"]) or None
    model: Any
    if params["model"] == "ridge":
        model = Ridge(alpha=float(params["alpha"]))
    elif params["model"] == "forest":
        model = RandomForestRegressor(
            n_estimators=int(params["n_estimators"]),
            max_depth=depth,
            min_samples_leaf=int(params["min_samples_leaf"]),
            random_state=seed,
            n_jobs=1,
        )
    elif params["model"] == "gboost":
        model = GradientBoostingRegressor(
            n_estimators=int(params["n_estimators"]),
            learning_rate=float(params["learning_rate"]),
            max_depth=depth or 3,
            min_samples_leaf=int(params["min_samples_leaf"]),
            random_state=seed,
        )
    else:
        raise SystemExit(f"unknown model {params['model']!r}; use ridge, forest or gboost")
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def scores(pipe: Pipeline, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    """The held-out metrics; ``rmse`` (lower is better) is the project's primary metric."""
    predicted = pipe.predict(x)
    return {
        "rmse": float(np.sqrt(mean_squared_error(y, predicted))),
        "mae": float(mean_absolute_error(y, predicted)),
        "r2": float(r2_score(y, predicted)),
    }


def growth_plan(pipe: Pipeline, n_rows: int, steps: int, seed: int) -> list[Any]:
    """What grows at each step: tree counts for ensembles, row subsets for ridge."""
    if not isinstance(pipe.named_steps["model"], Ridge):
        total = int(pipe.named_steps["model"].n_estimators)
        return sorted({max(1, round(total * i / steps)) for i in range(1, steps + 1)})
    # A learning curve: growing prefixes of one seeded shuffle of the training rows.
    order = np.random.default_rng(seed).permutation(n_rows)
    smallest = min(n_rows, 30)
    sizes = sorted({max(smallest, round(n_rows * i / steps)) for i in range(1, steps + 1)})
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
                "task": "regression",
            }
        )
        frame = pd.read_csv(data_file)
        x, y = frame.drop(columns=[TARGET]), frame[TARGET]
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=float(params["test_size"]), random_state=seed
        )
        pipe = build_pipeline(params)
        print(f"{params['model']}: {len(x_train)} training rows, {len(x_test)} held out")

        # Cross-validation on the training rows: one point per fold.
        folds = KFold(int(params["cv_folds"]), shuffle=True, random_state=seed)
        fold_scores = []
        for fold, (fit_rows, val_rows) in enumerate(folds.split(x_train), start=1):
            model = clone(pipe).fit(x_train.iloc[fit_rows], y_train.iloc[fit_rows])
            result = scores(model, x_train.iloc[val_rows], y_train.iloc[val_rows])
            fold_scores.append(result["rmse"])
            t.log_metrics({f"cv/{k}": v for k, v in result.items()}, step=fold)
            print(f"fold {fold}: rmse {result['rmse']:.2f}")
        t.log_metrics(
            {"cv/rmse_mean": float(np.mean(fold_scores)), "cv/rmse_std": float(np.std(fold_scores))}
        )

        # The final fit, grown step by step, scored on the held-out rows at every step.
        started = time.perf_counter()
        plan = growth_plan(pipe, len(x_train), int(params["steps"]), seed)
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
                f"step {step}/{len(plan)}: " + ", ".join(f"{k} {v:.3f}" for k, v in result.items())
            )
        t.log_metric("fit_seconds", time.perf_counter() - started)
        t.log_model(pipe, name="model")
        print("held out: " + ", ".join(f"{k} {v:.3f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
