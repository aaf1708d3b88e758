"""The launch form's parts: the fields of the chosen project (a :class:`ParamRow` per
parameter, then the dataset picker), the help line under them and the bar that says what
queuing will do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Label, Select, Static

from dockyard.core.projects import ProjectInfo
from dockyard.core.workspace import Workspace
from dockyard.tui.errors import describe_error
from dockyard.tui.text import data_text, plain
from dockyard.tui.widgets.param_row import ParamRow, as_text, describe_spec, runs_count

if TYPE_CHECKING:
    from dockyard.core.runs import RunInfo

#: The most versions of each dataset the picker lists (newest first).
VERSIONS_PER_DATASET = 10

#: The most datasets the picker lists.
MAX_DATASETS = 30

#: More runs than this in one sweep is refused by the core (``core.runs.MAX_SWEEP``).
SWEEP_WARNING = 256


@dataclass(frozen=True)
class LaunchPreset:
    """What the form opens with: a project, values, and the run being cloned if any."""

    project: str | None = None
    values: Mapping[str, str] | None = None
    from_run: int | None = None
    dataset: str | None = None


class ProjectsLoaded(Message):
    def __init__(self, projects: list[ProjectInfo], datasets: list[str]) -> None:
        super().__init__()
        self.projects = projects
        self.datasets = datasets


class LaunchLoadFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class RunsQueued(Message):
    def __init__(self, runs: list[RunInfo]) -> None:
        super().__init__()
        self.runs = runs


class QueueFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class DataResolved(Message):
    """What a run of ``project`` would train on, as ``core.run_data`` resolves it now."""

    def __init__(self, project: str, described: str) -> None:
        super().__init__()
        self.project = project
        self.described = described


def recent_dataset_refs(workspace: Workspace, projects: list[ProjectInfo]) -> list[str]:
    """``name@version`` of recent versions, the projects' own datasets first. A store
    whose datasets cannot be read still gets the form (the picker stays at default)."""
    try:
        from dockyard.core.datasets import list_datasets, list_versions

        declared = {spec.name for project in projects for spec in project.spec.datasets}
        datasets = sorted(
            list_datasets(workspace)[:MAX_DATASETS],
            key=lambda info: (info.name not in declared, info.name),
        )
        refs: list[str] = []
        for dataset in datasets:
            if dataset.n_versions == 0:
                continue
            versions = list_versions(workspace, dataset.name)[:VERSIONS_PER_DATASET]
            refs.extend(f"{dataset.name}@{version.version}" for version in versions)
        return refs
    except Exception:
        return []


class LaunchFields(VerticalScroll):
    """The fields of one project, rebuilt when the project changes."""

    def __init__(
        self, *children: Widget, workspace: Workspace, preset: LaunchPreset, id: str | None = None
    ) -> None:
        super().__init__(*children, id=id)
        self.workspace = workspace
        self.preset = preset
        #: the ``name@version`` refs the picker offers
        self.datasets: list[str] = []
        #: project name -> the picker's default entry: the version its runs would use now
        self.data_defaults: dict[str, str] = {}
        self.project: ProjectInfo | None = None
        self.building = 0

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

    async def build(self, project: ProjectInfo) -> None:
        """Replace the fields with ``project``'s, each checked at once."""
        self.project = project
        self.building += 1
        try:
            await self.remove_children()
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
            await self.mount_all(widgets)
            # Names as wide as the longest (within reason), so none is cut at 80 columns.
            longest = max((len(spec.name) for spec in project.spec.params), default=7)
            for label in self.query(".param-name"):
                label.styles.width = min(max(longest, 7) + 2, 24)
        finally:
            self.building -= 1
        for row in self.rows():
            row.check()

    # --- the dataset picker -------------------------------------------------------------------

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
        message.stop()
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


class LaunchHelp(Static):
    """One line about the field that has the focus."""

    def show_for(self, widget: Widget) -> None:
        for node in widget.ancestors_with_self:
            if isinstance(node, ParamRow):
                spec = node.spec
                text = f"{spec.name} ({describe_spec(spec)}, default {as_text(spec.default)})"
                if spec.help:
                    text += f": {spec.help}"
                if spec.type in ("int", "float", "str"):
                    text += " · a,b,c sweeps"
                self.update(plain(text))
                return
            if getattr(node, "id", None) == "dataset-row":
                self.update(
                    "The dataset version the run reads: by default the pinned one, else the "
                    "one matching the declared file, else the latest; or pick NAME@VERSION"
                )
                return
        if widget.id == "launch-projects":
            self.update("↑↓ picks a project · enter or tab goes to its parameters")
        else:
            self.update("")


class LaunchBar(Horizontal):
    """What queuing will do (or what stops it), and the Queue button."""

    def show(self, fields: LaunchFields, *, queueing: bool) -> None:
        summary = self.query_one("#launch-summary", Static)
        button = self.query_one("#launch-queue-button", Button)
        if fields.project is None:
            summary.update("Pick a project")
            button.disabled = True
            return
        rows = fields.rows()
        problems = [(row.spec.name, row.problem) for row in rows if row.problem]
        count = fields.runs_to_queue()
        if problems:
            name, problem = problems[0]
            text = f"✗ {name}: {problem}"
        elif count > SWEEP_WARNING:
            text = f"✗ {count} runs: a sweep has at most {SWEEP_WARNING}"
        elif count == 1:
            text = "1 run will be queued"
        else:
            axes = " x ".join(row.spec.name for row in rows if row.count > 1)
            text = f"{count} runs will be queued (sweep over {axes})"
        summary.update(plain(text))
        invalid = bool(problems) or count > SWEEP_WARNING
        summary.set_class(invalid, "-invalid")
        button.disabled = queueing
        button.label = "Queue" if count == 1 else f"Queue {count}"
