"""The one table of screens: how any screen opens another without importing it.

Screens do not know each other. A screen that wants another calls the function here that
names it (``open_run(self.app, run_id)``); only this module and ``tui/app.py`` import
screens, each inside its function, so a screen's module (with plotext, or the core calls
it needs) loads the first time the user opens it, not when the app starts.
``tests/test_import_graph.py`` holds both rules: no module of ``tui/screens`` imports
another, and the module-level imports of ``tui/`` have no cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from textual.app import App
from textual.widget import AwaitMount

from dockyard.core.workspace import Workspace

#: How many items a comparison takes (tagged runs, models or versions).
COMPARE_MIN, COMPARE_MAX = 2, 10


def compare_limit_problem(count: int, noun: str) -> str | None:
    """Why ``count`` tagged items cannot be compared, or None if they can."""
    if count < COMPARE_MIN:
        return (
            f"Compare needs {COMPARE_MIN} to {COMPARE_MAX} {noun}; {count} tagged — "
            f"tag {noun} with space, then press c"
        )
    if count > COMPARE_MAX:
        return f"Compare takes at most {COMPARE_MAX} {noun}; {count} tagged — untag some with space"
    return None


def open_run(app: App[Any], run_id: int) -> AwaitMount:
    """The run screen of ``run_id``: its live log, curves and record."""
    from dockyard.tui.screens.run import RunScreen  # plotext loads with the first run opened

    return app.push_screen(RunScreen(run_id))


def open_launch(
    app: App[Any],
    *,
    project: str | None = None,
    values: Mapping[str, str] | None = None,
    from_run: int | None = None,
    dataset: str | None = None,
) -> AwaitMount:
    """The launch form, filled in with ``project``'s parameters (a clone's or a retrain's)."""
    from dockyard.tui.screens.launch import LaunchScreen

    return app.push_screen(
        LaunchScreen(project=project, values=values, from_run=from_run, dataset=dataset)
    )


def open_add_dataset(
    app: App[Any],
    workspace: Workspace,
    *,
    name: str = "",
    done: Callable[[str | None], Any] | None = None,
) -> AwaitMount:
    """The add-dataset form; ``done`` gets what was added (None if cancelled)."""
    from dockyard.tui.screens.add_dataset import AddDatasetScreen

    return app.push_screen(AddDatasetScreen(workspace, name=name), done)


def open_dataset(
    app: App[Any], workspace: Workspace, name: str, *, now: Callable[[], datetime]
) -> AwaitMount:
    """The dataset screen: versions, preview, profile and lineage of ``name``."""
    from dockyard.tui.screens.dataset import DatasetScreen

    return app.push_screen(DatasetScreen(workspace, name, now=now))


def open_dataset_diff(app: App[Any], workspace: Workspace, ref_a: str, ref_b: str) -> AwaitMount:
    """The diff of two dataset versions (``NAME@N`` each)."""
    from dockyard.tui.screens.dataset_diff import DatasetDiffScreen

    return app.push_screen(DatasetDiffScreen(workspace, ref_a, ref_b))


def open_compare(app: App[Any], workspace: Workspace, refs: list[str]) -> AwaitMount:
    """Runs, models or versions side by side (check ``compare_limit_problem`` first)."""
    from dockyard.tui.screens.compare import CompareScreen  # plotext loads on first compare

    return app.push_screen(CompareScreen(workspace, refs))


def open_model(
    app: App[Any], workspace: Workspace, name: str, *, now: Callable[[], datetime]
) -> AwaitMount:
    """The model screen: versions, aliases and reports of registered model ``name``."""
    from dockyard.tui.screens.model import ModelScreen

    return app.push_screen(ModelScreen(workspace, name, now=now))


def open_request(
    app: App[Any], workspace: Workspace, request_id: int, *, now: Callable[[], datetime]
) -> AwaitMount:
    """A deployment request, its gates and its approvals."""
    from dockyard.tui.screens.deploy_request import RequestScreen

    return app.push_screen(RequestScreen(workspace, request_id, now=now))


def open_monitor(
    app: App[Any],
    workspace: Workspace,
    monitor_id: int,
    *,
    result_id: int | None,
    now: Callable[[], datetime],
) -> AwaitMount:
    """A monitor's history, or one of its results (an alert's) when ``result_id`` is given."""
    from dockyard.tui.screens.monitor import MonitorScreen

    return app.push_screen(MonitorScreen(workspace, monitor_id, result_id=result_id, now=now))


def open_detail(app: App[Any], title: str, fields: list[tuple[str, str]]) -> AwaitMount:
    """A plain field/value view of a row no richer screen shows."""
    from dockyard.tui.screens.detail import DetailScreen

    return app.push_screen(DetailScreen(title, fields))
