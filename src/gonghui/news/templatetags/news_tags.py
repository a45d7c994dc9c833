"""Template helpers of the news pages, and the news link other apps' pages show."""

from typing import Any

from django import template

from gonghui.news import selectors
from gonghui.orgs import scoping
from gonghui.orgs.scoping import Perm

register = template.Library()


@register.simple_tag
def writes_news_at(user: Any, org: Any) -> bool:
    """Whether `user` writes for `org`'s site (the union page links to its news desk)."""
    return scoping.can(user, Perm.NEWS_WRITE, org)


@register.filter
def excerpt(article: Any, limit: int = 160) -> str:
    """An article's summary, or its first words (plain text, escaped by the template)."""
    return selectors.excerpt(article, int(limit))


@register.filter
def person(user: Any) -> str:
    """A user as a page names them: full name, else the username."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()
