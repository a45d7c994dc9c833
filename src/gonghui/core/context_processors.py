from typing import Any

from django.http import HttpRequest

from gonghui.orgs import scoping
from gonghui.orgs.scoping import Perm


def navigation(request: HttpRequest) -> dict[str, Any]:
    """What the top navigation may offer this user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    member = getattr(user, "member", None) if hasattr(user, "member") else None
    # The union whose case queue the menu opens: the highest one the user handles cases at.
    case_grants = [g for g in scoping.grants_for(user) if Perm.CASE_HANDLE in g.perms]
    cases_org = min(case_grants, key=lambda g: (g.depth, g.org_id)) if case_grants else None
    # The union whose competitions the menu opens: the highest one the user sees.
    view_grants = [g for g in scoping.grants_for(user) if Perm.ORG_VIEW in g.perms]
    competitions_org = min(view_grants, key=lambda g: (g.depth, g.org_id)) if view_grants else None
    # The news desk the menu opens: the highest union the user writes for (their primary
    # union, for cadres; from the grants, so no query).
    news_grants = [g for g in scoping.grants_for(user) if Perm.NEWS_WRITE in g.perms]
    news_org = min(news_grants, key=lambda g: (g.depth, g.org_id)) if news_grants else None
    return {
        "nav_is_cadre": scoping.has_any(user, Perm.ORG_VIEW),
        "nav_can_change_members": scoping.has_any(user, Perm.MEMBER_CHANGE),
        "nav_can_change_orgs": scoping.has_any(user, Perm.ORG_CHANGE),
        "nav_can_audit": scoping.has_any(user, Perm.AUDIT_VIEW),
        "nav_member": member,
        "nav_can_handle_cases": scoping.has_any(user, Perm.CASE_HANDLE),
        "nav_cases_org_id": cases_org.org_id if cases_org else None,
        "nav_competitions_org_id": competitions_org.org_id if competitions_org else None,
        "nav_news_org_id": news_org.org_id if news_org else None,
        # Only holders of a judge role can have a seat: others cost no query.
        "nav_is_judge": scoping.has_any(user, Perm.COMPETITION_JUDGE) and _has_seat(user),
    }


def _has_seat(user: Any) -> bool:
    from gonghui.competitions.models import Judge

    return Judge.objects.filter(user=user).exists()
