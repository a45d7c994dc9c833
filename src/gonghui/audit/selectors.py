from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from gonghui.audit.models import AuditEntry
from gonghui.orgs.models import Org, ancestor_field
from gonghui.orgs.scoping import Perm


def audit_entries_for(user: Any, *, org: Org | None = None, query: str = "") -> QuerySet:
    """Audit entries the user may read, optionally only those of one org's subtree."""
    qs = AuditEntry.objects.restrict(user, Perm.AUDIT_VIEW).select_related("org")
    if org is not None:
        qs = qs.filter(**{f"org__{ancestor_field(org.depth)}": org.pk})
    if query:
        qs = qs.filter(target_repr__icontains=query) | qs.filter(actor_name__icontains=query)
    return qs
