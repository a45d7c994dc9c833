"""News pages (新闻 / 宣传): the editorial desk of a union and its public site.

The desk is for cadres who write for a union (`Perm.NEWS_WRITE`), its editors (编辑,
`NEWS_EDIT`) and responsible editors (责任编辑, `NEWS_APPROVE`): the union's articles
(`desk`), writing and editing (`write`, `edit`, with pictures uploaded into the text by
`upload_image`), one article as it will read with its revisions and the steps the user
may take (`article` and its POST actions), and the difference between two revisions
(`revision_diff`).

The public site needs no login: the unions with a site (`index`), a union's home
(`site`), a channel (`channel`) and its Atom feed (`feed`), an article (`public_article`),
search, a sitemap, and the files of articles (`image`, `cover`, `video`), served while
the article may be read.

Objects are fetched only through selectors (`article_for`, `desk`, `public_*`), so
anything outside the user's sight is a 404; a service's PermissionDenied is a 403. A
service's refusal (ValidationError) is shown on the form that was posted, re-rendered
with what was typed, or as a message; every action URL answers GET with the article page.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.syndication.views import Feed
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from gonghui.core.errors import ConcurrentEditError
from gonghui.core.forms import add_service_error
from gonghui.news import selectors, services
from gonghui.news.forms import (
    ARTICLE_ERROR_FIELDS,
    ApproveForm,
    ArticleForm,
    ReturnForm,
    VersionForm,
    WithdrawForm,
)
from gonghui.news.models import Article, ArticleStatus, Channel
from gonghui.orgs import scoping
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Org, OrgStatus
from gonghui.orgs.scoping import Perm, get_in_scope_or_404

PAGE_SIZE = 20
FEED_SIZE = 30
SITEMAP_LIMIT = 50_000  # what one sitemap file may list
QUERY_MAX = 50
STATUS_TABS = ["", *ArticleStatus.values]
CHANGEABLE = (ArticleStatus.DRAFT, ArticleStatus.RETURNED)
EDITABLE = (ArticleStatus.SUBMITTED, ArticleStatus.EDITED)


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(
        Org.objects.select_related("parent"), request.user, Perm.ORG_VIEW, pk=org_id
    )


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _page(request: HttpRequest, queryset: Any) -> Any:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


# --- the desk ---------------------------------------------------------------------------


@login_required
def desk(request: HttpRequest, org_id: int) -> HttpResponse:
    """A union's articles by status (and channel), its own or its whole subtree's."""
    user = request.user
    org = _org(request, org_id)
    scoping.require(user, Perm.NEWS_WRITE, org)
    status = request.GET.get("status", "")
    if status not in ArticleStatus.values:
        status = ""
    subtree = request.GET.get("subtree") == "1"
    channels = services.channels_of(org)
    channel = next((c for c in channels if c.code == request.GET.get("channel")), None)
    articles = selectors.desk(user, org, status=status, subtree=subtree)
    if channel is not None:
        articles = articles.filter(channel=channel)
    counts = dict(
        selectors.desk(user, org, subtree=subtree)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    query = {"subtree": "1" if subtree else "", "channel": channel.code if channel else ""}
    query = {k: v for k, v in query.items() if v}
    tabs = [("", _("All"), sum(counts.values()))] + [
        (value, label, counts.get(value, 0)) for value, label in ArticleStatus.choices
    ]
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(user, org),
        "page": _page(request, articles),
        "status": status,
        "tabs": tabs,
        "channels": channels,
        "channel": channel,
        "subtree": subtree,
        "tab_query": urlencode(query),
        "query": urlencode({**query, **({"status": status} if status else {})}),
        "can_write": org.is_active,
        "can_edit": scoping.can(user, Perm.NEWS_EDIT, org),
        "can_approve": scoping.can(user, Perm.NEWS_APPROVE, org),
    }
    return render(request, "news/desk.html", context)


def _form_page(
    request: HttpRequest,
    *,
    org: Org,
    article: Article | None,
    save: Any,
    done: str,
    initial: dict[str, Any],
) -> HttpResponse:
    """Writing (article None) and editing: the form, kept as typed when refused."""
    channels = services.channels_of(org)
    if request.method == "POST":
        form = ArticleForm(request.POST, request.FILES, channels=channels)
        if form.is_valid():
            try:
                saved = save(form)
            except ConcurrentEditError as exc:
                messages.error(request, _errors(exc))
                data = request.POST.copy()
                data["version"] = str(Article.objects.get(pk=article.pk).version)  # type: ignore[union-attr]
                form = ArticleForm(data, channels=channels)
                form.is_valid()
            except ValidationError as exc:
                add_service_error(form, exc, field_codes=ARTICLE_ERROR_FIELDS)
            else:
                messages.success(request, done)
                return redirect("news:article", article_id=saved.pk)
    else:
        form = ArticleForm(initial=initial, channels=channels)
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "article": article,
        "form": form,
    }
    return render(request, "news/form.html", context)


@login_required
def write(request: HttpRequest, org_id: int) -> HttpResponse:
    user = request.user
    org = _org(request, org_id)
    scoping.require(user, Perm.NEWS_WRITE, org)
    channels = services.channels_of(org)
    return _form_page(
        request,
        org=org,
        article=None,
        save=lambda form: services.create_article(user, org=org, data=form.as_input()),
        done=_("The article was saved as a draft. Submit it when it is ready."),
        initial={
            "byline": user.get_full_name(),
            "channel": channels[0].pk if channels else None,
        },
    )


def _may_change(user: Any, article: Article) -> bool:
    """The author's changes in draft (or returned); the editor's once submitted."""
    if article.status in CHANGEABLE:
        return services.can_write(user, article)
    if article.status in EDITABLE:
        return services.can_edit(user, article)
    return False


@login_required
def edit(request: HttpRequest, article_id: int) -> HttpResponse:
    user = request.user
    article = selectors.article_for(user, article_id)
    if article.status not in (*CHANGEABLE, *EDITABLE):
        messages.error(
            request, _("An approved or published article cannot be changed; withdraw it first.")
        )
        return redirect("news:article", article_id=article.pk)
    if not _may_change(user, article):
        raise PermissionDenied(_("Only an editor changes a submitted article."))
    return _form_page(
        request,
        org=article.org,
        article=article,
        save=lambda form: services.update_article(
            user,
            article,
            data=form.as_input(),
            version=form.cleaned_data["version"] or article.version,
        ),
        done=_("The article was saved."),
        initial=ArticleForm.initial_of(article),
    )


# --- one article, on the desk -----------------------------------------------------------


def _article_page(
    request: HttpRequest, article: Article, *, bound: dict[str, Any] | None = None
) -> HttpResponse:
    user = request.user
    bound = bound or {}
    status = article.status
    can_write = services.can_write(user, article)
    can_edit = services.can_edit(user, article)
    can_approve = services.can_approve(user, article)
    recommendations = selectors.recommendations(article)
    revisions = selectors.revisions(article)
    context = {
        "article": article,
        "org": article.org,
        "trail": org_selectors.visible_breadcrumb(user, article.org),
        "revisions": revisions,
        "may_edit": _may_change(user, article),
        "submit_form": VersionForm(initial={"version": article.version})
        if can_write and status in CHANGEABLE
        else None,
        "return_form": bound.get("return")
        or (ReturnForm() if can_edit and status in (*EDITABLE, ArticleStatus.APPROVED) else None),
        "approve_form": bound.get("approve")
        or (
            ApproveForm(initial={"version": article.version})
            if can_approve and status == ArticleStatus.EDITED
            else None
        ),
        "withdraw_form": bound.get("withdraw")
        or (
            WithdrawForm()
            if can_approve and status in (ArticleStatus.PUBLISHED, ArticleStatus.APPROVED)
            else None
        ),
        "may_recommend": can_write
        and status == ArticleStatus.PUBLISHED
        and article.org.parent_id is not None
        and not recommendations,
        "recommendations": recommendations,
        "waiting_for": _waiting_for(status),
    }
    return render(request, "news/article.html", context)


def _waiting_for(status: str) -> str:
    return {
        ArticleStatus.DRAFT: _("The author submits it when it is ready."),
        ArticleStatus.RETURNED: _("The author changes it and submits it again."),
        ArticleStatus.SUBMITTED: _("An editor edits it (or returns it to the author)."),
        ArticleStatus.EDITED: _("The responsible editor approves it for publishing."),
        ArticleStatus.APPROVED: _("It is published at the set time."),
    }.get(status, "")


@login_required
def article(request: HttpRequest, article_id: int) -> HttpResponse:
    return _article_page(request, selectors.article_for(request.user, article_id))


def _to_article(article: Article, anchor: str = "") -> HttpResponse:
    url = reverse("news:article", args=[article.pk])
    return redirect(f"{url}#{anchor}" if anchor else url)


def _version(request: HttpRequest) -> int | None:
    form = VersionForm(request.POST)
    return form.cleaned_data["version"] if form.is_valid() else None


@login_required
def submit(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors.article_for(request.user, article_id)
    if request.method != "POST":
        return _article_page(request, article)
    try:
        services.submit_article(request.user, article, version=_version(request))
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, _("The article was submitted to the editors."))
    return _to_article(article)


@login_required
def return_article(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors.article_for(request.user, article_id)
    if request.method != "POST":
        return _article_page(request, article)
    form = ReturnForm(request.POST)
    if form.is_valid():
        try:
            services.return_article(request.user, article, note=form.cleaned_data["note"])
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"note": "note"})
        else:
            messages.success(request, _("The article was returned to the author."))
            return _to_article(article)
    return _article_page(request, article, bound={"return": form})


@login_required
def approve(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors.article_for(request.user, article_id)
    if request.method != "POST":
        return _article_page(request, article)
    form = ApproveForm(request.POST)
    if form.is_valid():
        try:
            article = services.approve_article(
                request.user,
                article,
                publish_at=form.cleaned_data["publish_at"],
                version=form.cleaned_data["version"],
            )
        except ConcurrentEditError as exc:
            messages.error(request, _errors(exc))
            return _to_article(article)
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"publish": "publish_at"})
        else:
            if article.status == ArticleStatus.PUBLISHED:
                messages.success(request, _("The article is approved and published."))
            else:
                when = date_format(timezone.localtime(article.publish_at), "Y-m-d H:i")
                messages.success(
                    request,
                    _("The article is approved; it will be published at %(when)s.")
                    % {"when": when},
                )
            return _to_article(article)
    return _article_page(request, article, bound={"approve": form})


@login_required
def withdraw(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors.article_for(request.user, article_id)
    if request.method != "POST":
        return _article_page(request, article)
    form = WithdrawForm(request.POST)
    if form.is_valid():
        try:
            services.withdraw_article(request.user, article, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"reason": "reason"})
        else:
            messages.success(request, _("The article was withdrawn."))
            return _to_article(article)
    return _article_page(request, article, bound={"withdraw": form})


@login_required
def recommend(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors.article_for(request.user, article_id)
    if request.method != "POST":
        return _article_page(request, article)
    try:
        copy = services.recommend_upward(request.user, article)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(
            request,
            _("The article was recommended to %(org)s; its editors take it from here.")
            % {"org": copy.org.name},
        )
    return _to_article(article)


@login_required
def upload_image(request: HttpRequest, article_id: int) -> HttpResponse:
    """A picture put into the text in the editor (Trix): {"url": …} to show it from."""
    article = selectors.article_for(request.user, article_id)
    if request.method != "POST":
        return JsonResponse({"error": _("Send the picture with POST.")}, status=405)
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": _("Choose a picture.")}, status=400)
    try:
        image = services.add_image(request.user, article, upload=upload)
    except PermissionDenied as exc:
        return JsonResponse(
            {"error": str(exc) or _("You do not have permission to do this.")}, status=403
        )
    except ValidationError as exc:
        return JsonResponse({"error": _errors(exc)}, status=400)
    url = reverse("news:image", args=[image.pk])
    return JsonResponse({"url": url, "href": url})


@login_required
def revision_diff(request: HttpRequest, article_id: int, revision_id: int) -> HttpResponse:
    """What a revision changed from the one before it (or, with ?from=, from any other)."""
    article = selectors.article_for(request.user, article_id)
    revisions = selectors.revisions(article)
    by_id = {r.pk: r for r in revisions}
    revision = by_id.get(revision_id)
    if revision is None:
        raise Http404
    chosen_to = request.GET.get("to", "")
    if chosen_to.isdigit() and int(chosen_to) in by_id and int(chosen_to) != revision.pk:
        # The compare form names both ends: show the later one's page, from the other.
        url = reverse("news:revision_diff", args=[article.pk, int(chosen_to)])
        return redirect(f"{url}?{urlencode({'from': request.GET.get('from', '')})}")
    base = None
    chosen = request.GET.get("from", "")
    if chosen.isdigit() and int(chosen) in by_id:
        base = by_id[int(chosen)]
    else:
        earlier = [r for r in revisions if r.number < revision.number]
        base = earlier[-1] if earlier else None
    lines = selectors.diff(base, revision) if base else selectors.diff(revision, revision)
    context = {
        "article": article,
        "org": article.org,
        "trail": org_selectors.visible_breadcrumb(request.user, article.org),
        "revision": revision,
        "base": base,
        "revisions": revisions,
        "lines": lines,
        "added": sum(1 for kind, _line in lines if kind == "+"),
        "removed": sum(1 for kind, _line in lines if kind == "-"),
    }
    return render(request, "news/revision_diff.html", context)


# --- the public site --------------------------------------------------------------------


def index(request: HttpRequest) -> HttpResponse:
    unions = selectors.public_unions()
    top = [u for u in unions if u.parent_id is None]
    return render(request, "news/index.html", {"unions": unions, "top": top})


def _site_context(org: Org, **extra: Any) -> dict[str, Any]:
    return {"org": org, "channels": selectors.public_channels(org), **extra}


def site(request: HttpRequest, org_id: int) -> HttpResponse:
    org = selectors.public_org(org_id)
    page = _page(request, selectors.public_articles(org))
    return render(request, "news/site.html", _site_context(org, page=page))


def channel(request: HttpRequest, org_id: int, channel_code: str) -> HttpResponse:
    org = selectors.public_org(org_id)
    current = selectors.public_channel(org, channel_code)
    page = _page(request, selectors.public_articles(org, channel=current))
    return render(request, "news/channel.html", _site_context(org, current=current, page=page))


def public_article(request: HttpRequest, org_id: int, article_id: int) -> HttpResponse:
    org = selectors.public_org(org_id)
    article = selectors.public_article(org, article_id)
    origin = article.origin
    origin_public = (
        origin is not None and origin.is_public and origin.org.status == OrgStatus.ACTIVE
    )
    return render(
        request,
        "news/public_article.html",
        _site_context(org, article=article, current=article.channel, origin_public=origin_public),
    )


def search(request: HttpRequest, org_id: int) -> HttpResponse:
    org = selectors.public_org(org_id)
    q = " ".join(request.GET.get("q", "").split())[:QUERY_MAX]
    page = _page(request, selectors.public_articles(org, q=q)) if q else None
    return render(
        request,
        "news/search.html",
        _site_context(org, q=q, page=page, query=urlencode({"q": q})),
    )


class ChannelFeed(Feed):
    """A channel's newest articles as an Atom feed."""

    feed_type = Atom1Feed

    def get_object(self, request: HttpRequest, org_id: int, channel_code: str) -> Channel:
        org = selectors.public_org(org_id)
        current = selectors.public_channel(org, channel_code)
        current.org = org
        return current

    def title(self, obj: Channel) -> str:
        return f"{obj.org.name} · {obj.name}"

    def subtitle(self, obj: Channel) -> str:
        return obj.org.name

    def link(self, obj: Channel) -> str:
        return reverse("news:channel", args=[obj.org_id, obj.code])

    def feed_url(self, obj: Channel) -> str:
        return reverse("news:feed", args=[obj.org_id, obj.code])

    def author_name(self, obj: Channel) -> str:
        return obj.org.name

    def items(self, obj: Channel) -> Any:
        return selectors.public_articles(obj.org, channel=obj)[:FEED_SIZE]

    def item_title(self, item: Article) -> str:
        return item.title

    def item_description(self, item: Article) -> str:
        return selectors.excerpt(item)

    def item_link(self, item: Article) -> str:
        return reverse("news:public_article", args=[item.org_id, item.pk])

    def item_pubdate(self, item: Article) -> Any:
        return item.published_at

    def item_updateddate(self, item: Article) -> Any:
        return item.updated_at

    def item_author_name(self, item: Article) -> str:
        return item.byline

    def item_categories(self, item: Article) -> list[str]:
        return list(item.tags or [])


feed = ChannelFeed()


def sitemap(request: HttpRequest, org_id: int) -> HttpResponse:
    """The union's site, its channels and its published articles, for search engines."""
    org = selectors.public_org(org_id)
    absolute = request.build_absolute_uri
    urls: list[tuple[str, Any]] = [(absolute(reverse("news:site", args=[org.pk])), None)]
    urls += [
        (absolute(reverse("news:channel", args=[org.pk, c.code])), None)
        for c in selectors.public_channels(org)
    ]
    rows = selectors.public_articles(org).values_list("pk", "updated_at")[: SITEMAP_LIMIT - 100]
    urls += [
        (absolute(reverse("news:public_article", args=[org.pk, pk])), updated)
        for pk, updated in rows
    ]
    return render(
        request, "news/sitemap.xml", {"urls": urls}, content_type="application/xml; charset=utf-8"
    )


# --- files of articles ------------------------------------------------------------------

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
RANGE_CHUNK = 4 * 1024 * 1024  # at most this much per answer to a range request


def _serve(
    request: HttpRequest, article: Article, file: Any, content_type: str, name: str
) -> HttpResponse:
    """A file of an article while it may be read; a published one may be cached a while.
    Byte ranges are answered, which phones need to play a video."""
    if not file or not selectors.may_read(request.user, article):
        raise Http404
    try:
        handle = file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404 from exc
    size = file.size
    cache = "public, max-age=3600" if article.is_public else "private, no-store"
    match = RANGE.match(request.headers.get("Range", ""))
    if match and (match.group(1) or match.group(2)):
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        else:
            start, end = max(size - int(last), 0), size - 1
        end = min(end, start + RANGE_CHUNK - 1)
        if start > end or start >= size:
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        handle.seek(start)
        body = handle.read(end - start + 1)
        handle.close()
        response = HttpResponse(body, status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = FileResponse(handle, filename=name, content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = cache
    return response


def image(request: HttpRequest, image_id: int) -> HttpResponse:
    found = selectors.image(image_id)
    if found is None:
        raise Http404
    return _serve(request, found.article, found.file, found.content_type, found.name)


IMAGE_CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def cover(request: HttpRequest, article_id: int) -> HttpResponse:
    found = selectors.article_with_files(article_id)
    if found is None or not found.cover:
        raise Http404
    suffix = "." + found.cover.name.rsplit(".", 1)[-1].lower()
    content_type = IMAGE_CONTENT_TYPES.get(suffix, "application/octet-stream")
    return _serve(request, found, found.cover, content_type, f"cover-{found.pk}{suffix}")


def video(request: HttpRequest, article_id: int) -> HttpResponse:
    found = selectors.article_with_files(article_id)
    if found is None or not found.video:
        raise Http404
    return _serve(request, found, found.video, "video/mp4", f"video-{found.pk}.mp4")


@login_required
def channels(request: HttpRequest, org_id: int) -> HttpResponse:
    """A union's channels; the responsible editor adds one (code and name)."""
    user = request.user
    org = _org(request, org_id)
    scoping.require(user, Perm.NEWS_WRITE, org)
    typed = {"code": "", "name": ""}
    error = ""
    if request.method == "POST":
        typed = {"code": request.POST.get("code", ""), "name": request.POST.get("name", "")}
        try:
            channel = services.add_channel(user, org=org, code=typed["code"], name=typed["name"])
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("Channel “%(name)s” added.") % {"name": channel.name})
            return redirect("news:channels", org_id=org.pk)
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(user, org),
        "channels": services.channels_of(org),
        "can_add": scoping.can(user, Perm.NEWS_APPROVE, org),
        "typed": typed,
        "error": error,
    }
    return render(request, "news/channels.html", context, status=422 if error else 200)
