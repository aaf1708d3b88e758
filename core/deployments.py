"""Deployment requests and deployments, as the faces list them.

Requesting, approving and rejecting deployments (with the approval policy and the audit
trail) build on this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import InputError
from core.parsing import shown
from core.workspace import Workspace, engine_for
from store.schema import REQUEST_STATUSES


@dataclass(frozen=True)
class RequestInfo:
    id: int
    model: str
    version: int
    target: str
    status: str
    requested_by: str
    reason: str
    requested_at: datetime
    decided_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "ref": f"{self.model}@{self.version}",
            "target": self.target,
            "status": self.status,
            "requested_by": self.requested_by,
            "reason": self.reason,
            "requested_at": self.requested_at.isoformat(),
            "decided_at": None if self.decided_at is None else self.decided_at.isoformat(),
        }


def list_requests(workspace: Workspace, status: str | None = None) -> list[RequestInfo]:
    """Deployment requests, pending first, then newest."""
    from sqlmodel import Session, case, col, select

    from store.models import DeploymentRequest, ModelVersion, RegisteredModel

    if status and status not in REQUEST_STATUSES:
        raise InputError(
            f"{shown(status)} is not a request status; use one of {', '.join(REQUEST_STATUSES)}"
        )
    with Session(engine_for(workspace)) as session:
        query = (
            select(DeploymentRequest, ModelVersion.version, RegisteredModel.name)
            .join(ModelVersion, col(ModelVersion.id) == col(DeploymentRequest.model_version_id))
            .join(RegisteredModel, col(RegisteredModel.id) == col(ModelVersion.model_id))
        )
        if status:
            query = query.where(DeploymentRequest.status == status)
        pending_first = case((col(DeploymentRequest.status) == "pending", 0), else_=1)
        query = query.order_by(pending_first, col(DeploymentRequest.id).desc())
        return [
            RequestInfo(
                id=request.id or 0,
                model=name,
                version=version,
                target=request.target,
                status=request.status,
                requested_by=request.requested_by,
                reason=request.reason,
                requested_at=request.requested_at,
                decided_at=request.decided_at,
            )
            for request, version, name in session.exec(query).all()
        ]
