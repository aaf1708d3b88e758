"""The audit log: append-only and hash-chained, so an edited or deleted entry is detectable.

Each event's ``hash`` is SHA-256 over the previous event's hash and the event's canonical
JSON (time, actor, action, entity, details). ``verify_chain`` recomputes the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmodel import Session

    from core.workspace import Workspace

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any]
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "details": self.details,
            "hash": self.hash,
        }


def _digest(prev_hash: str, at: datetime, actor: str, action: str, entity_type: str,
            entity_id: str, details_json: str) -> str:  # fmt: skip
    canonical = json.dumps(
        [prev_hash, at.isoformat(), actor, action, entity_type, entity_id, details_json],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def append_event(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str | int,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an event to ``session``'s transaction, chained to the newest one.

    The caller commits: the event lands with the change it records, or neither does.
    """
    from sqlmodel import col, select

    from store.models import AuditEvent, utcnow

    last = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    prev = last.hash if last else GENESIS
    at = utcnow()
    details_json = json.dumps(details or {}, sort_keys=True, default=str)
    session.add(
        AuditEvent(
            at=at,
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            details_json=details_json,
            prev_hash=prev,
            hash=_digest(prev, at, actor, action, entity_type, str(entity_id), details_json),
        )
    )


def list_events(
    workspace: Workspace, entity_type: str | None = None, entity_id: str | int | None = None
) -> list[AuditEntry]:
    from sqlmodel import Session, col, select

    from core.workspace import engine_for
    from store.models import AuditEvent

    with Session(engine_for(workspace)) as session:
        query = select(AuditEvent).order_by(col(AuditEvent.id))
        if entity_type is not None:
            query = query.where(AuditEvent.entity_type == entity_type)
        if entity_id is not None:
            query = query.where(AuditEvent.entity_id == str(entity_id))
        return [
            AuditEntry(
                id=e.id or 0,
                at=e.at,
                actor=e.actor,
                action=e.action,
                entity_type=e.entity_type,
                entity_id=e.entity_id,
                details=json.loads(e.details_json),
                hash=e.hash,
            )
            for e in session.exec(query)
        ]


def verify_chain(workspace: Workspace) -> int | None:
    """The id of the first event whose hash does not match, or None when intact."""
    from sqlmodel import Session, col, select

    from core.workspace import engine_for
    from store.models import AuditEvent

    prev = GENESIS
    with Session(engine_for(workspace)) as session:
        for event in session.exec(select(AuditEvent).order_by(col(AuditEvent.id))):
            expected = _digest(
                prev, event.at, event.actor, event.action, event.entity_type,
                event.entity_id, event.details_json,
            )  # fmt: skip
            if event.prev_hash != prev or event.hash != expected:
                return event.id
            prev = event.hash
    return None
