"""The sample projects: valid project files, reproducible data, batches that do what their
READMEs say, and train.py scripts that really train and report (real subprocesses)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dockyard.core.projects import parse_project_file
from dockyard.core.tracking import parse_protocol_line

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_projects"
PROJECTS = ["breast_cancer", "wine", "diabetes"]
FILES = [
    "dockyard.toml",
    "train.py",
    "make_data.py",
    "README.md",
    "data/train.csv",
    "incoming/batch_normal.csv",
    "incoming/batch_drift.csv",
]

#: The bar each project's held-out primary metric must clear, per model.
SANE = {
    "breast_cancer": lambda m: m["roc_auc"] > 0.95 and m["accuracy"] > 0.9,
    "wine": lambda m: m["f1_macro"] > 0.85 and m["accuracy"] > 0.85,
    "diabetes": lambda m: m["rmse"] < 65 and m["r2"] > 0.3,
}


def copy_project(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(SAMPLES / name, target, ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    return target


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update(extra, PYTHONPATH=str(REPO), PYTHONHASHSEED="0")
    return env


def load_make_data(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"make_data_{name}", SAMPLES / name / "make_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_train(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "train.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def events(stdout: str) -> list[dict[str, Any]]:
    parsed = (parse_protocol_line(line) for line in stdout.splitlines())
    return [event for event in parsed if event is not None]


def final_metrics(found: list[dict[str, Any]]) -> dict[str, float]:
    """The last value logged for each metric key."""
    return {e["key"]: e["value"] for e in found if e["type"] == "metric"}


# --------------------------------------------------------------------------- the files


def test_every_project_has_its_files_and_data_stays_small() -> None:
    total = 0
    for name in PROJECTS:
        for relative in FILES:
            assert (SAMPLES / name / relative).is_file(), f"{name}/{relative} is missing"
        total += sum(p.stat().st_size for p in (SAMPLES / name).rglob("*.csv"))
    assert total < 2 * 1024 * 1024


@pytest.mark.parametrize("name", PROJECTS)
def test_project_file_is_valid(name: str) -> None:
    spec = parse_project_file(SAMPLES / name / "dockyard.toml")
    params = {p.name: p for p in spec.params}
    assert params["model"].type == "choice" and len(params["model"].choices) >= 2
    assert params["seed"].type == "int"
    assert spec.primary_metric and spec.gates
    assert spec.datasets[0].path == "data/train.csv"
    assert spec.datasets[0].target == "target"
    kinds = {m.kind: m for m in spec.monitors}
    assert set(kinds) == {"drift", "quality", "performance"}
    performance = kinds["performance"]
    assert performance.metric and (performance.min is not None or performance.max is not None)
    assert all(m.batches == "incoming/*.csv" for m in spec.monitors)


@pytest.mark.parametrize("name", PROJECTS)
def test_drift_batch_is_the_normal_batch_with_the_documented_drift(name: str) -> None:
    import numpy as np
    import pandas as pd

    make_data = load_make_data(name)
    folder = SAMPLES / name
    train = pd.read_csv(folder / "data" / "train.csv")
    normal = pd.read_csv(folder / "incoming" / "batch_normal.csv")
    drift = pd.read_csv(folder / "incoming" / "batch_drift.csv")
    assert list(normal.columns) == list(train.columns) == list(drift.columns)
    assert len(normal) == len(drift) == make_data.BATCH_ROWS
    assert normal.notna().all().all() and drift.notna().all().all()

    # The normal batch stays inside the training range, column by column.
    features = [c for c in train.columns if c != "target"]
    assert (normal[features] >= train[features].min() - 1e-9).all().all()
    assert (normal[features] <= train[features].max() + 1e-9).all().all()
    assert set(normal["target"]) <= set(train["target"])

    changed = set(make_data.SHIFTED) | set(make_data.SCALED)
    assert len(make_data.SHIFTED) == 2 and len(make_data.SCALED) == 1
    for column in train.columns:
        expected = normal[column].to_numpy(dtype=float)
        if column in make_data.SHIFTED:
            expected = expected + make_data.SHIFT_STD * train[column].std()
        elif column in make_data.SCALED:
            expected = expected * make_data.SCALED[column]
        # both files are written with 6 significant digits
        assert np.allclose(drift[column], expected, rtol=2e-5, atol=1e-9), column
        if column in changed:
            assert not np.allclose(drift[column], normal[column])

    # The documented columns move by more than a standard deviation; the rest barely move.
    shift = ((drift[features].mean() - train[features].mean()) / train[features].std()).abs()
    assert (shift[list(changed)] > 1.0).all()
    normal_shift = (normal[features].mean() - train[features].mean()) / train[features].std()
    assert normal_shift.abs().max() < 0.3


@pytest.mark.slow
@pytest.mark.parametrize("name", PROJECTS)
def test_make_data_regenerates_the_committed_files(name: str, tmp_path: Path) -> None:
    folder = copy_project(name, tmp_path)
    for relative in FILES[4:]:
        (folder / relative).unlink()
    done = subprocess.run(
        [sys.executable, "make_data.py"], cwd=folder, env=child_env(), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for relative in FILES[4:]:
        assert (folder / relative).read_bytes() == (SAMPLES / name / relative).read_bytes()


# --------------------------------------------------------------------------- training


def choices(name: str) -> list[str]:
    spec = parse_project_file(SAMPLES / name / "dockyard.toml")
    model = next(p for p in spec.params if p.name == "model")
    return [str(c) for c in model.choices]


def check_batches(name: str, folder: Path, model_file: Path) -> None:
    """The trained model passes the performance monitor on the normal batch and fails it
    on the drifted one, as the README promises."""
    import pandas as pd
    import skops.io
    from sklearn.metrics import accuracy_score, mean_squared_error

    spec = parse_project_file(folder / "dockyard.toml")
    monitor = next(m for m in spec.monitors if m.kind == "performance")
    # We wrote this file in this test and checked its hash; trusting its types is safe.
    model = skops.io.load(model_file, trusted=skops.io.get_untrusted_types(file=model_file))

    def passes(batch: str) -> bool:
        frame = pd.read_csv(folder / "incoming" / batch)
        x, y = frame.drop(columns=["target"]), frame["target"]
        predicted = model.predict(x)
        value = {
            "accuracy": lambda: accuracy_score(y, predicted),
            "rmse": lambda: mean_squared_error(y, predicted) ** 0.5,
        }[str(monitor.metric)]()
        low = -math.inf if monitor.min is None else monitor.min
        high = math.inf if monitor.max is None else monitor.max
        return bool(low <= value <= high)

    assert passes("batch_normal.csv")
    assert not passes("batch_drift.csv")


def _train_case(name: str, index: int) -> Any:
    return pytest.param(name, index, id=f"{name}-model{index}")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "model_index"), [_train_case(n, i) for n in PROJECTS for i in (0, 1)]
)
def test_train_runs_standalone_and_reports(name: str, model_index: int, tmp_path: Path) -> None:
    folder = copy_project(name, tmp_path)
    extra = {}
    model = choices(name)[model_index]
    if model_index:
        extra["DOCKYARD_PARAMS"] = json.dumps({"model": model})
    done = run_train(folder, child_env(**extra))
    assert done.returncode == 0, done.stderr[-2000:]

    found = events(done.stdout)
    metrics = [e for e in found if e["type"] == "metric"]
    assert len(metrics) > 20
    final = final_metrics(found)
    assert SANE[name](final), final

    spec = parse_project_file(folder / "dockyard.toml")
    primary = [e for e in metrics if e["key"] == spec.primary_metric]
    assert len(primary) >= 5  # a curve, not a single point
    assert [e["step"] for e in primary] == sorted(e["step"] for e in primary)
    assert len([e for e in metrics if e["key"] == f"cv/{spec.primary_metric}"]) == 5

    params = {e["key"]: e["value"] for e in found if e["type"] == "param"}
    assert params["model"] == model and params["seed"] == 42

    artifacts = {e["name"]: e for e in found if e["type"] == "artifact"}
    model_event = artifacts["model"]
    assert model_event["kind"] == "model" and model_event["format"] == "skops"
    model_file = folder / model_event["path"]
    assert hashlib.sha256(model_file.read_bytes()).hexdigest() == model_event["sha256"]

    if name != "diabetes":
        assert "recall/class_0" in final and "precision/class_1" in final
        matrix = json.loads((folder / "outputs" / "confusion_matrix.json").read_text())
        n_classes = 2 if name == "breast_cancer" else 3
        assert len(matrix["matrix"]) == n_classes
        support = sum(final[f"support/class_{k}"] for k in range(n_classes))
        assert sum(map(sum, matrix["matrix"])) == support
    check_batches(name, folder, model_file)


@pytest.mark.slow
def test_train_writes_into_the_store_under_the_agent(tmp_path: Path) -> None:
    import sqlite3

    from sqlmodel import Session, create_engine

    from dockyard.core.workspace import init_workspace
    from dockyard.store.models import Project, Run

    folder = copy_project("breast_cancer", tmp_path)
    workspace = init_workspace(tmp_path / "ws")
    assert workspace.db_path is not None
    engine = create_engine(workspace.db_url)
    with Session(engine) as session:
        project = Project(
            name="breast-cancer", path=str(folder), entry="python train.py", spec_json="{}",
            spec_hash="x",
        )  # fmt: skip
        session.add(project)
        session.commit()
        session.refresh(project)
        assert project.id is not None
        run = Run(project_id=project.id, status="running")
        session.add(run)
        session.commit()
        session.refresh(run)
        run_id = run.id
    engine.dispose()

    env = child_env(
        DOCKYARD_RUN_ID=str(run_id),
        DOCKYARD_DB=workspace.db_url,
        DOCKYARD_HOME=str(workspace.home),
        DOCKYARD_PRIMARY_METRIC="roc_auc",
        DOCKYARD_PARAMS=json.dumps({"model": "logreg", "C": 0.5, "seed": 3}),
        DOCKYARD_DATA=json.dumps({"breast-cancer": str(folder / "data" / "train.csv")}),
    )
    done = run_train(folder, env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "@dockyard" not in done.stdout  # straight to the store, no protocol lines

    with sqlite3.connect(workspace.db_path) as conn:
        primary_value, seed = conn.execute(
            "SELECT primary_value, seed FROM run WHERE id = ?", (run_id,)
        ).fetchone()
        last_auc = conn.execute(
            "SELECT value FROM metric WHERE run_id = ? AND key = 'roc_auc' "
            "ORDER BY step DESC LIMIT 1",
            (run_id,),
        ).fetchone()[0]
        params = dict(conn.execute("SELECT key, value FROM param WHERE run_id = ?", (run_id,)))
        artifacts = conn.execute(
            "SELECT name, kind, file_format, sha256, object_path FROM artifact WHERE run_id = ?",
            (run_id,),
        ).fetchall()
    assert primary_value == last_auc > 0.95
    assert seed == 3
    assert params["C"] == "0.5" and params["model"] == '"logreg"'
    assert {a[0]: a[1:3] for a in artifacts} == {
        "confusion_matrix.json": ("file", ""),
        "model": ("model", "skops"),
    }
    for *_, sha, object_path in artifacts:
        stored = workspace.home / object_path
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
    assert not (folder / "outputs").exists()  # nothing written into the project folder
