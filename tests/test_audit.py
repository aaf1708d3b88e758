"""The audit log: hash chain, witness, serialised appends, and `dockyard audit verify`.

Every store is a real SQLite file; tampering is done the way an attacker with write access
to the store would do it, with plain SQL on the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.core.audit import (
    GENESIS,
    _digest_text,
    _iso,
    append_event,
    check_chain,
    list_events,
    verify_chain,
    witness_path,
)
from dockyard.core.workspace import Workspace, engine_for, find_workspace, init_workspace
from tests import stores
from tests.test_cli import dockyard, one_line_error

pytestmark = pytest.mark.both_stores


def append(workspace: Workspace, count: int, action: str = "test.event") -> None:
    from sqlmodel import Session

    for number in range(count):
        with Session(engine_for(workspace)) as session:
            append_event(session, "alice", action, "thing", number, {"n": number})
            session.commit()


def sql(workspace: Workspace, statement: str, *params: object) -> None:
    stores.execute(workspace, (statement, params))


def witness_records(workspace: Workspace) -> list[list[str]]:
    lines = witness_path(workspace).read_text().splitlines()
    return [line.split() for line in lines if not line.startswith("#")]


def rehash_from(workspace: Workspace, first_id: int) -> None:
    """Recompute the chain from ``first_id`` on, as an attacker who edited event
    ``first_id`` would to make the chain valid again (the witness is left alone)."""
    rows = stores.rows(
        workspace,
        "SELECT id, at, actor, action, entity_type, entity_id, details_json, prev_hash "
        "FROM audit_event WHERE id >= ? ORDER BY id",
        first_id,
    )
    prev, updates = rows[0][-1], []
    for event_id, at, *fields, _old_prev in rows:
        digest = _digest_text(prev, _iso(at), *fields)
        statement = "UPDATE audit_event SET prev_hash = ?, hash = ? WHERE id = ?"
        updates.append((statement, (prev, digest, event_id)))
        prev = digest
    stores.execute(workspace, *updates)


@pytest.fixture
def five(workspace: Workspace) -> Workspace:
    append(workspace, 5)
    return workspace


# --- the chain and the witness ----------------------------------------------------------------


def test_an_intact_log_verifies_and_every_append_is_witnessed(five: Workspace) -> None:
    report = check_chain(five)
    assert report.ok and verify_chain(five) is None
    assert (report.events, report.witnessed, report.unwitnessed, report.head_id) == (5, 5, 0, 5)
    events = list_events(five)
    assert witness_records(five) == [[str(n), str(e.id), e.hash] for n, e in enumerate(events, 1)]
    assert report.head_hash == events[-1].hash
    assert "intact: 5 events" in report.describe()


def test_an_empty_log_verifies(workspace: Workspace) -> None:
    report = check_chain(workspace)
    assert report.ok and report.events == 0 and not report.witness_found


def test_forged_details_name_the_event(five: Workspace) -> None:
    sql(five, "UPDATE audit_event SET details_json = '{\"n\": 99}' WHERE id = 3")
    report = check_chain(five)
    assert verify_chain(five) == 3
    assert report.broken_id == 3 and report.problem is not None
    assert "audit event 3 ('test.event' by 'alice') does not match its hash" in report.problem
    assert "edited" in report.problem


def test_a_forged_event_with_the_chain_recomputed_is_caught_by_the_witness(
    five: Workspace,
) -> None:
    sql(five, "UPDATE audit_event SET details_json = '{\"n\": 99}' WHERE id = 3")
    rehash_from(five, 3)
    report = check_chain(five)
    assert verify_chain(five) == 3
    assert report.problem is not None and "differs from the witness" in report.problem
    assert "hashes recomputed" in report.problem


def test_deleting_the_newest_events_is_detected_by_the_witness(five: Workspace) -> None:
    sql(five, "DELETE FROM audit_event WHERE id > 3")
    report = check_chain(five)
    assert verify_chain(five) == 4  # the chain alone (events 1-3) is valid
    assert report.problem is not None
    assert "audit event 4 is missing" in report.problem
    assert "the witness recorded 5 events up to event 5, the log has 3" in report.problem
    assert "newest events were deleted" in report.problem


def test_truncation_then_a_new_append_is_still_detected(five: Workspace) -> None:
    sql(five, "DELETE FROM audit_event WHERE id > 3")
    append(five, 1)  # SQLite gives the new event id 4 again; PostgreSQL's sequence 6
    report = check_chain(five)
    assert report.broken_id == 4 and report.problem is not None
    if stores.is_postgres(five):
        assert "audit event 4 is missing" in report.problem
    else:
        assert "differs from the witness" in report.problem


def test_deleting_a_middle_event_names_it(five: Workspace) -> None:
    sql(five, "DELETE FROM audit_event WHERE id = 3")
    report = check_chain(five)
    assert verify_chain(five) == 3
    assert report.problem is not None
    assert "audit event 3 is missing" in report.problem and "deleted" in report.problem


def test_deleting_a_middle_event_breaks_the_chain_without_the_witness(five: Workspace) -> None:
    sql(five, "DELETE FROM audit_event WHERE id = 3")
    witness_path(five).write_text("")  # what the chain alone says
    report = check_chain(five)
    assert report.broken_id == 4 and report.problem is not None
    assert "does not follow event 2" in report.problem


def test_reordered_events_are_detected(five: Workspace) -> None:
    stores.execute(  # swap events 2 and 3, hashes and all: each stays valid on its own
        five,
        "UPDATE audit_event SET id = -2 WHERE id = 2",
        "UPDATE audit_event SET id = 2 WHERE id = 3",
        "UPDATE audit_event SET id = 3 WHERE id = -2",
    )
    report = check_chain(five)
    assert verify_chain(five) == 2
    assert report.problem is not None and "does not follow event 1" in report.problem
    assert "reordered" in report.problem


def test_a_store_ahead_of_its_witness_is_reported_not_tampering(five: Workspace) -> None:
    # a crash between an append's commit and its witness line
    path = witness_path(five)
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    report = check_chain(five)
    assert report.ok and (report.witnessed, report.unwitnessed) == (4, 1)
    assert "the newest 1 are not in the witness yet" in report.describe()
    append(five, 1)  # the next append writes the missing line first
    assert [r[:2] for r in witness_records(five)][-2:] == [["5", "5"], ["6", "6"]]
    assert check_chain(five).unwitnessed == 0


def test_a_half_written_witness_line_is_ignored_and_cut(five: Workspace) -> None:
    path = witness_path(five)
    with path.open("a") as handle:
        handle.write("6 6 abc")  # a crash in the middle of a write
    assert check_chain(five).ok
    append(five, 1)
    assert witness_records(five)[-1][:2] == ["6", "6"] and check_chain(five).ok


def test_a_missing_witness_fails_until_the_next_append_restarts_it(five: Workspace) -> None:
    witness_path(five).unlink()
    report = check_chain(five)
    assert not report.ok and report.problem is not None
    assert "audit witness" in report.problem and "is missing" in report.problem
    append(five, 1)
    assert check_chain(five).ok and len(witness_records(five)) == 6


def test_an_edited_witness_line_is_reported(five: Workspace) -> None:
    path = witness_path(five)
    path.write_text(path.read_text().replace("\n3 3 ", "\n3 3 x"))
    report = check_chain(five)
    assert not report.ok and report.problem is not None
    assert "is not COUNT ID HASH" in report.problem


def test_a_rolled_back_append_leaves_no_witness_line(five: Workspace) -> None:
    from sqlmodel import Session

    with Session(engine_for(five)) as session:
        append_event(session, "alice", "test.event", "thing", 9)
        session.rollback()
    append(five, 1)
    assert len(witness_records(five)) == 6 and check_chain(five).ok


def test_the_witness_lives_in_the_workspace_folder_whatever_the_store_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "db-elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("DOCKYARD_DB", f"sqlite:///{elsewhere / 'dockyard.store.db'}")
    workspace = init_workspace(tmp_path / "ws")
    append(workspace, 2)
    assert witness_path(workspace) == workspace.home / "audit-witness"
    assert len(witness_records(workspace)) == 2
    assert not (elsewhere / "audit-witness").exists()
    assert check_chain(find_workspace(tmp_path / "ws")).ok


def test_the_first_event_chains_to_genesis(five: Workspace) -> None:
    assert stores.rows(five, "SELECT prev_hash FROM audit_event WHERE id = 1") == [(GENESIS,)]


def test_non_ascii_and_control_characters_verify(workspace: Workspace) -> None:
    from sqlmodel import Session

    with Session(engine_for(workspace)) as session:  # rows SQLite cannot rebuild itself
        append_event(session, "zoë\x7f", "test.event", "thing", "é\n\t\x01", {"k": "ü\x1b"})
        session.commit()
    append(workspace, 1)
    assert check_chain(workspace).ok
    sql(workspace, "UPDATE audit_event SET actor = 'zoe' WHERE id = 1")
    assert verify_chain(workspace) == 1


# --- serialised appends -----------------------------------------------------------------------

APPENDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from sqlmodel import Session
    from dockyard.core.audit import append_event
    from dockyard.core.workspace import engine_for, find_workspace

    workspace = find_workspace(home=sys.argv[1])
    engine = engine_for(workspace)
    start = float(sys.argv[3])
    while time.time() < start:
        time.sleep(0.001)
    for number in range(int(sys.argv[4])):
        with Session(engine) as session:
            append_event(session, sys.argv[2], "test.concurrent", "thing", number)
            session.commit()
    """
)


def test_concurrent_appenders_in_four_processes_make_one_valid_chain(
    workspace: Workspace,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / ".pkg")}
    start = time.time() + 3  # every process imported and connected before the first append
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(workspace.home), f"writer{n}", str(start), "50"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    report = check_chain(workspace)
    assert report.ok, report.problem
    assert (report.events, report.witnessed) == (200, 200)
    records = witness_records(workspace)
    assert [int(r[0]) for r in records] == list(range(1, 201))
    assert [int(r[1]) for r in records] == sorted(int(r[1]) for r in records)
    actors = {e.actor for e in list_events(workspace)}
    assert actors == {f"writer{n}" for n in range(4)}


# --- the command line -------------------------------------------------------------------------


def test_audit_verify_exit_codes_and_messages(tmp_path: Path) -> None:
    workspace = init_workspace(tmp_path)
    append(workspace, 4)
    intact = dockyard("audit", "verify", cwd=tmp_path)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("audit log intact: 4 events, head ")
    as_json = json.loads(dockyard("audit", "verify", "--json", cwd=tmp_path).stdout)
    assert as_json["ok"] is True and as_json["events"] == 4 and as_json["broken_event"] is None

    sql(workspace, "UPDATE audit_event SET details_json = '{}' WHERE id = 2")
    broken = dockyard("audit", "verify", cwd=tmp_path)
    assert broken.returncode == 1 and broken.stdout == ""
    line = one_line_error(broken)
    assert "audit event 2 ('test.event' by 'alice') does not match its hash" in line
    broken_json = dockyard("audit", "verify", "--json", cwd=tmp_path)
    assert broken_json.returncode == 1
    document = json.loads(broken_json.stdout)
    assert document["ok"] is False and document["broken_event"] == 2

    sql(workspace, "UPDATE audit_event SET details_json = '{\"n\": 1}' WHERE id = 2")
    sql(workspace, "DELETE FROM audit_event WHERE id = 4")
    truncated = dockyard("audit", "verify", cwd=tmp_path)
    assert truncated.returncode == 1
    assert "audit event 4 is missing" in one_line_error(truncated)


def test_audit_verify_outside_a_workspace_is_a_usage_error(tmp_path: Path) -> None:
    result = dockyard("audit", "verify", cwd=tmp_path)
    assert result.returncode == 2
    assert "dockyard init" in one_line_error(result)


def test_audit_verify_help_has_an_example(tmp_path: Path) -> None:
    result = dockyard("audit", "verify", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "dockyard audit verify --json" in result.stdout


# --- the registry's events and the faces that show history ------------------------------------


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    from tests.test_tui_models import build_models_store

    monkeypatch.setenv("DOCKYARD_USER", "alice")
    workspace = init_workspace(tmp_path)
    build_models_store(workspace)
    return workspace


def test_model_edit_writes_an_audit_event_with_old_and_new_values(models: Workspace) -> None:
    from dockyard.core.registry import update_version

    update_version(models, "iris-clf@2", description="retrained", tags={"reviewed": "yes"})
    update_version(models, "iris-clf@2", tags={"reviewed": ""})
    update_version(models, "iris-clf@2", description="retrained")  # changes nothing
    edits = [e for e in list_events(models) if e.action == "model.edit"]
    assert [(e.actor, e.entity_type, e.details) for e in edits] == [
        ("alice", "model_version", {"model": "iris-clf", "version": 2, "changes": {
            "description": {"from": "C=0.1", "to": "retrained"},
            "tags": {"reviewed": {"from": None, "to": "yes"}}}}),
        ("alice", "model_version", {"model": "iris-clf", "version": 2, "changes": {
            "tags": {"reviewed": {"from": "yes", "to": None}}}}),
    ]  # fmt: skip
    assert check_chain(models).ok


def test_model_edit_from_the_command_line_is_audited(models: Workspace) -> None:
    result = dockyard("model", "edit", "iris-clf@1", "-m", "baseline", cwd=models.root,
                      env={"DOCKYARD_USER": "carol"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    last = list_events(models)[-1]
    assert (last.action, last.actor, last.details["version"]) == ("model.edit", "carol", 1)
    assert dockyard("audit", "verify", cwd=models.root).returncode == 0


def test_model_show_warns_when_the_history_was_forged(models: Workspace) -> None:
    intact = dockyard("model", "show", "iris-clf", cwd=models.root)
    assert intact.returncode == 0 and "warning" not in intact.stdout
    assert json.loads(dockyard("model", "show", "iris-clf", "--json",
                               cwd=models.root).stdout)["audit_warning"] is None  # fmt: skip
    sql(models, "UPDATE audit_event SET details_json = replace(details_json, '\"to\": 2', "
        "'\"to\": 3') WHERE action = 'model.alias'")  # fmt: skip
    forged = dockyard("model", "show", "iris-clf", cwd=models.root)
    assert forged.returncode == 0
    lines = forged.stdout.splitlines()
    warning = lines.index(next(line for line in lines if line.startswith("warning:")))
    assert lines[warning + 1] == "alias moves:"  # right above the history it casts doubt on
    assert "the audit log is broken" in lines[warning] and "audit event 6" in lines[warning]
    shown = json.loads(dockyard("model", "show", "iris-clf", "--json", cwd=models.root).stdout)
    assert "audit event 6" in shown["audit_warning"]


def test_model_show_warns_when_the_newest_moves_were_deleted(models: Workspace) -> None:
    sql(models, "DELETE FROM audit_event WHERE id = (SELECT MAX(id) FROM audit_event)")
    result = dockyard("model", "show", "iris-clf", cwd=models.root)
    assert "newest events were deleted" in result.stdout


# --- the check where history is shown: the shown events, their neighbours, the head ---------


def other_model_events(workspace: Workspace, count: int) -> list[int]:
    """Append ``count`` alias moves of a model `model show iris-clf` does not show."""
    from sqlmodel import Session

    ids = []
    for number in range(count):
        with Session(engine_for(workspace)) as session:
            append_event(session, "alice", "model.alias", "registered_model", 99,
                         {"model": "other-clf", "alias": "champion", "from": number or None,
                          "to": number + 1})  # fmt: skip
            session.commit()
        ids.append(list_events(workspace)[-1].id)
    return ids


def shown_ids(workspace: Workspace) -> list[int]:
    from dockyard.core.registry import alias_history_events

    return alias_history_events(workspace, "iris-clf")[1]


def show_warning(workspace: Workspace) -> str | None:
    result = dockyard("model", "show", "iris-clf", "--json", cwd=workspace.root)
    assert result.returncode == 0, result.stderr
    warning: str | None = json.loads(result.stdout)["audit_warning"]
    return warning


def test_model_show_flags_a_shown_move_forged_with_its_own_hash_recomputed(
    models: Workspace,
) -> None:
    first, *_ = shown_ids(models)
    other_model_events(models, 1)  # so that the forged move has a follower whatever its place
    assert models.db_path is not None
    conn = sqlite3.connect(models.db_path)
    with conn:  # claim that bob made the first move, and make that event consistent again
        prev, at, *fields = conn.execute(
            "SELECT prev_hash, at, 'bob', action, entity_type, entity_id, details_json "
            "FROM audit_event WHERE id = ?", (first,)
        ).fetchone()  # fmt: skip
        conn.execute("UPDATE audit_event SET actor = 'bob', hash = ? WHERE id = ?",
                     (_digest_text(prev, _iso(at), *fields), first))  # fmt: skip
    conn.close()
    warning = show_warning(models)
    assert warning is not None and f"does not follow event {first}" in warning
    assert "run `dockyard audit verify` to check the whole chain" in warning


def test_model_show_flags_a_shown_move_forged_with_the_whole_chain_rehashed(
    models: Workspace,
) -> None:
    first, *_ = shown_ids(models)
    sql(models, "UPDATE audit_event SET actor = 'bob' WHERE id = ?", first)
    rehash_from(models, first)  # every link is valid again; only the witness disagrees
    warning = show_warning(models)
    assert warning is not None and "differs from the witness" in warning


def test_an_edit_of_another_models_event_is_for_audit_verify_not_model_show(
    models: Workspace,
) -> None:
    _, edited, _ = other_model_events(models, 3)  # neither a neighbour of a move nor the head
    sql(models, "UPDATE audit_event SET actor = 'bob' WHERE id = ?", edited)
    assert show_warning(models) is None
    verify = dockyard("audit", "verify", cwd=models.root)
    assert verify.returncode == 1 and f"audit event {edited}" in one_line_error(verify)


def test_model_show_flags_a_deleted_newest_event_of_another_model(models: Workspace) -> None:
    *_, newest = other_model_events(models, 3)
    assert show_warning(models) is None
    sql(models, "DELETE FROM audit_event WHERE id = ?", newest)
    warning = show_warning(models)
    assert warning is not None and "the newest events were deleted" in warning
    assert f"audit event {newest} is missing" in warning


def test_model_show_flags_a_deleted_neighbour_of_a_shown_move(models: Workspace) -> None:
    *_, last = shown_ids(models)
    follower, _ = other_model_events(models, 2)
    assert follower == last + 1
    sql(models, "DELETE FROM audit_event WHERE id = ?", follower)
    warning = show_warning(models)
    assert warning is not None and f"does not follow event {last}" in warning


def test_model_show_tolerates_newest_events_the_witness_lacks(models: Workspace) -> None:
    other_model_events(models, 2)
    # as if the process died between the commit and the witness write
    path = witness_path(models)
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-1]))
    assert check_chain(models).ok and check_chain(models).unwitnessed == 1
    assert show_warning(models) is None


def test_the_check_where_history_is_shown_reads_rows_by_key_only(
    models: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5,000 events of which 3 are shown: the check reads a few rows per shown event, and
    SQLite executes fewer instructions than there are events (any scan costs more)."""
    from dockyard.core.audit import check_shown_events
    from dockyard.store.queries import SqliteReader
    from tests.conftest import rechain_audit

    assert models.db_path is not None
    conn = sqlite3.connect(models.db_path)
    with conn:
        conn.executemany(
            "INSERT INTO audit_event (at, actor, action, entity_type, entity_id, details_json,"
            " prev_hash, hash) VALUES ('2026-01-01 00:00:00.000000', 'alice', 'test.event',"
            " 'thing', ?, '{}', '', ?)",
            [(str(n), f"h{n}") for n in range(5_000 - len(list_events(models)))],
        )
    conn.close()
    rechain_audit(models)
    shown = shown_ids(models)
    assert len(list_events(models)) == 5_000 and len(shown) == 3

    statements: list[str] = []
    rows_read = [0]
    instructions = [0]
    original_init, original_fetch = SqliteReader.__init__, SqliteReader.fetch_all
    original_iter = SqliteReader.iter_rows

    def init(self: SqliteReader, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]

        def step() -> int:
            instructions[0] += 1
            return 0

        self._conn.set_progress_handler(step, 1)

    def fetch_all(self: SqliteReader, sql_text: str, params: object = None) -> list[object]:
        rows = original_fetch(self, sql_text, params)  # type: ignore[arg-type]
        statements.append(sql_text)
        rows_read[0] += len(rows)
        return rows  # type: ignore[return-value]

    monkeypatch.setattr(SqliteReader, "__init__", init)
    monkeypatch.setattr(SqliteReader, "fetch_all", fetch_all)
    monkeypatch.setattr(SqliteReader, "iter_rows", None)  # a stream would be a whole-log read
    assert check_shown_events(models, shown).ok
    opening = 1  # open_reader reads the schema revision
    assert len(statements) <= opening + 3 * len(shown) + 2
    assert rows_read[0] <= opening + 3 * len(shown) + 2
    assert instructions[0] < 5_000, instructions[0]
    # the same counter does see a whole-log read
    monkeypatch.setattr(SqliteReader, "iter_rows", original_iter)
    before = instructions[0]
    assert check_chain(models).ok and instructions[0] - before > 5_000


# --- the batched pass agrees with the row-by-row check -----------------------------------------


def _cut_witness(workspace: Workspace, keep: int) -> None:
    path = witness_path(workspace)
    path.write_text("".join(path.read_text().splitlines(keepends=True)[: keep + 1]))


def _forge_and_rehash(workspace: Workspace, event_id: int) -> None:
    sql(workspace, "UPDATE audit_event SET actor = 'eve' WHERE id = ?", event_id)
    rehash_from(workspace, event_id)


BATCH_SCENARIOS: dict[str, tuple[Callable[[Workspace], object], bool]] = {
    "intact": (lambda ws: None, True),
    "newest two unwitnessed": (lambda ws: _cut_witness(ws, 5), True),
    "header only": (lambda ws: _cut_witness(ws, 0), True),
    "half-written line": (
        lambda ws: witness_path(ws).write_text(witness_path(ws).read_text() + "8 8 abc"),
        True,
    ),
    "non-ascii event": (lambda ws: append(ws, 1, action="tëst\x7f"), True),
    "forged details": (
        lambda ws: sql(ws, "UPDATE audit_event SET details_json = '{}' WHERE id = 4"),
        False,
    ),
    "forged and rehashed": (
        lambda ws: _forge_and_rehash(ws, 3),
        False,
    ),
    "newest deleted": (lambda ws: sql(ws, "DELETE FROM audit_event WHERE id >= 6"), False),
    "middle deleted": (lambda ws: sql(ws, "DELETE FROM audit_event WHERE id = 4"), False),
    "edited witness line": (
        lambda ws: witness_path(ws).write_text(
            witness_path(ws).read_text().replace("\n3 3 ", "\n3 3 x")
        ),
        False,
    ),
    "witness spaced by hand": (
        lambda ws: witness_path(ws).write_text(
            witness_path(ws).read_text().replace("\n3 3 ", "\n3  3 ")
        ),
        False,  # not the shape Dockyard writes: the row-by-row check decides (intact)
    ),
}


@pytest.mark.parametrize("batch", [2, 3, 10_000])
@pytest.mark.parametrize("scenario", sorted(BATCH_SCENARIOS))
def test_the_batched_pass_vouches_only_for_what_the_row_check_accepts(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, scenario: str, batch: int
) -> None:
    import dockyard.core.audit as audit
    from dockyard.store.queries import open_reader

    append(workspace, 7)
    tamper, vouched = BATCH_SCENARIOS[scenario]
    tamper(workspace)
    monkeypatch.setattr(audit, "_BATCH", batch)
    path = witness_path(workspace)
    size = path.stat().st_size
    reader = open_reader(workspace.db_url)
    try:
        fast = audit._check_in_batches(reader, path, size, None)
        slow = audit._check(reader, path, size, None)
    finally:
        reader.close()
    assert (fast is not None) == vouched
    if fast is not None:
        assert fast == slow and fast.ok
    assert check_chain(workspace) == slow


#: Whether the split check (two processes) vouches; where it does not, the one-process
#: path decides. A witness with no line for the newer half's first event gives no seam.
SPLIT_VOUCHES = {"intact", "newest two unwitnessed", "half-written line", "non-ascii event"}


@pytest.mark.parametrize("scenario", sorted(BATCH_SCENARIOS))
def test_the_split_check_reports_exactly_what_one_process_reports(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    import dockyard.core.audit as audit
    from dockyard.store.queries import open_reader

    append(workspace, 7)
    tamper = BATCH_SCENARIOS[scenario][0]
    tamper(workspace)
    path = witness_path(workspace)
    size = path.stat().st_size
    monkeypatch.setattr(audit, "_SPLIT_MIN_EVENTS", 2)
    monkeypatch.setattr(audit, "_BATCH", 2)  # the older half in batches too
    monkeypatch.setattr(audit, "_cpus", lambda: 2)
    seen: list[tuple[int, int]] = []
    reader = open_reader(workspace.db_url)
    try:
        split = audit._check_split(reader, path, size, lambda *done_about: seen.append(done_about))
        slow = audit._check(reader, path, size, None)
    finally:
        reader.close()
    # the split is for a SQLite file (two processes each opening it); another store is
    # always checked by the one-process path
    on_sqlite = workspace.db_url.startswith("sqlite")
    assert (split is not None) == (scenario in SPLIT_VOUCHES and on_sqlite)
    if split is not None:
        assert split == slow and split.ok
        assert seen[-1] == (slow.events, slow.events)
    assert check_chain(workspace) == slow


def test_the_split_check_needs_the_older_half_to_end_where_the_newer_begins(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older half that is intact on its own but misses a witness line the newer half's
    seam assumes (a line deleted from the middle of the witness): no vouching."""
    import dockyard.core.audit as audit

    append(workspace, 8)
    path = witness_path(workspace)
    lines = path.read_text().splitlines(keepends=True)
    # event 4's line gone: the older half (1-4) reads a clean prefix (1-3) and stops short
    path.write_text("".join(lines[:4] + lines[5:]))
    monkeypatch.setattr(audit, "_SPLIT_MIN_EVENTS", 2)
    monkeypatch.setattr(audit, "_cpus", lambda: 2)
    from dockyard.store.queries import open_reader

    reader = open_reader(workspace.db_url)
    try:
        size = path.stat().st_size
        assert audit._check_split(reader, path, size, None) is None
        slow = audit._check(reader, path, size, None)
    finally:
        reader.close()
    assert check_chain(workspace) == slow


#: Values an event may hold, for the canonical text SQLite builds and the one Python builds:
#: quotes, backslashes, ``%`` and spaces (the batch joins by spaces and fills a %-template),
#: JSON-looking text, non-ASCII, DEL and control characters (which SQLite leaves to Python).
AWKWARD = [
    'say "hi"', "back\\slash", "100% sure %d %s", "two  spaces ", '{"a": [1, "b"]}', "",
    "zoë", "日本", "tab\there", "bell\x07", "del\x7f", "new\nline", "😀",
]  # fmt: skip


def test_the_batched_canonical_text_is_the_writers_for_awkward_values(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every batch the batched pass hashes holds, byte for byte, the texts the writer
    hashed (``_canonical_text``, the writer's own form), whether SQLite built it or the
    batch was rebuilt in Python; the pass vouches and agrees with the row-by-row check."""
    from sqlmodel import Session

    import dockyard.core.audit as audit
    from dockyard.store.queries import open_reader

    with Session(engine_for(workspace)) as session:
        for number, text in enumerate(AWKWARD * 3):
            details = {"text": text, "nested": {"list": [number, 1.5, None, True, text]}}
            actor = text if number % 3 == 0 else "alice"
            append_event(session, actor, f"act.{number % 4}", "thing", text or number, details)
        session.commit()
    append(workspace, 4)  # batches of plain ASCII too
    monkeypatch.setattr(audit, "_BATCH", 3)
    built_in_python: list[int] = []
    rows_batch = audit._rows_batch

    def counted(rows: list[tuple[object, ...]]) -> audit._Batch:
        built_in_python.append(len(rows))
        return rows_batch(rows)

    monkeypatch.setattr(audit, "_rows_batch", counted)
    path = witness_path(workspace)
    reader = open_reader(workspace.db_url)
    try:
        if workspace.db_url.startswith("sqlite"):
            batches = list(audit._sqlite_batches(reader, 0, 2**63 - 1))
            assert 0 < len(built_in_python) < len(batches)  # both ways were taken
            after = 0
            for batch in batches:
                rows = list(reader.iter_rows(audit._ROWS_SQL, {"after": after,
                                                               "upto": batch.last_id}))  # fmt: skip
                assert batch == rows_batch(rows)
                writer = [audit._canonical_text(row[1], *row[3:]).encode() for row in rows]
                assert batch.texts == writer
                after = batch.last_id
        fast = audit._check_in_batches(reader, path, path.stat().st_size, None)
        slow = audit._check(reader, path, path.stat().st_size, None)
    finally:
        reader.close()
    assert fast is not None and fast == slow and fast.ok
    assert fast.events == len(AWKWARD) * 3 + 4


def test_the_batched_pass_compares_every_hash_in_full(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored hash in upper case (the same digest) is not what the writer stored: the
    batched pass does not vouch, and the row-by-row check names the event."""
    import dockyard.core.audit as audit

    append(workspace, 5)
    monkeypatch.setattr(audit, "_BATCH", 2)
    sql(workspace, "UPDATE audit_event SET hash = UPPER(hash) WHERE id = 3")
    from dockyard.store.queries import open_reader

    path = witness_path(workspace)
    reader = open_reader(workspace.db_url)
    try:
        assert audit._check_in_batches(reader, path, path.stat().st_size, None) is None
    finally:
        reader.close()
    assert verify_chain(workspace) == 3
