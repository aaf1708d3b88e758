"""``dockyard export mlflow``: a version written as an MLflow model folder.

The fast tests read the folder as files; the slow one loads it with real MLflow
(``mlflow.pyfunc.load_model``) in the cached venv that ``tests/fixtures/mlflow/
make_fixtures.py`` makes (created on demand, so a clean clone runs it too) and compares
its predictions with ``dockyard predict``'s.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from dockyard.core import mlflow_yaml
from dockyard.core.mlflow_export import export_version
from dockyard.core.mlflow_import import import_mlflow
from dockyard.core.workspace import Workspace
from tests.test_cli import dockyard, one_line_error
from tests.test_mlflow_import import FIXTURES, copy_store, spec

BATCH = "alcohol,acidity\n0.0,1.0\n1.0,0.0\n0.3,0.6\n0.7,0.2\n0.5,0.5\n"


@pytest.fixture
def imported(workspace: Workspace, tmp_path: Path) -> Workspace:
    summary = import_mlflow(workspace, spec(copy_store(tmp_path, "mlflow2", "sqlite")))
    assert summary.total("failed") == 0
    return workspace


def test_the_folder_is_an_mlflow_model(imported: Workspace, tmp_path: Path) -> None:
    from dockyard.core.registry import get_version

    out = tmp_path / "exported"
    result = export_version(imported, "wine-classifier@champion", out)
    assert result["ref"] == "wine-classifier@2"
    assert sorted(p.name for p in out.iterdir()) == [
        "MLmodel", "conda.yaml", "model.skops", "python_env.yaml", "requirements.txt"
    ]  # fmt: skip
    mlmodel = mlflow_yaml.loads((out / "MLmodel").read_text())
    pyfunc, sklearn = mlmodel["flavors"]["python_function"], mlmodel["flavors"]["sklearn"]
    assert pyfunc["loader_module"] == "mlflow.sklearn" and pyfunc["model_path"] == "model.skops"
    assert sklearn["serialization_format"] == "skops"
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [(c["name"], c["type"]) for c in inputs] == [
        ("alcohol", "double"),
        ("acidity", "double"),
    ]
    # the version's own verified bytes, not a re-serialisation
    info = get_version(imported, "wine-classifier@2")
    assert hashlib.sha256((out / "model.skops").read_bytes()).hexdigest() == info.artifact_sha256
    requirements = (out / "requirements.txt").read_text().split()
    assert requirements[0] == "mlflow>=3" and any(r.startswith("skops==") for r in requirements)


def test_pickle_format_for_mlflow_2(imported: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "p"
    export_version(imported, "wine-classifier@1", out, "pickle")
    mlmodel = mlflow_yaml.loads((out / "MLmodel").read_text())
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "pickle"
    assert (out / "model.pkl").is_file() and not (out / "model.skops").exists()


def test_a_non_empty_folder_is_refused(imported: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = dockyard("export", "mlflow", "wine-classifier@1", str(out), cwd=imported.root)
    assert result.returncode == 2
    assert "is not an empty folder" in one_line_error(result)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    missing = dockyard("export", "mlflow", "nope@1", str(tmp_path / "x"), cwd=imported.root)
    assert missing.returncode == 2 and "no model named 'nope'" in one_line_error(missing)


def _mlflow_python() -> Path:
    """The MLflow 3 venv of the fixture script over this one's packages (made once, then
    cached)."""
    script = FIXTURES / "make_fixtures.py"
    loaded = importlib.util.spec_from_file_location("make_fixtures", script)
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    python: Path = module.venv_python("3", layered=True)
    return python


@pytest.mark.slow
@pytest.mark.timeout(600)  # the first run adds MLflow to a cached venv
def test_mlflow_loads_it_and_predicts_what_dockyard_predicts(
    imported: Workspace, tmp_path: Path
) -> None:
    from dockyard.core.deployments import request_deployment
    from dockyard.core.environments import set_environment

    set_environment(imported, "staging", approvals=0, actor="alice")
    request_deployment(imported, "wine-classifier@2", "staging", actor="alice")
    batch = tmp_path / "batch.csv"
    batch.write_text(BATCH)
    scored = dockyard("predict", "wine-classifier", str(batch), "--env", "staging",
                      cwd=imported.root)  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    ours = [int(line.rsplit(",", 1)[1]) for line in scored.stdout.strip().splitlines()[1:]]

    out = tmp_path / "exported"
    result = dockyard("export", "mlflow", "wine-classifier@2", str(out), cwd=imported.root)
    assert result.returncode == 0, result.stderr
    code = (
        "import json, sys, pandas as pd, mlflow.pyfunc\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "print(json.dumps([int(x) for x in model.predict(pd.read_csv(sys.argv[2]))]))\n"
    )
    env = {**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
           "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": ""}  # fmt: skip
    done = subprocess.run(
        [str(_mlflow_python()), "-c", code, str(out), str(batch)],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert theirs == ours and len(ours) == 5
