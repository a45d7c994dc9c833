"""Writing the audit log. Every service that changes state calls `record` in its transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from gonghui.audit.models import AuditEntry
from gonghui.core.request_context import current_ip


def snapshot(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    """A JSON-safe picture of some fields of a row, for before/after."""
    data: dict[str, Any] = {}
    for name in fields:
        value = getattr(obj, name)
        if isinstance(value, models.Model) or (
            value is not None and not isinstance(value, str | int | float | bool)
        ):
            value = str(value)
        data[name] = value
    return data


def record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    org: Any = None,
    summary: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_repr = target_repr or str(target)[:200]
    is_user = isinstance(actor, models.Model)
    return AuditEntry.objects.create(
        actor=actor if is_user else None,
        actor_name=(actor.get_username() if actor is not None else "system")[:150],
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr[:200],
        org=org,
        summary=summary[:300],
        before=before,
        after=after,
        ip_address=current_ip(),
    )
