"""Reads of pledges: an org's list for cadres (through the scoping filter), the pledges a
worker sees (published or completed, at their unit or any union above it), and one
pledge with its progress updates, photos and comments.

A subtree is one indexed equality on an ancestor column of the pledge's union; a worker's
pledges are those of the at most ten unions on the path from the root to their unit (the
unit's ancestor columns), never a recursive query.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

from gonghui.orgs.models import Member, Org, ancestor_field
from gonghui.orgs.scoping import Perm
from gonghui.pledges.models import (
    PUBLIC_STATUSES,
    Pledge,
    PledgeComment,
    PledgePhoto,
    PledgeStatus,
    PledgeUpdate,
)

OWN = "own"
SUBTREE = "subtree"
COMMENTS_PAGE_SIZE = 50


# --- cadres -------------------------------------------------------------------------------


def visible_pledges(user: Any) -> QuerySet[Pledge]:
    """Pledges of the unions the user may see (as a cadre)."""
    return cast("QuerySet[Pledge]", Pledge.objects.restrict(user, Perm.ORG_VIEW))


def pledges_in_scope(user: Any, *, status: str = "") -> QuerySet[Pledge]:
    """Every pledge the user may see, under way first, then by deadline."""
    qs = visible_pledges(user).select_related("org")
    if status:
        qs = qs.filter(status=status)
    return _ordered(qs)


def pledges_of_org(
    user: Any, org: Org, *, scope: str = SUBTREE, status: str = ""
) -> QuerySet[Pledge]:
    """Pledges the user may see of `org` itself (own) or of its whole subtree, under way
    first, then by deadline."""
    qs = visible_pledges(user).select_related("org")
    if scope == OWN:
        qs = qs.filter(org=org)
    else:
        qs = qs.filter(**{f"org__{ancestor_field(org.depth)}": org.pk})
    if status:
        qs = qs.filter(status=status)
    return _ordered(qs)


def status_counts(user: Any, org: Org, *, scope: str = SUBTREE) -> dict[str, int]:
    """{status: number of pledges} of the same list, in one grouped query."""
    rows = (
        pledges_of_org(user, org, scope=scope)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    counts: Counter[str] = Counter({status: n for status, n in rows})
    return {status: counts[status] for status in PledgeStatus.values}


def _ordered(qs: QuerySet[Pledge]) -> QuerySet[Pledge]:
    rank = Case(
        When(status=PledgeStatus.PUBLISHED, then=Value(0)),
        When(status=PledgeStatus.DRAFT, then=Value(1)),
        When(status=PledgeStatus.COMPLETED, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return qs.annotate(rank=rank).order_by("rank", "deadline", "-id")


# --- workers ------------------------------------------------------------------------------


def pledges_for(member: Member) -> QuerySet[Pledge]:
    """Published and completed pledges of the member's unit and of every union above it:
    under way first (nearest deadline first), then completed."""
    qs = Pledge.objects.filter(
        org_id__in=member.unit.ancestor_ids, status__in=PUBLIC_STATUSES
    ).select_related("org")
    return _ordered(qs)


def public_pledge(member: Member, pledge_id: int) -> Pledge | None:
    """The pledge, if the member may see it (published or completed, above their unit)."""
    return pledges_for(member).filter(pk=pledge_id).first()


# --- one pledge ---------------------------------------------------------------------------


def updates_of(pledge: Pledge) -> list[PledgeUpdate]:
    """Progress updates, latest first, each with its photos (two queries)."""
    return list(
        PledgeUpdate.objects.filter(pledge=pledge)
        .select_related("by")
        .prefetch_related("photos")
        .order_by("-day", "-id")
    )


def comments_of(
    pledge: Pledge, *, include_hidden: bool = False, member: Member | None = None
) -> QuerySet[PledgeComment]:
    """Comments, oldest first. Hidden ones: every one for cadres (`include_hidden`), and
    a worker's own (`member`), who sees why it was hidden."""
    qs = PledgeComment.objects.filter(pledge=pledge).select_related(
        "member", "member__unit", "hidden_by"
    )
    if not include_hidden:
        shown = Q(hidden=False)
        if member is not None:
            shown |= Q(member=member)
        qs = qs.filter(shown)
    return qs.order_by("created_at", "id")


def comments_page(
    pledge: Pledge, *, include_hidden: bool, member: Member | None = None, page: Any = None
) -> Page[PledgeComment]:
    comments = comments_of(pledge, include_hidden=include_hidden, member=member)
    return Paginator(comments, COMMENTS_PAGE_SIZE).get_page(page)


def masked_name(name: str) -> str:
    """A commenter's name as other workers see it (张伟 → 张*): comments are public, and
    a worker may criticise a union's promise without everyone knowing who they are."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def comment_counts(pledge: Pledge) -> tuple[int, int]:
    """(shown, hidden) comments, in one query."""
    counts = PledgeComment.objects.filter(pledge=pledge).aggregate(
        shown=Count("id", filter=Q(hidden=False)), hidden=Count("id", filter=Q(hidden=True))
    )
    return counts["shown"], counts["hidden"]


@dataclass
class PledgeDetail:
    pledge: Pledge
    updates: list[PledgeUpdate]
    comments: Page[PledgeComment]
    shown_comments: int
    hidden_comments: int


def detail(
    pledge: Pledge,
    *,
    include_hidden: bool,
    member: Member | None = None,
    comments_page_number: Any = None,
) -> PledgeDetail:
    """The pledge with its updates (and photos) and one page of the comments the reader
    may see."""
    shown, hidden = comment_counts(pledge)
    return PledgeDetail(
        pledge=pledge,
        updates=updates_of(pledge),
        comments=comments_page(
            pledge, include_hidden=include_hidden, member=member, page=comments_page_number
        ),
        shown_comments=shown,
        hidden_comments=hidden,
    )


def photo(photo_id: int) -> PledgePhoto | None:
    return PledgePhoto.objects.select_related("update__pledge__org").filter(pk=photo_id).first()
