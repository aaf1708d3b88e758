"""The Monitoring pane and the monitor screen on real monitor results.

One module-scoped workspace: the samples trained and deployed (the session fixture), each
monitor run once over the samples' two batches (normal, drifted), so every monitor has
two stored results and the drifted batch raised alerts. Each test works on its own copy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dockyard.core.monitoring import list_alerts, list_monitors, monitor_history, run_monitor
from dockyard.core.overview import MonitoringRow, Pane
from dockyard.core.workspace import Workspace
from dockyard.tui.app import DockyardApp
from tests.monitor_fixtures import copy_workspace
from tests.pilot_wait import notified, settle

SIZE = (120, 36)


@pytest.fixture(scope="module")
def monitored(deployed_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("monitored")
    ws = copy_workspace(deployed_samples, root / "ws")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dockyard.core.monitoring.SETTLE_SECONDS", 0.0)
        for monitor in list_monitors(ws):
            run_monitor(ws, monitor.id)
    from dockyard.core.workspace import _ENGINES

    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()
    yield root / "ws"


@pytest.fixture
def ws(monitored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setattr("dockyard.core.monitoring.SETTLE_SECONDS", 0.0)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    return copy_workspace(monitored, tmp_path / "ws")


def pane_rows(app: DockyardApp) -> list[MonitoringRow]:
    rows = app.home.pane(Pane.MONITORING).rows()
    return [r for r in rows if isinstance(r, MonitoringRow)]


def shown_runs(app: Any) -> list[Any]:
    view = getattr(app.screen, "view", None)
    return list(getattr(view, "runs", []))


def is_paused(app: Any) -> bool | None:
    view = getattr(app.screen, "view", None)
    return None if view is None else bool(view.monitor.paused)


async def open_monitor(pilot: Pilot[Any], monitor: str, *, kind: str = "monitor") -> None:
    """Focus the Monitoring pane, put the cursor on ``monitor``'s row of ``kind``, enter."""
    app = pilot.app
    assert isinstance(app, DockyardApp)
    await settle(pilot)
    await pilot.press("5")
    rows = pane_rows(app)
    index = next(
        i for i, r in enumerate(rows) if r.kind == kind and f"{r.project}/{r.monitor}" == monitor
    )
    app.home.pane(Pane.MONITORING).table.move_cursor(row=index, animate=False)
    await pilot.press("enter")
    await settle(pilot)


async def test_pane_lists_alerts_first_with_next_run_history_and_header_count(
    ws: Workspace,
) -> None:
    from dockyard.tui.widgets.status_line import StatusLine

    app = DockyardApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        rows = pane_rows(app)
        open_alerts = list_alerts(ws)
        assert open_alerts
        kinds = [r.kind for r in rows]
        assert kinds == ["alert"] * len(open_alerts) + ["monitor"] * len(list_monitors(ws))
        table = app.home.pane(Pane.MONITORING).table
        headings = [str(column.label) for column in table.columns.values()]
        assert headings == [
            "Monitor", "Project", "Status", "Last run", "Next run", "History", "Message",
        ]  # fmt: skip
        monitors = [r for r in rows if r.kind == "monitor"]
        # every monitor ran twice (normal, then drifted batch): a two-point sparkline
        assert all(len(r.sparkline) == 2 for r in monitors), [r.sparkline for r in monitors]
        assert all(r.next_run.startswith("in ") for r in monitors), [r.next_run for r in monitors]
        status = app.screen.query_one(StatusLine)
        assert status.alerts == len(open_alerts)
        assert f"{len(open_alerts)} open alerts" in str(status.render_text())


async def test_new_alert_is_notified_and_counted(ws: Workspace) -> None:
    from dockyard.tui.widgets.status_line import StatusLine

    app = DockyardApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.screen.query_one(StatusLine).alerts
        # a new drifted batch (other bytes: a batch is checked once by content)
        wine = ws.root / "projects" / "wine"
        lines = (wine / "incoming" / "batch_drift.csv").read_text().splitlines()
        (wine / "incoming" / "batch_drift2.csv").write_text("\n".join(lines[:-1]) + "\n")
        drift = next(m for m in list_monitors(ws) if m.project == "wine" and m.kind == "drift")
        [result] = run_monitor(ws, drift.id)
        assert result.status == "alert"
        app.home.action_refresh()
        await settle(pilot)
        assert app.screen.query_one(StatusLine).alerts == before + 1
        titles = [n.title for n in notified(app)]
        assert any(t.startswith(f"New alert {result.alert_id}: wine/") for t in titles), titles


async def test_enter_opens_monitor_screen_and_cursor_moves_the_histogram(ws: Workspace) -> None:
    from dockyard.tui.screens.monitor import MonitorScreen
    from dockyard.tui.widgets.monitor_charts import HistogramChart, HistoryChart
    from dockyard.tui.widgets.monitor_result import ChecksTable

    app = DockyardApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, "wine/feature-drift")
        screen = app.screen
        assert isinstance(screen, MonitorScreen) and screen.view is not None
        newest = monitor_history(ws, screen.monitor_id, limit=1)[0]
        assert screen.view.shown is not None and screen.view.shown.id == newest.id
        checks = screen.query_one(ChecksTable)
        assert checks.row_count == len(newest.checks)
        first = [str(cell) for cell in checks.get_row_at(0)]
        check = newest.checks[0]
        assert first[0] == f"drift {check.column}" and first[1] == check.status
        histogram = screen.query_one(HistogramChart)
        assert histogram.column == check.column
        assert histogram.histogram["reference"] and histogram.histogram["current"]
        history = screen.query_one(HistoryChart)
        assert len(history.points) == 2 and history.threshold == check.threshold
        await pilot.press("down")
        await settle(pilot)
        assert histogram.column == newest.checks[1].column != check.column


async def test_an_earlier_run_opens_from_the_results_table(ws: Workspace) -> None:
    from dockyard.tui.screens.monitor import MonitorScreen

    app = DockyardApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, "diabetes/feature-drift")
        screen = app.screen
        assert isinstance(screen, MonitorScreen) and screen.view is not None
        older = screen.view.runs[1]
        await pilot.press("tab", "down", "enter")
        await settle(pilot)
        assert screen.view.shown is not None and screen.view.shown.id == older.id
        assert "(earlier run)" in str(screen.query_one("#monitor-head").render())


async def test_acknowledge_needs_a_comment_and_is_audited(ws: Workspace) -> None:
    from dockyard.tui.screens.monitor import MonitorScreen
    from dockyard.tui.widgets.decision import DecisionModal

    app = DockyardApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, "wine/feature-drift", kind="alert")
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        alert = screen._open_alert()
        assert alert is not None
        await pilot.press("A")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, DecisionModal)
        modal.set_focus(modal.confirm_button)
        await pilot.press("enter")  # no comment: refused, the modal stays
        await settle(pilot)
        assert app.screen is modal and isinstance(modal, DecisionModal)
        assert any(a.id == alert.id for a in list_alerts(ws))
        modal.set_focus(modal.field_widget("comment"))
        await pilot.press(*"known shift, retraining", "enter", "enter")
        await settle(pilot)
        assert app.screen is screen
        assert all(a.id != alert.id for a in list_alerts(ws))
    assert ws.db_path is not None
    with sqlite3.connect(ws.db_path) as conn:
        events = conn.execute(
            "SELECT details_json FROM audit_event WHERE action = 'alert.ack' AND entity_id = ?",
            (alert.id,),
        ).fetchall()
    assert len(events) == 1 and "known shift, retraining" in events[0][0]


async def test_r_runs_the_monitor_now_and_notifies(ws: Workspace) -> None:
    from dockyard.tui.screens.monitor import MonitorScreen

    app = DockyardApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, "breast-cancer/data-quality")
        screen = app.screen
        assert isinstance(screen, MonitorScreen) and screen.view is not None
        before = len(screen.view.runs)
        folder = ws.root / "projects" / "breast_cancer" / "incoming"
        lines = (folder / "batch_normal.csv").read_text().splitlines()
        (folder / "batch_new.csv").write_text("\n".join(lines[:-2]) + "\n")
        await pilot.press("r")
        await settle(pilot, lambda app: len(shown_runs(app)) > before)
        assert len(screen.view.runs) == before + 1
        titles = [n.title for n in notified(app)]
        assert "Checked 1 batch: ok" in titles, titles
        await pilot.press("r")  # nothing new now
        await settle(pilot)
        assert "No new batch to check" in [n.message for n in notified(app)]


async def test_p_pauses_and_resumes(ws: Workspace) -> None:
    from dockyard.tui.screens.monitor import MonitorScreen

    app = DockyardApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, "wine/data-quality")
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        await pilot.press("p")
        await settle(pilot, lambda app: is_paused(app) is True)
        assert next(m for m in list_monitors(ws) if m.id == screen.monitor_id).paused
        await pilot.press("p")
        await settle(pilot, lambda app: is_paused(app) is False)


async def test_retrain_key_opens_the_launch_form_prefilled(ws: Workspace) -> None:
    from dockyard.core.monitoring import retrain_plan
    from dockyard.tui.screens.launch import LaunchScreen

    app = DockyardApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, "wine/feature-drift")
        await pilot.press("t")
        await settle(pilot, lambda app: isinstance(app.screen, LaunchScreen))
        launch = app.screen
        assert isinstance(launch, LaunchScreen)
        plan = retrain_plan(ws, "wine/feature-drift")
        assert plan.project == "wine" and plan.dataset == "wine@1"
        assert launch.preset.project == "wine" and launch.preset.values == plan.params
        assert launch.dataset_ref() == "wine@1"


async def test_help_lists_the_monitor_screen_keys(ws: Workspace) -> None:
    from dockyard.tui.screens.help import HelpScreen, binding_rows
    from dockyard.tui.screens.monitor import MonitorScreen

    app = DockyardApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, "wine/feature-drift", kind="alert")
        assert isinstance(app.screen, MonitorScreen)
        rows = binding_rows(app.screen)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
    text = repr(rows)
    wanted = ("Acknowledge", "Run the monitor now", "Pause/resume", "retrain", "Checks/results")
    for words in wanted:
        assert words in text, words
