"""The model screen, the compare screen and the model keys of the home screen, with Pilot.

The store is real: a project with gates, finished runs with params, metric curves, a model
file and a confusion matrix stored content-addressed (their SHA-256 matches, so the
registry accepts them), registered through ``core.registry``. No training runs: the rows
are written directly, which keeps each test well under a second of setup.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from dockyard.core.overview import Pane
from dockyard.core.registry import alias_history, get_version
from dockyard.core.workspace import Workspace
from dockyard.store.queries import sqlite_file
from dockyard.tui.app import DockyardApp
from dockyard.tui.model_actions import parse_tags
from dockyard.tui.screens.compare import CompareScreen
from dockyard.tui.screens.home import HomeScreen
from dockyard.tui.screens.model import ModelScreen
from dockyard.tui.widgets.compare_table import metric_cell, visible_rows
from dockyard.tui.widgets.confirm import ConfirmModal
from dockyard.tui.widgets.model_versions import ReportView
from dockyard.tui.widgets.prompt import PromptModal
from dockyard.tui.widgets.report import report_text
from tests.conftest import FROZEN_NOW, ago, rechain_audit
from tests.pilot_wait import notifications

MODEL = "iris-clf"

#: name, status, params, final accuracy, loss curve scale, dataset version
RUNS: list[tuple[str, dict[str, Any], float, float, int]] = [
    ("finished", {"C": 1.0, "model": "logreg", "max_iter": 500}, 0.9467, 1.0, 1),
    ("finished", {"C": 0.1, "model": "logreg", "max_iter": 500}, 0.9733, 0.8, 2),
    ("finished", {"C": 0.1, "model": "forest", "max_iter": 500}, 0.8800, 1.2, 2),
    ("running", {"C": 5.0, "model": "logreg", "max_iter": 500}, 0.9000, 1.0, 2),
]

PROJECT_SPEC = {
    "name": "iris",
    "entry": "python train.py",
    "description": "iris classifier",
    "primary_metric": "accuracy",
    "direction": "maximize",
    "gates": [{"metric": "accuracy", "min": 0.9, "max": None}, {"metric": "loss", "max": 0.5}],
}


def _store_object(workspace: Workspace, data: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    workspace.objects.mkdir(parents=True, exist_ok=True)
    (workspace.objects / sha).write_bytes(data)
    return sha, f"objects/{sha}"


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def build_models_store(workspace: Workspace, *, register: int = 3) -> dict[str, Any]:
    """The runs of :data:`RUNS` (ids 1-4), the first ``register`` registered as versions of
    :data:`MODEL`, champion on v1 then moved to v2, staging on v1; every time fixed
    relative to ``FROZEN_NOW`` so screens do not drift."""
    from sqlmodel import Session

    from dockyard.core.projects import ProjectSpec
    from dockyard.core.registry import register_version, set_alias
    from dockyard.store.db import open_engine
    from dockyard.store.models import Artifact, Dataset, DatasetVersion, Metric, Param, Project, Run

    spec = ProjectSpec.from_json(json.dumps(PROJECT_SPEC))
    engine = open_engine(workspace.db_url)
    with Session(engine) as session:
        session.add(Project(name="iris", path="/samples/iris", description="iris classifier",
                            entry="python train.py", spec_json=spec.to_json(), spec_hash="h",
                            created_at=ago(days=9), updated_at=ago(days=9)))  # fmt: skip
        dataset = Dataset(name="iris", created_at=ago(days=9), updated_at=ago(days=9))
        session.add(dataset)
        session.flush()
        assert dataset.id is not None
        data_versions = []
        for number in (1, 2):
            data_version = DatasetVersion(
                dataset_id=dataset.id, version=number, content_hash=f"iris-{number}",
                hash_algo="blake3", object_path=f"objects/iris-{number}", file_format="csv",
                created_at=ago(days=9),
            )  # fmt: skip
            session.add(data_version)
            data_versions.append(data_version)
        session.flush()
        env = {"python": "3.11.9", "platform": "Linux", "packages": {"numpy": "2.0"}}
        for index, (status, params, accuracy, scale, data) in enumerate(RUNS):
            run_id = index + 1
            started = ago(days=5 - index)
            ended = started + timedelta(seconds=30 + 15 * index) if status == "finished" else None
            session.add(
                Run(id=run_id, project_id=1, dataset_version_id=data_versions[data - 1].id,
                    status=status, command="python train.py", host="box", user="alice",
                    env_json=json.dumps(env), seed=42, git_commit="abc1234", git_dirty=False,
                    primary_metric="accuracy", primary_value=accuracy,
                    created_at=started - timedelta(seconds=5), started_at=started,
                    ended_at=ended)
            )  # fmt: skip
            session.flush()
            session.add_all(
                Param(run_id=run_id, key=key, value=json.dumps(value))
                for key, value in params.items()
            )
            stamp = started.timestamp()
            points = [("loss", step, scale / (step + 1)) for step in range(20)]
            points += [("accuracy", 0, accuracy), ("recall/class_0", 0, 1.0 - index / 50)]
            session.add_all(
                Metric(run_id=run_id, key=key, step=step, value=value, timestamp=stamp)
                for key, step, value in points
            )
            model = f"model bytes of run {run_id}".encode() * (40 + 10 * index)
            matrix = [[50, 0, 0], [0, 47 - index, 3 + index], [0, 1, 49]]
            confusion = json.dumps({"labels": ["setosa", "versicolor", "virginica"],
                                    "matrix": matrix}).encode()  # fmt: skip
            for name, kind, content, file_format in (
                ("model.skops", "model", model, "skops"),
                ("confusion_matrix.json", "file", confusion, "json"),
            ):
                sha, object_path = _store_object(workspace, content)
                session.add(
                    Artifact(run_id=run_id, name=name, kind=kind, sha256=sha,
                             size_bytes=len(content), object_path=object_path,
                             file_format=file_format, created_at=ended or started)
                )  # fmt: skip
        session.commit()
    engine.dispose()
    for run_id in range(1, register + 1):
        register_version(workspace, run_id, MODEL, description=f"C={RUNS[run_id - 1][1]['C']}")
    if register >= 2:
        set_alias(workspace, f"{MODEL}@1", "champion")
        set_alias(workspace, f"{MODEL}@1", "staging")
        set_alias(workspace, f"{MODEL}@2", "champion")
    path = sqlite_file(workspace.db_url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        for version in range(1, register + 1):
            conn.execute(
                "UPDATE model_version SET created_at = ?, created_by = 'alice' WHERE version = ?",
                (_time(ago(days=4 - version)), version),
            )
        conn.execute("UPDATE registered_model SET created_at = ?, updated_at = ?",
                     (_time(ago(days=3)), _time(ago(days=1))))  # fmt: skip
        # Fixed times for the alias moves; the chain is recomputed below so that the screen
        # shows an intact log.
        events = [row[0] for row in conn.execute("SELECT id FROM audit_event ORDER BY id")]
        for index, event_id in enumerate(events):
            conn.execute(
                "UPDATE audit_event SET at = ?, actor = 'alice' WHERE id = ?",
                (_time(ago(hours=len(events) - index)), event_id),
            )
    rechain_audit(workspace)
    return {"model": MODEL}


@pytest.fixture(autouse=True)
def _fixed_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_USER", "alice")


@pytest.fixture
def models_workspace(workspace: Workspace) -> Workspace:
    build_models_store(workspace)
    return workspace


def make_app(workspace: Workspace) -> DockyardApp:
    return DockyardApp(workspace, user="alice", now=lambda: FROZEN_NOW)


async def settle(pilot: Pilot[None]) -> None:
    app = pilot.app
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def open_model(pilot: Pilot[None]) -> ModelScreen:
    await settle(pilot)
    await pilot.press("3", "enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ModelScreen)
    return screen


async def type_in_prompt(pilot: Pilot[None], *values: str) -> None:
    """Replace each field of the open prompt with ``values`` in order, then enter."""
    modal = pilot.app.screen
    assert isinstance(modal, PromptModal)
    for field, value in zip(modal.query(Input), values, strict=False):
        field.value = value
    await pilot.press("enter")
    await settle(pilot)


# --- the model screen -----------------------------------------------------------------------


async def test_enter_on_a_model_opens_its_screen(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model(pilot)
        assert screen.model_name == MODEL
        assert screen.table.row_count == 3
        assert [str(screen.table.get_cell(str(v), "c0")) for v in (3, 2, 1)] == ["v3", "v2", "v1"]
        assert str(screen.table.get_cell("2", "c1")) == "champion"
        assert str(screen.table.get_cell("1", "c1")) == "staging"
        history = str(screen.query_one("#aliases").render())
        assert "champion v1 -> v2" in history and "staging set on v1" in history
        # the report of the version under the cursor (v3, which fails a gate)
        body = str(screen.query_one("#report-body").render())
        assert "GATES FAILED" in body and "FAIL accuracy" in body
        assert f"{MODEL}@2: accuracy 0.9733 -> 0.88" in body
        assert "worse" in body
        await pilot.press("j")
        await settle(pilot)
        body = str(screen.query_one("#report-body").render())
        assert "GATES PASSED" in body and "this version is the champion" in body
        assert "iris@2" in body and "abc1234" in body
        # enter reads the report; esc goes back to the versions, then home
        await pilot.press("enter")
        assert isinstance(app.focused, ReportView)
        await pilot.press("escape")
        assert app.focused is screen.table
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_a_sets_an_alias_on_the_selected_version(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model(pilot)
        await pilot.press("a")
        assert isinstance(app.screen, PromptModal)
        await type_in_prompt(pilot, "challenger")
        assert get_version(models_workspace, f"{MODEL}@challenger").version == 3
        assert app.screen is screen
        assert str(screen.table.get_cell("3", "c1")) == "challenger"
        assert any("iris-clf@challenger -> v3" in text for text in notifications(app))
        # version 3 fails its gates: champion is asked for first, Cancel focused
        await pilot.press("a")
        await type_in_prompt(pilot, "champion")
        question = app.screen
        assert isinstance(question, ConfirmModal)
        assert "fails its gates: accuracy 0.88 (needs >= 0.9)" in question.message
        await pilot.press("enter")  # the safe button
        await settle(pilot)
        assert get_version(models_workspace, f"{MODEL}@champion").version == 2
        assert any("champion not moved" in text for text in notifications(app))
        # confirmed: moved, and recorded as forced in the history shown
        await pilot.press("a")
        await type_in_prompt(pilot, "champion")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        assert get_version(models_workspace, f"{MODEL}@champion").version == 3
        assert alias_history(models_workspace, MODEL)[-1]["from"] == 2
        assert "champion v2 -> v3" in str(screen.query_one("#aliases").render())
        assert any("(forced past failing gates)" in text for text in notifications(app))
        from dockyard.core.audit import list_events

        payload = list_events(models_workspace)[-1].details
        assert payload["forced"] is True
        assert [gate["metric"] for gate in payload["failed_gates"]] == ["accuracy"]


async def test_a_bad_alias_is_a_notification_and_changes_nothing(
    models_workspace: Workspace,
) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_model(pilot)
        before = alias_history(models_workspace, MODEL)
        await pilot.press("a")
        await type_in_prompt(pilot, "Not An Alias")
        assert any("is not a valid alias" in text for text in notifications(app))
        assert alias_history(models_workspace, MODEL) == before
        await pilot.press("a", "escape")
        await settle(pilot)
        assert isinstance(app.screen, ModelScreen)
        assert alias_history(models_workspace, MODEL) == before


async def test_A_removes_an_alias(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model(pilot)
        await pilot.press("G", "A")  # v1 holds staging
        modal = app.screen
        assert isinstance(modal, PromptModal)
        assert modal.query(Input).first().value == "staging"
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("enter")  # the focused button is Cancel
        await settle(pilot)
        assert get_version(models_workspace, f"{MODEL}@staging").version == 1
        await pilot.press("A", "enter", "y")
        await settle(pilot)
        assert str(screen.table.get_cell("1", "c1")) == "-"
        assert alias_history(models_workspace, MODEL)[-1] | {"at": None} == {
            "at": None,
            "actor": "alice",
            "model": MODEL,
            "alias": "staging",
            "from": 1,
            "to": None,
        }


async def test_a_forged_alias_history_shows_a_warning(models_workspace: Workspace) -> None:
    path = sqlite_file(models_workspace.db_url)
    assert path is not None
    with sqlite3.connect(path) as conn:  # claim that bob moved champion, without rehashing
        conn.execute(
            "UPDATE audit_event SET actor = 'bob' WHERE id = "
            "(SELECT MAX(id) FROM audit_event WHERE action = 'model.alias')"
        )
    app = make_app(models_workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(pilot)
        history = str(screen.query_one("#aliases").render())
        assert history.startswith("⚠ audit log broken at event 6: these moves may be forged")
        assert "dockyard audit verify" in history


async def test_the_history_of_an_intact_log_shows_no_warning(
    models_workspace: Workspace,
) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(pilot)
        assert screen.audit_warning is None
        assert "audit log" not in str(screen.query_one("#aliases").render())


async def test_e_edits_the_description_and_tags(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_model(pilot)
        await pilot.press("e")
        await type_in_prompt(pilot, "forest, C=0.1", "reviewed=yes owner=bob")
        info = get_version(models_workspace, f"{MODEL}@3")
        assert info.description == "forest, C=0.1"
        assert info.tags == {"owner": "bob", "reviewed": "yes"}
        # a tag left out of the field is removed; a bad one is refused with a notification
        await pilot.press("e")
        await type_in_prompt(pilot, "forest, C=0.1", "reviewed=yes")
        assert get_version(models_workspace, f"{MODEL}@3").tags == {"reviewed": "yes"}
        await pilot.press("e")
        await type_in_prompt(pilot, "x", "oops")
        assert any("'oops' is not KEY=VALUE" in text for text in notifications(app))
        assert get_version(models_workspace, f"{MODEL}@3").description == "forest, C=0.1"


def test_parse_tags() -> None:
    assert parse_tags(" a=1  b= ") == {"a": "1", "b": ""}
    assert parse_tags("") == {}
    assert isinstance(parse_tags("=x"), str)


async def test_w_writes_the_report_as_markdown(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_model(pilot)
        await pilot.press("w")
        await settle(pilot)
        written = models_workspace.root / "reports" / f"{MODEL}-v3-report.md"
        assert written.read_text().startswith(f"# Validation report: {MODEL}@3")
        assert any(str(written) in text for text in notifications(app))


# --- compare ------------------------------------------------------------------------------


async def test_compare_tagged_versions(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model(pilot)
        await pilot.press("j", "space")  # v2, then the cursor moves to v1
        assert screen.tagged == [2]
        assert str(screen.table.get_cell("2", "c0")) == "*v2"
        await pilot.press("space", "k", "k", "space")  # v1, then v3
        assert screen.tagged == [2, 1, 3]
        await pilot.press("c")
        await settle(pilot)
        compare_screen = app.screen
        assert isinstance(compare_screen, CompareScreen)
        comparison = compare_screen.comparison
        assert comparison is not None
        assert comparison.labels == [f"{MODEL}@2", f"{MODEL}@1", f"{MODEL}@3"]
        table = compare_screen.query_one("#compare-table", DataTable)
        assert len(table.columns) == 4
        assert "iris-clf@2 (baseline)" in str(table.columns[table.ordered_columns[1].key].label)
        accuracy = str(table.get_cell("metric:accuracy", "item2"))
        assert accuracy == "0.88 (-0.0933 -)"
        assert str(table.get_cell("metric:accuracy", "item1")) == "0.9467 (-0.0266 -)"
        assert str(table.get_cell("info:dataset", "item1")) == "iris@1 ≠"
        assert str(table.get_cell("info:dataset", "item2")) == "same"
        assert "data differs: `dockyard data diff iris@2 iris@1`" in str(
            compare_screen.query_one("#compare-legend").render()
        )
        # the curves of all three overlaid, confusion matrices side by side
        assert sorted(comparison.curves) == ["loss"]
        assert [len(curve) for curve in comparison.curves["loss"]] == [20, 20, 20]
        assert compare_screen.query_one("#compare-chart").display
        panels = compare_screen.query(".confusion")
        assert len(panels) == 3
        assert "versicolor" in str(panels.first().render())
        assert compare_screen.shown_after is not None
        await pilot.press("escape")
        assert app.screen is screen


async def test_d_toggles_identical_rows(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model(pilot)
        await pilot.press("j", "space", "space", "c")  # v2 (baseline) and v1
        await settle(pilot)
        compare_screen = app.screen
        assert isinstance(compare_screen, CompareScreen)
        table = compare_screen.query_one("#compare-table", DataTable)

        def names() -> set[str]:
            return {str(key.value) for key in table.rows}

        folded = names()
        # C differs (1.0 vs 0.1); model and max_iter are the same for both
        assert "param:C" in folded and "param:model" not in folded
        assert "param:max_iter" not in folded and "info:project" not in folded
        assert "metric:accuracy" in folded and "info:run" in folded
        legend = compare_screen.query_one("#compare-legend")
        assert "3 identical rows folded" in str(legend.render())
        await pilot.press("d")
        assert {"param:model", "param:max_iter", "info:project"} <= names()
        assert str(table.get_cell("param:C", "name")) == "≠ C"
        assert str(table.get_cell("param:model", "name")) == "  model"
        await pilot.press("d")
        assert names() == folded
        assert screen.tagged == [2, 1]


async def test_m_cycles_the_overlaid_metric(models_workspace: Workspace) -> None:
    path = sqlite_file(models_workspace.db_url)
    assert path is not None
    with sqlite3.connect(path) as conn:  # a second curve logged by every run
        conn.executemany(
            "INSERT INTO metric (run_id, key, step, value, timestamp) VALUES (?, 'lr', ?, ?, 0)",
            [(run_id, step, 0.1 / (step + 1)) for run_id in (1, 2, 3, 4) for step in range(5)],
        )
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("2", "space", "space", "c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        title = screen.query_one("#curves-title")
        assert "loss" in str(title.render()) and "1 of 2" in str(title.render())
        await pilot.press("m")
        assert "lr" in str(title.render()) and "2 of 2" in str(title.render())
        await pilot.press("m")
        assert "loss" in str(title.render())


def test_metric_cells_read_without_colour(models_workspace: Workspace) -> None:
    from dockyard.core.comparison import compare

    comparison = compare(models_workspace, [f"{MODEL}@1", f"{MODEL}@2", f"{MODEL}@1"])
    accuracy = next(row for row in comparison.rows if row.name == "accuracy")
    assert metric_cell(accuracy, 0).plain == "0.9467"
    assert metric_cell(accuracy, 1).plain == "0.9733 (+0.0266 +)"
    assert metric_cell(accuracy, 2).plain == "0.9467 (=)"
    loss = next(row for row in comparison.rows if row.name == "loss")
    assert metric_cell(loss, 1).plain.endswith("+)")  # lower loss is better
    assert len(visible_rows(comparison, True)) < len(visible_rows(comparison, False))


async def test_compare_limits_are_notifications(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model(pilot)
        await pilot.press("c")
        assert any("Compare needs 2 to 10 versions; 0 tagged" in t for t in notifications(app))
        await pilot.press("space", "c")
        assert any("Compare needs 2 to 10 versions; 1 tagged" in t for t in notifications(app))
        assert app.screen is screen
        await pilot.press("escape", "2")
        await settle(pilot)
        _add_finished_runs(models_workspace, 8)
        await pilot.press("r")
        await settle(pilot)
        runs = app.home.pane(Pane.RUNS)
        await pilot.press("g", *["space"] * 11, "c")
        assert len(runs.tagged) == 11
        assert any(
            "Compare takes at most 10 runs; 11 tagged — untag some with space" in text
            for text in notifications(app)
        )
        assert isinstance(app.screen, HomeScreen)


def _add_finished_runs(workspace: Workspace, count: int) -> None:
    path = sqlite_file(workspace.db_url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        for index in range(count):
            created = _time(FROZEN_NOW - timedelta(minutes=index + 1))
            conn.execute(
                "INSERT INTO run (project_id, status, command, error, host, user, log_path,"
                " env_json, created_at) VALUES (1, 'finished', '', '', '', 'bob', '', '{}', ?)",
                (created,),
            )


# --- the runs pane: tags, compare, register ----------------------------------------------


async def test_runs_tagged_with_space_are_compared(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        runs = app.home.pane(Pane.RUNS)
        assert [row.key for row in runs.rows()] == ["run:4", "run:3", "run:2", "run:1"]
        await pilot.press("j", "j", "space", "k", "k", "space")  # run 2, then run 3
        assert [row.key for row in runs.tagged] == ["run:2", "run:3"]
        assert str(runs.table.get_cell("run:2", "c0")) == "*2"
        assert "2 tagged" in str(runs.border_subtitle)
        # tags survive a refresh, and a filter that hides them
        await pilot.press("r")
        await settle(pilot)
        assert str(runs.table.get_cell("run:2", "c0")) == "*2"
        await pilot.press("slash", *"zzz", "enter")
        await settle(pilot)
        assert runs.table.row_count == 0 and len(runs.tagged) == 2
        await pilot.press("escape")
        await settle(pilot)
        assert str(runs.table.get_cell("run:3", "c0")) == "*3"
        await pilot.press("c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert screen.refs == ["run:2", "run:3"]
        assert screen.comparison is not None
        assert screen.comparison.labels == ["run 2", "run 3"]
        await pilot.press("escape")
        await pilot.pause()
        # esc clears a filter first, then the tags
        await pilot.press("escape")
        assert runs.tagged == []
        assert str(runs.table.get_cell("run:2", "c0")) == "2"


async def test_tags_survive_paging(models_workspace: Workspace) -> None:
    _add_finished_runs(models_workspace, 150)
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        runs = app.home.pane(Pane.RUNS)
        await pilot.press("space")
        tagged_key = runs.tagged[0].key
        await pilot.press("G")
        await settle(pilot)
        await pilot.press("G")
        await settle(pilot)
        assert runs.table.row_count == 154
        await pilot.press("space")
        assert runs.tagged[0].key == tagged_key
        await pilot.press("r")
        await settle(pilot)
        assert len(runs.tagged) == 2
        assert str(runs.table.get_cell(tagged_key, "c0")).startswith("*")


async def test_models_tagged_in_the_pane_compare_their_latest_versions(
    models_workspace: Workspace,
) -> None:
    from dockyard.core.registry import register_version

    register_version(models_workspace, 1, "other-clf")
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("3", "space", "space", "c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert screen.comparison is not None
        assert screen.comparison.labels == ["other-clf@1", f"{MODEL}@3"]


async def test_M_registers_the_selected_run(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("j", "M")  # run 3
        modal = app.screen
        assert isinstance(modal, PromptModal)
        assert modal.query(Input).first().value == "iris", "prefilled with the project"
        await type_in_prompt(pilot, "iris-forest", "first forest")
        info = get_version(models_workspace, "iris-forest@1")
        assert info.run_id == 3 and info.description == "first forest"
        assert any("Registered iris-forest@1 from run 3" in t for t in notifications(app))
        assert "iris-forest" in [row.cells()[0] for row in app.home.pane(Pane.MODELS).rows()]


async def test_M_on_an_unfinished_run_is_a_notification(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("M")  # run 4 is running
        await type_in_prompt(pilot, "iris")
        assert any(
            "run 4 is running; only a finished run can become a model version" in text
            for text in notifications(app)
        )
        assert isinstance(app.screen, HomeScreen)
        with pytest.raises(Exception, match="no version 4"):
            get_version(models_workspace, f"{MODEL}@4")


async def test_M_on_a_tampered_model_is_a_notification(models_workspace: Workspace) -> None:
    info = get_version(models_workspace, f"{MODEL}@1")
    target = models_workspace.home / info.artifact_path
    target.write_bytes(b"not the model any more")
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("G", "M")  # run 1
        await type_in_prompt(pilot, "iris")
        assert any("tampered" in text for text in notifications(app))


async def test_model_keys_only_where_they_apply(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        home = app.home
        assert home.check_action("register_run", ())
        await pilot.press("1")
        assert not home.check_action("register_run", ())
        assert not home.check_action("toggle_tag", ())
        await pilot.press("3")
        assert home.check_action("toggle_tag", ()) and not home.check_action("register_run", ())
        await pilot.press("slash")
        assert not home.check_action("toggle_tag", ())


async def test_palette_compare_runs_on_the_model_screen(models_workspace: Workspace) -> None:
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model(pilot)
        await app.run_action("toggle_tag")
        await app.run_action("toggle_tag")
        assert screen.tagged == [3, 2]
        await app.run_action("compare_tagged")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)


async def test_help_lists_the_model_screen_keys(models_workspace: Workspace) -> None:
    from dockyard.tui.screens.help import HelpScreen

    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_model(pilot)
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        listed = {row.binding_id for row in help_screen.rows}
        expected = {"model-tag", "model-compare", "model-alias", "model-unalias", "model-edit",
                    "model-write-report", "model-open-report", "back"}  # fmt: skip
        assert expected <= listed


def test_report_text_names_pass_and_fail_in_words(models_workspace: Workspace) -> None:
    from dockyard.core.validation import build_report

    text = report_text(build_report(models_workspace, f"{MODEL}@3")).plain
    assert "GATES FAILED" in text and "1 of 2 gates pass" in text
    assert "FAIL accuracy" in text and "pass loss" in text
    assert "(-0.0933, worse)" in text


async def test_a_report_that_cannot_be_built_says_so(models_workspace: Workspace) -> None:
    path = sqlite_file(models_workspace.db_url)
    assert path is not None
    with sqlite3.connect(path) as conn:  # a project record this Dockyard cannot read
        conn.execute("UPDATE project SET spec_json = '{}'")
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model(pilot)
        assert screen.table.row_count == 3, "the versions still show"
        body = str(screen.query_one("#report-body").render())
        assert body.startswith("Cannot read the report of v3: KeyError")
        assert any("Cannot read the report of v3" in text for text in notifications(app))


async def test_the_first_model_screen_and_compare_open_no_engine(
    models_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model screen (versions, alias history, report) and a compare read through
    sqlite3: the first of each in a session does not wait for SQLAlchemy to import and an
    engine to open (it took about 1.3 s at the key press)."""
    from tests.test_tui_runs import record_engine_opens

    opened = record_engine_opens(monkeypatch)
    app = make_app(models_workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_model(pilot)
        assert screen.table.row_count == 3
        assert "GATES FAILED" in str(screen.query_one("#report-body").render())
        await pilot.press("space", "j", "space", "c")
        await settle(pilot)
        compare_screen = app.screen
        assert isinstance(compare_screen, CompareScreen)
        assert compare_screen.comparison is not None
        assert sorted(compare_screen.comparison.curves) == ["loss"]
    assert opened == []
