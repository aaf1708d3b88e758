"""Monitors: the scheduled checks a project declares, and their latest results.

Monitors are declared in ``dockyard.toml`` and synced into the store by
``core.projects.add_project``; this module reads them for the faces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.workspace import Workspace, engine_for


@dataclass(frozen=True)
class MonitorInfo:
    id: int
    project: str
    name: str
    kind: str
    schedule: str
    enabled: bool
    config: dict[str, Any]
    last_status: str | None
    last_run_at: datetime | None
    last_summary: str
    open_alerts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "kind": self.kind,
            "schedule": self.schedule,
            "enabled": self.enabled,
            "config": self.config,
            "last_status": self.last_status,
            "last_run_at": None if self.last_run_at is None else self.last_run_at.isoformat(),
            "last_summary": self.last_summary,
            "open_alerts": self.open_alerts,
        }


def list_monitors(
    workspace: Workspace, project: str | None = None, include_disabled: bool = False
) -> list[MonitorInfo]:
    """Monitors by project and name, each with its latest result and open alert count."""
    from sqlmodel import Session, col, func, select

    from store.models import Alert, Monitor, MonitorResult, Project

    with Session(engine_for(workspace)) as session:
        query = (
            select(Monitor, Project.name)
            .join(Project, col(Project.id) == col(Monitor.project_id))
            .order_by(col(Project.name), col(Monitor.name))
        )
        if project:
            query = query.where(Project.name == project)
        if not include_disabled:
            query = query.where(col(Monitor.enabled).is_(True))
        result = []
        for monitor, project_name in session.exec(query).all():
            last = session.exec(
                select(MonitorResult)
                .where(MonitorResult.monitor_id == monitor.id)
                .order_by(col(MonitorResult.ran_at).desc())
                .limit(1)
            ).first()
            alerts = session.exec(
                select(func.count())
                .select_from(Alert)
                .where(Alert.monitor_id == monitor.id, col(Alert.acknowledged_at).is_(None))
            ).one()
            assert monitor.id is not None
            result.append(
                MonitorInfo(
                    id=monitor.id,
                    project=project_name,
                    name=monitor.name,
                    kind=monitor.kind,
                    schedule=monitor.schedule,
                    enabled=monitor.enabled,
                    config=json.loads(monitor.config_json or "{}"),
                    last_status=last.status if last else None,
                    last_run_at=last.ran_at if last else None,
                    last_summary=last.summary if last else "",
                    open_alerts=int(alerts),
                )
            )
        return result
