"""``dockyard export mlflow``: a model version written as an MLflow model folder.

The folder is what ``mlflow.sklearn.save_model`` writes: ``MLmodel`` (the
``python_function`` and ``sklearn`` flavours, the input signature), ``conda.yaml``,
``python_env.yaml``, ``requirements.txt`` and the model file. MLflow is not needed to
write it. The model file is the version's own skops file (verified against its hash and
loaded by the policy first), which MLflow 3 loads with the ``skops`` serialisation format;
``fmt="pickle"`` writes a pickle of the same estimator for MLflow 2, which has no skops
loader (Dockyard writes that pickle, it never reads one).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import uuid
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from dockyard.core.errors import InputError
from dockyard.core.workspace import Workspace

#: Dockyard dtypes (pandas') as MLflow column-signature types.
SIGNATURE_TYPES = {
    "float64": "double",
    "float32": "float",
    "int64": "long",
    "int32": "integer",
    "bool": "boolean",
    "object": "string",
    "string": "string",
    "category": "string",
    "datetime64[ns]": "datetime",
}


def export_version(
    workspace: Workspace, ref: str, directory: Path, fmt: str = "skops"
) -> dict[str, Any]:
    """Write version ``ref`` to ``directory`` (new or empty) as an MLflow model."""
    from dockyard.core.deployments import _input_schema
    from dockyard.core.model_policy import approved_types
    from dockyard.core.registry import get_version, load_model, object_file

    if fmt not in ("skops", "pickle"):
        raise InputError(f"format {fmt!r} is not skops or pickle")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InputError(f"{directory} exists and is not an empty folder; name a new folder")
    info = get_version(workspace, ref)
    estimator = load_model(workspace, info.ref)  # verifies the hash, applies the policy
    schema = _input_schema(workspace, info)
    data = object_file(workspace, info.artifact_path).read_bytes()
    if fmt == "skops":
        model_file, trusted = "model.skops", approved_types(data)
    else:
        import pickle

        model_file, trusted, data = "model.pkl", [], pickle.dumps(estimator, protocol=4)
    requirements = _requirements(fmt)
    sklearn_conf: dict[str, Any] = {
        "code": None,
        "pickled_model": model_file,
        "serialization_format": fmt,
        "sklearn_version": metadata.version("scikit-learn"),
    }
    if fmt == "skops":
        sklearn_conf["skops_trusted_types"] = sorted(trusted)
    predict_fn = "predict"
    mlmodel = {
        "flavors": {
            "python_function": {
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.sklearn",
                "model_path": model_file,
                "predict_fn": predict_fn,
                "python_version": platform.python_version(),
            },
            "sklearn": sklearn_conf,
        },
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "metadata": {"dockyard_ref": info.ref, "dockyard_sha256": info.artifact_sha256},
    }
    if schema:
        inputs = [
            {
                "type": SIGNATURE_TYPES.get(str(c.get("dtype")), "double"),
                "name": c["name"],
                "required": True,
            }
            for c in schema
        ]
        mlmodel["signature"] = {"inputs": json.dumps(inputs), "outputs": None, "params": None}
    files = {
        "MLmodel": _yaml(mlmodel),
        "requirements.txt": "".join(f"{r}\n" for r in requirements),
        "python_env.yaml": _yaml(
            {
                "python": platform.python_version(),
                "build_dependencies": ["pip"],
                "dependencies": ["-r requirements.txt"],
            }
        ),
        "conda.yaml": _yaml(
            {
                "channels": ["conda-forge"],
                "dependencies": [
                    f"python={platform.python_version()}",
                    "pip",
                    {"pip": requirements},
                ],
                "name": "mlflow-env",
            }
        ),
    }
    # written beside the target and renamed in whole: no half-written model folder
    parent = directory.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".dockyard-export-") as tmp:
        staging = Path(tmp) / "model"
        staging.mkdir()
        (staging / model_file).write_bytes(data)
        for name, text in files.items():
            (staging / name).write_text(text)
        if directory.exists():
            directory.rmdir()
        os.replace(staging, directory)
    return {
        "ref": info.ref,
        "directory": str(directory),
        "format": fmt,
        "files": sorted([model_file, *files]),
        "signature": bool(schema),
    }


def _requirements(fmt: str) -> list[str]:
    names = ["scikit-learn", "numpy", "scipy"] + (["skops"] if fmt == "skops" else [])
    pins = [f"{name}=={metadata.version(name)}" for name in names]
    return ["mlflow>=3" if fmt == "skops" else "mlflow", *pins]


def _yaml(value: Any, indent: int = 0) -> str:
    """Block YAML for the plain documents above (strings quoted as JSON, which YAML reads)."""
    pad = " " * indent
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{key}:\n{_yaml(item, indent + 2)}")
            else:
                out.append(f"{pad}{key}: {_scalar(item)}\n")
    else:
        for item in value:
            if isinstance(item, dict | list):
                inner = _yaml(item, indent + 2).lstrip()
                out.append(f"{pad}- {inner}")
            else:
                out.append(f"{pad}- {_scalar(item)}\n")
    return "".join(out)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(str(value))
