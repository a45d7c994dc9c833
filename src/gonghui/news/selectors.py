"""Reading articles: a union's public site (published only), the editorial desk (scoped
to the roles that write at the union), revisions and their differences."""

from __future__ import annotations

import difflib
import html
import re
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404

from gonghui.news.models import Article, ArticleImage, ArticleStatus, Channel, Revision
from gonghui.orgs.models import Org, OrgStatus, ancestor_field
from gonghui.orgs.scoping import Perm, get_in_scope_or_404

TAGS = re.compile(r"<[^>]+>")


def public_org(org_id: int) -> Org:
    try:
        return Org.objects.get(pk=org_id, status=OrgStatus.ACTIVE)
    except (Org.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def public_articles(org: Org, *, channel: Channel | None = None, q: str = "") -> QuerySet[Article]:
    """A union's published articles, newest first; search in titles and text."""
    articles = Article.objects.filter(org=org, status=ArticleStatus.PUBLISHED).select_related(
        "channel", "org"
    )
    if channel is not None:
        articles = articles.filter(channel=channel)
    if q:
        articles = articles.filter(
            Q(title__icontains=q) | Q(subtitle__icontains=q) | Q(body__icontains=q)
        )
    return articles.order_by("-published_at", "-id")


def public_article(org: Org, article_id: int) -> Article:
    try:
        return Article.objects.select_related(
            "channel", "org", "editor", "chief_editor", "origin__org"
        ).get(pk=article_id, org=org, status=ArticleStatus.PUBLISHED)
    except (Article.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def public_channel(org: Org, code: str) -> Channel:
    try:
        return Channel.objects.get(org=org, code=code)
    except Channel.DoesNotExist as exc:
        raise Http404 from exc


def desk(user: Any, org: Org, *, status: str = "", subtree: bool = False) -> QuerySet[Article]:
    """The editorial desk of a union: articles of the unions the user writes for."""
    articles = Article.objects.restrict(user, Perm.NEWS_WRITE).select_related(
        "channel", "org", "editor", "chief_editor", "created_by"
    )
    if subtree:
        articles = articles.filter(**{f"org__{ancestor_field(org.depth)}": org.pk})
    else:
        articles = articles.filter(org=org)
    if status:
        articles = articles.filter(status=status)
    return articles.order_by("-updated_at", "-id")


def article_for(user: Any, article_id: int) -> Article:
    """An article for the editorial pages: its union must be one the user writes for."""
    return get_in_scope_or_404(
        Article.objects.select_related("channel", "org", "editor", "chief_editor", "origin__org"),
        user,
        Perm.NEWS_WRITE,
        pk=article_id,
    )


def revisions(article: Article) -> list[Revision]:
    return list(article.revisions.select_related("by"))


def text_lines(body: str) -> list[str]:
    """An article's text as lines of words, for comparing revisions."""
    text = TAGS.sub("\n", body or "")
    return [line.strip() for line in html.unescape(text).splitlines() if line.strip()]


def excerpt(article: Article, limit: int = 160) -> str:
    """What lists and feeds show of an article: its summary, or its first words."""
    if article.summary:
        return article.summary
    text = " ".join(text_lines(article.body))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def diff(a: Revision, b: Revision) -> list[tuple[str, str]]:
    """(kind, line) of the change from revision a to b: kind is ' ', '-' or '+'."""
    old = [
        f"# {a.title}",
        *([a.subtitle] if a.subtitle else []),
        f"— {a.byline}",
        *text_lines(a.body),
    ]
    new = [
        f"# {b.title}",
        *([b.subtitle] if b.subtitle else []),
        f"— {b.byline}",
        *text_lines(b.body),
    ]
    out = []
    for line in difflib.ndiff(old, new):
        kind = line[:1]
        if kind in (" ", "-", "+"):
            out.append((kind, line[2:]))
    return out


def public_unions(limit: int = 500) -> list[Org]:
    """The unions whose sites carry published articles, from the top of the tree down, each
    with `article_count` and `latest` (when the newest was published)."""
    rows = (
        Article.objects.filter(status=ArticleStatus.PUBLISHED)
        .order_by()
        .values("org_id")
        .annotate(n=Count("pk"), latest=Max("published_at"))
    )
    counts = {r["org_id"]: r for r in rows}
    orgs = list(
        Org.objects.filter(pk__in=counts, status=OrgStatus.ACTIVE).order_by("depth", "path")[:limit]
    )
    for org in orgs:
        org.article_count = counts[org.pk]["n"]  # type: ignore[attr-defined]
        org.latest = counts[org.pk]["latest"]  # type: ignore[attr-defined]
    return orgs


def public_channels(org: Org) -> list[Channel]:
    """A union's channels as its site lists them (none created on reading)."""
    return list(Channel.objects.filter(org=org))


def may_read(user: Any, article: Article) -> bool:
    """Whether `user` may see an article's pictures and video: anybody once it is published
    on an active union's site; before that, those who write for its union."""
    if article.status == ArticleStatus.PUBLISHED and article.org.status == OrgStatus.ACTIVE:
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return Article.objects.restrict(user, Perm.NEWS_WRITE).filter(pk=article.pk).exists()


def image(image_id: int) -> ArticleImage | None:
    return ArticleImage.objects.select_related("article__org").filter(pk=image_id).first()


def article_with_files(article_id: int) -> Article | None:
    """An article, for serving its cover or video (the caller checks `may_read`)."""
    return Article.objects.select_related("org").filter(pk=article_id).first()


def recommendations(article: Article) -> list[Article]:
    """The copies of an article the unions above took into their workflow."""
    return list(Article.objects.filter(origin=article).select_related("org"))
