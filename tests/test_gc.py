"""``dockyard gc`` (core.object_gc): what is garbage, dry run against real run, and the race
with a registration that holds an object it has not yet recorded."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dockyard.core import datasets, housekeeping, object_gc, staging
from dockyard.core.audit import check_chain
from dockyard.core.errors import ConflictError, DockyardError
from dockyard.core.workspace import Workspace
from tests.test_cli import dockyard, one_line_error

OLD = time.time() - 7 * 24 * 3600


def age(ws: Workspace) -> None:
    """Make every object a week old, as if registered long ago."""
    for entry in ws.objects.iterdir():
        if entry.name != staging.TMP_DIRNAME:
            os.utime(entry, (OLD, OLD), follow_symlinks=False)


def names(ws: Workspace) -> set[str]:
    skipped = (staging.TMP_DIRNAME, staging.OBJECT_LOCK_NAME)
    return {p.name for p in ws.objects.iterdir() if p.name not in skipped}


def audit_actions(ws: Workspace) -> list[str]:
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        return [r[0] for r in conn.execute("SELECT action FROM audit_event ORDER BY id")]


@pytest.fixture
def two_versions(workspace: Workspace, tmp_path: Path) -> tuple[Workspace, str, str]:
    """Dataset pts with versions 1 and 2 (each a CSV object and its row index)."""
    source = tmp_path / "pts.csv"
    source.write_text("x,y\n" + "".join(f"{i},{i * 2}\n" for i in range(200)))
    first = datasets.register_dataset(workspace, "pts", source).version
    source.write_text("x,y\n" + "".join(f"{i},{i * 3}\n" for i in range(300)))
    second = datasets.register_dataset(workspace, "pts", source).version
    return workspace, first.content_hash, second.content_hash


def test_dry_run_shows_what_a_real_run_removes(two_versions: Any) -> None:
    ws, keep, drop = two_versions
    housekeeping.delete(ws, "data", "pts@2")
    age(ws)
    before = names(ws)
    assert {drop, f"{drop}.rows", keep, f"{keep}.rows"} <= before

    dry = object_gc.collect_garbage(ws, dry_run=True)
    assert {g.name for g in dry.garbage} == {drop, f"{drop}.rows"}
    expected = sum((ws.objects / n).stat().st_size for n in (drop, f"{drop}.rows"))
    assert dry.reclaimable == expected and dry.removed == 0 and dry.kept == 2
    assert names(ws) == before  # nothing removed

    real = object_gc.collect_garbage(ws)
    assert real.removed == 2 and real.freed == expected
    assert names(ws) == {keep, f"{keep}.rows"}
    assert datasets.head(ws, "pts@1", 2)[2][0] == (0, 0)  # what is referenced still reads
    assert object_gc.collect_garbage(ws).garbage == []  # nothing left to do
    assert audit_actions(ws) == ["dataset.delete", "gc.collect"]
    assert check_chain(ws).ok


def test_recent_objects_and_staging_files_are_left_alone(two_versions: Any) -> None:
    ws, _keep, drop = two_versions
    housekeeping.delete(ws, "data", "pts@2")
    staged = ws.objects / staging.TMP_DIRNAME / staging.tmp_name("part")  # ours: alive
    staged.write_bytes(b"being written")
    report = object_gc.collect_garbage(ws)  # nothing is an hour old yet
    assert report.garbage == [] and report.young == 2 and report.removed == 0
    assert drop in names(ws) and staged.exists()
    assert audit_actions(ws) == ["dataset.delete"]  # no removal, no event


def test_artifacts_folder_datasets_and_deployments_keep_their_objects(
    workspace: Workspace, tmp_path: Path
) -> None:
    ws = workspace
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n2\n")
    (folder / "b.csv").write_text("x\n3\n")
    version = datasets.register_dataset(ws, "parts", folder).version
    stray = ws.objects / ("f" * 64)
    stray.write_bytes(b"nobody's")
    model = ws.objects / ("a" * 64)
    model.write_bytes(b"a model file")
    shipped = ws.objects / ("b" * 64)
    shipped.write_bytes(b"a file only a deployment manifest names")
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute(
            "INSERT INTO project (name, path, description, entry, spec_json, spec_hash,"
            " created_at, updated_at) VALUES ('p', '/p', '', 'x', '{}', 'h', 0, 0)"
        )
        conn.execute(
            "INSERT INTO run (project_id, status, command, error, user, host, log_path,"
            " env_json, created_at) VALUES (1, 'finished', '', '', '', '', '', '{}', 0)"
        )
        conn.execute(
            "INSERT INTO artifact (run_id, name, kind, sha256, size_bytes, object_path,"
            " file_format, created_at) VALUES (1, 'm', 'model', ?, 12, ?, 'skops', 0)",
            ("a" * 64, f"objects/{'a' * 64}"),
        )
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute(
            "INSERT INTO registered_model (name, description, created_at, updated_at)"
            " VALUES ('m', '', 0, 0)"
        )
        conn.execute(
            "INSERT INTO model_version (model_id, version, run_id, artifact_id, description,"
            " tags_json, created_by, created_at) VALUES (1, 1, 1, 1, '', '{}', '', 0)"
        )
        conn.execute(
            "INSERT INTO deployment (model_version_id, target, status, deployed_by,"
            " deployed_at, path, manifest_json) VALUES (1, 'prod', 'retired', '', 0, '', ?)",
            (f'{{"sha256": "{"b" * 64}"}}',),
        )
    age(ws)
    report = object_gc.collect_garbage(ws)
    assert [g.name for g in report.garbage] == ["f" * 64]
    assert not stray.exists() and model.exists() and shipped.exists()
    # the folder version, its files and their row indexes are all still there and intact
    datasets.verify_version(version)
    assert datasets.head(ws, "parts", 5)[2] == [(1,), (2,), (3,)]


def test_a_registration_holding_a_staged_object_is_waited_for(
    two_versions: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: an old, unreferenced object (a deleted version's) is about to be reused by
    a registration of the same bytes, which has found it in place but not yet written its
    row. gc must wait for the row, then keep the object."""
    ws, _keep, drop = two_versions
    housekeeping.delete(ws, "data", "pts@2")
    age(ws)
    source = tmp_path / "again.csv"
    source.write_text("x,y\n" + "".join(f"{i},{i * 3}\n" for i in range(300)))  # pts@2's bytes

    in_window = threading.Event()
    release = threading.Event()
    real_insert = datasets._insert_version

    def paused_insert(*args: Any, **kwargs: Any) -> Any:
        in_window.set()  # the object is in place (reused), the row not yet written
        assert release.wait(30)
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(datasets, "_insert_version", paused_insert)
    registered: list[Any] = []
    registration = threading.Thread(
        target=lambda: registered.append(datasets.register_dataset(ws, "again", source))
    )
    registration.start()
    assert in_window.wait(30)
    assert (ws.objects / drop).exists()

    # A gc that cannot wait gives up and removes nothing.
    with pytest.raises(ConflictError, match=r"nothing was removed, run `dockyard gc` again"):
        object_gc.collect_garbage(ws, grace=0, lock_timeout=0.2)
    assert (ws.objects / drop).exists()

    reports: list[object_gc.GcReport] = []
    collector = threading.Thread(
        target=lambda: reports.append(object_gc.collect_garbage(ws, grace=0))
    )
    collector.start()
    collector.join(0.5)
    assert collector.is_alive()  # waiting for the registration, not removing its object
    release.set()
    registration.join(30)
    collector.join(30)
    assert not collector.is_alive() and not registration.is_alive()
    version = registered[0].version
    assert version.content_hash == drop and registered[0].created
    assert reports[0].garbage == []  # the row was there by the time gc looked
    assert (ws.objects / drop).exists() and (ws.objects / f"{drop}.rows").exists()
    assert datasets.head(ws, "again", 1)[2] == [(0, 0)]


def test_grace_period_covers_a_reused_object(two_versions: Any, tmp_path: Path) -> None:
    """Reusing an existing object touches it, so even a writer whose row lands after it let
    go of the lock is covered by the grace period."""
    ws, _keep, drop = two_versions
    housekeeping.delete(ws, "data", "pts@2")
    age(ws)
    source = tmp_path / "again.csv"
    source.write_text("x,y\n" + "".join(f"{i},{i * 3}\n" for i in range(300)))
    datasets.register_dataset(ws, "other", source)
    assert (ws.objects / drop).stat().st_mtime > OLD + 3600
    housekeeping.delete(ws, "data", "other")
    report = object_gc.collect_garbage(ws)
    assert report.garbage == [] and report.young >= 1 and (ws.objects / drop).exists()


def test_command_line_gc(two_versions: Any) -> None:
    ws, _keep, drop = two_versions
    housekeeping.delete(ws, "data", "pts@2")
    age(ws)
    root = ws.root
    dry = dockyard("gc", "--dry-run", "-v", cwd=root)
    assert dry.returncode == 0, dry.stderr
    assert "2 unreferenced objects (" in dry.stdout and drop in dry.stdout
    assert "Dry run: nothing removed" in dry.stdout
    unasked = dockyard("gc", cwd=root)  # not a terminal: asks for --yes, removes nothing
    assert unasked.returncode == 2 and "pass --yes" in one_line_error(unasked)
    assert drop in names(ws)
    done = dockyard("gc", "--yes", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "Removed 2 object(s), freed " in done.stdout and drop not in names(ws)
    again = dockyard("gc", "--json", cwd=root)
    assert '"count": 0' in again.stdout
    verify = dockyard("audit", "verify", cwd=root)
    assert verify.returncode == 0 and "intact" in verify.stdout


def test_a_run_logging_an_artifact_waits_for_gc_and_keeps_its_object(tmp_path: Path) -> None:
    """A training run's artifact lands under the shared lock: while gc holds it, the write
    waits; once written, its row names it and gc keeps it."""
    from dockyard.core.tracking import Tracker
    from dockyard.core.workspace import init_workspace
    from tests.test_tracking import Store

    store = Store(init_workspace(tmp_path / "ws"))
    ws = store.workspace
    project = tmp_path / "proj"
    project.mkdir()
    (project / "dockyard.toml").write_text('[project]\nname = "demo"\nentry = "python t.py"\n')
    report = tmp_path / "report.json"
    report.write_text('{"ok": true}')
    tracker = Tracker.from_env(store.env(), project_dir=project)
    logged: list[Any] = []
    try:
        with staging.object_lock(ws.objects, exclusive=True):  # what gc holds
            writer = threading.Thread(target=lambda: logged.append(tracker.log_artifact(report)))
            writer.start()
            writer.join(0.5)
            assert writer.is_alive() and not logged  # waiting for gc
        writer.join(30)
        assert logged and logged[0].path.exists()
        os.utime(logged[0].path, (OLD, OLD))
        result = object_gc.collect_garbage(ws)
        assert result.garbage == [] and result.kept == 1 and logged[0].path.exists()
    finally:
        tracker.close()


def test_a_runs_code_snapshot_is_kept_and_an_unreadable_manifest_stops_gc(
    workspace: Workspace,
) -> None:
    """A run's code record names a manifest, and only the manifest names the snapshot's
    files: gc keeps all of them, and refuses to run when a manifest cannot be read rather
    than remove files it cannot account for."""
    import json

    from dockyard.core.code import capture_code
    from tests.test_tui_runs import insert_run, register_toy

    register_toy(workspace)
    record = capture_code(workspace, workspace.root / "toy", "python train.py")
    assert record["kind"] == "snapshot", record
    insert_run(workspace, status="finished", code_json=json.dumps(record))
    age(workspace)
    snapshot = names(workspace)
    assert record["manifest"] in snapshot and len(snapshot) >= 3  # manifest + 2 files

    assert object_gc.collect_garbage(workspace).garbage == []
    assert names(workspace) == snapshot

    manifest = workspace.objects / record["manifest"]
    os.chmod(manifest, 0o644)
    manifest.write_text("not json")
    with pytest.raises(DockyardError, match="cannot be told from garbage"):
        object_gc.collect_garbage(workspace)
    assert names(workspace) == snapshot  # nothing removed
