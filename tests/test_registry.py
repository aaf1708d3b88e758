"""Model registry, comparison and validation reports, on runs that really trained."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.agent import Agent
from dockyard.core.audit import list_events, verify_chain
from dockyard.core.comparison import compare, overlay_curves
from dockyard.core.errors import ConflictError, InputError, NotFoundError
from dockyard.core.projects import add_project
from dockyard.core.registry import (
    ArtifactIntegrityError,
    GatesFailedError,
    alias_history,
    get_version,
    list_models,
    load_model,
    register_version,
    remove_alias,
    set_alias,
    update_version,
)
from dockyard.core.run_logs import stored_chunks
from dockyard.core.runs import queue_runs
from dockyard.core.validation import build_report, render_markdown
from dockyard.core.workspace import Workspace, engine_for, init_workspace, reader_for
from tests import stores
from tests.conftest import (
    clone_workspace,
    drop_pg_database,
    release_template,
    template_workspace,
)

TOML = """
[project]
name = "tiny"
entry = "python train.py"

[params.C]
type = "float"
default = 1.0
min = 0.0001

[params.log_model]
type = "bool"
default = true

[params.fail]
type = "bool"
default = false

[params.fail_late]
type = "bool"
default = false

[metrics]
primary = "accuracy"
direction = "maximize"

[[gates]]
metric = "accuracy"
min = 0.8

[[gates]]
metric = "loss"
max = 0.7
"""

TRAIN = """
import json, sys, tempfile
from pathlib import Path
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from dockyard.core.tracking import Tracker

with Tracker.from_env() as t:
    p = t.params
    if p["fail"]:
        sys.exit(1)
    X, y = load_iris(return_X_y=True)
    for step in range(5):
        t.log_metric("loss", 1.0 / (step + 1) / p["C"], step=step)
    model = LogisticRegression(C=p["C"], max_iter=500).fit(X, y)
    t.log_metric("accuracy", float(model.score(X, y)))
    t.log_metric("recall/class_0", 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "confusion_matrix.json"
        matrix = confusion_matrix(y, model.predict(X)).tolist()
        path.write_text(json.dumps({"labels": [0, 1, 2], "matrix": matrix}))
        t.log_artifact(path)
    if p["log_model"]:
        t.log_model(model, name="model")
    if p["fail_late"]:
        sys.exit(3)  # fails after its model file was logged
"""


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
    module_store_backend: str,
    request: pytest.FixtureRequest,
) -> Iterator[Workspace]:
    """The template: one workspace with five real runs (C=1, C=0.01, no model, failed,
    failed after logging its model), trained once per module and store kind and never
    changed; tests get a copy of it from :func:`ws`."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("DOCKYARD_")}
    root = tmp_path_factory.mktemp("registry")
    ws, pg_url = template_workspace(request, module_store_backend, root / "ws")
    project = root / "tiny"
    project.mkdir()
    (project / "dockyard.toml").write_text(TOML)
    (project / "train.py").write_text(TRAIN)
    add_project(ws, project)
    queue_runs(ws, "tiny", ["C=1,0.01"])
    queue_runs(ws, "tiny", ["log_model=false"])
    queue_runs(ws, "tiny", ["fail=true"])
    queue_runs(ws, "tiny", ["fail_late=true"])
    Agent(ws, concurrency=2).serve(until_idle=True)
    os.environ.update(saved)
    if ws.db_path is not None:
        # Everything written so far goes into the main database file, so that a copy of
        # the folder without the WAL and its index is the whole store.
        with sqlite3.connect(ws.db_path) as conn:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    release_template(ws)
    yield ws
    if pg_url is not None:
        drop_pg_database(request.getfixturevalue("pg_server"), pg_url)


@pytest.fixture
def ws(trained: Workspace, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Workspace]:
    """A private copy of the trained workspace: tests do not see each other's models."""
    workspace = clone_workspace(trained, tmp_path / "ws", request)
    yield workspace
    engine_for(workspace).dispose()


def test_a_copied_workspace_is_self_contained(trained: Workspace, ws: Workspace) -> None:
    """The copy reads its own store and objects, never the template's: artifact paths are
    relative to the workspace folder."""
    assert ws.home != trained.home and ws.db_url != trained.db_url
    paths = [row[0] for row in stores.rows(ws, "SELECT object_path FROM artifact")]
    assert paths and all(not Path(p).is_absolute() for p in paths)
    assert all((ws.home / p).is_file() for p in paths)
    info = register_version(ws, 1, "copied")
    assert Path(info.artifact_path).parts[0] == "objects"
    assert load_model(ws, info.ref).predict([[5.1, 3.5, 1.4, 0.2]]).tolist() == [0]
    assert not [m for m in list_models(trained) if m.name == "copied"]  # template untouched
    release_template(trained)


# One xdist worker takes the whole module (`--dist loadgroup`), so each kind of store's
# template is trained once, not once per worker.
pytestmark = [pytest.mark.slow, pytest.mark.both_stores, pytest.mark.xdist_group("registry")]


def test_register_makes_numbered_immutable_versions(ws: Workspace) -> None:
    first = register_version(ws, 1, "iris", description="baseline")
    second = register_version(ws, 2, "iris")
    assert (first.version, second.version) == (1, 2)
    info = get_version(ws, f"iris@{first.version}")
    assert info.run_id == 1 and info.artifact_format == "skops"
    assert len(info.artifact_sha256) == 64 and info.metrics["accuracy"] > 0.9
    assert get_version(ws, "iris").version == second.version  # latest
    model = load_model(ws, f"iris@{first.version}")
    assert model.predict([[5.1, 3.5, 1.4, 0.2]]).tolist() == [0]


@pytest.mark.parametrize(
    ("run_id", "name", "error", "message"),
    [
        (4, "iris", InputError, "run 4 is failed; only a finished run"),
        (5, "iris", InputError, "run 5 is failed; only a finished run"),
        (3, "iris", InputError, "run 3 logged no model"),
        (404, "iris", NotFoundError, "no run with id 404"),
        (1, "Iris Model", InputError, "not a valid model name"),
    ],
)
def test_register_refuses(
    ws: Workspace, run_id: int, name: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        register_version(ws, run_id, name)


def test_a_failed_run_that_logged_a_model_file_is_refused(ws: Workspace) -> None:
    from sqlmodel import Session, select

    from dockyard.core.workspace import engine_for
    from dockyard.store.models import Artifact

    with Session(engine_for(ws)) as session:
        logged = session.exec(
            select(Artifact).where(Artifact.run_id == 5, Artifact.kind == "model")
        ).all()
    assert len(logged) == 1 and (ws.home / logged[0].object_path).is_file()
    with pytest.raises(InputError, match="run 5 is failed"):
        register_version(ws, 5, "late-failure")
    assert not [m for m in list_models(ws) if m.name == "late-failure"]


def test_tampered_and_missing_artifacts_are_refused(ws: Workspace) -> None:
    info = register_version(ws, 1, "tamper")
    path = ws.home / info.artifact_path
    original = path.read_bytes()
    os.chmod(path, stat.S_IWUSR | stat.S_IRUSR)
    try:
        middle = len(original) // 2  # one byte flipped, same size: only the hash sees it
        path.write_bytes(original[:middle] + bytes([original[middle] ^ 1]) + original[middle + 1 :])
        assert path.stat().st_size == len(original)
        with pytest.raises(ArtifactIntegrityError, match="tampered with"):
            register_version(ws, 1, "tamper")
        with pytest.raises(ArtifactIntegrityError, match="tampered with"):
            load_model(ws, info.ref)
        path.unlink()
        with pytest.raises(ArtifactIntegrityError, match="is missing"):
            load_model(ws, info.ref)
    finally:
        path.write_bytes(original)


def test_aliases_move_atomically_with_history(ws: Workspace) -> None:
    a = register_version(ws, 1, "aliased")
    b = register_version(ws, 2, "aliased")
    set_alias(ws, a.ref, "champion")
    set_alias(ws, b.ref, "champion", force=True)  # b fails its loss gate
    assert get_version(ws, "aliased@champion").version == b.version
    assert get_version(ws, a.ref).aliases == []
    remove_alias(ws, "aliased", "champion")
    moves = [(m["alias"], m["from"], m["to"]) for m in alias_history(ws, "aliased")]
    assert moves == [("champion", None, a.version), ("champion", a.version, b.version),
                     ("champion", b.version, None)]  # fmt: skip
    assert verify_chain(ws) is None
    summary = next(m for m in list_models(ws) if m.name == "aliased")
    assert summary.latest_version == b.version and summary.aliases == {}


def _race(ws: Workspace, first: Callable[[], object], second: Callable[[], object]) -> Any:
    """Run ``first`` in a thread that is held just before it writes the alias row, until
    ``second`` (another thread, its own connection) has moved the alias and committed.

    The hold is an engine event on the real store, so the interleaving that two processes
    hit only sometimes happens every time. Returns what ``first`` raised (or None).
    """
    from sqlalchemy import event

    from dockyard.core.workspace import engine_for

    engine = engine_for(ws)
    second_done = threading.Event()
    held = threading.Event()
    outcome: dict[str, Any] = {}

    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        writes = (
            statement.lstrip()
            .upper()
            .startswith(
                ("INSERT INTO MODEL_ALIAS", "UPDATE MODEL_ALIAS", "DELETE FROM MODEL_ALIAS")
            )
        )
        if writes and threading.current_thread().name == "first":
            held.set()
            assert second_done.wait(30)

    def run_first() -> None:
        try:
            first()
        except Exception as exc:
            outcome["error"] = exc

    event.listen(engine, "before_cursor_execute", hold)
    try:
        thread = threading.Thread(target=run_first, name="first")
        thread.start()
        assert held.wait(30)
        try:
            second()
        finally:
            second_done.set()
        thread.join(30)
    finally:
        event.remove(engine, "before_cursor_execute", hold)
    return outcome.get("error")


def test_two_alias_moves_at_once_give_one_conflict(ws: Workspace) -> None:
    a = register_version(ws, 1, "raced")
    b = register_version(ws, 2, "raced")  # fails its loss gate: forced to be champion
    # a new alias: both read "absent", both insert
    error = _race(ws, lambda: set_alias(ws, a.ref, "champion"),
                  lambda: set_alias(ws, b.ref, "champion", force=True))  # fmt: skip
    assert isinstance(error, ConflictError), repr(error)
    assert "changed meanwhile" in str(error) and "\n" not in str(error)
    assert get_version(ws, "raced@champion").version == b.version
    # an existing alias: both read "at b"; the later move must not silently win
    error = _race(ws, lambda: set_alias(ws, a.ref, "champion"),
                  lambda: remove_alias(ws, "raced", "champion"))  # fmt: skip
    assert isinstance(error, ConflictError), repr(error)
    with pytest.raises(NotFoundError):
        get_version(ws, "raced@champion")
    set_alias(ws, b.ref, "champion", force=True)
    error = _race(ws, lambda: set_alias(ws, a.ref, "champion"),
                  lambda: set_alias(ws, a.ref, "champion"))  # fmt: skip
    assert isinstance(error, ConflictError), repr(error)
    moves = [(m["from"], m["to"]) for m in alias_history(ws, "raced")]
    assert moves == [(None, b.version), (b.version, None), (None, b.version),
                     (b.version, a.version)]  # fmt: skip
    assert verify_chain(ws) is None


def test_champion_on_a_version_failing_its_gates_needs_force_and_is_recorded(
    ws: Workspace,
) -> None:
    weak = register_version(ws, 2, "gated")  # C=0.01: loss 20 fails `loss <= 0.7`
    events = len(list_events(ws))
    with pytest.raises(GatesFailedError) as refused:
        set_alias(ws, weak.ref, "champion")
    assert str(refused.value) == (
        "gated@1 fails its gates (loss 20 (needs <= 0.7)); pass --force to make it champion anyway"
    )
    assert refused.value.exit_code == 2
    assert [g.metric for g in refused.value.failed] == ["loss"]
    assert get_version(ws, weak.ref).aliases == [] and len(list_events(ws)) == events
    # another alias vouches for nothing: no gate is checked, nothing is recorded as forced
    set_alias(ws, weak.ref, "challenger")
    assert "forced" not in list_events(ws)[-1].details
    set_alias(ws, weak.ref, "champion", force=True)
    assert get_version(ws, "gated@champion").version == weak.version
    details = list_events(ws)[-1].details
    assert details["forced"] is True and details["alias"] == "champion"
    assert [(g["metric"], g["value"], g["passed"]) for g in details["failed_gates"]] == [
        ("loss", 20.0, False)
    ]
    assert verify_chain(ws) is None
    # a version that passes its gates needs no force, and its move says nothing of it
    good = register_version(ws, 1, "gated")
    set_alias(ws, good.ref, "champion")
    assert "forced" not in list_events(ws)[-1].details


@pytest.mark.parametrize(
    ("ref", "alias", "error", "message"),
    [
        ("aliased@1", "Bad Alias", InputError, "not a valid alias"),
        ("aliased@1", "latest", InputError, "not a valid alias"),
        ("aliased@99", "x", NotFoundError, "has no version 99"),
        ("nope@1", "x", NotFoundError, "no model named 'nope'"),
        ("aliased@ghost", "x", NotFoundError, "has no version or alias 'ghost'"),
    ],
)
def test_alias_errors(
    ws: Workspace, ref: str, alias: str, error: type[Exception], message: str
) -> None:
    register_version(ws, 1, "aliased")
    with pytest.raises(error, match=message):
        set_alias(ws, ref, alias)


def test_description_and_tags_are_editable(ws: Workspace) -> None:
    info = register_version(ws, 1, "editable")
    update_version(ws, info.ref, description="new words", tags={"reviewed": "yes"})
    updated = update_version(ws, info.ref, tags={"reviewed": ""})
    assert updated.description == "new words" and updated.tags == {}


def test_compare_marks_better_and_worse_by_direction(ws: Workspace) -> None:
    a = register_version(ws, 1, "cmp")
    b = register_version(ws, 2, "cmp")
    result = compare(ws, [a.ref, b.ref, "run:3"])
    assert result.labels == [a.ref, b.ref, "run 3"]
    rows = {(r.section, r.name): r for r in result.rows}
    assert rows[("param", "C")].differs and rows[("param", "C")].values[:2] == ["1.0", "0.01"]
    assert not rows[("param", "fail")].differs
    loss = rows[("metric", "loss")]  # lower is better: C=0.01 has 100x the loss
    assert loss.verdicts[1] == "worse" and (loss.deltas[1] or 0) > 0
    assert [r.section for r in result.rows][:5] == ["info"] * 5  # info rows come first
    assert next(r.name for r in result.rows if r.section == "metric") == "accuracy"
    assert result.curves["loss"][0] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert result.items[0].confusion is not None
    assert json.loads(json.dumps(result.to_dict()))["baseline"] == a.ref


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        (["cmp@1"], "at least 2"),
        (["run:1"] * 11, "at most 10"),
        (["run:x", "run:1"], "not a run id"),
    ],
)
def test_compare_limits(ws: Workspace, refs: list[str], message: str) -> None:
    register_version(ws, 1, "cmp")
    with pytest.raises(InputError, match=message):
        compare(ws, refs)


def test_report_checks_gates_and_the_champion(ws: Workspace) -> None:
    good = register_version(ws, 1, "reported")
    weak = register_version(ws, 2, "reported")
    set_alias(ws, good.ref, "champion")
    report = build_report(ws, weak.ref)
    gates = {g["metric"]: g for g in report["gates"]}
    assert gates["loss"]["passed"] is False and gates["loss"]["value"] == pytest.approx(20.0)
    assert report["gates_passed"] is False
    assert report["champion"]["ref"] == good.ref
    assert report["reproducibility"]["params"]["C"] == "0.01"
    text = render_markdown(report)
    assert "FAILED" in text and "| loss | <= 0.7 | 20 | FAIL |" in text
    assert build_report(ws, good.ref)["champion"]["is_this_version"] is True


def test_register_candidates_registers_every_finished_run(
    workspace: Workspace, tmp_path: Path
) -> None:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("DOCKYARD_")}
    try:
        ws = workspace
        project = tmp_path / "tiny"
        project.mkdir()
        toml = TOML.replace(
            'entry = "python train.py"', 'entry = "python train.py"\nregister_candidates = true'
        )
        (project / "dockyard.toml").write_text(toml)
        (project / "train.py").write_text(TRAIN)
        add_project(ws, project)
        queue_runs(ws, "tiny", ["log_model=true,false"])
        Agent(ws, concurrency=2).serve(until_idle=True)
    finally:
        os.environ.update(saved)
    info = get_version(ws, "tiny@1")
    assert info.description == "candidate" and info.run_id == 1
    with pytest.raises(NotFoundError):
        get_version(ws, "tiny@2")
    assert (
        "not registered as a candidate: run 2 logged no model"
        in (ws.logs / "run-2.log").read_text()
    )
    # the line is stored with the run's final status, so a follower that sees the run end
    # (`run logs -f`, the run screen, another machine) has it
    for run_id, line in [
        (1, "dockyard: registered tiny@1 as a candidate\n"),
        (2, "dockyard: not registered as a candidate: run 2 logged no model; "
            "call tracker.log_model(...) in the script\n"),
    ]:  # fmt: skip
        stored = "".join(text for _seq, _start, text in stored_chunks(ws, run_id))
        assert stored.endswith(line) and stored.count("as a candidate") == 1
        assert (ws.logs / f"run-{run_id}.log").read_text().endswith(line)
        (last,) = reader_for(ws).fetch_all(
            "SELECT c.created_at AS stored, r.ended_at AS ended FROM run_log_chunk c"
            " JOIN run r ON r.id = c.run_id WHERE c.run_id = :r ORDER BY c.seq DESC LIMIT 1",
            {"r": run_id},
        )
        assert last["stored"] <= last["ended"]


def test_overlay_downsamples_long_histories(tmp_path: Path) -> None:
    import sqlite3

    ws = init_workspace(tmp_path)
    db = ws.db_path
    assert db is not None
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO project (name, path, description, entry, spec_json, spec_hash, "
            "created_at, updated_at) VALUES ('p', '.', '', 'x', '{}', '', "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
        for run in (1, 2):
            conn.execute(
                "INSERT INTO run (id, project_id, status, command, error, host, user, "
                "log_path, env_json, created_at) VALUES (?, 1, 'finished', '', '', '', '', "
                "'', '{}', '2026-01-01 00:00:00')",
                (run,),
            )
            conn.executemany(
                "INSERT INTO metric (run_id, key, step, value, timestamp) "
                "VALUES (?, 'loss', ?, ?, 0)",
                [(run, step, float(step)) for step in range(10_000)],
            )
    curves = overlay_curves(ws, [1, 2], points=100)
    assert len(curves["loss"]) == 2
    assert 90 <= len(curves["loss"][0]) <= 100
    assert curves["loss"][0][0] == (0, 0.0) and curves["loss"][0][-1] == (9999, 9999.0)
