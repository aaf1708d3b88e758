"""Approve, reject, roll back and request a deployment from any screen.

The home screen's Deployments and Models panes, the request screen and the model screen
share these, so they ask the same questions and say the same things. Each decision goes
through a :class:`~tui.widgets.decision.DecisionModal` (focus on Cancel); the core call
runs in a thread worker and acts as the OS account of the process, as on the command
line. Every rule (no self-approval, approvers only, a written override for failed gates)
is the core's: a refusal comes back as its one line, in a notification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.screen import Screen

from dockyard.tui.errors import describe_error
from dockyard.tui.widgets.decision import DecisionField, DecisionModal

if TYPE_CHECKING:
    from dockyard.core.deployments import Decision, RequestInfo
    from dockyard.core.overview import DeploymentRow
    from dockyard.core.workspace import Workspace


@dataclass(frozen=True)
class Reread:
    """What a screen shows again after a decision, in two halves: ``read`` runs in the
    decision's worker right after the core call (no second worker, no second wait), and
    ``show`` puts its result on screen together with the decision's notification, in one
    repaint (docs/performance.md, "TUI approve on a large store")."""

    read: Callable[[], Any]
    show: Callable[[Any], None]


#: After a decision: nothing, a callable run on the UI thread, or a :class:`Reread`.
Done = Callable[[], None] | Reread | None


@dataclass(frozen=True)
class Subject:
    """The request a decision is about, with what its modal must ask for."""

    id: int
    model: str
    version: int
    target: str
    requested_by: str
    failed: tuple[str, ...]
    protected: bool
    approved: int
    needed: int | None

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    @classmethod
    def from_row(cls, row: DeploymentRow) -> Subject:
        return cls(
            row.id,
            row.model,
            row.version,
            row.target,
            row.by,
            tuple(row.failed_checks),
            row.protected,
            row.approved,
            row.needed,
        )

    @classmethod
    def from_request(cls, request: RequestInfo, protected: bool) -> Subject:
        failed = tuple(c.name for c in request.checks if c.blocking and not c.passed)
        return cls(
            request.id,
            request.model,
            request.version,
            request.target,
            request.requested_by,
            failed,
            protected,
            len(request.approved_by),
            request.needed,
        )


def _run(
    screen: Screen[Any], work: Callable[[], None], group: str, marking: tuple[str, str] = ("", "")
) -> None:
    # Runs as the modal closes, before the screen under it resumes: its `on_done`
    # re-reads what the decision changed, so the home screen skips its full re-read.
    if hasattr(screen, "refreshed_by_decision"):
        screen.refreshed_by_decision = True
    key, status = marking
    if key and hasattr(screen, "mark_pending"):
        # The answer the user sees in the repaint that closes the modal ("approving…"),
        # while core commits (its fsyncs can take longer than a frame); the worker's
        # re-read then shows what was decided, or the row as it was, if refused.
        screen.mark_pending(key, status)
    screen.run_worker(work, thread=True, exit_on_error=False, group=group, name=group)


def _after(
    screen: Screen[Any], on_done: Done, notice: dict[str, Any] | None = None, marked: str = ""
) -> None:
    """From the worker: the notification ``notice`` (``notify``'s arguments) and what
    ``on_done`` shows, handed to the UI thread as one batch, so the toast, the pane and
    the header repaint once."""
    result = on_done.read() if isinstance(on_done, Reread) else None

    def answer() -> None:
        with screen.app.batch_update():
            if marked and hasattr(screen, "unmark_pending"):
                screen.unmark_pending(marked)
            if notice is not None:
                screen.notify(**notice)
            if isinstance(on_done, Reread):
                on_done.show(result)
            elif on_done is not None:
                on_done()

    screen.app.call_from_thread(answer)


def decision_text(decision: Decision) -> str:
    """What an approval or a rollback did, in one line."""
    request = decision.request
    if decision.deployment is not None:
        return (
            f"{request.ref} deployed in {request.target} "
            f"(deployment {decision.deployment.id}, request {request.id})"
        )
    if request.status == "pending":
        return (
            f"Request {request.id}: {request.ref} -> {request.target}, "
            f"{len(request.approved_by)}/{request.needed} approvals"
        )
    return f"Request {request.id}: {request.ref} -> {request.target} is {request.status}"


def checks_text(request: RequestInfo) -> str:
    """``✓ gate accuracy >= 0.8 · ✗ accuracy not worse…``: every check with its mark."""
    from dockyard.core.overview import CheckMark

    return " · ".join(
        f"{CheckMark(c.name, c.passed, c.blocking, c.detail).mark} {c.name}" for c in request.checks
    )


# --- approve / reject -------------------------------------------------------------------------


def ask_to_approve(
    screen: Screen[Any], workspace: Workspace, subject: Subject, on_done: Done = None
) -> None:
    """The approval modal: a comment, a reason when a blocking check failed, the model's
    name for a protected environment; then ``approve_request`` in a worker."""
    lines = [
        f"Approve deploying {subject.ref} in {subject.target}, requested by {subject.requested_by}?"
    ]
    if subject.needed is not None:
        lines.append(f"Approvals so far: {subject.approved}/{subject.needed}.")
    if subject.failed:
        # The comment is then the override's written reason (recorded as deploy.override).
        lines.append(f"FAILED: {', '.join(subject.failed)}. Approving overrides it.")
        comment = DecisionField(
            "comment",
            "Why deploy it anyway (required: the override's reason)",
            required="Overriding a failed check needs a written reason",
        )
    else:
        comment = DecisionField("comment", "Comment (optional, kept in the audit log)")
    fields = [comment]
    if subject.protected:
        fields.append(
            DecisionField(
                "confirm",
                f"{subject.target} is protected: type {subject.model} to confirm",
                must_equal=subject.model,
                placeholder=subject.model,
            )
        )
    modal = DecisionModal(
        f"Approve request {subject.id}?", "\n".join(lines), fields, confirm_label="Approve"
    )

    def answered(values: dict[str, str] | None) -> None:
        if values is None:
            return
        override = values["comment"] if subject.failed else None
        _run(
            screen,
            lambda: _approve(screen, workspace, subject, values["comment"], override, on_done),
            f"approve-request-{subject.id}",
            (f"request:{subject.id}", "approving…"),
        )

    screen.app.push_screen(modal, answered)


def _approve(
    screen: Screen[Any],
    workspace: Workspace,
    subject: Subject,
    comment: str,
    override: str | None,
    on_done: Done,
) -> None:
    from dockyard.core.deployments import approve_request

    try:
        decision = approve_request(workspace, subject.id, comment, override)
    except Exception as error:
        refused = {"title": f"Request {subject.id} not approved", "severity": "error"}
        _after(
            screen, on_done, {"message": describe_error(error), **refused}, f"request:{subject.id}"
        )
        return
    title = "Deployed" if decision.deployment is not None else "Approved"
    _after(
        screen,
        on_done,
        {"message": decision_text(decision), "title": title},
        f"request:{subject.id}",
    )


def ask_to_reject(
    screen: Screen[Any], workspace: Workspace, subject: Subject, on_done: Done = None
) -> None:
    """The rejection modal (a comment is required); then ``reject_request`` in a worker."""
    modal = DecisionModal(
        f"Reject request {subject.id}?",
        f"Reject deploying {subject.ref} in {subject.target}, requested by "
        f"{subject.requested_by}? A rejected request cannot be approved later.",
        [DecisionField("comment", "Why (required)", required="A rejection needs a comment")],
        confirm_label="Reject",
    )

    def answered(values: dict[str, str] | None) -> None:
        if values is not None:
            _run(
                screen,
                lambda: _reject(screen, workspace, subject, values["comment"], on_done),
                f"reject-request-{subject.id}",
                (f"request:{subject.id}", "rejecting…"),
            )

    screen.app.push_screen(modal, answered)


def _reject(
    screen: Screen[Any], workspace: Workspace, subject: Subject, comment: str, on_done: Done
) -> None:
    from dockyard.core.deployments import reject_request

    try:
        request = reject_request(workspace, subject.id, comment)
    except Exception as error:
        refused = {"title": f"Request {subject.id} not rejected", "severity": "error"}
        _after(
            screen, on_done, {"message": describe_error(error), **refused}, f"request:{subject.id}"
        )
        return
    text = f"Rejected request {request.id} ({request.ref} -> {request.target})"
    _after(screen, on_done, {"message": text}, f"request:{subject.id}")


# --- roll back --------------------------------------------------------------------------------


def ask_to_roll_back(
    screen: Screen[Any],
    workspace: Workspace,
    *,
    env: str,
    model: str,
    current: str,
    on_done: Done = None,
) -> None:
    """Confirm, then ``rollback`` in a worker (a request, or at once in an emergency)."""
    modal = DecisionModal(
        f"Roll back {model} in {env}?",
        f"{current} runs in {env} now. Rolling back returns {env} to the version of "
        f"{model} deployed there before it, through the same approvals (at once if {env} "
        "allows emergency rollback and you approve for it).",
        [DecisionField("reason", "Why (kept in the audit log)")],
        confirm_label="Roll back",
    )

    def answered(values: dict[str, str] | None) -> None:
        if values is not None:
            _run(
                screen,
                lambda: _roll_back(screen, workspace, env, model, values["reason"], on_done),
                f"rollback-{env}-{model}",
            )

    screen.app.push_screen(modal, answered)


def _roll_back(
    screen: Screen[Any], workspace: Workspace, env: str, model: str, reason: str, on_done: Done
) -> None:
    from dockyard.core.deployments import rollback

    try:
        decision = rollback(workspace, env, model, reason)
    except Exception as error:
        refused = {"title": f"{model} not rolled back", "severity": "error"}
        _after(screen, on_done, {"message": describe_error(error), **refused})
        return
    title = "Rolled back" if decision.deployment is not None else "Rollback requested"
    _after(screen, on_done, {"message": decision_text(decision), "title": title})


# --- request ----------------------------------------------------------------------------------


def ask_to_request(
    screen: Screen[Any], workspace: Workspace, ref: str, on_done: Done = None
) -> None:
    """Read the declared environments (worker), then the request form, then
    ``request_deployment`` in a worker, whose checks are notified."""
    _run(screen, lambda: _pick_environment(screen, workspace, ref, on_done), "deploy-envs")


def _pick_environment(screen: Screen[Any], workspace: Workspace, ref: str, on_done: Done) -> None:
    from dockyard.core.environments import list_environments

    try:
        names = tuple(e.name for e in list_environments(workspace))
    except Exception as error:
        screen.notify(describe_error(error), title="Cannot read environments", severity="error")
        return
    if not names:
        screen.notify(
            "No environments are declared; declare one with "
            "`dockyard env set staging --approvals 0`",
            title=f"{ref} not requested",
            severity="warning",
        )
        return
    screen.app.call_from_thread(_show_request_form, screen, workspace, ref, names, on_done)


def _show_request_form(
    screen: Screen[Any], workspace: Workspace, ref: str, names: tuple[str, ...], on_done: Done
) -> None:
    modal = DecisionModal(
        f"Request a deployment of {ref}",
        f"The checks run now and are stored with the request; reviewers of the "
        f"environment approve it (an environment that needs no approval deploys {ref} at "
        "once when its checks pass).",
        [
            DecisionField("env", "Environment", choices=names),
            DecisionField("reason", "Reason (shown to the reviewers)"),
        ],
        confirm_label="Request",
    )

    def answered(values: dict[str, str] | None) -> None:
        if values is not None:
            _run(
                screen,
                lambda: _request(screen, workspace, ref, values["env"], values["reason"], on_done),
                f"deploy-request-{ref}",
            )

    screen.app.push_screen(modal, answered)


def _request(
    screen: Screen[Any], workspace: Workspace, ref: str, env: str, reason: str, on_done: Done
) -> None:
    from dockyard.core.deployments import request_deployment

    try:
        decision = request_deployment(workspace, ref, env, reason)
    except Exception as error:
        screen.notify(describe_error(error), title=f"{ref} not requested", severity="error")
        return
    request = decision.request
    verdict = "checks pass" if request.checks_passed else "checks FAILED"
    notice = {
        "message": f"{decision_text(decision)}\n{checks_text(request)}",
        "title": f"Request {request.id}: {verdict}",
        "severity": "information" if request.checks_passed else "warning",
        "timeout": 10,
    }
    _after(screen, on_done, notice)
