"""API of news and publicity (新闻 / 宣传): the editorial desk of a union's site (write,
submit, edit, return, approve and publish now or at a set time, withdraw, recommend to
the union above; images, revisions and their differences) and the public site (published
articles only, without signing in).

Thin callers of `news.services` and `news.selectors`. The desk reads an article through
the scoping function with `Perm.NEWS_WRITE` (the roles that write at its union: cadres,
editors, responsible editors): everything outside answers 404 and is left unchanged. An
action on an article of the desk that the user's role may not take answers 403
(`permission_denied`, e.g. an editor approving). Refusals of services: 422 with the
service's code (and field), 409 `stale` for a `version` that is no longer current. Titles
are stored as plain text and bodies sanitised, whoever sent them.

The public endpoints never show an article that is not published (a draft, a scheduled
one before its time, a withdrawn one): 404, as for an id that does not exist.
"""

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from gonghui.news import selectors, services
from gonghui.news.models import Article, ArticleImage, ArticleStatus, Channel, Revision
from gonghui.orgs.models import Org, OrgStatus
from gonghui.orgs.scoping import Perm, get_in_scope_or_404

router = Router(tags=["articles"])

SEARCH_MAX = 100


# --- schemas ------------------------------------------------------------------------------


class ArticleOrgRef(Schema):
    id: int
    name: str
    kind: str


class ArticleChannelOut(Schema):
    id: int
    code: str = Field(description="news, grassroots, video, notices or the union's own")
    name: str = Field(description="要闻, 基层动态, 视讯, 通知公告 …")


class ArticleImageOut(Schema):
    id: int
    article_id: int
    name: str
    content_type: str
    size: int
    uploaded_at: datetime.datetime


class ArticleLinkOut(Schema):
    id: int
    org: ArticleOrgRef
    status: str


class ArticleOut(Schema):
    """An article on the editorial desk (without its text)."""

    id: int
    org: ArticleOrgRef
    channel: ArticleChannelOut
    title: str
    subtitle: str
    byline: str = Field(description="作者")
    summary: str
    tags: list[str]
    status: str = Field(
        description="draft, submitted, edited, approved, published, withdrawn or returned"
    )
    version: int = Field(description="Send it back with a change (409 stale)")
    created_by: str | None
    editor: str | None = Field(description="编辑: who edited it")
    chief_editor: str | None = Field(description="责任编辑: who approved it")
    created_at: datetime.datetime
    updated_at: datetime.datetime
    submitted_at: datetime.datetime | None
    edited_at: datetime.datetime | None
    approved_at: datetime.datetime | None
    publish_at: datetime.datetime | None = Field(description="Scheduled publication")
    published_at: datetime.datetime | None
    withdrawn_at: datetime.datetime | None


class ArticleDetailOut(ArticleOut):
    body: str = Field(description="Sanitised HTML")
    source: str = Field(description="When reprinted")
    video_url: str
    cover_url: str | None
    video_file_url: str | None
    return_note: str = Field(description="Why it was returned to the author")
    withdrawn_reason: str
    origin: ArticleLinkOut | None = Field(description="The lower union's article it copies")
    recommendations: list[ArticleLinkOut] = Field(
        description="Its copies offered to the union above"
    )
    images: list[ArticleImageOut]
    may_write: bool = Field(description="You may change a draft, submit, add images, recommend")
    may_edit: bool = Field(description="You may edit or return it (编辑)")
    may_approve: bool = Field(description="You may approve or withdraw it (责任编辑)")


class ArticleFilter(Schema):
    org_id: int | None = Field(
        None, description="One union you write for (else 404); left out: all of them"
    )
    subtree: bool = Field(False, description="With org_id: the unions below it too")
    status: str = Field(
        "", description="draft, submitted, edited, approved, published, withdrawn or returned"
    )


class ArticleIn(Schema):
    channel_id: int = Field(description="One of the union's channels")
    title: str
    byline: str = Field(description="作者")
    body: str = Field(description="HTML; sanitised when stored")
    subtitle: str = ""
    summary: str = ""
    tags: list[str] = []
    source: str = Field("", description="When reprinted")
    video_url: str = Field("", description="http:// or https://")


class ArticleCreateIn(ArticleIn):
    org_id: int = Field(description="The union whose site carries it (where you write)")


class ArticleUpdateIn(ArticleIn):
    version: int = Field(description="The version read (stale: 409)")


class ArticleVersionIn(Schema):
    version: int | None = Field(None, description="The version read (stale: 409)")


class ArticleReturnIn(Schema):
    note: str = Field(description="What the author should change")


class ArticleApproveIn(ArticleVersionIn):
    publish_at: datetime.datetime | None = Field(
        None, description="Published by the worker at this moment; left out or past: now"
    )


class ArticleWithdrawIn(Schema):
    reason: str


class ArticleRecommendIn(Schema):
    channel_id: int | None = Field(
        None, description="A channel of the union above; left out: its 基层动态"
    )


class ArticleRecommendationOut(Schema):
    id: int = Field(description="The copy: an article of the union above, submitted there")
    origin_id: int
    org: ArticleOrgRef
    channel: ArticleChannelOut
    status: str
    recommended_on: datetime.date | None


class ArticleRevisionOut(Schema):
    id: int
    number: int
    step: str = Field(description="The status the article had when this text was saved")
    title: str
    subtitle: str
    byline: str
    body: str
    by: str | None
    at: datetime.datetime
    note: str


class ArticleRevisionRef(Schema):
    id: int
    number: int


class ArticleDiffLineOut(Schema):
    kind: str = Field(description="' ' unchanged, '-' removed, '+' added")
    text: str


class ArticleDiffOut(Schema):
    before: ArticleRevisionRef | None = Field(
        description="The revision compared with (null: the first revision, all added)"
    )
    after: ArticleRevisionRef
    lines: list[ArticleDiffLineOut]


class ArticleDiffFilter(Schema):
    against: int | None = Field(
        None, description="Another revision of the article; left out: the one before"
    )


class ArticlePublicFilter(Schema):
    org_id: int | None = Field(None, description="The union whose site it is; left out: the root's")
    channel: str = Field("", description="A channel code (unknown: 404)")
    q: str = Field("", description="Search in titles and text")


class ArticlePublicOut(Schema):
    id: int
    channel: ArticleChannelOut
    title: str
    subtitle: str
    byline: str
    summary: str
    tags: list[str]
    source: str
    cover_url: str | None
    published_at: datetime.datetime | None


class ArticlePublicDetailOut(ArticlePublicOut):
    org: ArticleOrgRef
    body: str = Field(description="Sanitised HTML")
    video_url: str
    video_file_url: str | None
    editor: str | None = Field(description="编辑")
    chief_editor: str | None = Field(description="责任编辑")
    recommended_from: str | None = Field(description="The lower union it came from")


# --- output -------------------------------------------------------------------------------


def _person(user: Any) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


def _url(field: Any) -> str | None:
    return field.url if field else None


def org_ref(org: Org) -> dict[str, Any]:
    return {"id": org.pk, "name": org.name, "kind": org.kind}


def channel_out(c: Channel) -> dict[str, Any]:
    return {"id": c.pk, "code": c.code, "name": c.name}


def image_out(i: ArticleImage) -> dict[str, Any]:
    return {
        "id": i.pk,
        "article_id": i.article_id,
        "name": i.name,
        "content_type": i.content_type,
        "size": i.size,
        "uploaded_at": i.uploaded_at,
    }


def article_out(a: Article) -> dict[str, Any]:
    return {
        "id": a.pk,
        "org": org_ref(a.org),
        "channel": channel_out(a.channel),
        "title": a.title,
        "subtitle": a.subtitle,
        "byline": a.byline,
        "summary": a.summary,
        "tags": list(a.tags or []),
        "status": a.status,
        "version": a.version,
        "created_by": _person(a.created_by),
        "editor": _person(a.editor),
        "chief_editor": _person(a.chief_editor),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "submitted_at": a.submitted_at,
        "edited_at": a.edited_at,
        "approved_at": a.approved_at,
        "publish_at": a.publish_at,
        "published_at": a.published_at,
        "withdrawn_at": a.withdrawn_at,
    }


def _link(a: Article) -> dict[str, Any]:
    return {"id": a.pk, "org": org_ref(a.org), "status": a.status}


def article_detail_out(a: Article, user: Any) -> dict[str, Any]:
    copies = Article.objects.filter(origin=a).select_related("org").order_by("id")
    return {
        **article_out(a),
        "body": a.body,
        "source": a.source,
        "video_url": a.video_url,
        "cover_url": _url(a.cover),
        "video_file_url": _url(a.video),
        "return_note": a.return_note,
        "withdrawn_reason": a.withdrawn_reason,
        "origin": _link(a.origin) if a.origin is not None else None,
        "recommendations": [_link(c) for c in copies],
        "images": [image_out(i) for i in a.images.order_by("id")],
        "may_write": services.can_write(user, a),
        "may_edit": services.can_edit(user, a),
        "may_approve": services.can_approve(user, a),
    }


def revision_out(r: Revision) -> dict[str, Any]:
    return {
        "id": r.pk,
        "number": r.number,
        "step": r.step,
        "title": r.title,
        "subtitle": r.subtitle,
        "byline": r.byline,
        "body": r.body,
        "by": _person(r.by),
        "at": r.at,
        "note": r.note,
    }


def public_out(a: Article) -> dict[str, Any]:
    return {
        "id": a.pk,
        "channel": channel_out(a.channel),
        "title": a.title,
        "subtitle": a.subtitle,
        "byline": a.byline,
        "summary": a.summary,
        "tags": list(a.tags or []),
        "source": a.source,
        "cover_url": _url(a.cover),
        "published_at": a.published_at,
    }


def public_detail_out(a: Article) -> dict[str, Any]:
    return {
        **public_out(a),
        "org": org_ref(a.org),
        "body": a.body,
        "video_url": a.video_url,
        "video_file_url": _url(a.video),
        "editor": _person(a.editor),
        "chief_editor": _person(a.chief_editor),
        "recommended_from": a.origin.org.name if a.origin is not None else None,
    }


class _Page:
    """A queryset for the paginator that converts only the rows of the page it slices."""

    def __init__(self, queryset: Any, convert: Any) -> None:
        self.queryset = queryset
        self.convert = convert

    def __len__(self) -> int:
        return self.queryset.count()

    def __getitem__(self, index: slice) -> list[Any]:
        return self.convert(list(self.queryset[index]))


# --- fetching -----------------------------------------------------------------------------


def _invalid(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def _article(request: HttpRequest, article_id: int) -> Article:
    """An article of a union the user writes for (404 otherwise)."""
    return selectors.article_for(request.user, article_id)


def _after(request: HttpRequest, article: Article) -> dict[str, Any]:
    return article_detail_out(_article(request, article.pk), request.user)


def _desk_org(request: HttpRequest, org_id: int) -> Org:
    """A union the user writes for (404 otherwise)."""
    return get_in_scope_or_404(Org.objects.all(), request.user, Perm.NEWS_WRITE, pk=org_id)


def _input(payload: ArticleIn) -> services.ArticleInput:
    return services.ArticleInput(
        channel_id=payload.channel_id,
        title=payload.title,
        byline=payload.byline,
        body=payload.body,
        subtitle=payload.subtitle,
        summary=payload.summary,
        tags=list(payload.tags),
        source=payload.source,
        video_url=payload.video_url,
    )


def _aware(moment: datetime.datetime | None) -> datetime.datetime | None:
    if moment is not None and timezone.is_naive(moment):
        return timezone.make_aware(moment)
    return moment


# --- public site (no sign-in) -------------------------------------------------------------


@router.get(
    "/public",
    auth=None,
    response=list[ArticlePublicOut],
    summary="Published articles of a union's site (public)",
)
@paginate(LimitOffsetPagination)
def public_list(request: HttpRequest, filters: Query[ArticlePublicFilter]):
    """Anyone, without signing in: the published articles of an active union (`org_id`;
    unknown: 404), newest first; `channel` (a channel code, unknown: 404) and `q` (in
    titles and text). Drafts, scheduled, returned and withdrawn articles never appear."""
    if filters.org_id is None:
        root = Org.objects.filter(parent__isnull=True).order_by("pk").first()
        if root is None:
            raise Http404
        org = root
    else:
        org = selectors.public_org(filters.org_id)
    channel = selectors.public_channel(org, filters.channel) if filters.channel else None
    q = " ".join(filters.q.split())[:SEARCH_MAX]
    articles = selectors.public_articles(org, channel=channel, q=q)
    return _Page(articles, lambda rows: [public_out(a) for a in rows])


@router.get(
    "/public/{article_id}",
    auth=None,
    response=ArticlePublicDetailOut,
    summary="A published article (public)",
)
def public_detail(request: HttpRequest, article_id: int):
    """Anyone, without signing in, while it is published (a draft, a scheduled, returned or
    withdrawn article, or one of a dissolved union: 404). Names 作者, 编辑 and 责任编辑."""
    try:
        article = Article.objects.select_related(
            "channel", "org", "editor", "chief_editor", "origin__org"
        ).get(pk=article_id, status=ArticleStatus.PUBLISHED, org__status=OrgStatus.ACTIVE)
    except Article.DoesNotExist as exc:
        raise Http404 from exc
    return public_detail_out(article)


# --- the desk -----------------------------------------------------------------------------


@router.get("/channels", response=list[ArticleChannelOut], summary="A union's channels")
def channel_list(request: HttpRequest, org_id: int | None = None):
    """The channels of a union you write for (else 404), in order; the defaults (要闻,
    基层动态, 视讯, 通知公告) are set up the first time. Left out: your own union's."""
    if org_id is None:
        from gonghui.orgs.selectors import primary_org

        org = primary_org(request.user)
        if org is None:
            raise Http404
        org_id = org.pk
    return [channel_out(c) for c in services.channels_of(_desk_org(request, org_id))]


@router.get("", response=list[ArticleOut], summary="The editorial desk")
@router.get("/", response=list[ArticleOut], include_in_schema=False)
@paginate(LimitOffsetPagination)
def article_list(request: HttpRequest, filters: Query[ArticleFilter]):
    """Articles of the unions you write for, last changed first; with `org_id` (a union
    you write for, else 404) that union's (and with `subtree` those below it). Refusal:
    `status`."""
    user = request.user
    if filters.status and filters.status not in ArticleStatus.values:
        raise _invalid("status", _("Unknown status."), "status")
    if filters.org_id is None:
        articles = (
            Article.objects.restrict(user, Perm.NEWS_WRITE)
            .select_related("channel", "org", "editor", "chief_editor", "created_by")
            .order_by("-updated_at", "-id")
        )
        if filters.status:
            articles = articles.filter(status=filters.status)
    else:
        org = _desk_org(request, filters.org_id)
        articles = selectors.desk(user, org, status=filters.status, subtree=filters.subtree)
    return _Page(articles, lambda rows: [article_out(a) for a in rows])


@router.post("", response={201: ArticleDetailOut}, summary="Write an article (draft)")
@router.post("/", response={201: ArticleDetailOut}, include_in_schema=False)
def article_create(request: HttpRequest, payload: ArticleCreateIn):
    """A draft of the union `org_id`, by someone who writes for it. Titles and bylines are
    stored as plain text, the body sanitised. Refusals (with their field): `title`,
    `byline`, `body`, `channel` (`channel_id`: not one of the union's), `video_url` (422);
    403 where you only see the union; 404 outside."""
    user = request.user
    org = get_in_scope_or_404(Org.objects.all(), user, Perm.ORG_VIEW, pk=payload.org_id)
    article = services.create_article(user, org=org, data=_input(payload))
    return Status(201, _after(request, article))


@router.get("/{article_id}", response=ArticleDetailOut, summary="An article on the desk")
def article_detail(request: HttpRequest, article_id: int):
    """With its status, version, text, the names of its author, editor and responsible
    editor, its images and recommendations."""
    return article_detail_out(_article(request, article_id), request.user)


@router.put("/{article_id}", response=ArticleDetailOut, summary="Change or edit the text")
def article_update(request: HttpRequest, article_id: int, payload: ArticleUpdateIn):
    """The author changes a draft or a returned article; an editor edits a submitted (or
    edited) one, which makes it `edited` with them as its editor. Every save is a revision.
    Refusals: as when writing; `status` (approved, published or withdrawn) (422); 409
    `stale`; 403 (e.g. a writer changing a submitted article)."""
    article = services.update_article(
        request.user,
        _article(request, article_id),
        data=_input(payload),
        version=payload.version,
    )
    return _after(request, article)


@router.post("/{article_id}/submit", response=ArticleDetailOut, summary="Submit for editing")
def article_submit(request: HttpRequest, article_id: int, payload: ArticleVersionIn | None = None):
    """A draft or a returned article goes to the editors. Refusals: `status` (422); 409
    `stale`; 403."""
    article = services.submit_article(
        request.user,
        _article(request, article_id),
        version=payload.version if payload else None,
    )
    return _after(request, article)


@router.post("/{article_id}/return", response=ArticleDetailOut, summary="Return to the author")
def article_return(request: HttpRequest, article_id: int, payload: ArticleReturnIn):
    """By an editor or the responsible editor, saying what to change (a scheduled
    publication is cancelled). Refusals: `note`, `status` (422); 403 for writers."""
    article = services.return_article(
        request.user, _article(request, article_id), note=payload.note
    )
    return _after(request, article)


@router.post(
    "/{article_id}/approve", response=ArticleDetailOut, summary="Approve and publish (责任编辑)"
)
def article_approve(request: HttpRequest, article_id: int, payload: ArticleApproveIn | None = None):
    """By the responsible editor, once an editor edited it: published at once, or with a
    future `publish_at` kept `approved` until the worker publishes it then. Refusals:
    `status` (not edited) (422); 409 `stale`; 403 for writers and editors."""
    payload = payload or ArticleApproveIn()
    article = services.approve_article(
        request.user,
        _article(request, article_id),
        publish_at=_aware(payload.publish_at),
        version=payload.version,
    )
    return _after(request, article)


@router.post("/{article_id}/withdraw", response=ArticleDetailOut, summary="Withdraw")
def article_withdraw(request: HttpRequest, article_id: int, payload: ArticleWithdrawIn):
    """A published (or approved, scheduled) article is taken off the site, with a reason,
    by the responsible editor. Refusals: `reason`, `status` (422); 403."""
    article = services.withdraw_article(
        request.user, _article(request, article_id), reason=payload.reason
    )
    return _after(request, article)


@router.post(
    "/{article_id}/recommend",
    response={201: ArticleRecommendationOut},
    summary="Recommend to the union above",
)
def article_recommend(
    request: HttpRequest, article_id: int, payload: ArticleRecommendIn | None = None
):
    """A published article is offered to the parent union: a submitted copy in its
    channel `channel_id` (left out: 基层动态), which the parent's editors take through their
    own workflow. Refusals: `status` (not published), `no_parent`, `channel` (not one of the
    parent's channels), `duplicate` (recommended already) (422); 403."""
    article = _article(request, article_id)
    channel = None
    if payload is not None and payload.channel_id is not None:
        parent_id = article.org.parent_id
        channel = Channel.objects.filter(pk=payload.channel_id, org_id=parent_id).first()
        if (
            channel is None
            and parent_id is not None
            and article.status == ArticleStatus.PUBLISHED
            and services.can_write(request.user, article)
        ):
            # Otherwise the service refuses first (403, `status`, `no_parent`).
            raise _invalid("channel_id", _("Choose one of the parent union's channels."), "channel")
    copy = services.recommend_upward(request.user, article, channel=channel)
    copy = Article.objects.select_related("org", "channel").get(pk=copy.pk)
    return Status(
        201,
        {
            "id": copy.pk,
            "origin_id": article.pk,
            "org": org_ref(copy.org),
            "channel": channel_out(copy.channel),
            "status": copy.status,
            "recommended_on": copy.recommended_on,
        },
    )


@router.post("/{article_id}/images", response={201: ArticleImageOut}, summary="Add an image")
def article_image_add(request: HttpRequest, article_id: int, file: File[UploadedFile]):
    """multipart/form-data: `file`, a jpg or png of at most 5 MB, for the article's body.
    Refusals: `file_type`, `file_size`, `file_content` (a renamed program is not a photo)
    (422); 403."""
    image = services.add_image(request.user, _article(request, article_id), upload=file)
    return Status(201, image_out(image))


@router.get("/{article_id}/revisions", response=list[ArticleRevisionOut], summary="Saved versions")
def article_revisions(request: HttpRequest, article_id: int):
    """Every saved text, first to last, with who saved it in which step."""
    return [revision_out(r) for r in selectors.revisions(_article(request, article_id))]


@router.get(
    "/{article_id}/revisions/{revision_id}/diff",
    response=ArticleDiffOut,
    summary="What a revision changed",
)
def article_revision_diff(
    request: HttpRequest, article_id: int, revision_id: int, filters: Query[ArticleDiffFilter]
):
    """Line by line (title, subtitle, byline, text) from the revision before it, or from
    `against` (another revision of the article). Revisions of other articles: 404."""
    article = _article(request, article_id)
    after = article.revisions.filter(pk=revision_id).first()
    if after is None:
        raise Http404
    if filters.against is not None:
        before = article.revisions.filter(pk=filters.against).first()
        if before is None:
            raise Http404
    else:
        before = article.revisions.filter(number__lt=after.number).order_by("-number").first()
    if before is None:
        lines = [("+", text) for _kind, text in selectors.diff(after, after)]
    else:
        lines = selectors.diff(before, after)
    return {
        "before": {"id": before.pk, "number": before.number} if before is not None else None,
        "after": {"id": after.pk, "number": after.number},
        "lines": [{"kind": kind, "text": text} for kind, text in lines],
    }
