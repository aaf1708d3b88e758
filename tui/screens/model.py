"""The model screen: one model's versions, its aliases and their moves, and the validation
report of the version under the cursor.

Everything the command line's ``dockyard model …`` does to one model is a key here: ``a``
points an alias at the version (``A`` removes one), ``e`` edits its description and tags,
``space`` tags versions and ``c`` compares the tagged ones, ``w`` writes the report as
Markdown. Every read and write runs in a worker; core errors become notifications.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from dockyard.core.overview import NO_VALUE, as_utc, format_metric, human_age
from dockyard.core.text import visible
from dockyard.core.workspace import Workspace
from dockyard.tui import navigation
from dockyard.tui.errors import describe_error
from dockyard.tui.navigation import compare_limit_problem
from dockyard.tui.text import data_text, plain
from dockyard.tui.widgets.confirm import ConfirmModal
from dockyard.tui.widgets.prompt import PromptField, PromptModal
from dockyard.tui.widgets.report import report_text

if TYPE_CHECKING:
    from dockyard.core.registry import VersionInfo

#: A comparison takes this many items at least and at most (core.comparison checks too).

TAG_MARK = "*"

VERSION_COLUMNS = ("Ver", "Aliases", "Metric", "Run", "Data", "Created", "Description")
METRIC_COLUMN = 2


def _at_event(event_id: int | None) -> str:
    return "" if event_id is None else f" at event {event_id}"


# --- messages from the workers ----------------------------------------------------------------


class VersionsLoaded(Message):
    def __init__(
        self,
        versions: list[VersionInfo],
        history: list[dict[str, Any]],
        audit_warning: str | None = None,
    ) -> None:
        super().__init__()
        self.versions = versions
        self.history = history
        self.audit_warning = audit_warning


class ReportLoaded(Message):
    def __init__(self, version: int, report: dict[str, Any]) -> None:
        super().__init__()
        self.version = version
        self.report = report


class ModelLoadFailed(Message):
    """Reading failed; ``version`` is set when it was that version's report."""

    def __init__(self, what: str, error: str, *, version: int | None = None) -> None:
        super().__init__()
        self.what = what
        self.error = error
        self.version = version


class ModelChanged(Message):
    """An alias move or an edit went through: say so and read the model again."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


# --- widgets ------------------------------------------------------------------------------


class VersionsTable(DataTable[Text]):
    BINDINGS = [
        Binding("enter", "select_cursor", "Report", id="model-open-report"),
        Binding("j", "cursor_down", "Down", show=False, id="versions-cursor-down"),
        Binding("k", "cursor_up", "Up", show=False, id="versions-cursor-up"),
        Binding("g", "first_row", "First row", show=False, id="versions-first-row"),
        Binding("G", "last_row", "Last row", show=False, id="versions-last-row"),
    ]

    help_label = "Versions"

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)


class ReportView(VerticalScroll):
    """The validation report; focused by enter, scrolled with j/k, left with esc."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False, id="report-down"),
        Binding("k", "scroll_up", "Up", show=False, id="report-up"),
        Binding("g", "scroll_home", "Top", show=False, id="report-top"),
        Binding("G", "scroll_end", "Bottom", show=False, id="report-bottom"),
    ]

    help_label = "Report"


# --- the screen -----------------------------------------------------------------------------


class ModelScreen(Screen[None]):
    """``ModelScreen(workspace, "wine-clf", now=...)``: opened by enter in the Models pane."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("space", "toggle_tag", "Tag", id="model-tag"),
        Binding("c", "compare_tagged", "Compare", id="model-compare"),
        Binding("a", "set_alias", "Alias", id="model-alias"),
        Binding("A", "remove_alias", "Remove alias", show=False, id="model-unalias"),
        Binding("e", "edit_version", "Edit", id="model-edit"),
        Binding(
            "D",
            "request_deployment",
            "Deploy",
            tooltip="Request a deployment of this version (environment and reason)",
            id="model-request-deployment",
        ),
        Binding("w", "write_report", "Write report", show=False, id="model-write-report"),
        Binding("r", "reload", "Refresh", show=False, id="model-refresh"),
    ]

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    AUTO_FOCUS = "#versions"

    DEFAULT_CSS = """
    ModelScreen #model-body { height: 1fr; layout: vertical; }
    ModelScreen #model-left { height: auto; }
    ModelScreen #versions {
        height: auto;
        max-height: 9;
        scrollbar-size-horizontal: 0;
        scrollbar-size-vertical: 1;
    }
    ModelScreen #aliases {
        height: auto;
        max-height: 5;
        border-top: solid $foreground 30%;
        border-title-color: $text-muted;
        padding: 0 1;
    }
    ModelScreen #report {
        height: 1fr;
        border-top: solid $foreground 30%;
        border-title-color: $foreground;
        padding: 0 1;
    }
    ModelScreen #report:focus { border-top: heavy $border; border-title-style: bold; }
    ModelScreen.-wide #model-body { layout: horizontal; }
    ModelScreen.-wide #model-left { width: 1fr; height: 1fr; }
    ModelScreen.-wide #versions { height: 1fr; max-height: 100%; }
    ModelScreen.-wide #aliases { max-height: 12; }
    ModelScreen.-wide #report {
        width: 1fr;
        border-top: none;
        border-left: solid $foreground 30%;
    }
    ModelScreen.-wide #report:focus { border-top: none; border-left: heavy $border; }
    """

    def __init__(self, workspace: Workspace, name: str, *, now: Callable[[], datetime]) -> None:
        super().__init__(classes="model-screen")
        self.workspace = workspace
        self.model_name = name
        self._now = now
        self.title = f"model {name}"
        self.versions: dict[int, VersionInfo] = {}
        self.history: list[dict[str, Any]] = []
        self.audit_warning: str | None = None
        self.tagged: list[int] = []
        self._order: list[int] = []
        self._reports: dict[int, dict[str, Any]] = {}
        self._shown_report: int | None = None
        self._metric_heading: str | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical(id="model", classes="box"), Container(id="model-body"):
            with Vertical(id="model-left"):
                yield VersionsTable(id="versions", cursor_type="row")
                yield Static("", id="aliases")
            with ReportView(id="report"):
                yield Static("Loading…", id="report-body")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        box = self.query_one("#model", Vertical)
        box.border_title = plain(f"Model {self.model_name}")
        self.query_one("#aliases", Static).border_title = "Alias moves"
        self.query_one("#report", ReportView).border_title = "Report"
        self._load_versions()

    @property
    def table(self) -> VersionsTable:
        return self.query_one("#versions", VersionsTable)

    @property
    def current(self) -> VersionInfo | None:
        table = self.table
        if not self._order or not 0 <= table.cursor_row < len(self._order):
            return None
        return self.versions.get(self._order[table.cursor_row])

    # --- loading ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="model-versions")
    def _load_versions(self) -> None:
        from dockyard.core.audit import check_shown_events
        from dockyard.core.registry import alias_history_events, list_versions

        try:
            versions = list_versions(self.workspace, self.model_name)
            history, event_ids = alias_history_events(self.workspace, self.model_name)
            # the shown moves, their neighbours and the head only: the whole chain is
            # `dockyard audit verify`'s, and takes seconds on a long log
            audit = check_shown_events(self.workspace, event_ids)
            # short: the pane is five lines high at 80x24; the command names the problem
            warning = None if audit.ok else (
                f"⚠ audit log broken{_at_event(audit.broken_id)}: these moves may be "
                "forged or incomplete; `dockyard audit verify` checks the whole chain"
            )  # fmt: skip
        except Exception as error:
            self.post_message(ModelLoadFailed(f"model {self.model_name}", describe_error(error)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(VersionsLoaded(versions, history, warning))

    @work(thread=True, exclusive=True, exit_on_error=False, group="model-report")
    def _load_report(self, version: int) -> None:
        from dockyard.core.validation import build_report

        try:
            report = build_report(self.workspace, f"{self.model_name}@{version}")
        except Exception as error:
            self.post_message(
                ModelLoadFailed(f"the report of v{version}", describe_error(error), version=version)
            )
            return
        if not get_current_worker().is_cancelled:
            self.post_message(ReportLoaded(version, report))

    def on_versions_loaded(self, message: VersionsLoaded) -> None:
        table = self.table
        current = self.current
        keep = current.version if current is not None else None
        self.versions = {info.version: info for info in message.versions}
        self._order = [info.version for info in message.versions]
        self.history = message.history
        self.audit_warning = message.audit_warning
        self._reports.clear()
        self.tagged = [number for number in self.tagged if number in self.versions]
        metrics = {info.primary_metric for info in message.versions}
        # One primary metric for every version (the usual case): it names the column.
        self._metric_heading = metrics.pop() if len(metrics) == 1 else None
        table.clear(columns=True)
        for index, heading in enumerate(VERSION_COLUMNS):
            if index == METRIC_COLUMN and self._metric_heading:
                heading = self._metric_heading
            table.add_column(data_text(heading), key=f"c{index}")
        for info in message.versions:
            table.add_row(*self._cells(info), key=str(info.version))
        if keep in self.versions:
            table.move_cursor(row=self._order.index(keep), animate=False)
        self.loaded = True
        self._show_history()
        self._update_title()
        if not self._order:
            self._set_report_text(Text("This model has no versions."))
            return
        self._request_report()

    def on_report_loaded(self, message: ReportLoaded) -> None:
        self._reports[message.version] = message.report
        current = self.current
        if current is not None and current.version == message.version:
            self._show_report(message.version)

    def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        self.notify(
            f"Cannot read {message.what}: {message.error}",
            title="Load failed",
            severity="error",
            timeout=8,
        )
        current = self.current
        if not self.loaded or (current is not None and current.version == message.version):
            self.query_one("#report", ReportView).border_title = "Report unavailable"
            self._set_report_text(
                data_text(f"Cannot read {message.what}: {message.error} (r retries)", no_wrap=False)
            )

    def on_model_changed(self, message: ModelChanged) -> None:
        self.notify(message.text, title=self.model_name)
        self._load_versions()

    @on(DataTable.RowHighlighted, "#versions")
    def _version_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._request_report()

    @on(DataTable.RowSelected, "#versions")
    def _version_selected(self, event: DataTable.RowSelected) -> None:
        """enter: read the report (focus it for scrolling); esc comes back."""
        event.stop()
        self._request_report()
        self.set_focus(self.query_one("#report", ReportView))

    def _request_report(self) -> None:
        current = self.current
        if current is None:
            return
        if current.version in self._reports:
            self._show_report(current.version)
            return
        self.query_one("#report", ReportView).border_title = plain(
            f"Report v{current.version} (loading)"
        )
        self._load_report(current.version)

    # --- drawing ------------------------------------------------------------------------------

    def _cells(self, info: VersionInfo) -> list[Text]:
        tagged = info.version in self.tagged
        version = Text(
            f"{TAG_MARK if tagged else ''}v{info.version}",
            style="bold magenta" if tagged else "",
            no_wrap=True,
        )
        aliases = data_text(", ".join(info.aliases) or NO_VALUE, "bold" if info.aliases else "")
        created = as_utc(info.created_at)
        metric = (
            format_metric(None, info.primary_value)
            if self._metric_heading
            else format_metric(info.primary_metric, info.primary_value)
        )
        return [
            version,
            aliases,
            data_text(metric),
            Text(str(info.run_id)),
            data_text(info.dataset or NO_VALUE),
            Text(human_age(created, self._now()), no_wrap=True),
            data_text(info.description or ""),
        ]

    def _redraw_version(self, number: int) -> None:
        info = self.versions[number]
        cells = self._cells(info)
        self.table.update_cell(str(number), "c0", cells[0], update_width=True)

    def _update_title(self) -> None:
        count = len(self._order)
        title = f"Model {self.model_name} · {count} version{'s' if count != 1 else ''}"
        self.query_one("#model", Vertical).border_title = plain(title)
        self.query_one("#model", Vertical).border_subtitle = (
            f"{len(self.tagged)} tagged · c compares" if self.tagged else ""
        )

    def _show_history(self) -> None:
        widget = self.query_one("#aliases", Static)
        now = self._now()
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.audit_warning:
            # wraps, unlike the moves: the whole warning must be readable at 80 columns
            text = Text(self.audit_warning + "\n", style="bold red", overflow="fold")
        if not self.history:
            text.append("No alias has been set yet (a sets one).", style="dim")
        for move in reversed(self.history):
            source, target = move.get("from"), move.get("to")
            if target is None:
                change = f" removed from v{source}"
            elif source is None:
                change = f" set on v{target}"
            else:
                change = f" v{source} -> v{target}"
            text.append(visible(str(move.get("alias", "?"))), style="bold")
            text.append(change)
            when = human_age(as_utc(move.get("at")), now)
            note = f" ({move['note']})" if move.get("note") else ""  # imported from MLflow
            text.append(visible(f"  {move.get('actor', '?')}, {when}{note}") + "\n", style="dim")
        text.rstrip()
        widget.update(text)
        widget.border_title = f"Alias moves ({len(self.history)})"

    def _show_report(self, version: int) -> None:
        report = self._reports[version]
        self._shown_report = version
        view = self.query_one("#report", ReportView)
        verdict = "pass" if report["gates_passed"] else "FAIL"
        view.border_title = f"Report v{version} · gates {verdict}"
        self._set_report_text(report_text(report))

    def _set_report_text(self, text: Text) -> None:
        self.query_one("#report-body", Static).update(text)

    # --- actions ------------------------------------------------------------------------------

    def action_back(self) -> None:
        """esc: from the report back to the versions; otherwise close the screen."""
        if isinstance(self.focused, ReportView):
            self.set_focus(self.table)
            return
        self.dismiss()

    def action_reload(self) -> None:
        self._load_versions()

    def _need_version(self, what: str) -> VersionInfo | None:
        current = self.current
        if current is None:
            self.notify(f"No version to {what}", severity="warning")
        return current

    def action_toggle_tag(self) -> None:
        current = self._need_version("tag")
        if current is None:
            return
        if current.version in self.tagged:
            self.tagged.remove(current.version)
        else:
            self.tagged.append(current.version)
        self._redraw_version(current.version)
        self._update_title()
        self.table.action_cursor_down()

    def action_compare_tagged(self) -> None:
        problem = compare_limit_problem(len(self.tagged), "versions")
        if problem:
            self.notify(problem, severity="warning")
            return
        refs = [f"{self.model_name}@{number}" for number in self.tagged]
        navigation.open_compare(self.app, self.workspace, refs)

    def action_set_alias(self) -> None:
        current = self._need_version("alias")
        if current is None:
            return
        ref = current.ref
        modal = PromptModal(
            f"Alias for {ref}",
            [
                PromptField(
                    "alias",
                    "Alias (moves it here if another version has it)",
                    placeholder="champion",
                )
            ],
            hint="enter sets it · esc cancels · e.g. champion, challenger",
        )

        def done(values: dict[str, str] | None) -> None:
            if values is None:
                return
            if not values["alias"]:
                self.notify("No alias given; nothing changed", severity="warning")
                return
            self._set_alias(ref, values["alias"])

        self.app.push_screen(modal, done)

    @work(thread=True, exit_on_error=False, group="model-write")
    def _set_alias(self, ref: str, alias: str, force: bool = False) -> None:
        from dockyard.core.registry import GatesFailedError, gate_summary, set_alias

        try:
            info = set_alias(self.workspace, ref, alias, force=force)
        except GatesFailedError as error:
            self.app.call_from_thread(
                self._confirm_failing_alias, ref, alias, gate_summary(error.failed)
            )
            return
        except Exception as error:
            self.notify(describe_error(error), title="Alias not set", severity="error")
            return
        forced = " (forced past failing gates)" if force else ""
        self.post_message(ModelChanged(f"{info.model}@{alias} -> v{info.version}{forced}"))

    def _confirm_failing_alias(self, ref: str, alias: str, failed: str) -> None:
        """The version fails its gates: the same question the command line asks."""
        question = ConfirmModal(
            f"Make {ref} {alias} anyway?",
            f"{ref} fails its gates: {failed}. The move is recorded in the audit log as "
            "forced past failing gates.",
            confirm_label=f"Make {alias}",
        )

        def answer(yes: bool | None) -> None:
            if yes:
                self._set_alias(ref, alias, force=True)
            else:
                self.notify(f"{alias} not moved; nothing changed", severity="warning")

        self.app.push_screen(question, answer)

    def action_remove_alias(self) -> None:
        current = self._need_version("remove an alias from")
        if current is None:
            return
        modal = PromptModal(
            f"Remove an alias of {self.model_name}",
            [PromptField("alias", "Alias to remove", value=(current.aliases or [""])[0])],
            hint="enter removes it (its history stays) · esc cancels",
        )

        def confirm(values: dict[str, str] | None) -> None:
            if not values or not values["alias"]:
                return
            alias = values["alias"]
            question = ConfirmModal(
                f"Remove {self.model_name}@{alias}?",
                f"The alias {alias} will point at no version of {self.model_name} "
                "(its history stays). Anything that loads the model by this alias stops "
                "finding it until the alias is set again.",
                confirm_label="Remove alias",
            )

            def remove(yes: bool | None) -> None:
                if yes:
                    self._remove_alias(alias)

            self.app.push_screen(question, remove)

        self.app.push_screen(modal, confirm)

    @work(thread=True, exit_on_error=False, group="model-write")
    def _remove_alias(self, alias: str) -> None:
        from dockyard.core.registry import remove_alias

        try:
            remove_alias(self.workspace, self.model_name, alias)
        except Exception as error:
            self.notify(describe_error(error), title="Alias not removed", severity="error")
            return
        self.post_message(ModelChanged(f"Removed alias {alias} from {self.model_name}"))

    def action_edit_version(self) -> None:
        current = self._need_version("edit")
        if current is None:
            return
        tags = " ".join(f"{key}={value}" for key, value in sorted(current.tags.items()))
        modal = PromptModal(
            f"Edit {current.ref} (the model itself never changes)",
            [
                PromptField("description", "Description", value=current.description),
                PromptField(
                    "tags",
                    "Tags: KEY=VALUE separated by spaces; KEY= removes one",
                    value=tags,
                    placeholder="reviewed=yes",
                ),
            ],
        )
        ref, old_tags = current.ref, current.tags

        def done(values: dict[str, str] | None) -> None:
            if values is None:
                return
            parsed = parse_tags(values["tags"])
            if isinstance(parsed, str):
                self.notify(parsed, title="Not saved", severity="error")
                return
            # Tags left out of the field are removed, as the field showed all of them.
            changes = {key: "" for key in old_tags if key not in parsed} | parsed
            self._edit_version(ref, values["description"], changes)

        self.app.push_screen(modal, done)

    @work(thread=True, exit_on_error=False, group="model-write")
    def _edit_version(self, ref: str, description: str, tags: dict[str, str]) -> None:
        from dockyard.core.registry import update_version

        try:
            info = update_version(self.workspace, ref, description, tags or None)
        except Exception as error:
            self.notify(describe_error(error), title="Not saved", severity="error")
            return
        self.post_message(ModelChanged(f"Updated {info.ref}"))

    def action_request_deployment(self) -> None:
        from dockyard.tui import deploy_actions

        current = self._need_version("deploy")
        if current is None:
            return
        refresh = getattr(self.app, "refresh_deployments", None)
        deploy_actions.ask_to_request(self, self.workspace, current.ref, refresh)

    def action_write_report(self) -> None:
        current = self._need_version("write a report for")
        if current is None:
            return
        self._write_report(current.ref)

    @work(thread=True, exit_on_error=False, group="model-write")
    def _write_report(self, ref: str) -> None:
        from dockyard.core.validation import build_report, render_markdown

        target = self.workspace.root / "reports" / f"{ref.replace('@', '-v')}-report.md"
        try:
            markdown = render_markdown(build_report(self.workspace, ref))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(markdown, encoding="utf-8")
        except Exception as error:
            self.notify(describe_error(error), title="Report not written", severity="error")
            return
        self.notify(f"Wrote {target}", title=f"Report {ref}")


def parse_tags(text: str) -> dict[str, str] | str:
    """``"reviewed=yes owner=bob"`` -> a dict; a one-line problem for bad input."""
    tags: dict[str, str] = {}
    for part in text.split():
        key, sep, value = part.partition("=")
        if not sep or not key:
            return f"Tag {part!r} is not KEY=VALUE (KEY= removes a tag)"
        tags[key] = value
    return tags
