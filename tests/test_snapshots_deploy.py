"""Snapshots of the deployment request screen: fixed data, a frozen clock.

The store is the model screen's (``build_models_store``: fake model files whose SHA-256
matches, fixed times) plus a production deployment of v1 and a pending request for v2
with one approval, written directly with fixed times. Regenerate after a deliberate
change with ``pytest tests/test_snapshots_deploy.py --snapshot-update`` and look at the
SVGs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from dockyard.core.environments import set_environment
from dockyard.core.workspace import Workspace
from dockyard.tui.app import DockyardApp
from tests.conftest import FROZEN_NOW, ago, rechain_audit
from tests.test_tui_models import build_models_store

SnapCompare = Callable[..., bool]

CHECKS = [
    {"name": "gate accuracy >= 0.9", "passed": True, "blocking": True,
     "detail": "accuracy = 0.9733"},
    {"name": "gate loss <= 0.5", "passed": True, "blocking": True, "detail": "loss = 0.04"},
    {"name": "accuracy not worse than iris-clf@1 in production", "passed": True,
     "blocking": True, "detail": "accuracy: 0.9467 (iris-clf@1) -> 0.9733 (iris-clf@2)"},
    # what core writes when the live deployment's manifest records no input schema (as
    # the `manifest_json="{}"` below): a failed check that does not block
    {"name": "input schema", "passed": False, "blocking": False,
     "detail": "input schema unknown for one of the versions"},
    {"name": "model file hash", "passed": True, "blocking": True, "detail": "sha256 verified"},
]  # fmt: skip


def build_deploy_store(workspace: Workspace) -> None:
    from sqlmodel import Session

    from dockyard.store.db import open_engine
    from dockyard.store.models import Approval, Deployment, DeploymentRequest, ModelVersion

    build_models_store(workspace)
    set_environment(
        workspace, "production", approvals=2, approvers=("alice", "bob", "carol"),
        protected=True, actor="alice",
    )  # fmt: skip
    engine = open_engine(workspace.db_url)
    with Session(engine) as session:
        v1, v2 = (session.get(ModelVersion, number) for number in (1, 2))
        assert v1 is not None and v2 is not None and v1.id is not None and v2.id is not None
        live = Deployment(
            model_version_id=v1.id, target="production", status="active", deployed_by="bob",
            deployed_at=ago(days=2), path="deployments/production/iris-clf/releases/1",
            manifest_json="{}",
        )  # fmt: skip
        session.add(live)
        session.flush()
        request = DeploymentRequest(
            model_version_id=v2.id, target="production", status="pending",
            requested_by="carol", reason="better accuracy on iris@2",
            requested_at=ago(minutes=20), base_deployment_id=live.id,
            checks_json=json.dumps(CHECKS),
        )  # fmt: skip
        session.add(request)
        session.flush()
        assert request.id is not None
        session.add(
            Approval(request_id=request.id, reviewer="bob", decision="approve",
                     comment="numbers check out; columns checked by hand",
                     created_at=ago(minutes=5))
        )  # fmt: skip
        session.commit()
    engine.dispose()
    rechain_audit(workspace)


@pytest.fixture(autouse=True)
def _stable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("DOCKYARD_USER", "alice")
    monkeypatch.delenv("NO_COLOR", raising=False)


async def open_request(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.press("4", "enter")
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_request_screen(
    snap_compare: SnapCompare, workspace: Workspace, size: tuple[int, int]
) -> None:
    build_deploy_store(workspace)
    app = DockyardApp(workspace, user="alice", now=lambda: FROZEN_NOW)
    assert snap_compare(app, terminal_size=size, run_before=open_request)
