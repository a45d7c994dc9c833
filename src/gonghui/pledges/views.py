"""Pledge pages (我为职工办实事): thin callers of services and selectors.

Cadres fetch a pledge through the scoping filter (outside their scope: 404; visible but
not theirs to manage: 403). A worker sees the published and completed pledges of their
unit and of every union above it (anything else: 404), follows their progress and
comments. Every change goes through a service, which writes the audit log; its refusal
becomes an error on the form, so nothing typed is lost. Every action URL also answers
GET with the page its form lives on.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from gonghui.core.forms import add_service_error
from gonghui.orgs import scoping
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Member, Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404
from gonghui.orgs.selectors import member_record_of
from gonghui.pledges import selectors, services
from gonghui.pledges.forms import (
    PLEDGE_ERROR_FIELDS,
    PROGRESS_ERROR_FIELDS,
    CancelForm,
    CommentForm,
    CompleteForm,
    HideForm,
    PledgeForm,
    ProgressForm,
    initial_of,
)
from gonghui.pledges.models import Pledge, PledgeComment, PledgeStatus

PAGE_SIZE = 30
RELATED = ("org", "created_by", "published_by", "completed_by", "cancelled_by")


# --- fetching through the scoping filter -----------------------------------------------------


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(
        Org.objects.select_related("parent"), request.user, Perm.ORG_VIEW, pk=org_id
    )


def _pledge(request: HttpRequest, pledge_id: int) -> Pledge:
    """A pledge the user sees as a cadre (its union in their scope)."""
    return get_in_scope_or_404(
        Pledge.objects.select_related(*RELATED), request.user, Perm.ORG_VIEW, pk=pledge_id
    )


def _managed(request: HttpRequest, pledge_id: int) -> Pledge:
    """A pledge the user may manage: in scope (else 404) and theirs (else 403)."""
    pledge = _pledge(request, pledge_id)
    _require_manage(request, pledge)
    return pledge


def _require_manage(request: HttpRequest, pledge: Pledge) -> None:
    if not services.can_manage(request.user, pledge):
        raise PermissionDenied


def _public(request: HttpRequest, pledge_id: int) -> tuple[Pledge, Member | None, bool]:
    """The pledge, the user's member record and whether they see it as a cadre. A worker
    sees it only when published or completed at their unit or above; anyone else: 404."""
    member = member_record_of(request.user)
    pledge = (
        selectors.visible_pledges(request.user)
        .select_related(*RELATED)
        .filter(pk=pledge_id)
        .first()
    )
    if pledge is not None:
        return pledge, member, True
    pledge = selectors.public_pledge(member, pledge_id) if member is not None else None
    if pledge is None:
        raise Http404
    return pledge, member, False


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or _("You do not have permission to do this.")


def _back(pledge: Pledge, anchor: str = "") -> HttpResponse:
    url = reverse("pledges:pledge_detail", kwargs={"pledge_id": pledge.pk})
    return redirect(f"{url}#{anchor}" if anchor else url)


# --- an org's pledges -------------------------------------------------------------------------


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The menu entry: a cadre's own union's pledges, a worker's own page."""
    org = org_selectors.primary_org(request.user)
    if org is None:
        return redirect("pledges:for_me")
    return redirect("pledges:org_pledges", org_id=org.pk)


@login_required
def org_pledges(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    scope = request.GET.get("scope", selectors.SUBTREE)
    scope = scope if scope in (selectors.OWN, selectors.SUBTREE) else selectors.SUBTREE
    status = request.GET.get("status", "")
    status = status if status in PledgeStatus.values else ""
    qs = selectors.pledges_of_org(request.user, org, scope=scope, status=status)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = selectors.status_counts(request.user, org, scope=scope)
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "scope": scope,
        "status": status,
        "statuses": [(value, label, counts[value]) for value, label in PledgeStatus.choices],
        "total": sum(counts.values()),
        "page": page,
        "query": f"scope={scope}&status={status}",
        "can_create": scoping.can(request.user, Perm.PLEDGE_MANAGE, org) and org.is_active,
    }
    return render(request, "pledges/org_pledges.html", context)


# --- drafting and editing ---------------------------------------------------------------------


def _form_page(
    request: HttpRequest,
    form: PledgeForm | None,
    org: Org,
    pledge: Pledge | None,
    *,
    refusal: str = "",
) -> HttpResponse:
    title = (
        _("Edit “%(title)s”") % {"title": pledge.title}
        if pledge
        else _("New pledge of %(org)s") % {"org": org.name}
    )
    return render(
        request,
        "pledges/pledge_form.html",
        {
            "form": form,
            "org": org,
            "pledge": pledge,
            "title": title,
            "refusal": refusal,
            "trail": org_selectors.visible_breadcrumb(request.user, org),
        },
    )


@login_required
def pledge_create(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    scoping.require(request.user, Perm.PLEDGE_MANAGE, org)
    if request.method != "POST":
        return _form_page(request, PledgeForm(), org, None)
    form = PledgeForm(request.POST)
    if form.is_valid():
        try:
            pledge = services.create_pledge(actor=request.user, org=org, data=form.as_input())
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc, field_codes=PLEDGE_ERROR_FIELDS)
        else:
            messages.success(
                request,
                _("The draft “%(title)s” was saved. Workers see it once it is published.")
                % {"title": pledge.title},
            )
            return _back(pledge)
    return _form_page(request, form, org, None)


@login_required
def pledge_edit(request: HttpRequest, pledge_id: int) -> HttpResponse:
    pledge = _managed(request, pledge_id)
    if not pledge.is_draft:
        refusal = _("Only a draft can be edited: a published pledge is a public promise.")
        return _form_page(request, None, pledge.org, pledge, refusal=refusal)
    if request.method != "POST":
        return _form_page(request, PledgeForm(initial=initial_of(pledge)), pledge.org, pledge)
    form = PledgeForm(request.POST)
    if form.is_valid():
        try:
            saved = services.update_pledge(
                actor=request.user,
                pledge=pledge,
                data=form.as_input(),
                version=form.cleaned_data["version"] or 0,
            )
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc, field_codes=PLEDGE_ERROR_FIELDS)
        else:
            messages.success(request, _("The changes were saved."))
            return _back(saved)
    return _form_page(request, form, pledge.org, pledge)


# --- the pledge, for cadres -------------------------------------------------------------------


def _detail_page(request: HttpRequest, pledge: Pledge) -> HttpResponse:
    manage = services.can_manage(request.user, pledge)
    context = {
        "pledge": pledge,
        "org": pledge.org,
        "trail": org_selectors.visible_breadcrumb(request.user, pledge.org),
        "can_manage": manage,
        "detail": selectors.detail(
            pledge,
            include_hidden=manage,
            comments_page_number=request.GET.get("comments_page"),
        ),
    }
    return render(request, "pledges/pledge_detail.html", context)


@login_required
def pledge_detail(request: HttpRequest, pledge_id: int) -> HttpResponse:
    return _detail_page(request, _pledge(request, pledge_id))


@login_required
def pledge_publish(request: HttpRequest, pledge_id: int) -> HttpResponse:
    pledge = _pledge(request, pledge_id)
    if request.method != "POST":
        return _detail_page(request, pledge)
    _require_manage(request, pledge)
    try:
        services.publish_pledge(actor=request.user, pledge=pledge)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request,
            _("“%(title)s” was published: the members of %(org)s and below see it now.")
            % {"title": pledge.title, "org": pledge.org.name},
        )
    return _back(pledge)


@login_required
def pledge_progress(request: HttpRequest, pledge_id: int) -> HttpResponse:
    pledge = _managed(request, pledge_id)
    form = ProgressForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        initial={"progress": pledge.progress},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.add_progress(
                actor=request.user,
                pledge=pledge,
                text=data["text"],
                progress=data["progress"],
                day=data["day"],
                photos=data["photos"],
                correction=data["correction"],
            )
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc, field_codes=PROGRESS_ERROR_FIELDS)
        else:
            messages.success(request, _("The progress was reported."))
            return _back(pledge, "updates")
    return render(
        request,
        "pledges/progress_form.html",
        {
            "pledge": pledge,
            "form": form,
            "allowed": pledge.status == PledgeStatus.PUBLISHED,
            "refusal": _("Progress can be reported only while the pledge is under way."),
        },
    )


def _confirm(request: HttpRequest, pledge: Pledge, **context: Any) -> HttpResponse:
    return render(request, "pledges/confirm.html", {"pledge": pledge, **context})


@login_required
def pledge_complete(request: HttpRequest, pledge_id: int) -> HttpResponse:
    pledge = _managed(request, pledge_id)
    form = CompleteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.complete_pledge(
                actor=request.user, pledge=pledge, note=form.cleaned_data["note"]
            )
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc, field_codes={"note": "note"})
        else:
            messages.success(request, _("“%(title)s” was completed.") % {"title": pledge.title})
            return _back(pledge)
    late = pledge.is_overdue
    return _confirm(
        request,
        pledge,
        form=form,
        title=_("Complete “%(title)s”?") % {"title": pledge.title},
        intro=(
            _("The deadline has passed: it counts as completed late.")
            if late
            else _("Workers see the pledge as completed, with your closing note.")
        ),
        allowed=pledge.status == PledgeStatus.PUBLISHED,
        refusal=_("Only a pledge under way can be completed."),
        button=_("Complete the pledge"),
        danger=False,
    )


@login_required
def pledge_cancel(request: HttpRequest, pledge_id: int) -> HttpResponse:
    pledge = _managed(request, pledge_id)
    form = CancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.cancel_pledge(
                actor=request.user, pledge=pledge, reason=form.cleaned_data["reason"]
            )
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc, field_codes={"reason": "reason"})
        else:
            messages.success(request, _("“%(title)s” was cancelled.") % {"title": pledge.title})
            return _back(pledge)
    return _confirm(
        request,
        pledge,
        form=form,
        title=_("Cancel “%(title)s”?") % {"title": pledge.title},
        intro=_(
            "A cancelled pledge no longer counts as published. Workers no longer see it; "
            "the reason is kept with it."
        ),
        allowed=pledge.status in (PledgeStatus.DRAFT, PledgeStatus.PUBLISHED),
        refusal=(
            _("A completed pledge cannot be cancelled.")
            if pledge.status == PledgeStatus.COMPLETED
            else _("This pledge was cancelled.")
        ),
        button=_("Cancel the pledge"),
        danger=True,
    )


@login_required
def comment_hide(request: HttpRequest, comment_id: int) -> HttpResponse:
    comment = (
        PledgeComment.objects.select_related("pledge__org", "member")
        .filter(pk=comment_id, pledge__in=selectors.visible_pledges(request.user))
        .first()
    )
    if comment is None:
        raise Http404
    pledge = comment.pledge
    _require_manage(request, pledge)
    form = HideForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.hide_comment(
                actor=request.user, comment=comment, reason=form.cleaned_data["reason"]
            )
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc, field_codes={"reason": "reason"})
        else:
            messages.success(request, _("The comment was hidden."))
            return _back(pledge, "comments")
    return _confirm(
        request,
        pledge,
        form=form,
        comment=comment,
        title=_("Hide the comment of %(name)s?") % {"name": comment.member.name},
        intro=_("Workers no longer see it; it is kept, with your reason."),
        allowed=not comment.hidden,
        refusal=_("This comment is hidden."),
        button=_("Hide the comment"),
        danger=True,
    )


# --- photos -----------------------------------------------------------------------------------


@login_required
def pledge_photo(request: HttpRequest, photo_id: int) -> HttpResponse:
    """A photo, for whoever may see its pledge (a cadre in scope, a worker below it)."""
    photo = selectors.photo(photo_id)
    if photo is None:
        raise Http404
    _public(request, photo.update.pledge_id)
    try:
        handle = photo.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    return FileResponse(handle, filename=photo.name, content_type=photo.content_type)


# --- the worker's pages -----------------------------------------------------------------------


@login_required
def for_me(request: HttpRequest) -> HttpResponse:
    """我为职工办实事: what the unions from the province down to my unit promised, and how
    far they got."""
    member = member_record_of(request.user)
    if member is None:
        return render(request, "pledges/for_me.html", {"member": None})
    page = Paginator(selectors.pledges_for(member), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "pledges/for_me.html", {"member": member, "page": page})


def _worker_page(
    request: HttpRequest,
    pledge: Pledge,
    member: Member | None,
    *,
    form: CommentForm | None = None,
    partial: bool = False,
) -> HttpResponse:
    may_comment = member is not None and pledge.is_public and services.in_audience(pledge, member)
    detail = selectors.detail(
        pledge,
        include_hidden=False,
        member=member,
        comments_page_number=request.GET.get("comments_page"),
    )
    for comment in detail.comments:
        # Other workers' names masked (张*); the reader's own in full.
        name = comment.member.name
        own = member is not None and comment.member_id == member.pk
        comment.shown_name = name if own else selectors.masked_name(name)  # type: ignore[attr-defined]
    context = {
        "pledge": pledge,
        "member": member,
        "detail": detail,
        "may_comment": may_comment,
        "form": form or CommentForm(),
    }
    template = "pledges/_worker_comments.html" if partial else "pledges/for_me_detail.html"
    return render(request, template, context)


@login_required
def for_me_detail(request: HttpRequest, pledge_id: int) -> HttpResponse:
    pledge, member, _as_cadre = _public(request, pledge_id)
    return _worker_page(request, pledge, member)


@login_required
def for_me_comment(request: HttpRequest, pledge_id: int) -> HttpResponse:
    """A worker comments (htmx: the comments part comes back; else the page)."""
    pledge, member, _as_cadre = _public(request, pledge_id)
    if request.method != "POST":
        return _worker_page(request, pledge, member)
    partial = bool(request.headers.get("HX-Request"))
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.add_comment(actor=request.user, pledge=pledge, text=form.cleaned_data["text"])
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc, field_codes={"text": "text"})
        else:
            if partial:
                return _worker_page(request, pledge, member, partial=True)
            messages.success(request, _("Your comment was posted."))
            url = reverse("pledges:for_me_detail", kwargs={"pledge_id": pledge.pk})
            return redirect(f"{url}#comments")
    return _worker_page(request, pledge, member, form=form, partial=partial)
