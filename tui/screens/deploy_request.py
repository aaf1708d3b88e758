"""The request screen: everything a reviewer needs to decide on one deployment request.

Opened by ``enter`` on a request in the Deployments pane. From the top: the request (who,
when, why, approvals so far, stale or not), each stored check with its numbers, the
approvals and comments so far, the comparison with the version that runs in that
environment now (metrics with deltas, the params that differ, data versions), and the
version's validation report. ``a`` approves, ``x`` rejects, ``b`` rolls the environment's
model back; each asks first (:mod:`tui.deploy_actions`). Reads run in a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from dockyard.core.overview import NO_VALUE, CheckMark, as_utc, human_age
from dockyard.core.text import visible
from dockyard.core.workspace import Workspace
from dockyard.tui import deploy_actions
from dockyard.tui.errors import describe_error
from dockyard.tui.text import plain
from dockyard.tui.widgets.report import report_text

if TYPE_CHECKING:
    from dockyard.core.comparison import Comparison
    from dockyard.core.deployments import DeploymentInfo, RequestInfo
    from dockyard.core.environments import EnvironmentInfo


@dataclass(frozen=True)
class RequestView:
    """What the screen shows, read in one worker."""

    request: RequestInfo
    environment: EnvironmentInfo | None
    live: DeploymentInfo | None
    comparison: Comparison | None
    comparison_error: str
    report: dict[str, Any] | None
    report_error: str


class RequestLoaded(Message):
    def __init__(self, view: RequestView) -> None:
        super().__init__()
        self.view = view


class RequestLoadFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def read_request(workspace: Workspace, request_id: int) -> RequestView:
    """The request, its environment, what runs there now, the comparison and the report.

    Only the request itself must be readable; a comparison or report that cannot be made
    (a model file gone) is shown as its one-line reason.
    """
    from dockyard.core.comparison import compare
    from dockyard.core.deployments import deployment_status, get_request
    from dockyard.core.environments import get_environment
    from dockyard.core.errors import NotFoundError
    from dockyard.core.validation import build_report

    request = get_request(workspace, request_id)
    try:
        environment: EnvironmentInfo | None = get_environment(workspace, request.target)
    except NotFoundError:
        environment = None
    live = next(
        (
            d
            for d in deployment_status(workspace)
            if d.target == request.target and d.model == request.model
        ),
        None,
    )
    comparison, comparison_error = None, ""
    if live is not None and live.version != request.version:
        try:
            comparison = compare(workspace, [live.ref, request.ref], points=2)
        except Exception as error:
            comparison_error = describe_error(error)
    report, report_error = None, ""
    try:
        report = build_report(workspace, request.ref)
    except Exception as error:
        report_error = describe_error(error)
    return RequestView(
        request, environment, live, comparison, comparison_error, report, report_error
    )


# --- the view as text -------------------------------------------------------------------------

STATUS_STYLES = {
    "pending": "bold reverse yellow",
    "deployed": "bold reverse green",
    "approved": "bold reverse green",
    "rejected": "bold reverse red",
    "failed": "bold reverse red",
}


def _heading(text: Text, title: str) -> None:
    text.append(f"\n{title}\n", style="bold underline")


def _num(value: Any) -> str:
    if value is None:
        return NO_VALUE
    if isinstance(value, float):
        return f"{value:.4g}"
    return visible(str(value))


def request_text(view: RequestView, now: datetime) -> Text:
    """The whole screen as one text: request, checks, approvals, comparison, report."""
    request = view.request
    text = Text(no_wrap=False, overflow="fold")
    status = request.status.upper() + (" (STALE)" if request.stale else "")
    text.append(f" {status} ", style=STATUS_STYLES.get(request.status, "bold reverse"))
    text.append(f"  {visible(request.ref)} -> {visible(request.target)}", style="bold")
    kind = "" if request.kind == "deploy" else f" ({visible(request.kind)})"
    text.append(f" · request {request.id}{kind}\n")
    text.append(f"requested by {visible(request.requested_by)}, ")
    text.append(f"{human_age(as_utc(request.requested_at), now)}")
    if request.decided_at is not None:
        text.append(f" · decided {human_age(as_utc(request.decided_at), now)}")
    text.append("\n")
    if request.reason:
        text.append(visible(request.reason) + "\n", style="italic")
    text.append(f"approvals {len(request.approved_by)}/{request.needed}", style="bold")
    env = view.environment
    if env is not None:
        text.append(f" · approvers: {visible(', '.join(env.approvers) or 'nobody')}")
        if env.protected:
            text.append(" · protected (type the model's name to approve)")
    text.append("\n")
    if request.stale:
        text.append(
            f"What runs in {visible(request.target)} changed after these checks ran: "
            f"re-check it (`dockyard deploy recheck {request.id}`) before approving.\n",
            style="bold red",
        )

    _heading(text, "Checks")
    if not request.checks:
        text.append("  no checks stored\n", style="dim")
    for check in request.checks:
        mark = CheckMark(check.name, check.passed, check.blocking, check.detail).mark
        style = "green" if check.passed else ("bold red" if check.blocking else "yellow")
        word = "pass" if check.passed else ("FAIL" if check.blocking else "note")
        text.append(f"  {mark} {word} ", style=style)
        text.append(visible(check.name), style="bold")
        text.append(f"  {visible(check.detail)}\n")

    _heading(text, "Approvals and comments")
    if not request.approvals:
        text.append("  none yet\n", style="dim")
    for approval in request.approvals:
        approved = approval.decision == "approve"
        text.append(
            f"  {'✓ approved' if approved else '✗ rejected'} ",
            style="green" if approved else "bold red",
        )
        text.append(visible(approval.reviewer), style="bold")
        text.append(f" · {human_age(as_utc(approval.at), now)}")
        if approval.comment:
            text.append(f" · {visible(approval.comment)}")
        if approval.override_reason:
            text.append(f" · overrode failed checks: {visible(approval.override_reason)}")
        text.append("\n")

    live = view.live
    if live is None:
        _heading(text, f"Against what runs in {visible(request.target)}")
        text.append(f"  nothing of {visible(request.model)} runs there yet\n", style="dim")
    elif live.version == request.version:
        _heading(text, f"Against what runs in {visible(request.target)}")
        text.append(f"  {visible(live.ref)} runs there now (this version)\n")
    else:
        _heading(text, f"Against {visible(live.ref)}, live in {visible(request.target)}")
        if view.comparison is None:
            text.append(f"  {visible(view.comparison_error)}\n", style="bold red")
        else:
            _comparison(text, view.comparison)

    _heading(text, f"Validation report of {visible(request.ref)}")
    if view.report is None:
        text.append(f"  {visible(view.report_error)}\n", style="bold red")
    else:
        text.append_text(report_text(view.report, hint=False))
    return text


def _comparison(text: Text, comparison: Comparison) -> None:
    metrics = [row for row in comparison.rows if row.section == "metric"]
    params = [row for row in comparison.rows if row.section == "param" and row.differs]
    if metrics:
        width = max(len(visible(row.name)) for row in metrics)
        text.append(f"  {'metric':<{width}}  {'live':>8}  {'this':>8}  delta\n", style="dim")
        for row in metrics:
            live, mine = row.values[0], row.values[1]
            delta, verdict = row.deltas[1], row.verdicts[1]
            text.append(f"  {visible(row.name):<{width}}  {_num(live):>8}  {_num(mine):>8}  ")
            if delta is None:
                text.append("n/a\n", style="dim")
                continue
            style = {"better": "bold green", "worse": "bold red"}.get(verdict or "", "")
            text.append(f"{delta:+.4g} ")
            text.append(f"{verdict}\n", style=style)
    text.append("  params: ", style="dim")
    if params:
        text.append(
            ", ".join(
                f"{visible(row.name)} {_num(row.values[0])} -> {_num(row.values[1])}"
                for row in params
            )
            + "\n"
        )
    else:
        text.append("the same\n")
    for row in comparison.rows:
        if row.section == "info" and row.name == "dataset":
            text.append("  data:   ", style="dim")
            before, after = (_num(v) if v else "unversioned" for v in row.values[:2])
            text.append(f"{before} -> {after}" if row.differs else f"{after} (the same)")
            text.append("\n")


# --- the screen -------------------------------------------------------------------------------


class RequestBody(VerticalScroll):
    """Scrolled with j/k like the other reading panes."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False, id="request-down"),
        Binding("k", "scroll_up", "Up", show=False, id="request-up"),
        Binding("g", "scroll_home", "Top", show=False, id="request-top"),
        Binding("G", "scroll_end", "Bottom", show=False, id="request-bottom"),
    ]

    help_label = "Request"


class RequestScreen(Screen[None]):
    """``RequestScreen(workspace, 7, now=...)``: one deployment request, decided here."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding(
            "a",
            "approve_request",
            "Approve",
            tooltip="Approve this request (asks first)",
            id="request-approve",
        ),
        Binding(
            "x",
            "reject_request",
            "Reject",
            tooltip="Reject this request, with a comment",
            id="request-reject",
        ),
        Binding(
            "b",
            "roll_back",
            "Roll back",
            tooltip="Roll this model in this environment back to the version before (asks)",
            id="request-rollback",
        ),
        Binding("r", "reload", "Refresh", id="request-refresh"),
    ]

    DEFAULT_CSS = """
    RequestScreen #request-body {
        height: 1fr;
        border: round $foreground 30%;
        border-title-color: $foreground;
        border-title-style: bold;
        padding: 0 1;
    }
    """

    AUTO_FOCUS = "#request-body"

    def __init__(
        self, workspace: Workspace, request_id: int, *, now: Callable[[], datetime]
    ) -> None:
        super().__init__(classes="request-screen")
        self.workspace = workspace
        self.request_id = request_id
        self._now = now
        self.title = f"deployment request {request_id}"
        self.view: RequestView | None = None

    def compose(self) -> ComposeResult:
        with RequestBody(id="request-body"):
            yield Static("Loading…", id="request-text")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(RequestBody).border_title = f"Deployment request {self.request_id}"
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="request-load")
    def _load(self) -> None:
        try:
            view = read_request(self.workspace, self.request_id)
        except Exception as error:
            self.post_message(RequestLoadFailed(describe_error(error)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(RequestLoaded(view))

    def on_request_loaded(self, message: RequestLoaded) -> None:
        self.view = message.view
        request = message.view.request
        self.query_one(RequestBody).border_title = plain(
            f"Request {request.id} · {request.ref} -> {request.target} · {request.status}"
        )
        self.query_one("#request-text", Static).update(request_text(message.view, self._now()))
        self.refresh_bindings()

    def on_request_load_failed(self, message: RequestLoadFailed) -> None:
        self.notify(
            f"Cannot read request {self.request_id}: {message.error}",
            title="Load failed",
            severity="error",
        )
        self.query_one("#request-text", Static).update(plain(f"{message.error} (r retries)"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """a and x only while the request is pending; b once something runs there."""
        if action in ("approve_request", "reject_request"):
            return self.view is not None and self.view.request.status == "pending"
        if action == "roll_back":
            return self.view is not None and self.view.live is not None
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self._load()

    def _subject(self) -> deploy_actions.Subject | None:
        if self.view is None:
            return None
        env = self.view.environment
        return deploy_actions.Subject.from_request(
            self.view.request, env is not None and env.protected
        )

    def action_approve_request(self) -> None:
        subject = self._subject()
        if subject is not None:
            deploy_actions.ask_to_approve(self, self.workspace, subject, self._decided)

    def action_reject_request(self) -> None:
        subject = self._subject()
        if subject is not None:
            deploy_actions.ask_to_reject(self, self.workspace, subject, self._decided)

    def action_roll_back(self) -> None:
        if self.view is None or self.view.live is None:
            return
        live = self.view.live
        deploy_actions.ask_to_roll_back(
            self,
            self.workspace,
            env=live.target,
            model=live.model,
            current=live.ref,
            on_done=self._decided,
        )

    def _decided(self) -> None:
        """Read this request again; the home screen re-reads its Deployments pane."""
        self._load()
        refresh = getattr(self.app, "refresh_deployments", None)
        if refresh is not None:
            refresh()
