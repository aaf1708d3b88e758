"""Regenerate this project's CSV files from the copy of the data scikit-learn ships.

    python make_data.py

Writes ``data/train.csv`` (the diabetes data of Efron et al., 442 patients, 10 baseline
measurements in their original units -- age, sex, body mass index ``bmi``, mean blood
pressure ``bp`` and six blood serum measurements ``s1``..``s6`` -- and ``target``, a
measure of disease progression one year later) and two monitoring batches:

* ``incoming/batch_normal.csv`` -- 200 rows drawn with replacement from the training data
  (seeded), each continuous feature (not ``sex`` nor ``s4``, whose values sit on a few
  numbers) nudged by Gaussian noise of 5% of its standard
  deviation and kept inside the training range: new data that looks like the old.
* ``incoming/batch_drift.csv`` -- the same 200 rows with a deliberate drift: ``bmi``
  and ``bp`` moved up by 1.5 training standard deviations (sample standard deviation of
  ``data/train.csv``), and ``s3`` multiplied by 1.5. The model's errors grow well past
  the RMSE ceiling of the performance monitor (65).

Nothing is downloaded and the output is the same on every run (fixed seed).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes

HERE = Path(__file__).resolve().parent
SEED = 7
BATCH_ROWS = 200
NOISE = 0.05  # of each feature's standard deviation
SHIFT_STD = 1.5
SHIFTED = ("bmi", "bp")
SCALED = {"s3": 1.5}


def snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def training_frame() -> pd.DataFrame:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.rename(columns=snake_case)


def continuous(column: pd.Series) -> bool:
    """Many distinct values, none of them common. ``s4`` (a cholesterol ratio) has 66
    distinct values but three in four patients sit on 3, 4, 5 or 6: noise would move them
    off those values, a change of distribution a drift test rightly sees, so it is left
    alone like ``sex``."""
    return column.nunique() > 10 and column.value_counts(normalize=True).iloc[0] < 0.1


def normal_batch(train: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Rows resampled from ``train`` with a little noise on the continuous features."""
    rows = train.iloc[rng.integers(0, len(train), BATCH_ROWS)].reset_index(drop=True)
    features = [c for c in train.columns if c != "target" and continuous(train[c])]
    for column in features:
        values = rows[column] + rng.normal(0.0, NOISE * train[column].std(), len(rows))
        values = values.clip(train[column].min(), train[column].max())
        integral = bool((train[column] % 1 == 0).all())
        rows[column] = values.round() if integral else values
    return rows


def drift_batch(normal: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """``normal`` with the documented drift applied."""
    drifted = normal.copy()
    for column in SHIFTED:
        drifted[column] = drifted[column] + SHIFT_STD * train[column].std()
    for column, factor in SCALED.items():
        drifted[column] = drifted[column] * factor
    return drifted


def main() -> None:
    train = training_frame()
    rng = np.random.default_rng(SEED)
    normal = normal_batch(train, rng)
    (HERE / "data").mkdir(exist_ok=True)
    (HERE / "incoming").mkdir(exist_ok=True)
    train.to_csv(HERE / "data" / "train.csv", index=False)
    normal.to_csv(HERE / "incoming" / "batch_normal.csv", index=False, float_format="%.6g")
    drift_batch(normal, train).to_csv(
        HERE / "incoming" / "batch_drift.csv", index=False, float_format="%.6g"
    )
    print(f"wrote {len(train)} training rows and two batches of {len(normal)} rows")


if __name__ == "__main__":
    main()
