"""The launch form: pick a project, set its parameters, pick a dataset version, queue.

The fields come from the project's parameter spec: a choice or a boolean is a select (with
an extra "all of them" entry that sweeps over every value), a number or a string is an
input checked as you type by the same ``core.projects.coerce_param`` the core applies. A
comma-separated list in an input is a sweep: the form says how many runs it makes. Queuing
calls ``core.runs.queue_runs`` in a worker (which checks everything again), then starts the
agent if none is alive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import DescendantFocus
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from dockyard.core.errors import InputError
from dockyard.core.projects import ParamSpec, ProjectInfo, coerce_param
from dockyard.core.text import visible
from dockyard.tui import run_actions
from dockyard.tui.errors import describe_error
from dockyard.tui.text import data_text, plain

if TYPE_CHECKING:
    from dockyard.core.runs import RunInfo
    from dockyard.core.workspace import Workspace
    from dockyard.tui.app import DockyardApp

#: The most versions of each dataset the picker lists (newest first).
VERSIONS_PER_DATASET = 10

#: The most datasets the picker lists.
MAX_DATASETS = 30

#: More runs than this in one sweep is refused by the core (``core.runs.MAX_SWEEP``).
SWEEP_WARNING = 256


# --- the rules of a field (no widgets) --------------------------------------------------------


def split_values(text: str) -> list[str]:
    """The values of a field: one, or a comma-separated list (a sweep); [] if empty."""
    if not text.strip():
        return []
    return [value.strip() for value in text.split(",")]


def check_values(spec: ParamSpec, text: str) -> tuple[list[str], str | None]:
    """(values, problem): each value checked against ``spec``; an empty field keeps the
    default (or the cloned run's value), except for a string, where it means ""."""
    values = split_values(text)
    if not values:
        return ([""] if spec.type == "str" else []), None
    for value in values:
        if value == "" and spec.type != "str":
            return values, "an empty value in the list"
        try:
            coerce_param(spec, value)
        except InputError as error:
            return values, str(error).removeprefix(f"parameter {spec.name}: ")
    return values, None


def describe_spec(spec: ParamSpec) -> str:
    """The type and range of a parameter in a few characters: ``float 0.001..1000``."""
    kind = {"str": "text"}.get(spec.type, spec.type)
    bounds = spec.range_text()
    return f"{kind} {bounds}" if bounds else kind


def as_text(value: object) -> str:
    """A default or a cloned run's value as the field shows it (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def runs_count(counts: Sequence[int]) -> int:
    """How many runs a grid of fields makes: the product of each field's value count."""
    return prod(max(1, count) for count in counts)


# --- messages ---------------------------------------------------------------------------------


class ProjectsLoaded(Message):
    def __init__(self, projects: list[ProjectInfo], datasets: list[str]) -> None:
        super().__init__()
        self.projects = projects
        self.datasets = datasets


class LaunchLoadFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class DataResolved(Message):
    """What a run of ``project`` would train on, as ``core.run_data`` resolves it now."""

    def __init__(self, project: str, described: str) -> None:
        super().__init__()
        self.project = project
        self.described = described


class RunsQueued(Message):
    def __init__(self, runs: list[RunInfo]) -> None:
        super().__init__()
        self.runs = runs


class QueueFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


# --- widgets ----------------------------------------------------------------------------------


class ParamRow(Horizontal):
    """One parameter: its name, its editor and its type (or what is wrong with the value)."""

    def __init__(self, spec: ParamSpec, value: str, index: int) -> None:
        super().__init__(classes="param-row", id=f"param-row-{index}")
        self.spec = spec
        self.initial = value
        self.index = index
        self.problem: str | None = None
        self.count = 1

    def compose(self) -> ComposeResult:
        yield Label(plain(self.spec.name), classes="param-name")
        yield self._editor()
        yield Static(plain(describe_spec(self.spec)), classes="param-hint")

    def _editor(self) -> Widget:
        spec = self.spec
        editor_id = f"param-{self.index}"
        if spec.type in ("choice", "bool"):
            values = (
                [as_text(choice) for choice in spec.choices]
                if spec.type == "choice"
                else ["true", "false"]
            )
            options: list[tuple[Text, str]] = [(data_text(value), value) for value in values]
            sweep = "both (sweep)" if spec.type == "bool" else f"all {len(values)} (sweep)"
            options.append((Text(sweep), ",".join(values)))
            initial = self.initial
            if initial not in {value for _label, value in options}:
                # "False" from a cloned run's record, or a choice no longer offered
                try:
                    initial = as_text(coerce_param(spec, initial))
                except InputError:
                    initial = as_text(spec.default)
            return Select(options, value=initial, allow_blank=False, compact=True, id=editor_id)
        # An empty field keeps the default: the placeholder says so, so it never looks set.
        # A cloned value is data: shown (and so queued) with its control characters visible.
        return Input(
            visible(self.initial),
            placeholder=visible(f"default {as_text(spec.default)}"),
            compact=True,
            id=editor_id,
        )

    @property
    def editor(self) -> Input | Select[str]:
        return cast("Input | Select[str]", self.query_one(f"#param-{self.index}"))

    @property
    def text(self) -> str:
        editor = self.editor
        if isinstance(editor, Input):
            return editor.value
        value = editor.value
        return value if isinstance(value, str) else ""

    def check(self) -> str | None:
        """Check the value now; show the problem (or the type) beside it."""
        values, self.problem = check_values(self.spec, self.text)
        self.count = max(1, len(values))
        hint = self.query_one(".param-hint", Static)
        if self.problem:
            hint.update(plain(f"✗ {self.problem}"))
        elif self.count > 1:
            hint.update(plain(f"sweep of {self.count}"))
        else:
            hint.update(plain(describe_spec(self.spec)))
        self.set_class(self.problem is not None, "-invalid")
        return self.problem

    def argument(self) -> str | None:
        """``name=value`` for ``queue_runs``, or None to keep the default (empty field)."""
        values = split_values(self.text)
        if not values and self.spec.type != "str":
            return None
        return f"{self.spec.name}={','.join(values)}"


# --- the screen -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchPreset:
    """What the form opens with: a project, values, and the run being cloned if any."""

    project: str | None = None
    values: Mapping[str, str] | None = None
    from_run: int | None = None
    dataset: str | None = None


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
        self.datasets: list[str] = []
        #: project name -> the picker's default entry: the version its runs would use now
        self.data_defaults: dict[str, str] = {}
        self.project: ProjectInfo | None = None
        self.queueing = False
        self._building = 0

    @property
    def workspace(self) -> Workspace:
        return cast("DockyardApp", self.app).workspace

    # --- composition --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="launch"):
            with Horizontal(id="launch-body"):
                yield OptionList(id="launch-projects")
                yield VerticalScroll(
                    Static("Loading projects…", id="launch-about"), id="launch-fields"
                )
            yield Static("", id="launch-help")
            with Horizontal(id="launch-bar"):
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
        self.post_message(ProjectsLoaded(projects, self._dataset_refs(projects)))

    def _dataset_refs(self, projects: list[ProjectInfo]) -> list[str]:
        """``name@version`` of recent versions, the projects' own datasets first. A store
        whose datasets cannot be read still gets the form (the picker stays at default)."""
        try:
            from dockyard.core.datasets import list_datasets, list_versions

            declared = {spec.name for project in projects for spec in project.spec.datasets}
            datasets = sorted(
                list_datasets(self.workspace)[:MAX_DATASETS],
                key=lambda info: (info.name not in declared, info.name),
            )
            refs: list[str] = []
            for dataset in datasets:
                if dataset.n_versions == 0:
                    continue
                versions = list_versions(self.workspace, dataset.name)[:VERSIONS_PER_DATASET]
                refs.extend(f"{dataset.name}@{version.version}" for version in versions)
            return refs
        except Exception:
            return []

    def on_projects_loaded(self, message: ProjectsLoaded) -> None:
        self.projects = {project.name: project for project in message.projects}
        self.datasets = message.datasets
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
        self.project = project
        await self._build_fields(project)

    @on(OptionList.OptionSelected, "#launch-projects")
    def _project_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._focus_first_field()

    def _focus_first_field(self) -> None:
        rows = self.rows()
        if rows:
            self.set_focus(rows[0].editor)

    async def _build_fields(self, project: ProjectInfo) -> None:
        fields = self.query_one("#launch-fields", VerticalScroll)
        self._building += 1
        try:
            await fields.remove_children()
            preset = self.preset.values if self.preset.project == project.name else {}
            about = project.description or project.entry
            if self.preset.from_run is not None:
                about = f"Values of run {self.preset.from_run}; change any, lists make a sweep."
            widgets: list[Widget] = [Static(plain(about, keep="\n"), id="launch-about")]
            for index, spec in enumerate(project.spec.params):
                value = (preset or {}).get(spec.name, as_text(spec.default))
                widgets.append(ParamRow(spec, as_text(value), index))
            if not project.spec.params:
                widgets.append(Static("This project has no parameters.", classes="param-hint"))
            widgets.append(self._dataset_row(project))
            await fields.mount_all(widgets)
            # Names as wide as the longest (within reason), so none is cut at 80 columns.
            longest = max((len(spec.name) for spec in project.spec.params), default=7)
            for label in fields.query(".param-name"):
                label.styles.width = min(max(longest, 7) + 2, 24)
        finally:
            self._building -= 1
        for row in self.rows():
            row.check()
        self._show_summary()

    def _default_data(self, project: ProjectInfo) -> str:
        """The picker's first entry: what the run uses when no version is picked."""
        if self.preset.from_run is not None:
            return f"as run {self.preset.from_run}: {self.preset.dataset or 'its own files'}"
        if not project.spec.datasets:
            return "the project's own files"
        known = self.data_defaults.get(project.name)
        if known is None:
            self.run_worker(
                lambda: self._resolve_data(project),
                thread=True,
                exit_on_error=False,
                group="launch-data",
                name="resolve data",
            )
            return "finding the dataset version…"
        return known

    def _data_options(self, project: ProjectInfo) -> list[tuple[Text, str]]:
        refs = list(self.datasets)
        wanted = self.preset.dataset if self.preset.from_run is None else None
        if wanted and wanted not in refs:
            refs.insert(0, wanted)
        default = self._default_data(project)
        return [(data_text(default), "")] + [(data_text(ref), ref) for ref in refs]

    def _dataset_row(self, project: ProjectInfo) -> Horizontal:
        options = self._data_options(project)
        wanted = self.preset.dataset if self.preset.from_run is None else None
        # a retrain preset names the newest data; a clone keeps the run's own (the default)
        value = wanted if wanted and self.preset.project == project.name else ""
        picker = Select(options, value=value, allow_blank=False, compact=True, id="dataset")
        return Horizontal(
            Label("dataset", classes="param-name"), picker, classes="param-row", id="dataset-row"
        )

    def _resolve_data(self, project: ProjectInfo) -> None:
        """Worker: the version each declared dataset resolves to (it may hash the declared
        file), by the rule ``queue_runs`` applies; a problem (a pin to a missing version)
        is shown in its place, and queuing will say it again."""
        from dockyard.core.run_data import describe_choices, resolve_run_data

        try:
            described = describe_choices(resolve_run_data(self.workspace, project))
        except Exception as error:
            described = f"✗ {describe_error(error)}"
        self.post_message(DataResolved(project.name, described))

    def on_data_resolved(self, message: DataResolved) -> None:
        self.data_defaults[message.project] = message.described
        project = self.project
        pickers = self.query("#dataset")
        if project is None or project.name != message.project or not pickers:
            return
        picker = cast("Select[str]", pickers.first())
        value = picker.value
        picker.set_options(self._data_options(project))
        picker.value = value
        # the value may be the same ("", the default) while its label changed: redraw it
        picker.mutate_reactive(Select.value)  # type: ignore[misc]

    # --- the form -----------------------------------------------------------------------------

    def rows(self) -> list[ParamRow]:
        return list(self.query(ParamRow))

    def dataset_ref(self) -> str | None:
        pickers = self.query("#dataset")
        if not pickers:
            return None
        value = cast("Select[str]", pickers.first()).value
        return value if isinstance(value, str) and value else None

    def runs_to_queue(self) -> int:
        return runs_count([row.count for row in self.rows()])

    def _show_summary(self) -> None:
        summary = self.query_one("#launch-summary", Static)
        button = self.query_one("#launch-queue-button", Button)
        if self.project is None:
            summary.update("Pick a project")
            button.disabled = True
            return
        problems = [(row.spec.name, row.problem) for row in self.rows() if row.problem]
        count = self.runs_to_queue()
        if problems:
            name, problem = problems[0]
            text = f"✗ {name}: {problem}"
        elif count > SWEEP_WARNING:
            text = f"✗ {count} runs: a sweep has at most {SWEEP_WARNING}"
        elif count == 1:
            text = "1 run will be queued"
        else:
            axes = " x ".join(row.spec.name for row in self.rows() if row.count > 1)
            text = f"{count} runs will be queued (sweep over {axes})"
        summary.update(plain(text))
        invalid = bool(problems) or count > SWEEP_WARNING
        summary.set_class(invalid, "-invalid")
        button.disabled = self.queueing
        button.label = "Queue" if count == 1 else f"Queue {count}"

    @on(Input.Changed)
    @on(Select.Changed)
    def _field_changed(self, event: Input.Changed | Select.Changed) -> None:
        for node in event.control.ancestors:
            if isinstance(node, ParamRow):
                node.check()
                break
        if not self._building:
            self._show_summary()

    @on(DescendantFocus)
    def _show_help(self, event: DescendantFocus) -> None:
        help_line = self.query_one("#launch-help", Static)
        for node in event.widget.ancestors_with_self:
            if isinstance(node, ParamRow):
                spec = node.spec
                text = f"{spec.name} ({describe_spec(spec)}, default {as_text(spec.default)})"
                if spec.help:
                    text += f": {spec.help}"
                if spec.type in ("int", "float", "str"):
                    text += " · a,b,c sweeps"
                help_line.update(plain(text))
                return
            if getattr(node, "id", None) == "dataset-row":
                help_line.update(
                    "The dataset version the run reads: by default the pinned one, else the "
                    "one matching the declared file, else the latest; or pick NAME@VERSION"
                )
                return
        if event.widget.id == "launch-projects":
            help_line.update("↑↓ picks a project · enter or tab goes to its parameters")
        else:
            help_line.update("")

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
        count = self.runs_to_queue()
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
