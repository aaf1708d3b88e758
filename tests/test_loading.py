"""Loading runs no code from a model file, and every action that vouches for a version
re-verifies its file: on real trained runs, real skops files and the real command line."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dockyard.core.agent import Agent
from dockyard.core.comparison import compare
from dockyard.core.errors import InputError
from dockyard.core.hashing import ObjectCorruptError, verified_before, verify_file
from dockyard.core.model_policy import (
    UntrustedModelError,
    approved_types,
    judge_type,
    trusted_module_problem,
)
from dockyard.core.projects import ProjectFileError, add_project, parse_project_file
from dockyard.core.registry import (
    ArtifactIntegrityError,
    get_version,
    load_model,
    register_version,
    set_alias,
    verify_version_files,
)
from dockyard.core.runs import queue_runs
from dockyard.core.validation import build_report
from dockyard.core.workspace import Workspace, engine_for, init_workspace
from tests.test_registry import TOML, TRAIN

ROOT = Path(__file__).resolve().parents[1]
DOCKYARD = Path(sys.executable).with_name("dockyard")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace with two real runs that logged skops models (C=1 and C=0.01)."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("DOCKYARD_")}
    root = tmp_path_factory.mktemp("loading")
    ws = init_workspace(root / "ws")
    project = root / "tiny"
    project.mkdir()
    (project / "dockyard.toml").write_text(TOML)
    (project / "train.py").write_text(TRAIN)
    add_project(ws, project)
    queue_runs(ws, "tiny", ["C=1,0.01"])
    Agent(ws, concurrency=2).serve(until_idle=True)
    os.environ.update(saved)
    return ws


def flip_one_byte(path: Path) -> bytes:
    """Flip one bit in the middle of ``path`` (same size); return the original bytes."""
    original = path.read_bytes()
    path.chmod(0o644)
    middle = len(original) // 2
    path.write_bytes(original[:middle] + bytes([original[middle] ^ 1]) + original[middle + 1 :])
    assert path.stat().st_size == len(original)
    return original


@contextmanager
def tampered(path: Path, how: str) -> Iterator[None]:
    """``path`` with one byte flipped, or deleted, for the duration of the block."""
    original = path.read_bytes()
    if how == "flipped":
        flip_one_byte(path)
    else:
        path.unlink()
    try:
        yield
    finally:
        path.write_bytes(original)


# ------------------------------------------------------------------------- the type policy


def plant_command(model_file: Path, command: str) -> bytes:
    """The skops file ``model_file`` with one attribute's value replaced by a node that
    calls ``os.system(command)`` when it is constructed: what an attacker who can write
    the object store and the database would plant (schema edited inside the zip)."""
    with zipfile.ZipFile(model_file) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    attrs = schema["content"]["content"]
    assert "C" in attrs  # a LogisticRegression's attributes
    attrs["C"] = {
        "__class__": "system",
        "__module__": "os",
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [
                {
                    "__class__": "str",
                    "__module__": "builtins",
                    "__loader__": "JsonNode",
                    "content": json.dumps(command),
                    "is_json": True,
                }
            ],
        },
    }
    members["schema.json"] = json.dumps(schema).encode()
    out = model_file.with_name("planted.skops")
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.read_bytes()


def plant_version(ws: Workspace, data: bytes, file_format: str, name: str) -> str:
    """Store ``data`` as an object and a version of run 1 pointing at it, with the
    matching SHA-256 written into the database, as an attacker would."""
    from sqlmodel import Session

    from dockyard.store.models import Artifact, ModelVersion, RegisteredModel

    sha = hashlib.sha256(data).hexdigest()
    (ws.home / "objects" / sha).write_bytes(data)
    with Session(engine_for(ws)) as session:
        model = RegisteredModel(name=name)
        session.add(model)
        session.flush()
        artifact = Artifact(
            run_id=1, name=name, kind="planted", sha256=sha, size_bytes=len(data),
            object_path=f"objects/{sha}", file_format=file_format,
        )  # fmt: skip
        session.add(artifact)
        session.flush()
        assert model.id is not None and artifact.id is not None
        session.add(
            ModelVersion(
                model_id=model.id, version=1, run_id=1, artifact_id=artifact.id, created_by="x"
            )
        )
        session.commit()
    return f"{name}@1"


@pytest.mark.slow
def test_a_planted_skops_file_runs_no_command(trained: Workspace, tmp_path: Path) -> None:
    ws = trained
    honest = register_version(ws, 1, "honest")
    marker = tmp_path / "pwned"
    data = plant_command(ws.home / honest.artifact_path, f"touch {marker}")
    ref = plant_version(ws, data, "skops", "planted")
    with pytest.raises(UntrustedModelError, match=r"^planted@1: .*type os\.system") as caught:
        load_model(ws, ref)
    assert "\n" not in str(caught.value)
    assert not marker.exists()  # the command never ran
    # The same file under skops' "trust what the file reports" does run it: the test
    # plants a real attack, not a file that fails for another reason.
    from skops.io import get_untrusted_types, loads

    loads(data, trusted=get_untrusted_types(data=data))
    assert marker.exists()
    # The honest version of the same run still loads and predicts.
    assert load_model(ws, honest.ref).predict([[5.1, 3.5, 1.4, 0.2]]).tolist() == [0]


@pytest.mark.slow
def test_a_joblib_model_is_refused_even_with_a_matching_hash(
    trained: Workspace, tmp_path: Path
) -> None:
    import joblib

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    joblib.dump(Payload(), tmp_path / "evil.joblib")
    ref = plant_version(ws := trained, (tmp_path / "evil.joblib").read_bytes(), "joblib", "pkl")
    with pytest.raises(UntrustedModelError, match=r"pkl@1 is a joblib \(pickle\) file"):
        load_model(ws, ref)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name", "loaders", "accepted"),
    [
        ("sklearn.tree._tree", "Tree", {"TreeNode"}, True),
        ("sklearn.linear_model._logistic", "LogisticRegression", {"ObjectNode"}, True),
        ("numpy", "log1p", {"FunctionNode"}, True),  # referenced (FunctionTransformer)
        ("sklearn.metrics", "accuracy_score", {"FunctionNode"}, True),
        ("builtins", "complex", {"ConstructorFromReduceNode"}, True),
        ("os", "system", {"ConstructorFromReduceNode"}, False),
        ("builtins", "eval", {"FunctionNode"}, False),
        ("subprocess", "Popen", {"ObjectNode"}, False),
        ("numpy", "load", {"ConstructorFromReduceNode"}, False),  # allow_pickle=True
        ("numpy", "memmap", {"ReduceNode"}, False),  # truncates a path
        ("scipy.io", "FortranFile", {"ConstructorFromReduceNode"}, False),
        ("numpy.f2py", "run_main", {"FunctionNode"}, False),
        ("numpy.ctypeslib", "load_library", {"FunctionNode"}, False),
        ("sklearn.metrics", "accuracy_score", {"ConstructorFromReduceNode"}, False),  # called
        ("numpy", "lib", {"ObjectNode"}, False),  # a module, not a type
        ("antigravity", "x", {"ObjectNode"}, False),  # never imported: importing runs code
    ],
)
def test_the_policy_judges_each_type(
    module: str, name: str, loaders: set[str], accepted: bool
) -> None:
    assert (judge_type(module, name, loaders) is None) is accepted


def test_a_re_export_of_a_dangerous_function_is_refused(tmp_path: Path) -> None:
    # A module under a trusted root that imports os.system under its own name: the
    # name looks allowed, the object is not defined there.
    package = tmp_path / "myproj"
    package.mkdir()
    (package / "__init__.py").write_text("from os import system\nclass Scaler:\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        reason = judge_type("myproj", "system", {"ConstructorFromReduceNode"}, ("myproj",))
        assert reason is not None and "defined in" in reason
        assert judge_type("myproj", "Scaler", {"ObjectNode"}, ("myproj",)) is None
        assert judge_type("myproj", "Scaler", {"ObjectNode"}) is not None  # not declared
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("myproj", None)


def test_a_forest_loads_under_the_policy(tmp_path: Path) -> None:
    import skops.io
    from sklearn.datasets import load_iris
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    from dockyard.core.model_policy import load_skops

    X, y = load_iris(return_X_y=True)
    for estimator in (RandomForestClassifier(n_estimators=2), HistGradientBoostingClassifier()):
        data = skops.io.dumps(estimator.set_params(random_state=0).fit(X, y))
        assert approved_types(data)  # skops itself would refuse these by default
        assert load_skops(data).predict(X[:1]).tolist() == [0]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('["os"]', "cannot be trusted: os can run arbitrary code"),
        ('["joblib"]', "cannot be trusted: joblib"),
        ('["sklearn.pipeline"]', "already covered"),
        ('["my project"]', "not a Python module name"),
        ('"features"', "must be an array"),
        ('["features", "features"]', "used twice"),
    ],
)
def test_trusted_modules_are_validated(tmp_path: Path, value: str, problem: str) -> None:
    file = tmp_path / "dockyard.toml"
    file.write_text(f'[project]\nname = "p"\nentry = "python t.py"\n\n[models]\n'
                    f"trusted_modules = {value}\n")  # fmt: skip
    with pytest.raises(ProjectFileError, match=r"models\.trusted_modules.*" + problem):
        parse_project_file(file)


def test_declared_trusted_modules_are_kept(tmp_path: Path) -> None:
    file = tmp_path / "dockyard.toml"
    file.write_text('[project]\nname = "p"\nentry = "python t.py"\n\n[models]\n'
                    'trusted_modules = ["features", "myproj.steps"]\n')  # fmt: skip
    assert parse_project_file(file).trusted_modules == ("features", "myproj.steps")
    assert trusted_module_problem("subprocess") is not None


# ------------------------------------------------------------------------ verification


def test_a_remembered_verification_does_not_survive_a_same_size_edit(tmp_path: Path) -> None:
    path = tmp_path / "object"
    path.write_bytes(b"a" * 1000)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    verify_file(path, digest, "sha256", size=1000, cached=True)
    assert verified_before(path, digest, "sha256")
    stat = path.stat()
    flip_one_byte(path)
    # Even with the modification time put back, the change time moved: not remembered.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not verified_before(path, digest, "sha256")
    with pytest.raises(ObjectCorruptError, match="no longer matches"):
        verify_file(path, digest, "sha256", size=1000, cached=True)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flipped", "deleted"])
def test_compare_report_and_alias_reverify_the_file(trained: Workspace, how: str) -> None:
    ws = trained
    good = register_version(ws, 1, f"vouch-{how}")
    other = register_version(ws, 2, f"vouch-{how}")
    message = "has been tampered with" if how == "flipped" else "is missing"
    verify_version_files(ws, good.ref)  # remembered as verified: must not hide the change
    with tampered(ws.home / good.artifact_path, how):
        for action in (
            lambda: compare(ws, [good.ref, other.ref]),
            lambda: compare(ws, [other.ref, good.ref]),
            lambda: build_report(ws, good.ref),
            lambda: set_alias(ws, good.ref, "staging"),
            lambda: verify_version_files(ws, good.ref),
        ):
            with pytest.raises(
                ArtifactIntegrityError, match=rf"^{good.ref}: model file .*{message}"
            ):
                action()
        assert get_version(ws, good.ref).aliases == []  # the alias did not move
    assert set_alias(ws, good.ref, "staging").aliases == ["staging"]
    assert build_report(ws, good.ref)["artifact"]["verified"] is True


# ------------------------------------------------------------------- the real command line


def dockyard(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update(PYTHONPATH=str(ROOT), DOCKYARD_HOME=str(ws.home))
    return subprocess.run(
        [str(DOCKYARD), *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flipped", "deleted"])
def test_the_cli_refuses_to_vouch_for_an_altered_version(trained: Workspace, how: str) -> None:
    ws = trained
    version = register_version(ws, 1, f"cli-{how}")
    other = register_version(ws, 2, f"cli-{how}")
    word = "has been tampered with" if how == "flipped" else "is missing"
    with tampered(ws.home / version.artifact_path, how):
        for args in (
            ("model", "compare", version.ref, other.ref),
            ("model", "report", version.ref),
            ("model", "alias", version.ref, "staging"),
        ):
            result = dockyard(ws, *args)
            assert result.returncode == 2, (args, result.stdout, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"dockyard: error: {version.ref}:")
            assert word in lines[0] and "Traceback" not in result.stderr
            assert "PASSED" not in result.stdout
    assert dockyard(ws, "model", "report", version.ref).returncode == 0


@pytest.mark.slow
def test_data_head_and_show_warn_about_an_altered_object(tmp_path: Path) -> None:
    from dockyard.core.datasets import get_version as get_dataset_version
    from dockyard.core.datasets import register_dataset

    ws = init_workspace(tmp_path / "ws")
    source = tmp_path / "iris.csv"
    source.write_text("a,b\n1,2\n3,4\n5,6\n")
    register_dataset(ws, "iris", source)
    stored = get_dataset_version(ws, "iris@1").object_path
    for args in (("data", "head", "iris@1"), ("data", "show", "iris@1")):
        assert dockyard(ws, *args).stderr == ""
    with tampered(stored, "flipped"):
        head = dockyard(ws, "data", "head", "iris@1")
        assert head.returncode == 0
        assert head.stderr.startswith("warning: iris@1: object ")
        assert "no longer matches its blake3 digest" in head.stderr
        assert "these rows are not the registered data" in head.stderr
        show = dockyard(ws, "data", "show", "iris@1", "--json")
        assert "no longer matches" in show.stderr and "profile describes" in show.stderr
        json.loads(show.stdout)  # --json stays exact: the warning goes to stderr
    with tampered(stored, "deleted"):
        assert "is missing" in dockyard(ws, "data", "head", "iris@1").stderr


def test_preview_check_in_core(tmp_path: Path) -> None:
    from dockyard.core.datasets import get_version as get_dataset_version
    from dockyard.core.datasets import object_problem, register_dataset

    ws = init_workspace(tmp_path / "ws")
    source = tmp_path / "d.csv"
    source.write_text("a\n1\n2\n")
    register_dataset(ws, "d", source)
    info = get_dataset_version(ws, "d@1")
    assert object_problem(info) is None
    with tampered(info.object_path, "flipped"):
        problem = object_problem(info)
        assert problem is not None and problem.startswith("d@1: object")
    assert object_problem(info) is None


def test_integrity_errors_are_input_errors() -> None:
    # exit status 2 on the command line, like every other refusal of bad input
    assert issubclass(ArtifactIntegrityError, InputError)
    assert issubclass(UntrustedModelError, InputError)
