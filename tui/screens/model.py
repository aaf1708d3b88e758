"""The model screen: one model's versions, its aliases and their moves, and the validation
report of the version under the cursor.

Everything the command line's ``dockyard model …`` does to one model is a key here: ``a``
points an alias at the version (``A`` removes one), ``e`` edits its description and tags,
``space`` tags versions and ``c`` compares the tagged ones, ``w`` writes the report as
Markdown, ``d`` archives or deletes the version (asked first, ``tui/housekeeping_actions``)
and ``H`` shows archived versions, dimmed and marked. Every read and write runs in a
worker; core errors become notifications. The parts are ``widgets/model_versions.py``, the
writes ``tui/model_actions.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from dockyard.core.overview import ARCHIVED_MARK
from dockyard.core.workspace import Workspace
from dockyard.tui import model_actions, navigation
from dockyard.tui.errors import describe_error
from dockyard.tui.housekeeping_actions import Target, VersionHousekeeping, version_bindings
from dockyard.tui.model_actions import ModelChanged
from dockyard.tui.navigation import compare_limit_problem
from dockyard.tui.text import data_text, plain
from dockyard.tui.widgets.model_versions import AliasMoves, ReportView, VersionsTable
from dockyard.tui.widgets.report import report_text

if TYPE_CHECKING:
    from dockyard.core.registry import VersionInfo


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


class ModelScreen(VersionHousekeeping, Screen[None]):
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
        *version_bindings("model"),
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
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical(id="model", classes="box"), Container(id="model-body"):
            with Vertical(id="model-left"):
                yield VersionsTable(id="versions", cursor_type="row")
                yield AliasMoves("", id="aliases")
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
            versions = list_versions(self.workspace, self.model_name, archived=self.archived)
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
        table.show_versions(message.versions, self.tagged, self._now())
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

    def _update_title(self) -> None:
        count = len(self._order)
        title = f"Model {self.model_name} · {count} version{'s' if count != 1 else ''}"
        self.query_one("#model", Vertical).border_title = plain(title)
        notes = [f"{len(self.tagged)} tagged · c compares"] if self.tagged else []
        if self.archived != "hide":
            notes.append(f"archived shown {ARCHIVED_MARK} · H hides")
        self.query_one("#model", Vertical).border_subtitle = " · ".join(notes)

    def _show_history(self) -> None:
        self.query_one(AliasMoves).show(self.history, self.audit_warning, self._now())

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
        self.table.redraw_tag(current, current.version in self.tagged, self._now())
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
        if current is not None:
            model_actions.ask_to_set_alias(self, self.workspace, current.ref)

    def action_remove_alias(self) -> None:
        current = self._need_version("remove an alias from")
        if current is not None:
            model_actions.ask_to_remove_alias(self, self.workspace, self.model_name, current)

    def action_edit_version(self) -> None:
        current = self._need_version("edit")
        if current is not None:
            model_actions.ask_to_edit_version(self, self.workspace, current)

    def action_request_deployment(self) -> None:
        from dockyard.tui import deploy_actions

        current = self._need_version("deploy")
        if current is None:
            return
        refresh = getattr(self.app, "refresh_deployments", None)
        deploy_actions.ask_to_request(self, self.workspace, current.ref, refresh)

    def tidy_target(self) -> Target | None:
        """What ``d`` archives or deletes (``VersionHousekeeping``): the version highlighted."""
        v = self.current
        return None if v is None else Target("model", v.ref, f"model {v.ref}", bool(v.archived_at))

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
