"""Scoring a batch with the model deployed in an environment.

The deployed file is re-verified against the deployment's recorded SHA-256 (the store,
not the manifest beside it, is the reference) and loaded with the same type policy as
``core.registry.load_model``. The input is checked against the manifest's input schema
first: missing and extra columns, values of the wrong type and categories never seen in
training are named, and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.core.errors import InputError
from dockyard.core.registry import ArtifactIntegrityError
from dockyard.core.workspace import Workspace

CHUNK_ROWS = 50_000
NUMERIC = {"int64", "float64", "int32", "float32"}


@dataclass(frozen=True)
class PredictionResult:
    rows: int
    output: Path
    ref: str


def load_deployed(workspace: Workspace, env: str, model: str) -> tuple[Any, dict[str, Any]]:
    """The estimator deployed in ``env`` and its manifest, after re-verifying the file."""
    from dockyard.core.deployments import MANIFEST, live_deployment, release_folder
    from dockyard.core.model_policy import load_skops
    from dockyard.core.registry import _trusted_modules

    deployment = live_deployment(workspace, env, model)
    folder = release_folder(workspace, deployment)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        data = (folder / manifest["file"]).read_bytes()
    except (OSError, ValueError, KeyError):
        raise ArtifactIntegrityError(
            f"{deployment.ref} in {env}: the release folder {folder} is missing or unreadable"
        ) from None
    if (
        hashlib.sha256(data).hexdigest() != deployment.sha256
        or manifest.get("sha256") != deployment.sha256
    ):
        raise ArtifactIntegrityError(
            f"{deployment.ref} in {env}: the deployed model file in {folder} no longer matches "
            "the hash recorded when it was deployed; it will not be used"
        )
    return load_skops(data, _trusted_modules(workspace, manifest.get("project", ""))), manifest


def check_frame(frame: Any, schema: list[dict[str, Any]] | None, first_line: int = 2) -> Any:
    """``frame`` with its columns in the schema's order and types, or an InputError."""
    import pandas as pd

    if schema is None:
        return frame
    names = [c["name"] for c in schema]
    missing = [n for n in names if n not in frame.columns]
    extra = [str(c) for c in frame.columns if c not in names]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(missing))
        if extra:
            parts.append("unexpected column(s) " + ", ".join(extra))
        raise InputError(f"the input does not match the model's schema: {'; '.join(parts)}")
    out = {}
    for column in schema:
        name, dtype = column["name"], column["dtype"]
        values = frame[name]
        if dtype in NUMERIC:
            converted = pd.to_numeric(values, errors="coerce")
            bad = converted.isna() & values.notna()
            if bad.any():
                index = int(bad.to_numpy().nonzero()[0][0])
                raise InputError(
                    f"column {name} must be {dtype}, but line {first_line + index} holds "
                    f"{str(values.iloc[index])!r}"
                )
            out[name] = converted
        else:
            categories = column.get("categories")
            if categories is not None:
                unseen = sorted(set(values.dropna().astype(str)) - set(categories))
                if unseen:
                    raise InputError(
                        f"column {name} holds categories never seen in training: "
                        + ", ".join(repr(u) for u in unseen[:5])
                    )
            out[name] = values
    return pd.DataFrame(out)


def predict_frame(workspace: Workspace, env: str, model: str, frame: Any) -> Any:
    """Predictions (a pandas Series) of the model deployed in ``env`` for ``frame``."""
    import pandas as pd

    estimator, manifest = load_deployed(workspace, env, model)
    checked = check_frame(frame, manifest.get("input_schema"))
    return pd.Series(estimator.predict(checked), index=frame.index, name="prediction")


def predict_file(
    workspace: Workspace,
    env: str,
    model: str,
    input_path: Path,
    output_path: Path,
    progress: Callable[[int, int], None] | None = None,
) -> PredictionResult:
    """Score ``input_path`` (CSV) into ``output_path``: its rows plus ``prediction``.

    Read in chunks (memory stays flat); the output is written aside and renamed into place
    at the end, so a bad row anywhere leaves no output. ``progress(bytes_read, total)``.
    """
    import pandas as pd

    estimator, manifest = load_deployed(workspace, env, model)
    schema = manifest.get("input_schema")
    if not input_path.is_file():
        raise InputError(f"{input_path} is not a file")
    total = input_path.stat().st_size
    if total == 0:
        raise InputError(f"{input_path} is empty; give a CSV file with a header and rows")
    temp = output_path.with_name(f".{output_path.name}.{os.getpid()}.tmp")
    rows = 0
    try:
        with input_path.open("rb") as handle, temp.open("w", newline="") as out:
            reader = pd.read_csv(handle, chunksize=CHUNK_ROWS, dtype=str, keep_default_na=True)
            for chunk in reader:
                checked = check_frame(chunk, schema, first_line=2 + rows)
                chunk = chunk.copy()
                chunk["prediction"] = estimator.predict(checked)
                chunk.to_csv(out, index=False, header=rows == 0)
                rows += len(chunk)
                if progress is not None:
                    progress(min(handle.tell(), total), total)
        if rows == 0:
            raise InputError(f"{input_path} has a header but no rows")
        os.replace(temp, output_path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{input_path} is empty; give a CSV file with a header and rows") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{input_path} is not a readable CSV file: {exc}") from None
    finally:
        temp.unlink(missing_ok=True)
    return PredictionResult(rows=rows, output=output_path, ref=manifest["ref"])
