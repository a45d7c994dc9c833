"""The one scoping function: what part of the union tree a user may see or change.

A cadre holds roles at orgs; a role covers the org's whole subtree unless it is marked
org-only. Every list, count, export, page and API call of org data goes through
``ScopedQuerySet.restrict(user, perm)`` (the way NetBox's ``restrict`` works), so the
permission filter cannot be forgotten: a model whose manager is a ScopedQuerySet declares
where its org is (``scope_org_field``) and the filter is built here, once.

Objects outside the user's scope answer 404: views fetch them through ``restrict`` and so
never learn that they exist.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import connection, models
from django.db.models import Q
from django.http import Http404

if TYPE_CHECKING:
    from gonghui.orgs.models import Org


class Perm:
    """Permission names. Each role kind grants a fixed set (see PERMISSIONS_BY_ROLE)."""

    ORG_VIEW = "org.view"
    ORG_CHANGE = "org.change"
    MEMBER_VIEW = "member.view"
    MEMBER_CHANGE = "member.change"
    # Exporting personal data (ID numbers, phones) is its own grant on a role.
    MEMBER_EXPORT_PERSONAL = "member.export_personal"
    ROLE_MANAGE = "role.manage"
    # Notices: issue from an org; handle one's own dispatch (acknowledge, relay, plan,
    # report); review the reports of the unions directly below.
    NOTICE_ISSUE = "notice.issue"
    NOTICE_HANDLE = "notice.handle"
    NOTICE_REVIEW = "notice.review"
    # Activities: schedule, take attendance, mark held or cancelled.
    ACTIVITY_MANAGE = "activity.manage"
    # Learning: publish materials, courses, question banks and quizzes.
    LEARNING_MANAGE = "learning.manage"
    # Worker cases: handle cases routed to an org (accept, contact, resolve, transfer);
    # supervise the cases of the unions below (read, escalate, reassign).
    CASE_HANDLE = "case.handle"
    CASE_SUPERVISE = "case.supervise"
    # Hardship aid files (困难职工档案): family situation, aid given; personal data.
    HARDSHIP_VIEW = "hardship.view"
    HARDSHIP_CHANGE = "hardship.change"
    # Pledges (我为职工办实事): publish and report progress.
    PLEDGE_MANAGE = "pledge.manage"
    # Competitions: organise, approve entries; judge (a seat is given per trade).
    COMPETITION_MANAGE = "competition.manage"
    COMPETITION_JUDGE = "competition.judge"
    # News: write and submit articles; edit them (编辑); approve and publish (责任编辑).
    NEWS_WRITE = "news.write"
    NEWS_EDIT = "news.edit"
    NEWS_APPROVE = "news.approve"
    AUDIT_VIEW = "audit.view"


PERMISSIONS_BY_ROLE: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {
            Perm.ORG_VIEW,
            Perm.ORG_CHANGE,
            Perm.MEMBER_VIEW,
            Perm.MEMBER_CHANGE,
            Perm.ROLE_MANAGE,
            Perm.AUDIT_VIEW,
            Perm.NOTICE_ISSUE,
            Perm.NOTICE_HANDLE,
            Perm.NOTICE_REVIEW,
            Perm.ACTIVITY_MANAGE,
            Perm.LEARNING_MANAGE,
            Perm.CASE_HANDLE,
            Perm.CASE_SUPERVISE,
            Perm.HARDSHIP_VIEW,
            Perm.HARDSHIP_CHANGE,
            Perm.PLEDGE_MANAGE,
            Perm.COMPETITION_MANAGE,
            Perm.NEWS_WRITE,
        }
    ),
    "staff": frozenset(
        {
            Perm.ORG_VIEW,
            Perm.MEMBER_VIEW,
            Perm.MEMBER_CHANGE,
            Perm.NOTICE_ISSUE,
            Perm.NOTICE_HANDLE,
            Perm.NOTICE_REVIEW,
            Perm.ACTIVITY_MANAGE,
            Perm.LEARNING_MANAGE,
            Perm.PLEDGE_MANAGE,
            Perm.COMPETITION_MANAGE,
            Perm.NEWS_WRITE,
        }
    ),
    "viewer": frozenset({Perm.ORG_VIEW, Perm.MEMBER_VIEW}),
    "editor": frozenset({Perm.ORG_VIEW, Perm.NEWS_WRITE, Perm.NEWS_EDIT}),
    "chief_editor": frozenset({Perm.ORG_VIEW, Perm.NEWS_WRITE, Perm.NEWS_EDIT, Perm.NEWS_APPROVE}),
    # A judge sees only the entries of their seats, by number: no view of the unions, so
    # nothing else tells them who is behind a number.
    "judge": frozenset({Perm.COMPETITION_JUDGE}),
    "case_handler": frozenset(
        {
            Perm.ORG_VIEW,
            Perm.MEMBER_VIEW,
            Perm.CASE_HANDLE,
            Perm.HARDSHIP_VIEW,
            Perm.HARDSHIP_CHANGE,
        }
    ),
}


@dataclass(frozen=True)
class Grant:
    """One role of a user, resolved to what the scoping filter needs."""

    org_id: int
    depth: int
    org_only: bool
    perms: frozenset[str]

    def covers(self, org: Org) -> bool:
        if self.org_only:
            return org.pk == self.org_id
        return org.depth >= self.depth and getattr(org, f"ancestor_{self.depth}") == self.org_id


class SystemActor:
    """The actor of management commands and background jobs: unrestricted, audited as
    "system". Not a database user."""

    pk = None
    is_authenticated = True
    is_active = True
    is_superuser = True

    def get_username(self) -> str:
        return "system"

    def __str__(self) -> str:
        return "system"


SYSTEM = SystemActor()


def as_user(actor: Any) -> Any:
    """The database user behind an actor, or None for the system actor."""
    return actor if isinstance(actor, models.Model) else None


_CACHE_ATTR = "_gonghui_grants"


def grants_for(user: Any) -> list[Grant]:
    """The user's grants, read once per user object (i.e. once per request)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    from gonghui.orgs.models import OrgStatus

    grants = []
    # Every scoped request reads these: by hand, not through the ORM, whose building of
    # this query cost more CPU than PostgreSQL's answer (in Role's order, by org path).
    with connection.cursor() as cursor:
        cursor.execute(_grants_sql(), [user.pk, OrgStatus.ACTIVE])
        roles = cursor.fetchall()
    for kind, org_only, may_export_personal_data, org_id, depth in roles:
        perms = PERMISSIONS_BY_ROLE.get(kind, frozenset())
        if may_export_personal_data:
            perms = perms | {Perm.MEMBER_EXPORT_PERSONAL}
        grants.append(Grant(org_id, depth, bool(org_only), perms))
    setattr(user, _CACHE_ATTR, grants)
    return grants


@functools.cache
def _grants_sql() -> str:
    from gonghui.orgs.models import Org, Role

    # Table names from our models; the values are parameters.
    return (
        "SELECT r.kind, r.org_only, r.may_export_personal_data, o.id, o.depth "  # noqa: S608
        f'FROM "{Role._meta.db_table}" r JOIN "{Org._meta.db_table}" o ON o.id = r.org_id '
        "WHERE r.user_id = %s AND o.status = %s ORDER BY o.path, r.id"
    )


def forget_grants(user: Any) -> None:
    """Drop the cached grants after the user's roles changed."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def is_unrestricted(user: Any) -> bool:
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_superuser
    )


def _org_q(grants: Iterable[Grant], perm: str, org_field: str) -> Q:
    prefix = f"{org_field}__" if org_field else ""
    q = Q(pk__in=[])
    for grant in grants:
        if perm not in grant.perms:
            continue
        if grant.org_only:
            q |= Q(**{f"{org_field}_id" if org_field else "pk": grant.org_id})
        else:
            q |= Q(**{f"{prefix}ancestor_{grant.depth}": grant.org_id})
    return q


def scope_q(user: Any, perm: str, org_field: str | tuple[str, ...] = "") -> Q:
    """A filter limiting rows to those whose org the user holds `perm` on.

    `org_field` names the path from the model to its Org ("" for Org itself, "unit" for
    Member); a tuple means the row is visible from any of those orgs.
    """
    if is_unrestricted(user):
        return Q()
    grants = grants_for(user)
    fields = org_field if isinstance(org_field, tuple) else (org_field,)
    q = Q(pk__in=[])
    for field in fields:
        q |= _org_q(grants, perm, field)
    return q


def can(user: Any, perm: str, org: Org) -> bool:
    """Whether the user holds `perm` on `org` (through a role at it or above it)."""
    if is_unrestricted(user):
        return True
    return any(perm in g.perms and g.covers(org) for g in grants_for(user))


def can_in_subtree(user: Any, perm: str, org: Org) -> bool:
    """Whether the user holds `perm` on `org` and on every org below it (a role at or above
    it that is not org-only)."""
    if is_unrestricted(user):
        return True
    return any(perm in g.perms and not g.org_only and g.covers(org) for g in grants_for(user))


def can_at(user: Any, perm: str, org: Org) -> bool:
    """Whether the user holds `perm` through a role at `org` itself: a union acts on its
    own dispatches (签收, 报送) through its own cadres, not through those above it."""
    if is_unrestricted(user):
        return True
    return any(perm in g.perms and g.org_id == org.pk for g in grants_for(user))


def require_at(user: Any, perm: str, org: Org) -> None:
    if can_at(user, perm, org):
        return
    if can(user, Perm.ORG_VIEW, org):
        raise PermissionDenied
    raise Http404


def has_any(user: Any, perm: str) -> bool:
    """Whether the user holds `perm` anywhere (for showing menu entries)."""
    return is_unrestricted(user) or any(perm in g.perms for g in grants_for(user))


class ScopedQuerySet(models.QuerySet):
    def restrict(self, user: Any, perm: str) -> ScopedQuerySet:
        """Only the rows the user may act on with `perm`.

        A model that belongs to a person (``scope_owner_field``) is also visible to that
        person for the matching view permission: a worker sees their own member record.
        """
        model = self.model
        if is_unrestricted(user):
            # Not through `q |= owner`: an empty Q() OR'd with a filter is just that filter,
            # which would limit a superuser (or the system actor) to their own rows.
            return self.all()
        q = scope_q(user, perm, model.scope_org_field)
        owner_field = getattr(model, "scope_owner_field", None)
        if (
            owner_field
            and perm.endswith(".view")
            and user is not None
            and getattr(user, "is_authenticated", False)
            and user.is_active
        ):
            q |= Q(**{owner_field: user})
        return self.filter(q)


def get_in_scope_or_404(queryset: ScopedQuerySet, user: Any, perm: str, **lookup: Any) -> Any:
    """Fetch one object through the scoping filter; anything outside scope is a 404."""
    try:
        return queryset.restrict(user, perm).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def require(user: Any, perm: str, org: Org) -> None:
    """Refuse unless the user holds `perm` on `org`.

    Outside what the user may see at all: 404, no hint that it exists. Visible but not
    allowed (a viewer trying to edit): 403.
    """
    if can(user, perm, org):
        return
    if can(user, Perm.ORG_VIEW, org):
        raise PermissionDenied
    raise Http404
