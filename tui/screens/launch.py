"""The launch form: pick a project, set its parameters, pick a dataset version, queue.

The fields come from the project's parameter spec (``widgets/param_row.py``, checked as
you type by the same ``core.projects.coerce_param`` the core applies); a comma-separated
list is a sweep, and the bar says how many runs it makes (``widgets/launch_fields.py``).
Queuing calls ``core.runs.queue_runs`` in a worker (which checks everything again), then
starts the agent if none is alive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import DescendantFocus
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, OptionList, Select, Static
from textual.widgets.option_list import Option

from dockyard.core.projects import ProjectInfo
from dockyard.tui import run_actions
from dockyard.tui.errors import describe_error
from dockyard.tui.text import plain
from dockyard.tui.widgets.launch_fields import (
    SWEEP_WARNING,
    LaunchBar,
    LaunchFields,
    LaunchHelp,
    LaunchLoadFailed,
    LaunchPreset,
    ProjectsLoaded,
    QueueFailed,
    RunsQueued,
    recent_dataset_refs,
)
from dockyard.tui.widgets.param_row import ParamRow

if TYPE_CHECKING:
    from dockyard.core.workspace import Workspace
    from dockyard.tui.app import DockyardApp


class LaunchScreen(Screen[None]):
    """``LaunchScreen(project=..., values=..., from_run=...)``; every argument optional."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("ctrl+s", "queue", "Queue", id="queue-run", priority=True),
    ]

    CSS = """
    LaunchScreen #launch {
        height: 1fr;
        border: heavy $border;
        padding: 0 1;
    }
    LaunchScreen #launch-body {
        height: 1fr;
    }
    LaunchScreen #launch-projects {
        width: 22;
        height: 1fr;
        border: round $foreground 30%;
        border-title-color: $foreground;
        background: transparent;
    }
    LaunchScreen #launch-projects:focus {
        border: heavy $border;
    }
    LaunchScreen #launch-fields {
        width: 1fr;
        height: 1fr;
        padding: 0 0 0 1;
        scrollbar-size-vertical: 1;
    }
    LaunchScreen #launch-about {
        height: auto;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    LaunchScreen .param-row {
        height: 1;
    }
    LaunchScreen .param-name {
        width: 15;
        text-style: bold;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    LaunchScreen .param-row Input, LaunchScreen .param-row Select {
        width: 18;
    }
    LaunchScreen #dataset-row Select, LaunchScreen #dataset-row Input {
        width: 1fr;
        max-width: 64;
    }
    LaunchScreen .param-hint {
        width: 1fr;
        padding: 0 0 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    LaunchScreen .param-row.-invalid .param-hint {
        color: $error;
        text-style: bold;
    }
    LaunchScreen .param-row.-invalid .param-name {
        text-style: bold reverse;
    }
    LaunchScreen #launch-help {
        height: 1;
        margin: 1 0 0 0;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    LaunchScreen #launch-bar {
        height: 1;
    }
    LaunchScreen #launch-summary {
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    LaunchScreen #launch-summary.-invalid {
        text-style: bold;
        color: $error;
    }
    LaunchScreen #launch-queue-button {
        width: auto;
        min-width: 12;
    }
    """

    def __init__(
        self,
        *,
        project: str | None = None,
        values: Mapping[str, str] | None = None,
        from_run: int | None = None,
        dataset: str | None = None,
    ) -> None:
        super().__init__(classes="launch-screen")
        self.preset = LaunchPreset(project, dict(values or {}), from_run, dataset)
        self.title = f"clone run {from_run}" if from_run is not None else "new run"
        self.projects: dict[str, ProjectInfo] = {}
        self.queueing = False

    @property
    def workspace(self) -> Workspace:
        return cast("DockyardApp", self.app).workspace

    @property
    def fields(self) -> LaunchFields:
        return self.query_one(LaunchFields)

    @property
    def project(self) -> ProjectInfo | None:
        """The project whose fields the form shows."""
        return self.fields.project

    def rows(self) -> list[ParamRow]:
        return self.fields.rows()

    def dataset_ref(self) -> str | None:
        return self.fields.dataset_ref()

    # --- composition --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="launch"):
            with Horizontal(id="launch-body"):
                yield OptionList(id="launch-projects")
                yield LaunchFields(
                    Static("Loading projects…", id="launch-about"),
                    workspace=self.workspace,
                    preset=self.preset,
                    id="launch-fields",
                )
            yield LaunchHelp("", id="launch-help")
            with LaunchBar(id="launch-bar"):
                yield Static("", id="launch-summary")
                yield Button("Queue", id="launch-queue-button", variant="primary", compact=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        box = self.query_one("#launch", Vertical)
        if self.preset.from_run is not None:
            box.border_title = plain(f"Clone run {self.preset.from_run} with edits")
        else:
            box.border_title = "New run"
        box.border_subtitle = "enter or ctrl+s queues · tab next field · esc back"
        self.query_one("#launch-projects", OptionList).border_title = "Project"
        self.set_focus(self.query_one("#launch-projects", OptionList))
        self.run_worker(self._load, thread=True, exit_on_error=False, group="launch-load")

    # --- loading ------------------------------------------------------------------------------

    def _load(self) -> None:
        """Worker: the projects (with their specs) and the dataset versions to offer."""
        from dockyard.core.projects import list_projects

        try:
            projects = list_projects(self.workspace)
        except Exception as error:
            self.post_message(LaunchLoadFailed(describe_error(error)))
            return
        self.post_message(ProjectsLoaded(projects, recent_dataset_refs(self.workspace, projects)))

    def on_projects_loaded(self, message: ProjectsLoaded) -> None:
        self.projects = {project.name: project for project in message.projects}
        self.fields.datasets = message.datasets
        options = self.query_one("#launch-projects", OptionList)
        options.clear_options()
        names = list(self.projects)
        if self.preset.from_run is not None and self.preset.project in self.projects:
            names = [self.preset.project]  # a clone keeps its project
        options.add_options([Option(plain(name), id=name) for name in names])
        if not names:
            about = self.query_one("#launch-about", Static)
            about.update(plain("No projects yet — add one with `dockyard project add PATH`"))
            self._show_summary()
            return
        wanted = self.preset.project if self.preset.project in names else names[0]
        options.highlighted = names.index(wanted)
        if self.preset.from_run is not None:
            self.call_after_refresh(self._focus_first_field)

    def on_launch_load_failed(self, message: LaunchLoadFailed) -> None:
        self.query_one("#launch-about", Static).update(
            plain(f"Cannot read the projects: {message.error}")
        )
        self.notify(
            f"Cannot read the projects: {message.error}",
            title="Load failed",
            severity="error",
            markup=False,
        )

    @on(OptionList.OptionHighlighted, "#launch-projects")
    async def _project_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        name = event.option.id
        if name is None or name not in self.projects:
            return
        project = self.projects[name]
        if self.project is not None and self.project.name == name:
            return
        await self.fields.build(project)
        self._show_summary()

    @on(OptionList.OptionSelected, "#launch-projects")
    def _project_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._focus_first_field()

    def _focus_first_field(self) -> None:
        rows = self.rows()
        if rows:
            self.set_focus(rows[0].editor)

    # --- the form -----------------------------------------------------------------------------

    def _show_summary(self) -> None:
        self.query_one(LaunchBar).show(self.fields, queueing=self.queueing)

    @on(Input.Changed)
    @on(Select.Changed)
    def _field_changed(self, event: Input.Changed | Select.Changed) -> None:
        for node in event.control.ancestors:
            if isinstance(node, ParamRow):
                node.check()
                break
        if not self.fields.building:
            self._show_summary()

    @on(DescendantFocus)
    def _show_help(self, event: DescendantFocus) -> None:
        self.query_one(LaunchHelp).show_for(event.widget)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_queue()

    @on(Button.Pressed, "#launch-queue-button")
    def _queue_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_queue()

    # --- actions ------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss()

    def action_queue(self) -> None:
        """Check every field, then queue in a worker; a problem is a notification."""
        if self.queueing:
            return
        project = self.project
        if project is None:
            self.notify("Pick a project first", severity="warning")
            return
        rows = self.rows()
        for row in rows:
            problem = row.check()
            if problem:
                self._show_summary()
                self.notify(
                    f"{row.spec.name}: {problem}",
                    title="Nothing queued",
                    severity="error",
                    markup=False,
                )
                self.set_focus(row.editor)
                return
        count = self.fields.runs_to_queue()
        if count > SWEEP_WARNING:
            self.notify(
                f"The sweep has {count} runs, more than {SWEEP_WARNING}; give fewer values",
                title="Nothing queued",
                severity="error",
                markup=False,
            )
            return
        arguments = [arg for row in rows if (arg := row.argument()) is not None]
        self.queueing = True
        self._show_summary()
        from_run = self.preset.from_run
        self.run_worker(
            lambda: self._queue(project.name, arguments, self.dataset_ref(), from_run),
            thread=True,
            exit_on_error=False,
            group="launch-queue",
            name="queue runs",
        )

    def _queue(
        self, project: str, arguments: list[str], data: str | None, from_run: int | None
    ) -> None:
        """Worker: queue the runs (the core checks everything again), start the agent."""
        from dockyard.core.runs import queue_runs

        try:
            runs = queue_runs(
                self.workspace,
                None if from_run is not None else project,
                params=arguments,
                data=data,
                from_run=from_run,
            )
        except Exception as error:
            self.post_message(QueueFailed(describe_error(error)))
            return
        run_actions.start_agent(self, self.workspace)
        self.post_message(RunsQueued(runs))

    def on_queue_failed(self, message: QueueFailed) -> None:
        self.queueing = False
        self._show_summary()
        self.notify(message.error, title="Nothing queued", severity="error", markup=False)

    def on_runs_queued(self, message: RunsQueued) -> None:
        self.queueing = False
        from dockyard.core.run_data import recorded_choices

        runs = message.runs
        if len(runs) == 1:
            text = f"Queued run {runs[0].id}"
        else:
            first, last = runs[0], runs[-1]
            text = f"Queued {len(runs)} runs ({first.id} to {last.id}) as sweep {first.group_id}"
        data = recorded_choices(runs[0].env)
        if data:
            text += f" on {data}"
        self.notify(text, title="Run queued", markup=False)
        app = cast("DockyardApp", self.app)
        app.action_show_pane("runs")
        app.home.show_run(runs[-1].id)  # the newest: the first of them in the Runs pane
