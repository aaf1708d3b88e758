"""Archive, restore and delete (core.housekeeping) on a real store: what lists show, what
is refused and why, what is removed, and the audit events that record it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dockyard.core import housekeeping
from dockyard.core.audit import check_chain
from dockyard.core.datasets import get_version as get_dataset_version
from dockyard.core.datasets import list_datasets
from dockyard.core.datasets import list_versions as list_dataset_versions
from dockyard.core.errors import InputError, NotFoundError
from dockyard.core.housekeeping import DeleteRefusedError
from dockyard.core.projects import list_projects
from dockyard.core.registry import get_version, list_models, list_versions
from dockyard.core.runs import get_run, list_runs
from dockyard.core.workspace import Workspace, reader_for
from dockyard.store import queries
from tests.conftest import seed_store
from tests.test_cli import dockyard, one_line_error


@pytest.fixture
def seeded(workspace: Workspace) -> tuple[Workspace, dict[str, Any]]:
    ids = seed_store(workspace)
    assert workspace.db_path is not None
    with sqlite3.connect(workspace.db_path) as conn:  # specs `project list` can read
        conn.execute("UPDATE project SET spec_json = json_object('name', name, 'entry', entry)")
    return workspace, ids


def rows(ws: Workspace, sql: str, *args: object) -> list[tuple[Any, ...]]:
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        return conn.execute(sql, args).fetchall()


def events(ws: Workspace) -> list[tuple[str, str, str]]:
    return [
        (str(a), str(t), str(i))
        for a, t, i in rows(
            ws, "SELECT action, entity_type, entity_id FROM audit_event ORDER BY id"
        )
    ]


def chain_ok(ws: Workspace) -> None:
    report = check_chain(ws)
    assert report.ok, report


def add_free_version(ws: Workspace, run_id: int, model: str = "free-clf") -> int:
    """A model version nothing else refers to (no alias, deployment or request)."""
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute(
            "INSERT INTO artifact (run_id, name, kind, sha256, size_bytes, object_path,"
            " file_format, created_at) VALUES (?, ?, 'model', ?, 1, ?, 'skops',"
            " '2026-03-14 12:00:00')",
            (run_id, f"{model}.skops", f"free-{run_id}", f"objects/free-{run_id}"),
        )
        artifact_id = conn.execute("SELECT max(id) FROM artifact").fetchone()[0]
        found = conn.execute("SELECT id FROM registered_model WHERE name = ?", (model,)).fetchone()
        if found is None:
            conn.execute(
                "INSERT INTO registered_model (name, description, created_at, updated_at)"
                " VALUES (?, '', '2026-03-14 12:00:00', '2026-03-14 12:00:00')",
                (model,),
            )
            found = conn.execute("SELECT max(id) FROM registered_model").fetchone()
        number = conn.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM model_version WHERE model_id = ?", found
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO model_version (model_id, version, run_id, artifact_id, description,"
            " tags_json, created_by, created_at) VALUES (?, ?, ?, ?, '', '{}', 'alice',"
            " '2026-03-14 12:00:00')",
            (found[0], number, run_id, artifact_id),
        )
        return int(number)


# ----------------------------------------------------------------------------- archive


def test_an_archived_run_leaves_every_list_and_comes_back(seeded: Any) -> None:
    ws, ids = seeded
    failed = ids["runs"][3]  # the failed diabetes run: produced nothing
    before = {r.id for r in list_runs(ws)}
    assert failed in before
    outcome = housekeeping.archive(ws, "run", str(failed))
    assert outcome.changed and outcome.message == f"Archived run {failed}"
    assert {r.id for r in list_runs(ws)} == before - {failed}
    assert [r.id for r in list_runs(ws, archived="only")] == [failed]
    assert {r.id for r in list_runs(ws, archived="include")} == before
    page = queries.runs_page(reader_for(ws))
    assert failed not in {row["id"] for row in page.rows} and page.total == len(before) - 1
    assert {row["id"] for row in queries.runs_page(reader_for(ws), archived="only").rows} == {
        failed
    }
    info = get_run(ws, failed)  # still shown by id, and says it is archived
    assert info.archived_at is not None and info.to_dict()["archived_at"]
    assert housekeeping.archive(ws, "run", str(failed)).changed is False  # idempotent
    assert housekeeping.restore(ws, "run", str(failed)).message == f"Restored run {failed}"
    assert {r.id for r in list_runs(ws)} == before
    assert housekeeping.restore(ws, "run", str(failed)).changed is False
    assert events(ws) == [
        ("run.archive", "run", str(failed)),
        ("run.restore", "run", str(failed)),
    ]
    assert rows(ws, "SELECT archived_by FROM run WHERE id = ?", failed) == [(None,)]
    chain_ok(ws)


def test_archived_projects_datasets_and_models_are_hidden(seeded: Any) -> None:
    ws, _ids = seeded
    housekeeping.archive(ws, "project", "wine")  # diabetes has a running run: refused
    assert [p.name for p in list_projects(ws)] == ["breast-cancer", "diabetes"]
    assert [p.name for p in list_projects(ws, archived="only")] == ["wine"]
    assert len(list_projects(ws, archived="include")) == 3

    housekeeping.archive(ws, "data", "wine")
    assert "wine" not in {d.name for d in list_datasets(ws)}
    assert "wine" not in {r["name"] for r in queries.datasets_page(reader_for(ws)).rows}
    assert [d.name for d in list_datasets(ws, archived="only")] == ["wine"]
    assert list_datasets(ws, name="wine")[0].archived_at is not None  # found by name

    # an accidental version: archiving it makes the one before it "latest" again
    housekeeping.archive(ws, "data", "breast_cancer@2")
    (bc,) = [d for d in list_datasets(ws) if d.name == "breast_cancer"]
    assert bc.latest is not None and bc.latest.version == 1 and bc.n_versions == 1
    assert get_dataset_version(ws, "breast_cancer").version == 1
    assert get_dataset_version(ws, "breast_cancer@2").version == 2  # by number: still there
    assert [v.version for v in list_dataset_versions(ws, "breast_cancer")] == [1]
    assert [v.version for v in list_dataset_versions(ws, "breast_cancer", archived="include")] == [
        2,
        1,
    ]
    (row,) = [r for r in queries.datasets_page(reader_for(ws)).rows if r["name"] == "breast_cancer"]
    assert row["version"] == 1

    free = add_free_version(ws, _ids["runs"][4], model="wine-clf")  # wine-clf@2
    assert free == 2
    housekeeping.archive(ws, "model", "wine-clf@2")
    (wine,) = [m for m in list_models(ws) if m.name == "wine-clf"]
    assert wine.latest_version == 1 and wine.versions == 1
    assert [v.version for v in list_versions(ws, "wine-clf")] == [1]
    assert get_version(ws, "wine-clf").version == 1  # "latest" skips the archived one
    page = queries.models_page(reader_for(ws))
    (row,) = [r for r in page.rows if r["name"] == "wine-clf"]
    assert row["version"] == 1
    # a model all of whose versions are archived leaves the list
    only = add_free_version(ws, _ids["runs"][4], model="solo-clf")
    assert only == 1
    housekeeping.archive(ws, "model", "solo-clf@1")
    assert "solo-clf" not in {m.name for m in list_models(ws)}
    assert "solo-clf" not in {r["name"] for r in queries.models_page(reader_for(ws)).rows}
    assert "solo-clf" in {m.name for m in list_models(ws, archived="only")}
    assert "solo-clf" in {
        r["name"] for r in queries.models_page(reader_for(ws), archived="only").rows
    }
    actions = [e[0] for e in events(ws)]
    assert actions == [
        "project.archive", "dataset.archive", "dataset.archive", "model.archive", "model.archive"
    ]  # fmt: skip
    chain_ok(ws)


def test_archive_is_refused_for_a_live_run_and_a_version_in_use(seeded: Any) -> None:
    ws, ids = seeded
    running = ids["runs"][6]
    with pytest.raises(DeleteRefusedError, match=rf"run {running} is running; cancel it first"):
        housekeeping.archive(ws, "run", str(running))
    with pytest.raises(DeleteRefusedError, match=r"has alias champion.*deployed to staging"):
        housekeeping.archive(ws, "model", "breast-cancer-clf@1")
    with pytest.raises(DeleteRefusedError, match=r"pending deployment request"):
        housekeeping.archive(ws, "model", "breast-cancer-clf@2")
    assert rows(ws, "SELECT count(*) FROM run WHERE archived_at IS NOT NULL") == [(0,)]
    assert events(ws) == []


# ------------------------------------------------------------------------------ delete


@pytest.mark.parametrize(
    ("noun", "ref", "reason"),
    [
        ("run", "RUN0", r"produced model breast-cancer-clf@1; the registry needs it"),
        ("run", "RUN6", r"is running; cancel it first \(`dockyard run cancel"),
        ("model", "breast-cancer-clf@1", r"alias champion; move or remove it first"),
        ("model", "breast-cancer-clf@1", r"is deployed to staging \(deployment \d+\)"),
        ("model", "breast-cancer-clf@2", r"pending deployment request \d+ to production"),
        ("model", "wine-clf@1", r"deployment request \d+ \(approved\); the approval record"),
        ("model", "wine-clf", r"wine-clf@1 is deployed to production"),
        ("data", "breast_cancer@2", r"trained run \d+, \d+, \d+ and 5 more; delete those runs"),
        ("data", "breast_cancer", r"breast_cancer@2 trained run"),
        ("project", "wine", r"project wine has 2 run\(s\); delete them first"),
    ],
)
def test_delete_is_refused_naming_what_needs_it(
    seeded: Any, noun: str, ref: str, reason: str
) -> None:
    ws, ids = seeded
    ref = ref.replace("RUN0", str(ids["runs"][0])).replace("RUN6", str(ids["runs"][6]))
    tables = ("run", "metric", "artifact", "model_version", "dataset_version", "project")
    before = [rows(ws, f"SELECT count(*) FROM {t}") for t in tables]
    assert any(reason_matches(reason, r) for r in housekeeping.blockers(ws, noun, ref))
    with pytest.raises(DeleteRefusedError, match=reason) as caught:
        housekeeping.delete(ws, noun, ref)
    assert caught.value.exit_code == 1 and "\n" not in str(caught.value)
    assert [rows(ws, f"SELECT count(*) FROM {t}") for t in tables] == before
    assert events(ws) == []


def reason_matches(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_a_monitor_that_checked_a_version_keeps_it(seeded: Any) -> None:
    ws, _ids = seeded
    rows_written = rows(ws, "SELECT id FROM monitor WHERE name = 'data-quality'")
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute(
            "UPDATE monitor_result SET batch_path = 'wine@1' WHERE monitor_id = ?", rows_written[0]
        )
    with pytest.raises(DeleteRefusedError, match=r"checked by monitor data-quality \(wine\)"):
        housekeeping.delete(ws, "data", "wine@1")


def test_deleting_a_run_removes_its_rows_and_log_and_is_audited(seeded: Any) -> None:
    ws, ids = seeded
    run_id = ids["runs"][4]  # the finished diabetes run, no model
    log = ws.logs / f"run-{run_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("epoch 1\n")
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute("UPDATE run SET log_path = ? WHERE id = ?", (str(log), run_id))
        conn.execute("INSERT INTO param (run_id, key, value) VALUES (?, 'C', '1.0')", (run_id,))
        conn.execute(
            "INSERT INTO metric (run_id, key, step, value, timestamp) VALUES (?, 'r2', 0, 0.4, 0)",
            (run_id,),
        )
        # a clone of it keeps its own record
        conn.execute(
            "INSERT INTO run (project_id, status, command, user, host, log_path, env_json,"
            " created_at, parent_run_id, error) SELECT project_id, 'failed', command, user,"
            " host, '', '{}', created_at, id, '' FROM run WHERE id = ?",
            (run_id,),
        )
    clone = rows(ws, "SELECT id FROM run WHERE parent_run_id = ?", run_id)[0][0]
    assert housekeeping.blockers(ws, "run", str(run_id)) == []
    outcome = housekeeping.delete(ws, "run", str(run_id))
    assert outcome.message == f"Deleted run {run_id}"
    for table in ("run WHERE id", "param WHERE run_id", "metric WHERE run_id"):
        assert rows(ws, f"SELECT count(*) FROM {table} = ?", run_id) == [(0,)]
    assert not log.exists()
    assert rows(ws, "SELECT parent_run_id FROM run WHERE id = ?", clone) == [(None,)]
    assert events(ws) == [("run.delete", "run", str(run_id))]
    details = rows(ws, "SELECT details_json FROM audit_event")[0][0]
    assert '"metric_points": 1' in details and '"project": "diabetes"' in details
    chain_ok(ws)
    with pytest.raises(NotFoundError, match=rf"no run with id {run_id}"):
        housekeeping.delete(ws, "run", str(run_id))


def test_a_log_path_outside_the_logs_folder_is_never_removed(seeded: Any, tmp_path: Path) -> None:
    ws, ids = seeded
    run_id = ids["runs"][4]
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute("UPDATE run SET log_path = ? WHERE id = ?", (str(outside), run_id))
    housekeeping.delete(ws, "run", str(run_id))
    assert outside.read_text() == "keep me"


def test_deleting_a_version_then_its_run_then_the_project(seeded: Any) -> None:
    ws, ids = seeded
    run_id = ids["runs"][4]  # diabetes
    add_free_version(ws, run_id)
    with pytest.raises(DeleteRefusedError, match=r"produced model free-clf@1"):
        housekeeping.delete(ws, "run", str(run_id))
    housekeeping.delete(ws, "model", "free-clf@1")
    # its last version gone, the model stays, remembering the number it must not give again
    assert rows(ws, "SELECT max_deleted_version FROM registered_model WHERE name = ?",
                "free-clf") == [(1,)]  # fmt: skip
    housekeeping.delete(ws, "run", str(run_id))
    sql = "SELECT r.id FROM run r JOIN project p ON p.id = r.project_id WHERE p.name = ?"
    diabetes_runs = [r[0] for r in rows(ws, sql, "diabetes")]
    assert len(diabetes_runs) == 2  # the failed one and the running one
    with pytest.raises(DeleteRefusedError, match=r"cancel it first"):
        housekeeping.delete(ws, "run", str(ids["runs"][7]))
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute("UPDATE run SET status = 'cancelled' WHERE id = ?", (ids["runs"][7],))
    for run in diabetes_runs:
        housekeeping.delete(ws, "run", str(run))
    # the diabetes monitor has no result: it is the project file's, and goes with it
    housekeeping.delete(ws, "project", "diabetes")
    assert rows(ws, "SELECT count(*) FROM project WHERE name = 'diabetes'") == [(0,)]
    assert rows(ws, "SELECT count(*) FROM monitor WHERE name = 'performance'") == [(0,)]
    assert [e[0] for e in events(ws)] == [
        "model.delete", "run.delete", "run.delete", "run.delete", "project.delete"
    ]  # fmt: skip
    chain_ok(ws)


def test_deleting_a_dataset_version_and_a_whole_dataset(
    workspace: Workspace, tmp_path: Path
) -> None:
    from dockyard.core.datasets import register_dataset

    ws = workspace
    first = tmp_path / "a.csv"
    first.write_text("x,y\n1,2\n3,4\n")
    register_dataset(ws, "pts", first)
    first.write_text("x,y\n1,2\n")
    register_dataset(ws, "pts", first)
    housekeeping.delete(ws, "data", "pts@2")
    assert [v.version for v in list_dataset_versions(ws, "pts", archived="include")] == [1]
    # the number of a deleted version is never given again: pts@2 meant other bytes
    first.write_text("x,y\n5,6\n")
    assert register_dataset(ws, "pts", first).version.version == 3
    housekeeping.delete(ws, "data", "pts@3")
    housekeeping.delete(ws, "data", "pts@1")
    assert list_dataset_versions(ws, "pts", archived="include") == []
    assert register_dataset(ws, "pts", first).version.version == 4
    housekeeping.delete(ws, "data", "pts")  # the name itself: a new pts starts again
    assert rows(ws, "SELECT count(*) FROM dataset") == [(0,)]
    assert [e[0] for e in events(ws)] == ["dataset.delete"] * 4
    register_dataset(ws, "pts", first)
    assert list_dataset_versions(ws, "pts")[0].version == 1
    chain_ok(ws)


@pytest.mark.parametrize(
    ("noun", "ref", "message"),
    [
        ("run", "abc", r"'abc' is not a run id"),
        ("run", "999999", r"no run with id 999999; see `dockyard run list --all`"),
        ("data", "nope", r"no dataset named 'nope'"),
        ("data", "breast_cancer@9", r"dataset breast_cancer has no version 9"),
        ("data", "breast_cancer@latest", r"name the version by its number"),
        ("model", "wine-clf@champion", r"name the version by its number"),
        ("project", "nope", r"no project named 'nope'"),
        ("thing", "x", r"'thing' is not something to archive"),
    ],
)
def test_bad_references_are_one_line_input_errors(
    seeded: Any, noun: str, ref: str, message: str
) -> None:
    ws, _ids = seeded
    for action in (housekeeping.archive, housekeeping.restore, housekeeping.delete):
        with pytest.raises(InputError, match=message) as caught:
            action(ws, noun, ref)
        assert caught.value.exit_code == 2


# ---------------------------------------------------------------------- the command line


def test_command_line_archive_list_delete_and_audit(seeded: Any) -> None:
    ws, ids = seeded
    root = ws.root
    failed = str(ids["runs"][3])
    assert dockyard("run", "archive", failed, cwd=root).stdout == f"Archived run {failed}\n"
    listed = dockyard("run", "list", cwd=root).stdout
    assert f"\n{failed} " not in listed
    only = dockyard("run", "list", "--archived", cwd=root)
    assert only.returncode == 0 and f"{failed} (archived)" in only.stdout
    assert len(only.stdout.strip().splitlines()) == 2  # header and the one run
    both = dockyard("run", "list", "--all", "--limit", "100", cwd=root).stdout
    assert f"{failed} (archived)" in both and len(both.strip().splitlines()) == 9
    clash = dockyard("run", "list", "--all", "--archived", cwd=root)
    assert clash.returncode == 2 and "cannot be used together" in one_line_error(clash)

    # refused: one line, exit 1, nothing deleted
    refused = dockyard("model", "delete", "wine-clf@1", "--yes", cwd=root)
    assert refused.returncode == 1
    assert "cannot delete: model wine-clf@1 has alias champion" in one_line_error(refused)
    # not a terminal and no --yes: asked for, nothing deleted
    unasked = dockyard("run", "delete", failed, cwd=root)
    assert unasked.returncode == 2 and "pass --yes" in one_line_error(unasked)
    assert rows(ws, "SELECT count(*) FROM run WHERE id = ?", int(failed)) == [(1,)]
    # several at once: all or nothing
    both_refs = dockyard("run", "delete", failed, str(ids["runs"][0]), "--yes", cwd=root)
    assert both_refs.returncode == 1 and "produced model" in one_line_error(both_refs)
    assert rows(ws, "SELECT count(*) FROM run WHERE id = ?", int(failed)) == [(1,)]
    deleted = dockyard("run", "delete", failed, "--yes", "--json", cwd=root)
    assert deleted.returncode == 0, deleted.stderr
    assert '"action": "delete"' in deleted.stdout and f'"target": "run {failed}"' in deleted.stdout

    assert dockyard("project", "archive", "wine", cwd=root).returncode == 0
    projects = dockyard("project", "list", "--all", cwd=root).stdout
    assert "wine (archived)" in projects
    assert "wine" not in dockyard("project", "list", cwd=root).stdout
    assert dockyard("data", "archive", "wine", cwd=root).returncode == 0
    assert "wine (archived)" in dockyard("data", "list", "--archived", cwd=root).stdout
    assert dockyard("model", "show", "breast-cancer-clf", "--all", cwd=root).returncode == 0

    verify = dockyard("audit", "verify", cwd=root)
    assert verify.returncode == 0, verify.stderr
    assert "intact: 4 events" in verify.stdout


def test_a_deleted_model_version_number_is_never_given_again(seeded: Any) -> None:
    import hashlib

    from dockyard.core.registry import register_version

    ws, ids = seeded
    run_id = ids["runs"][4]
    body = b"a model file"
    digest = hashlib.sha256(body).hexdigest()
    ws.objects.mkdir(parents=True, exist_ok=True)
    (ws.objects / digest).write_bytes(body)
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute("UPDATE run SET status = 'finished' WHERE id = ?", (run_id,))
        conn.execute(
            "INSERT INTO artifact (run_id, name, kind, sha256, size_bytes, object_path,"
            " file_format, created_at) VALUES (?, 'model.skops', 'model', ?, ?, ?, 'skops',"
            " '2026-03-14 12:00:00')",
            (run_id, digest, len(body), f"objects/{digest}"),
        )
    assert register_version(ws, run_id, "again-clf").version == 1
    assert register_version(ws, run_id, "again-clf").version == 2
    housekeeping.delete(ws, "model", "again-clf@2")
    assert register_version(ws, run_id, "again-clf").version == 3
    housekeeping.delete(ws, "model", "again-clf@3")
    housekeeping.delete(ws, "model", "again-clf@1")
    assert [m.versions for m in list_models(ws) if m.name == "again-clf"] == [0]
    assert register_version(ws, run_id, "again-clf").version == 4
    assert register_version(ws, run_id, "again-clf").version == 5
    # the whole model: every version goes, and the audit event names them
    assert housekeeping.delete(ws, "model", "again-clf").changed
    assert rows(ws, "SELECT count(*) FROM registered_model WHERE name = 'again-clf'") == [(0,)]
    (details,) = rows(
        ws, "SELECT details_json FROM audit_event WHERE action = 'model.delete' ORDER BY id DESC"
    )[0]
    assert json.loads(details)["versions"] == [4, 5]
    chain_ok(ws)
