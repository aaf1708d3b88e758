"""The object store away from the workspace (``DOCKYARD_OBJECTS``, ``[objects] path``,
``init --objects``), the settings file's one strict reader, and rows confined to the store."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from dockyard.core.agent import Agent
from dockyard.core.errors import InputError
from dockyard.core.projects import add_project
from dockyard.core.runs import get_run, queue_runs
from dockyard.core.settings import read_settings
from dockyard.core.workspace import (
    ObjectPathError,
    confined_object,
    find_workspace,
    init_workspace,
)
from tests.test_cli import dockyard, one_line_error

TOML = """
[project]
name = "tiny"
entry = "python train.py"

[[datasets]]
name = "pts"
path = "pts.csv"
"""

TRAIN = """
from dockyard.core.tracking import Tracker
with Tracker.from_env() as t:
    rows = t.data_path("pts").read_text().count("\\n")
    t.log_metric("rows", rows)
    t.log_model({"rows": rows})
    print("trained on", rows, "rows")
"""


def tiny_project(folder: Path) -> Path:
    folder.mkdir()
    (folder / "dockyard.toml").write_text(TOML)
    (folder / "train.py").write_text(TRAIN)
    (folder / "pts.csv").write_text("x,y\n0,0\n")
    return folder


# --- the settings file -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[objects]\npath = "/x"\nroot = "/y"\n',
            "objects.root: unknown key (expected one of path)",
        ),
        (
            '[object]\npath = "/x"\n',
            "object: unknown table (expected one of agent, objects, store)",
        ),
        ("[objects]\npath = 3\n", "objects.path: must be a non-empty string"),
        ('[objects]\npath = "  "\n', "objects.path: must be a non-empty string"),
        ("[store]\ndb = true\n", "store.db: must be a non-empty string"),
        ('[agent]\nconcurrency = "4"\n', "agent.concurrency: must be a whole number from 1 to 256"),
        ('[agent]\nexecutor = "ray"\n', "agent.executor: 'ray' is not one of local, dask"),
        ('objects = "/x"\n', "objects: must be a table ([objects])"),
        ("[objects\n", "not valid TOML"),
    ],
)
def test_the_settings_file_is_checked_strictly(tmp_path: Path, text: str, message: str) -> None:
    home = tmp_path / ".dockyard"
    home.mkdir()
    (home / "settings.toml").write_text(text)
    with pytest.raises(InputError) as caught:
        read_settings(home)
    assert str(caught.value).startswith(f"{home / 'settings.toml'}: ")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_settings_file_is_one_line_for_every_command(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    (tmp_path / ".dockyard" / "settings.toml").write_text('[agent]\nschedular = "tcp://h:1"\n')
    result = dockyard("run", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "settings.toml: agent.schedular: unknown key" in one_line_error(result)


def test_one_reader_gives_every_setting(tmp_path: Path) -> None:
    home = tmp_path / ".dockyard"
    home.mkdir()
    assert read_settings(home).objects_path is None  # no file: nothing set
    (home / "settings.toml").write_text(
        '[store]\ndb = "sqlite:////tmp/x.db"\n[objects]\npath = "shared/objs"\n'
        '[agent]\nexecutor = "local"\nconcurrency = 3\n'
    )
    settings = read_settings(home)
    assert settings.store_db == "sqlite:////tmp/x.db"
    assert settings.objects_path == "shared/objs"
    assert (settings.agent_executor, settings.agent_concurrency) == ("local", 3)
    # a relative path is read from the folder holding .dockyard, like dockyard.toml's paths
    (tmp_path / "shared" / "objs").mkdir(parents=True)
    (home / "settings.toml").write_text('[objects]\npath = "shared/objs"\n')
    assert find_workspace(home=tmp_path, env={}).objects == tmp_path / "shared" / "objs"


# --- the object store elsewhere --------------------------------------------------------------


@pytest.mark.slow
def test_data_runs_and_models_use_the_object_store_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.core.datasets import get_version, register_dataset
    from dockyard.core.registry import get_version as get_model_version
    from dockyard.core.registry import register_version

    shared = tmp_path / "nfs" / "objects"
    shared.mkdir(parents=True)
    monkeypatch.setenv("DOCKYARD_OBJECTS", str(shared))
    ws = init_workspace(tmp_path / "ws")
    assert ws.objects == shared
    add_project(ws, tiny_project(tmp_path / "tiny"))
    source = tmp_path / "pts.csv"
    source.write_text("x,y\n1,2\n3,4\n")
    version = register_dataset(ws, "pts", source).version
    assert version.object_path.parent == shared
    (run,) = queue_runs(ws, "tiny", data="pts@1")
    Agent(ws, concurrency=1).serve(until_idle=True)
    done = get_run(ws, run.id)
    assert done.status == "finished", (done.error, Path(done.log_path).read_text())
    model = register_version(ws, run.id, "tiny-model")
    assert get_model_version(ws, model.ref).version == 1  # verified from the shared store

    assert not (ws.home / "objects").exists()  # nothing written to the default
    stored = {p.name for p in shared.iterdir()}
    assert get_version(ws, "pts@1").object_path.name in stored
    artifact = (
        sqlite3.connect(ws.home / "dockyard.db")
        .execute("SELECT object_path, sha256 FROM artifact WHERE run_id = ?", (run.id,))
        .fetchone()
    )
    assert artifact[0] == f"objects/{artifact[1]}"  # relative to the store's root
    assert artifact[1] in stored
    # the code snapshot's manifest and files landed there too (the project has no git)
    from dockyard.core.code import referenced_objects

    assert done.code and set(referenced_objects(done.code, shared, strict=True)) <= stored


@pytest.mark.slow
def test_init_objects_records_it_and_a_missing_mount_is_one_line(tmp_path: Path) -> None:
    shared = tmp_path / "mnt" / "objects"
    shared.parent.mkdir()
    made = dockyard("init", str(tmp_path / "ws"), "--objects", str(shared), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert shared.is_dir() and not (tmp_path / "ws" / ".dockyard" / "objects").exists()
    assert read_settings(tmp_path / "ws" / ".dockyard").objects_path == str(shared)
    (tmp_path / "ws" / "a.csv").write_text("x\n1\n")
    added = dockyard("data", "add", "a", "a.csv", cwd=tmp_path / "ws")
    assert added.returncode == 0, added.stderr
    assert [p for p in shared.iterdir() if not p.name.startswith(".") and p.name != "tmp"]

    shared.rename(tmp_path / "mnt" / "unmounted")
    again = dockyard("data", "add", "b", "a.csv", cwd=tmp_path / "ws")
    assert again.returncode == 2
    line = one_line_error(again)
    assert f"the object store {shared}" in line and "does not exist on this machine" in line
    assert not shared.exists()  # never created in place of the mount
    listed = dockyard("data", "list", cwd=tmp_path / "ws")  # reading rows needs no objects
    assert listed.returncode == 0 and "a" in listed.stdout

    nowhere = dockyard("init", str(tmp_path / "w2"), "--objects", "/nonexistent/x", cwd=tmp_path)
    assert nowhere.returncode == 2 and "/nonexistent does not exist" in one_line_error(nowhere)
    other = dockyard("init", str(tmp_path / "ws"), "--objects", str(tmp_path), cwd=tmp_path)
    assert other.returncode == 2 and "already uses another object store" in one_line_error(other)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_an_object_store_this_user_cannot_write_is_one_line(tmp_path: Path) -> None:
    shared = tmp_path / "objects"
    shared.mkdir()
    init_workspace(tmp_path / "ws", env={})
    (tmp_path / "ws" / "a.csv").write_text("x\n1\n")
    shared.chmod(0o555)
    try:
        result = dockyard(
            "data", "add", "a", "a.csv", cwd=tmp_path / "ws", env={"DOCKYARD_OBJECTS": str(shared)}
        )
    finally:
        shared.chmod(0o755)
    assert result.returncode == 2 and "is not writable" in one_line_error(result)


def test_a_run_on_a_machine_without_the_object_store_fails_naming_it(tmp_path: Path) -> None:
    shared = tmp_path / "objects"
    shared.mkdir()
    ws = init_workspace(tmp_path / "ws", env={}, objects=shared)
    assert ws.objects == shared
    add_project(ws, tiny_project(tmp_path / "tiny"))
    (run,) = queue_runs(ws, "tiny")
    shared.rename(tmp_path / "gone")  # this machine lost the mount
    Agent(ws, concurrency=1).serve(until_idle=True)
    failed = get_run(ws, run.id)
    assert failed.status == "failed"
    assert f"the object store {shared}" in failed.error
    assert "does not exist on this machine" in failed.error
    assert "does not exist on this machine" in Path(failed.log_path).read_text()


# --- rows are confined to the store ----------------------------------------------------------


def test_object_paths_resolve_inside_the_store_only(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    assert confined_object(root, "objects/abc") == root / "abc"
    assert confined_object(root, "abc") == root / "abc"
    assert confined_object(root, str(root / "abc")) == root / "abc"  # older absolute rows
    for bad in ("/etc/passwd", "objects/../../x", "../x", "objects", "", str(tmp_path / "x")):
        with pytest.raises(ObjectPathError, match="not inside the object store"):
            confined_object(root, bad)


def test_a_row_naming_a_file_outside_the_store_is_refused(tmp_path: Path) -> None:
    from dockyard.core.datasets import get_version, register_dataset

    ws = init_workspace(tmp_path / "ws", env={})
    source = tmp_path / "pts.csv"
    source.write_text("x,y\n1,2\n")
    register_dataset(ws, "pts", source)
    secret = tmp_path / "secret.csv"
    secret.write_text("x,y\n9,9\n")
    with sqlite3.connect(ws.home / "dockyard.db") as conn:
        conn.execute("UPDATE dataset_version SET object_path = ?", (str(secret),))
    with pytest.raises(ObjectPathError, match="not inside the object store"):
        get_version(ws, "pts@1")
    shown = dockyard("data", "head", "pts@1", cwd=tmp_path / "ws")
    assert shown.returncode == 1
    assert "not inside the object store" in one_line_error(shown)
    assert "9,9" not in shown.stdout


def test_reading_an_object_of_an_unmounted_store_names_the_store(tmp_path: Path) -> None:
    from dockyard.core.datasets import get_version, register_dataset, version_path

    shared = tmp_path / "objects"
    shared.mkdir()
    ws = init_workspace(tmp_path / "ws", env={}, objects=shared)
    source = tmp_path / "pts.csv"
    source.write_text("x,y\n1,2\n")
    register_dataset(ws, "pts", source)
    version_id = get_version(ws, "pts@1").id
    assert version_path(ws, version_id).parent == shared
    shared.rename(tmp_path / "unmounted")
    with pytest.raises(InputError, match="does not exist on this machine; mount the shared"):
        version_path(ws, version_id)


def test_a_dask_worker_without_the_object_store_is_told_before_it_takes_the_run(
    tmp_path: Path,
) -> None:
    from dockyard.core.dask_executor import unreachable

    shared = tmp_path / "objects"
    shared.mkdir()
    ws = init_workspace(tmp_path / "ws", env={}, objects=shared)
    project = tiny_project(tmp_path / "tiny")
    assert unreachable(str(ws.home), None, str(project), {}, str(shared)) is None
    missing = tmp_path / "not-mounted"
    problem = unreachable(str(ws.home), None, str(project), {}, str(missing))
    assert problem == f"cannot write the object store {missing}"
