"""Deployments in the TUI with Pilot: the pane, the request screen, approve, reject,
override, protected environments, self-approval, the header count, request and rollback.

The models are real (``tests.test_deployments`` trains three iris versions once per
module; v2 fails the accuracy gate). The TUI acts as the OS account of the test process,
so requests are made by calling core with ``actor="alice"``, and production lists that
account among its approvers.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from textual.message import Message
from textual.pilot import Pilot

from dockyard.core.audit import list_events
from dockyard.core.deployments import (
    get_request,
    list_requests,
    live_deployment,
    request_deployment,
)
from dockyard.core.environments import set_environment
from dockyard.core.overview import DeploymentRow, Pane
from dockyard.core.workspace import Workspace, os_user
from dockyard.tui.app import DockyardApp
from dockyard.tui.screens.deploy_request import RequestScreen
from dockyard.tui.screens.home import HomeScreen
from dockyard.tui.widgets.decision import DecisionModal
from tests.pilot_wait import notifications, notified
from tests.test_deployments import trained, ws  # noqa: F401  (fixtures)

ME = os_user()


@pytest.fixture
def deploy_ws(ws: Workspace) -> Workspace:  # noqa: F811
    """Production (protected, one approval) approved by bob, carol and the test's account."""
    set_environment(ws, "production", approvers=("bob", "carol", ME), actor="bob")
    return ws


async def settle(pilot: Pilot[Any]) -> None:
    for _ in range(4):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def deployment_rows(app: DockyardApp) -> list[DeploymentRow]:
    rows = app.home.pane(Pane.DEPLOYMENTS).rows()
    assert all(isinstance(row, DeploymentRow) for row in rows)
    return rows  # type: ignore[return-value]


def status_line(app: DockyardApp) -> str:
    return str(app.home.query_one("#status-line").render())


async def test_pane_lists_pending_requests_first_with_marks_approvals_and_header_count(
    deploy_ws: Workspace,
) -> None:
    request_deployment(deploy_ws, "iris-clf@1", "staging", actor="alice")  # deploys at once
    good = request_deployment(deploy_ws, "iris-clf@1", "production", "ship", actor="alice")
    bad = request_deployment(deploy_ws, "iris-clf@2", "production", actor="alice")
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        rows = deployment_rows(app)
        assert [(row.kind, row.id) for row in rows] == [
            ("request", bad.request.id),
            ("request", good.request.id),
            ("deployment", 1),
        ]
        cells = [row.cells() for row in rows]
        assert cells[0][1:5] == ("iris-clf@2", "production", "pending", "alice")
        assert "✗" in cells[0][5] and "✗" not in cells[1][5] and "✓" in cells[1][5]
        assert cells[0][6] == cells[1][6] == "0/1"
        assert cells[2][1:4] == ("iris-clf@1", "staging", "active") and cells[2][6] == "-"
        assert "2 requests wait for you" in status_line(app)


async def test_enter_opens_the_request_screen_with_checks_comparison_and_report(
    deploy_ws: Workspace,
) -> None:
    from dockyard.core.deployments import approve_request

    first = request_deployment(deploy_ws, "iris-clf@1", "production", actor="alice")
    approve_request(deploy_ws, first.request.id, "first one", actor="bob")
    later = request_deployment(deploy_ws, "iris-clf@3", "production", "better", actor="alice")
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RequestScreen) and screen.request_id == later.request.id
        text = str(screen.query_one("#request-text").render())
        for expected in (
            "iris-clf@3 -> production",
            "requested by alice",
            "approvals 0/1",
            "gate accuracy",
            "model file hash",
            "Against iris-clf@1, live in production",
            "accuracy",
            "params: C 1.0 -> 10.0",
            "Validation report of iris-clf@3",
        ):
            assert expected in text, expected
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_approve_with_a_comment_deploys_updates_the_pane_and_is_audited(
    deploy_ws: Workspace,
) -> None:
    request = request_deployment(deploy_ws, "iris-clf@1", "production", actor="alice").request
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert "1 request waits for you" in status_line(app)
        await pilot.press("4", "a")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, DecisionModal) and modal.focused is modal.cancel_button
        await pilot.press("tab", *"report looks right", "enter", *"iris-clf", "enter")
        assert modal.focused is modal.confirm_button
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert get_request(deploy_ws, request.id).status == "deployed"
        rows = deployment_rows(app)
        assert [(row.kind, row.target, row.ref) for row in rows] == [
            ("deployment", "production", "iris-clf@1")
        ]
        assert "waits for you" not in status_line(app)
        events = [e for e in list_events(deploy_ws) if e.action == "deploy.approve"]
        assert [(e.actor, e.details["comment"]) for e in events] == [(ME, "report looks right")]
        assert any("iris-clf@1 deployed in production" in n for n in notifications(app))


async def test_reject_requires_a_comment(deploy_ws: Workspace) -> None:
    request = request_deployment(deploy_ws, "iris-clf@1", "production", actor="alice").request
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4", "x", "tab", "tab")  # past the empty comment to Reject
        modal = app.screen
        assert isinstance(modal, DecisionModal) and modal.focused is modal.confirm_button
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is modal  # still open, on the comment field
        assert "A rejection needs a comment" in notifications(app)
        assert get_request(deploy_ws, request.id).status == "pending"
        await pilot.press(*"wrong data", "enter", "enter")
        await settle(pilot)
        assert get_request(deploy_ws, request.id).status == "rejected"
        assert deployment_rows(app) == []


async def test_esc_or_enter_at_once_decides_nothing(deploy_ws: Workspace) -> None:
    request = request_deployment(deploy_ws, "iris-clf@1", "production", actor="alice").request
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4", "a", "enter")  # enter presses the focused Cancel
        await settle(pilot)
        await pilot.press("x", "escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert get_request(deploy_ws, request.id).status == "pending"


async def test_override_of_a_failed_gate_requires_a_reason(deploy_ws: Workspace) -> None:
    request = request_deployment(deploy_ws, "iris-clf@2", "production", actor="alice").request
    assert not request.checks_passed
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4", "a", "tab", "enter", *"iris-clf", "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DecisionModal)
        assert "Overriding a failed check needs a written reason" in notifications(app)
        assert get_request(deploy_ws, request.id).status == "pending"
        await pilot.press(*"hotfix for a known bug", "enter", "enter", "enter")
        await settle(pilot)
        assert get_request(deploy_ws, request.id).status == "deployed"
        overrides = [e for e in list_events(deploy_ws) if e.action == "deploy.override"]
        assert [e.details["reason"] for e in overrides] == ["hotfix for a known bug"]


async def test_protected_environment_requires_typing_the_model_name(
    deploy_ws: Workspace,
) -> None:
    request = request_deployment(deploy_ws, "iris-clf@1", "production", actor="alice").request
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4", "a", "tab", *"ok", "enter", *"iris", "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DecisionModal)
        assert "Type iris-clf exactly to confirm" in notifications(app)
        assert get_request(deploy_ws, request.id).status == "pending"
    # staging is not protected: no name to type
    set_environment(deploy_ws, "staging", approvals=1, approvers=(ME,), actor="bob")
    staged = request_deployment(deploy_ws, "iris-clf@1", "staging", actor="alice").request
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        pane = app.home.pane(Pane.DEPLOYMENTS)
        keys = [row.key for row in pane.rows()]
        pane.table.move_cursor(row=keys.index(f"request:{staged.id}"), animate=False)
        await pilot.press("a", "tab", "enter")
        modal = app.screen
        assert isinstance(modal, DecisionModal) and modal.focused is modal.confirm_button
        await pilot.press("enter")
        await settle(pilot)
        assert get_request(deploy_ws, staged.id).status == "deployed"


async def test_self_approval_is_refused_with_the_core_line(deploy_ws: Workspace) -> None:
    request = request_deployment(deploy_ws, "iris-clf@1", "production").request  # by ME
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert "wait" not in status_line(app)  # one's own request waits for others
        await pilot.press("4", "a", "tab", "enter", *"iris-clf", "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        expected = f"{ME} requested {request.id} and cannot approve it; another approver must"
        assert expected in notifications(app)
        assert get_request(deploy_ws, request.id).status == "pending"


async def test_approve_from_the_request_screen(deploy_ws: Workspace) -> None:
    request = request_deployment(deploy_ws, "iris-clf@1", "production", actor="alice").request
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4", "enter")
        await settle(pilot)
        await pilot.press("a", "tab", "enter", *"iris-clf", "enter", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RequestScreen)
        assert screen.view is not None and screen.view.request.status == "deployed"
        assert " DEPLOYED " in str(screen.query_one("#request-text").render())
        assert get_request(deploy_ws, request.id).status == "deployed"
        assert [row.kind for row in deployment_rows(app)] == ["deployment"]


async def test_request_from_the_models_pane(deploy_ws: Workspace) -> None:
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("3", "D")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, DecisionModal) and modal.focused is modal.cancel_button
        # production is first of the declared environments (by name)
        await pilot.press("tab", "tab", *"better on new data", "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        [request] = list_requests(deploy_ws)
        assert (request.ref, request.target, request.requested_by, request.reason) == (
            "iris-clf@3",
            "production",
            ME,
            "better on new data",
        )
        assert any("✓ gate accuracy" in n for n in notifications(app))
        assert [row.key for row in deployment_rows(app)] == [f"request:{request.id}"]


async def test_request_from_the_model_screen(deploy_ws: Workspace) -> None:
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("3", "enter")
        await settle(pilot)
        await pilot.press("j", "D")  # the second version listed
        await settle(pilot)
        await pilot.press("tab", "tab", *"x", "enter", "enter")
        await settle(pilot)
        [request] = list_requests(deploy_ws)
        assert request.version == 2 and not request.checks_passed
        assert any("checks FAILED" in str(n.title) for n in notified(app))


async def test_rollback_from_a_deployment_row(deploy_ws: Workspace) -> None:
    request_deployment(deploy_ws, "iris-clf@1", "staging", actor="alice")
    request_deployment(deploy_ws, "iris-clf@3", "staging", actor="alice")
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4", "b")
        modal = app.screen
        assert isinstance(modal, DecisionModal) and modal.focused is modal.cancel_button
        await pilot.press("tab", *"latency doubled", "enter", "enter")
        await settle(pilot)
        assert live_deployment(deploy_ws, "staging", "iris-clf").version == 1
        assert [row.ref for row in deployment_rows(app)] == ["iris-clf@1"]
        assert any("Rolled back" in str(n.title) for n in notified(app))


async def test_help_lists_the_deployment_keys(deploy_ws: Workspace) -> None:
    from dockyard.tui.screens.help import HelpScreen, binding_rows

    request_deployment(deploy_ws, "iris-clf@1", "production", actor="alice")
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        home_ids = {row.binding_id for row in binding_rows(app.home)}
        assert {"approve-request", "reject-request", "roll-back", "request-deployment"} <= home_ids
        await pilot.press("4", "enter")
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = {row.binding_id: row for row in app.screen.rows}
        assert rows["request-approve"].key == "a" and rows["request-reject"].key == "x"
        assert rows["request-rollback"].key == "b"


async def palette(pilot: Pilot[Any], title: str) -> None:
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    assert isinstance(pilot.app.screen, CommandPalette)
    await pilot.press(*title)
    for _ in range(3):  # the palette searches in a worker
        await pilot.pause(0.05)
    await pilot.press("down", "enter")  # the best match, then run it
    for _ in range(3):
        await pilot.pause()


async def test_palette_decisions_from_another_pane_focus_the_deployments_pane(
    deploy_ws: Workspace,
) -> None:
    request_deployment(deploy_ws, "iris-clf@1", "production", actor="alice")
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("2")  # the Runs pane, where a and x mean other things
        assert app.home.active_pane is Pane.RUNS
        for title, verb in (("Approve request", "Approve"), ("Reject request", "Reject")):
            await palette(pilot, title)
            modal = app.screen
            assert isinstance(modal, DecisionModal), title
            assert verb in modal.title_text
            assert app.home.active_pane is Pane.DEPLOYMENTS
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("2")
        # a request row is highlighted: roll back says what it needs instead of nothing
        await palette(pilot, "Roll back")
        assert isinstance(app.screen, HomeScreen) and app.home.active_pane is Pane.DEPLOYMENTS
        assert any("Highlight a deployment" in n for n in notifications(app))


async def test_a_decision_rereads_only_the_deployments_pane(deploy_ws: Workspace) -> None:
    """Closing the decision modal does not re-read all five panes (100,000 runs on a big
    store, competing with the repaint): the decision's targeted re-read updates the pane;
    closing it without deciding still re-reads everything, as any other screen does."""
    request = request_deployment(deploy_ws, "iris-clf@1", "production", actor="alice").request
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        full: list[int] = []
        targeted: list[int] = []
        home = app.home
        refresh_panes, read_deployments = home.refresh_panes, home._read_deployments

        def count_full() -> None:
            # only the resume's reads: the 2 s poll may also fire on a loaded machine
            if sys._getframe(1).f_code.co_name == "on_screen_resume":
                full.append(1)
            refresh_panes()

        def count_targeted(filter_text: str, limit: int) -> list[Message]:
            targeted.append(1)
            return read_deployments(filter_text, limit)

        home.refresh_panes = count_full  # type: ignore[method-assign]
        home._read_deployments = count_targeted  # type: ignore[method-assign]
        await pilot.press("4", "a")
        await pilot.pause()
        before = len(full)
        await pilot.press("escape")  # no decision: the resume reads everything
        await pilot.pause()
        assert len(full) == before + 1 and not targeted
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("tab", *"ok", "enter", *"iris-clf", "enter")
        before = len(full)
        await pilot.press("enter")
        await pilot.pause()
        assert len(full) == before  # the resume read nothing (a poll may come later)
        await settle(pilot)
        assert get_request(deploy_ws, request.id).status == "deployed"
        # the decision's targeted re-read ran, in its own worker (a header refresh may
        # ask for it once more)
        assert targeted
        assert [row.kind for row in deployment_rows(app)] == ["deployment"]


async def test_a_decision_patches_the_pane_rows_instead_of_rebuilding_the_table(
    deploy_ws: Workspace,
) -> None:
    """The approved request leaves and its deployment comes in, each row in its place,
    without clearing the table (a rebuild re-measures and repaints every row)."""
    from dockyard.core.overview import load_pane
    from dockyard.store.queries import open_reader

    request_deployment(deploy_ws, "iris-clf@1", "staging", actor="alice")  # deploys at once
    for env in ("canary", "qa"):
        set_environment(deploy_ws, env, approvals=1, approvers=(ME,), actor="bob")
        request_deployment(deploy_ws, "iris-clf@1", env, actor="alice")
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        pane = app.home.pane(Pane.DEPLOYMENTS)
        before = [(row.kind, row.target) for row in deployment_rows(app)]
        assert before == [("request", "qa"), ("request", "canary"), ("deployment", "staging")]
        cleared: list[int] = []
        clear = pane.table.clear

        def counted_clear(columns: bool = False) -> Any:
            cleared.append(1)
            return clear(columns)

        pane.table.clear = counted_clear  # type: ignore[method-assign]
        await pilot.press("4", "g", "a")
        await pilot.pause()
        await pilot.press("tab", *"ok", "enter", "enter")
        await settle(pilot)
        reader = open_reader(deploy_ws.db_url)
        try:
            fresh = load_pane(reader, Pane.DEPLOYMENTS, "", limit=50)
        finally:
            reader.close()
        first = deployment_rows(app)[0]
        assert (first.kind, first.target) == ("request", "canary")
        assert [row.key for row in deployment_rows(app)] == [row.key for row in fresh.rows]
        shown = [row.key.value for row in pane.table.ordered_rows]
        assert shown == [row.key for row in fresh.rows]
        assert not cleared
        assert pane.table.cursor_row == 0  # on the next pending request


async def test_the_row_says_approving_as_the_modal_closes_and_the_decision_replaces_it(
    deploy_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer comes with the repaint that closes the modal, before core has committed
    (its fsyncs may take longer than a frame): the row says "approving…" until the
    worker's re-read shows the deployment. Core is held on an event to see that moment."""
    import threading

    import dockyard.core.deployments as deployments

    request = request_deployment(deploy_ws, "iris-clf@1", "staging", actor="alice").request
    set_environment(deploy_ws, "qa", approvals=1, approvers=(ME,), actor="bob")
    request = request_deployment(deploy_ws, "iris-clf@1", "qa", actor="alice").request
    release = threading.Event()
    real = deployments.approve_request

    def held(*args: Any, **kwargs: Any) -> Any:
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(deployments, "approve_request", held)
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4", "g", "a")
        await pilot.pause()
        await pilot.press("tab", *"ok", "enter", "enter")
        assert isinstance(app.screen, HomeScreen)
        row = next(r for r in deployment_rows(app) if r.kind == "request")
        assert (row.id, row.status) == (request.id, "approving…")
        assert get_request(deploy_ws, request.id).status == "pending"
        release.set()
        await settle(pilot)
        assert get_request(deploy_ws, request.id).status == "deployed"
        assert [(r.kind, r.target) for r in deployment_rows(app) if r.target == "qa"] == [
            ("deployment", "qa")
        ]


async def test_a_refused_approval_puts_the_row_back_as_it_was(deploy_ws: Workspace) -> None:
    set_environment(deploy_ws, "qa", approvals=1, approvers=(ME,), actor="bob")
    request = request_deployment(deploy_ws, "iris-clf@1", "qa", actor=ME).request
    app = DockyardApp(deploy_ws)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4", "g", "a")
        await pilot.pause()
        await pilot.press("tab", *"mine", "enter", "enter")
        await settle(pilot)
        row = next(r for r in deployment_rows(app) if r.kind == "request")
        assert (row.id, row.status) == (request.id, "pending")
        assert any("cannot approve it" in n for n in notifications(app))
