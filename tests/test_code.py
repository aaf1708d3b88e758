"""Which code a run ran (``core.code``): the project folder's own git state, or a
content-addressed snapshot; ``run code`` and ``run diff`` over real runs.

Real git repositories in ``tmp_path``, real stores, real supervisors and agents.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dockyard.core import code as code_module
from dockyard.core.code import (
    capture_code,
    code_diff_text,
    code_file,
    diff_runs,
    entry_script,
    referenced_objects,
    run_code,
    summary,
)
from dockyard.core.errors import NotFoundError
from dockyard.core.projects import add_project
from dockyard.core.runs import get_run, queue_runs
from dockyard.core.workspace import Workspace, init_workspace
from tests.test_cli import dockyard, one_line_error
from tests.test_runs import serve_until_idle

TOML = """
[project]
name = "toy"
entry = "python train.py"

[[datasets]]
name = "points"
path = "points.txt"

[params.n]
type = "int"
default = 1
"""

TRAIN = (
    "from dockyard import Tracker\n"
    "with Tracker.from_env() as t:\n"
    "    t.log_metric('n', t.params['n'])\n"
)


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def make_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "dockyard.toml").write_text(TOML)
    (folder / "train.py").write_text(TRAIN)
    (folder / "helper.py").write_text("VALUE = 1\n")
    (folder / "points.txt").write_text("1\n2\n")  # the declared dataset: data, not code
    return folder


def repo_with_project(root: Path) -> Path:
    """A git repository at ``root`` whose ``proj/`` holds a committed project."""
    root.mkdir()
    git(root, "init", "-q")
    project = make_project(root / "proj")
    (root / "README").write_text("the repository\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    return project


def add_run(workspace: Workspace, project: Path, record: dict[str, Any], **params: Any) -> int:
    """A finished run of ``project`` carrying ``record`` (the row a supervisor writes)."""
    from sqlmodel import Session, select

    from dockyard.core.workspace import engine_for
    from dockyard.store.models import Param, Project, Run

    with Session(engine_for(workspace)) as session:
        row = session.exec(select(Project).where(Project.path == str(project))).first()
        if row is None:
            add_project(workspace, project)
            row = session.exec(select(Project).where(Project.path == str(project))).one()
        assert row.id is not None
        run = Run(project_id=row.id, status="finished", code_json=json.dumps(record))
        session.add(run)
        session.flush()
        assert run.id is not None
        for key, value in params.items():
            session.add(Param(run_id=run.id, key=key, value=json.dumps(value)))
        session.commit()
        return run.id


def capture(workspace: Workspace, project: Path) -> dict[str, Any]:
    """What the supervisor records for a run of the toy project."""
    return capture_code(workspace, project, "python train.py", ["points.txt"])


def manifest_paths(workspace: Workspace, record: dict[str, Any]) -> list[str]:
    document = json.loads((workspace.objects / record["manifest"]).read_text())
    return [entry[0] for entry in document["files"]]


# --- git -------------------------------------------------------------------------------


def test_a_clean_tracked_project_records_its_own_commit(
    workspace: Workspace, tmp_path: Path
) -> None:
    project = repo_with_project(tmp_path / "repo")
    record = capture(workspace, project)
    assert record == {
        "kind": "git",
        "commit": git(project, "rev-parse", "HEAD"),
        "dirty": False,
        "repo": str((tmp_path / "repo").resolve()),
        "prefix": "proj/",
    }
    run_id = add_run(workspace, project, record)
    files = {f.path: f for f in run_code(workspace, run_id).files}
    assert set(files) == {"dockyard.toml", "train.py", "helper.py", "points.txt"}
    assert files["helper.py"].algo == "git-sha1"
    assert files["helper.py"].hash == git(project, "rev-parse", "HEAD:proj/helper.py")
    assert code_file(workspace, run_id, "train.py")[1] == TRAIN.encode()
    assert summary(record) == f"git {record['commit'][:12]}"


def test_a_dirty_tree_keeps_its_diff_and_the_changed_files(
    workspace: Workspace, tmp_path: Path
) -> None:
    project = repo_with_project(tmp_path / "repo")
    (project / "train.py").write_text(TRAIN + "print('changed')\n")
    (project / "new_module.py").write_text("NEW = 2\n")
    (project / "helper.py").unlink()
    (project / "outputs").mkdir()
    (project / "outputs" / "model.txt").write_text("not code\n")
    record = capture(workspace, project)
    assert record["kind"] == "git" and record["dirty"] is True
    assert record["left_out"]["reasons"] == {"skipped folder": 1}

    run_id = add_run(workspace, project, record)
    diff = code_diff_text(workspace, run_id)
    assert diff is not None
    text = diff.decode()
    assert "+print('changed')" in text
    assert "deleted file mode" in text and "-VALUE = 1" in text
    assert "+++ b/new_module.py" in text and "+NEW = 2" in text
    assert record["diff"]["truncated"] is False

    # the working tree moves on; the run's code stays what it was
    (project / "train.py").write_text("print('later')\n")
    view = run_code(workspace, run_id)
    status = {f.path: f.status for f in view.files}
    assert status == {
        "dockyard.toml": "",
        "points.txt": "",
        "train.py": "modified",
        "new_module.py": "added",
        "helper.py": "deleted",
    }
    assert code_file(workspace, run_id, "train.py")[1] == (TRAIN + "print('changed')\n").encode()
    assert code_file(workspace, run_id, "new_module.py")[1] == b"NEW = 2\n"
    with pytest.raises(NotFoundError, match=r"has no file 'helper\.py'"):
        code_file(workspace, run_id, "helper.py")
    assert view.to_dict()["deleted"] == ["helper.py"]
    # what a clean-up must keep: the diff, the changes manifest and the files it names
    kept = referenced_objects(record, workspace.objects)
    assert record["diff"]["hash"] in kept and record["changes"] in kept and len(kept) == 4


def test_a_long_diff_is_cut_and_says_so(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = repo_with_project(tmp_path / "repo")
    (project / "train.py").write_text(TRAIN + "".join(f"x{i} = {i}\n" for i in range(500)))
    monkeypatch.setattr(code_module, "MAX_DIFF_BYTES", 1000)
    record = capture(workspace, project)
    assert record["diff"]["truncated"] is True and record["diff"]["size"] <= 1000
    stored = (workspace.objects / record["diff"]["hash"]).read_bytes()
    assert stored.endswith(b"\n") and len(stored) == record["diff"]["size"]
    # the file itself is whole
    run_id = add_run(workspace, project, record)
    assert code_file(workspace, run_id, "train.py")[1].count(b"\n") == 503


def test_a_project_in_an_ignoring_repository_is_snapshotted(
    workspace: Workspace, tmp_path: Path
) -> None:
    """The demo's case: the workspace lies inside a repository that ignores it. The
    repository's commit does not hold the code, so it must not be recorded."""
    root = tmp_path / "outer"
    root.mkdir()
    git(root, "init", "-q")
    (root / ".gitignore").write_text("demo-workspace/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "outer")
    project = make_project(root / "demo-workspace" / "projects" / "toy")
    record = capture(workspace, project)
    assert record["kind"] == "snapshot" and "commit" not in record
    assert manifest_paths(workspace, record) == ["dockyard.toml", "helper.py", "train.py"]
    assert record["left_out"]["reasons"] == {"dataset": 1}


def test_tracked_neighbours_do_not_make_an_untracked_entry_script_tracked(
    workspace: Workspace, tmp_path: Path
) -> None:
    project = repo_with_project(tmp_path / "repo")
    (project / "train2.py").write_text("print(2)\n")
    assert capture_code(workspace, project, "python train2.py --fast")["kind"] == "snapshot"
    # and a folder never added to the repository at all
    other = make_project(tmp_path / "repo" / "other")
    assert capture(workspace, other)["kind"] == "snapshot"


def test_entry_script_is_found_in_the_command(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    (project / "pkg").mkdir()
    (project / "pkg" / "run.py").write_text("")
    assert entry_script(project, "python train.py --epochs 3") == "train.py"
    assert entry_script(project, "python -u ./train.py") == "train.py"
    assert entry_script(project, "python -m pkg.run") == "pkg/run.py"
    assert entry_script(project, "make train") is None
    assert entry_script(project, "python 'unclosed") is None


# --- snapshots ---------------------------------------------------------------------------


def test_identical_snapshots_share_every_object(workspace: Workspace, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    first = capture(workspace, project)
    objects = set(os.listdir(workspace.objects))
    second = capture(workspace, project)
    assert second == first
    assert set(os.listdir(workspace.objects)) == objects  # nothing new stored

    (project / "helper.py").write_text("VALUE = 2\n")
    third = capture(workspace, project)
    added = set(os.listdir(workspace.objects)) - objects
    assert third["manifest"] != first["manifest"]
    assert added == {third["manifest"], json_entry(workspace, third, "helper.py")}
    assert first["files"] == third["files"] == 3


def json_entry(workspace: Workspace, record: dict[str, Any], path: str) -> str:
    document = json.loads((workspace.objects / record["manifest"]).read_text())
    return str(next(entry[1] for entry in document["files"] if entry[0] == path))


def test_snapshot_respects_gitignore_and_skips_data_and_environments(
    workspace: Workspace, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "p")
    (project / ".gitignore").write_text("secrets.txt\n*.tmp\n!keep.tmp\ncache/\n")
    for name in ("secrets.txt", "a.tmp", "keep.tmp", "cache/x.py", "lib/util.py",
                 "lib/.gitignore", "lib/local.py", "data/raw.py", ".venv/lib/site.py",
                 "__pycache__/train.cpython-311.pyc", "table.csv", "model.skops",
                 "lib/__pycache__/u.pyc"):  # fmt: skip
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    (project / "lib" / ".gitignore").write_text("local.py\n")
    (project / "link.py").symlink_to(project / "helper.py")
    record = capture(workspace, project)
    assert record["ignore"] == ".gitignore"
    assert manifest_paths(workspace, record) == [
        ".gitignore", "dockyard.toml", "helper.py", "keep.tmp", "lib/.gitignore",
        "lib/util.py", "train.py",
    ]  # fmt: skip
    assert record["left_out"]["reasons"] == {
        "data or model file": 2,
        "dataset": 1,
        "not a regular file": 1,
    }


def test_without_git_a_snapshot_uses_the_default_skips(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "p")
    (project / ".gitignore").write_text("ignored.py\n")
    (project / "ignored.py").write_text("x\n")
    (project / "outputs").mkdir()
    (project / "outputs" / "o.py").write_text("x\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    record = capture(workspace, project)
    assert record["kind"] == "snapshot" and record["ignore"] == "defaults only (git not found)"
    assert "ignored.py" in manifest_paths(workspace, record)
    assert "outputs/o.py" not in manifest_paths(workspace, record)


def test_size_caps_leave_files_out_and_say_so(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "p")
    (project / "weights.py").write_bytes(b"#" * (code_module.MAX_FILE_BYTES + 1))
    (project / "notes.bin2").write_bytes(b"n" * 900)
    record = capture(workspace, project)
    assert "weights.py" not in manifest_paths(workspace, record)
    assert record["left_out"]["reasons"]["over 1.0 MB"] == 1
    assert record["left_out"]["bytes"] >= code_module.MAX_FILE_BYTES + 1

    # the total: source files are kept first, the rest is left out and counted
    monkeypatch.setattr(code_module, "MAX_TOTAL_BYTES", 1000)
    record = capture(workspace, project)
    kept = manifest_paths(workspace, record)
    assert "notes.bin2" not in kept and "train.py" in kept
    assert record["left_out"]["reasons"]["over the 1.0 kB total"] == 1
    assert any(p.startswith("notes.bin2 (") for p in record["left_out"]["paths"])
    assert summary(record).endswith("left out)")

    monkeypatch.setattr(code_module, "MAX_TOTAL_BYTES", 10_000_000)
    monkeypatch.setattr(code_module, "MAX_FILES", 2)
    record = capture(workspace, project)
    assert record["files"] == 2 and record["left_out"]["reasons"]["over 2 files"] == 2


def test_an_unreadable_record_is_a_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    old = add_run(workspace, project, {})
    with pytest.raises(Exception, match="has no code record"):
        run_code(workspace, old)
    record = capture(workspace, project)
    run_id = add_run(workspace, project, record)
    target = workspace.objects / json_entry(workspace, record, "train.py")
    target.chmod(0o644)
    target.write_text("tampered\n")
    with pytest.raises(Exception, match="no longer matches"):
        code_file(workspace, run_id, "train.py")
    with pytest.raises(NotFoundError, match="no run with id 999"):
        run_code(workspace, 999)


# --- runs: the supervisor records it, run diff compares --------------------------------


def test_the_supervisor_records_the_project_repository_not_the_one_around_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("DOCKYARD_")]:
        monkeypatch.delenv(key)
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q")
    (outer / ".gitignore").write_text("ws/\n")
    git(outer, "add", "-A")
    git(outer, "commit", "-qm", "outer")
    ws = init_workspace(outer / "ws")
    untracked = make_project(outer / "ws" / "toy")
    add_project(ws, untracked)
    tracked = repo_with_project(tmp_path / "repo")
    (tracked / "dockyard.toml").write_text(TOML.replace('name = "toy"', 'name = "tracked"'))
    git(tracked, "commit", "-qam", "rename")
    add_project(ws, tracked)
    (snap_run,) = queue_runs(ws, "toy")
    (git_run,) = queue_runs(ws, "tracked")
    serve_until_idle(ws)

    snap = get_run(ws, snap_run.id)
    assert snap.status == "finished", snap.error
    assert snap.git_commit is None and snap.code["kind"] == "snapshot"  # not outer's commit
    assert manifest_paths(ws, snap.code) == ["dockyard.toml", "helper.py", "train.py"]
    tracked_run = get_run(ws, git_run.id)
    assert tracked_run.status == "finished", tracked_run.error
    assert tracked_run.git_commit == git(tracked, "rev-parse", "HEAD")
    assert tracked_run.git_dirty is False and tracked_run.code["kind"] == "git"

    result = diff_runs(ws, snap_run.id, git_run.id)
    # the same bytes under a snapshot digest and a git blob id are the same file
    assert result.code["same"] == 2  # train.py, helper.py
    (changed,) = result.code["changed"]
    assert changed["path"] == "dockyard.toml"
    assert '-name = "toy"\n+name = "tracked"\n' in changed["diff"]
    assert result.code["added"] == ["points.txt"]  # data, but committed, so part of the commit


@pytest.mark.slow
def test_run_code_and_run_diff_of_two_runs_of_a_sample_project(tmp_path: Path) -> None:
    """The wine sample in a workspace inside an ignoring repository (like the demo); two
    runs with other params and an edited train.py, compared from the command line."""
    root = tmp_path / "outer"
    root.mkdir()
    git(root, "init", "-q")
    (root / ".gitignore").write_text(".dockyard/\nwine/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "outer")
    shutil.copytree(
        Path(__file__).resolve().parent.parent / "sample_projects" / "wine",
        root / "wine",
        ignore=shutil.ignore_patterns("outputs", "__pycache__"),
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    def ok(*args: str) -> subprocess.CompletedProcess[str]:
        result = dockyard(*args, cwd=root, env=env, timeout=300)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    ok("init")
    ok("project", "add", "wine")
    ok("data", "add", "wine", "wine/data/train.csv")
    try:
        ok("run", "start", "wine", "-p", "model=logreg", "-p", "cv_folds=2", "--wait")
        train = root / "wine" / "train.py"
        before = train.read_text()
        train.write_text(before + "\n# tuned\n")
        (root / "wine" / "features.py").write_text("EXTRA = True\n")
        ok("run", "start", "wine", "-p", "model=forest", "-p", "cv_folds=2", "--wait")
    finally:
        ok("agent", "stop")

    listed = json.loads(ok("run", "code", "1", "--json").stdout)
    assert listed["kind"] == "snapshot" and listed["run"] == 1
    paths = {f["path"] for f in listed["files"]}
    assert {"train.py", "dockyard.toml", "make_data.py", "README.md", ".gitignore"} == paths
    assert listed["left_out"]["reasons"] == {"data or model file": 2}  # incoming/*.csv
    human = ok("run", "code", "1").stdout
    assert human.startswith("run 1 code: snapshot, 5 files")
    assert "train.py" in human and listed["files"][0]["hash"][:12] in human
    shown = ok("run", "code", "1", "--path", "train.py").stdout
    assert shown == before

    diff = json.loads(ok("run", "diff", "1", "2", "--json").stdout)
    assert diff["params"] == {"model": {"a": "logreg", "b": "forest"}}
    assert diff["data"] == {}  # the same dataset version
    assert diff["code"]["added"] == ["features.py"] and diff["code"]["removed"] == []
    (changed,) = diff["code"]["changed"]
    assert changed["path"] == "train.py" and "+# tuned" in changed["diff"]
    assert diff["packages"] == {}
    text = ok("run", "diff", "1", "2").stdout
    assert "model: logreg -> forest" in text
    assert "data: same" in text and "packages: same" in text
    assert "+++ run 2/train.py" in text and "added: features.py" in text

    for args in (("run", "code", "99"), ("run", "diff", "1", "99"),
                 ("run", "code", "1", "--path", "nope.py")):  # fmt: skip
        result = dockyard(*args, cwd=root, env=env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        one_line_error(result)


def test_the_run_screen_shows_the_code_record_in_one_row(
    workspace: Workspace, tmp_path: Path
) -> None:
    from dockyard.tui.widgets.run_details import detail_rows

    project = make_project(tmp_path / "p")
    snap = add_run(workspace, project, capture(workspace, project))
    tracked = repo_with_project(tmp_path / "repo")
    (tracked / "dockyard.toml").write_text(TOML.replace('name = "toy"', 'name = "tracked"'))
    commit = git(tracked, "rev-parse", "HEAD")
    dirty = add_run(workspace, tracked, capture(workspace, tracked))

    def code_row(run_id: int) -> str:
        rows = detail_rows(get_run(workspace, run_id), {}, [])
        return next(value for key, _field, value in rows if key == "System:code")

    assert code_row(snap) == "snapshot, 3 files (1 left out)"  # the dataset file
    assert code_row(dirty) == f"git {commit[:12]} (dirty)"


def test_a_capture_that_fails_is_recorded_not_raised(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk (or a git failing half-way) must not stop the run from starting."""
    project = make_project(tmp_path / "p")

    def disk_full(self: object, data: bytes) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(code_module._ObjectWriter, "put", disk_full)
    record = capture(workspace, project)
    assert record == {
        "kind": "none",
        "error": "the code was not recorded: [Errno 28] No space left on device",
    }
    assert summary(record) == "not recorded"
    run_id = add_run(workspace, project, record)
    with pytest.raises(Exception, match="No space left"):
        run_code(workspace, run_id)
