"""Pages of notices: an org's inbox and issued notices, composing and issuing, the notice,
a union's dispatch (acknowledge, relay, plan, report, review), supervision and the ledger.

Each view fetches what it shows through the scoping filter (outside the user's scope:
404; visible but not allowed: 403), calls one service for a change, and re-renders the
bound form when the service refuses, so nothing typed is lost. Every action URL also
answers GET with the page its form lives on.
"""

from __future__ import annotations

import datetime
import io
import zipfile
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext, pgettext_lazy

from gonghui.core.forms import add_service_error
from gonghui.core.xlsx import xlsx_response
from gonghui.notices import exports, selectors, services
from gonghui.notices.forms import (
    NOTICE_ERROR_FIELDS,
    REPORT_ERROR_FIELDS,
    NoticeForm,
    PlanForm,
    RelayForm,
    RemindForm,
    ReportForm,
    ReviewForm,
    new_key,
    requirement_formset,
    requirement_initial,
    requirement_inputs,
)
from gonghui.notices.models import (
    Attachment,
    Dispatch,
    Evidence,
    Notice,
    NoticeStatus,
    ReminderKind,
    Report,
    ReportStatus,
)
from gonghui.orgs import scoping
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Org, ancestor_field
from gonghui.orgs.scoping import Perm, get_in_scope_or_404

PAGE_SIZE = 30
ISSUED_FIELDS = ("id", "title", "doc_number", "status", "issued_at", "created_at", "audience_size")
LATE_SHOWN = 50
SOON_DAYS = 3

# --- fetching through the scoping filter -----------------------------------------------------


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(
        Org.objects.select_related("parent"), request.user, Perm.ORG_VIEW, pk=org_id
    )


def _notice(request: HttpRequest, notice_id: int) -> Notice:
    """A notice the user may see: issued by a union in their scope (drafts included), or
    issued to a union in their scope."""
    user = request.user
    base = Notice.objects.select_related("issuer", "corrects")
    notice = base.restrict(user, Perm.ORG_VIEW).filter(pk=notice_id).first()
    if notice is None:
        received = Dispatch.objects.filter(notice=OuterRef("pk")).filter(
            scoping.scope_q(user, Perm.ORG_VIEW, "org")
        )
        notice = (
            base.filter(pk=notice_id)
            .exclude(status=NoticeStatus.DRAFT)
            .filter(Exists(received))
            .first()
        )
    if notice is None:
        raise Http404
    return notice


def _issuable(request: HttpRequest, notice_id: int) -> Notice:
    """A notice the user may draft, issue and close (a cadre of the issuing union)."""
    notice = _notice(request, notice_id)
    if not scoping.can(request.user, Perm.NOTICE_ISSUE, notice.issuer):
        raise PermissionDenied
    return notice


def _dispatch(request: HttpRequest, dispatch_id: int) -> Dispatch:
    return get_in_scope_or_404(
        Dispatch.objects.select_related(
            "notice", "notice__issuer", "org", "org__parent", "acknowledged_by"
        ),
        request.user,
        Perm.ORG_VIEW,
        pk=dispatch_id,
    )


def _report(request: HttpRequest, report_id: int) -> Report:
    report = (
        Report.objects.filter(pk=report_id)
        .filter(scoping.scope_q(request.user, Perm.ORG_VIEW, "dispatch__org"))
        .select_related("dispatch")
        .first()
    )
    if report is None:
        raise Http404
    return report


def _supervised(request: HttpRequest, notice_id: int, org_id: int) -> tuple[Notice, Org]:
    notice = _notice(request, notice_id)
    org = _org(request, org_id)
    if notice.is_draft or not selectors.can_supervise(request.user, notice, org):
        raise Http404
    return notice, org


# --- status of a dispatch as badges ----------------------------------------------------------


@dataclass(frozen=True)
class Badge:
    label: str
    tone: str = ""  # "", "green", "yellow", "red"


def _due_badge(
    due: datetime.date | None, overdue: bool, today: datetime.date, late: str, soon: str
) -> Badge | None:
    if overdue or (due is not None and due < today):
        return Badge(late, "red")
    if due is not None and due <= today + datetime.timedelta(days=SOON_DAYS):
        return Badge(soon, "yellow")
    return None


def dispatch_badges(d: Dispatch, today: datetime.date) -> list[Badge]:
    """What a union's progress on a notice looks like at a glance (the traffic light)."""
    badges = []
    if d.read_at is None:
        badges.append(Badge(_("Unread"), "red"))
    if d.acknowledged_at is not None:
        badges.append(Badge(_("Acknowledged"), "green"))
    elif d.ack_due is not None:
        badge = _due_badge(
            d.ack_due, d.ack_overdue, today, _("Acknowledgement overdue"), _("Acknowledge soon")
        )
        if badge:
            badges.append(badge)
    if d.planned_at is not None:
        badges.append(Badge(_("Planned"), "green"))
    if d.report_status == ReportStatus.ACCEPTED:
        badges.append(Badge(pgettext("report", "Accepted"), "green"))
    elif d.report_status == ReportStatus.SUBMITTED:
        badges.append(Badge(_("Reported"), "green"))
    elif d.report_status == ReportStatus.RETURNED:
        badges.append(Badge(pgettext("report", "Returned"), "red"))
    if d.reported_at is None:
        badge = _due_badge(
            d.report_due, d.report_overdue, today, _("Report overdue"), _("Report due soon")
        )
        if badge:
            badges.append(badge)
    if d.notice.status == NoticeStatus.CLOSED:
        badges.append(Badge(_("Closed")))
    return badges


# --- an org's notices --------------------------------------------------------------------------


@login_required
def my_notices(request: HttpRequest) -> HttpResponse:
    org = org_selectors.primary_org(request.user)
    if org is None:
        raise Http404
    return redirect("org_notices", org_id=org.pk)


@login_required
def org_notices(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    user = request.user
    inbox = Paginator(selectors.inbox(user, org), PAGE_SIZE).get_page(request.GET.get("page"))
    issued = Paginator(
        selectors.notices_issued_by(user, org)
        .only(*ISSUED_FIELDS)
        .order_by(F("issued_at").desc(nulls_first=True), "-created_at", "-id"),
        PAGE_SIZE,
    ).get_page(request.GET.get("issued_page"))
    today = timezone.localdate()
    for d in inbox.object_list:
        d.badges = dispatch_badges(d, today)
    context = {
        "org": org,
        "trail": org_selectors.breadcrumb(org),
        "inbox": inbox,
        "issued": issued,
        "can_issue": scoping.can(user, Perm.NOTICE_ISSUE, org) and org.is_active,
    }
    return render(request, "notices/org_notices.html", context)


# --- composing ---------------------------------------------------------------------------------


def _compose(
    request: HttpRequest,
    *,
    issuer: Org,
    notice: Notice | None = None,
    corrects: Notice | None = None,
    initial: dict[str, Any] | None = None,
    requirements: list[dict[str, Any]] | None = None,
) -> HttpResponse:
    post = request.method == "POST"
    form = NoticeForm(
        request.POST if post else None,
        request.FILES if post else None,
        user=request.user,
        initial=initial,
    )
    formset = requirement_formset(request.POST if post else None, initial=requirements)
    if post and form.is_valid() and formset.is_valid():
        kwargs = form.service_kwargs()
        try:
            with transaction.atomic():
                if notice is None:
                    saved = services.create_notice(
                        actor=request.user,
                        issuer=issuer,
                        corrects=corrects,
                        requirements=requirement_inputs(formset),
                        **kwargs,
                    )
                else:
                    saved = services.update_notice(
                        actor=request.user,
                        notice=notice,
                        version=form.cleaned_data["version"] or 0,
                        requirements=requirement_inputs(formset),
                        **kwargs,
                    )
                for upload in form.cleaned_data["attachments"]:
                    services.add_attachment(actor=request.user, notice=saved, upload=upload)
        except ValidationError as exc:
            add_service_error(form, exc, field_codes=NOTICE_ERROR_FIELDS)
        else:
            messages.success(request, _("The draft was saved. Issue it when it is ready."))
            return redirect("notice_detail", notice_id=saved.pk)
    if notice is None:
        title = (
            _("Correction of %(notice)s") % {"notice": corrects}
            if corrects
            else _("New notice from %(org)s") % {"org": issuer.name}
        )
    else:
        title = _("Edit the draft")
    return render(
        request,
        "notices/notice_form.html",
        {
            "form": form,
            "formset": formset,
            "issuer": issuer,
            "notice": notice,
            "corrects": corrects,
            "attachments": list(notice.attachments.all()) if notice else [],
            "title": title,
            "trail": org_selectors.breadcrumb(issuer),
        },
    )


def _notice_initial(notice: Notice, *, for_correction: bool = False) -> dict[str, Any]:
    today = timezone.localdate()

    def future(day: datetime.date | None) -> datetime.date | None:
        return day if day is None or day >= today or not for_correction else None

    return {
        "version": notice.version,
        "title": notice.title,
        "doc_number": "" if for_correction else notice.doc_number,
        "body": notice.body,
        "audience_kinds": notice.audience_kinds,
        "audience_codes": " ".join(o.code for o in notice.audience_orgs.order_by("path")),
        "requires_ack": notice.requires_ack,
        "ack_due": future(notice.ack_due),
        "report_due": future(notice.report_due),
    }


@login_required
def notice_create(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    scoping.require(request.user, Perm.NOTICE_ISSUE, org)
    return _compose(request, issuer=org, initial={"requires_ack": True})


@login_required
def notice_edit(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = _issuable(request, notice_id)
    if not notice.is_draft:
        return render(request, "notices/notice_locked.html", {"notice": notice})
    return _compose(
        request,
        issuer=notice.issuer,
        notice=notice,
        initial=_notice_initial(notice),
        requirements=requirement_initial(notice.requirements.filter(relay__isnull=True)),
    )


@login_required
def notice_correct(request: HttpRequest, notice_id: int) -> HttpResponse:
    original = _issuable(request, notice_id)
    if original.is_draft:
        return render(request, "notices/notice_locked.html", {"notice": original})
    return _compose(
        request,
        issuer=original.issuer,
        corrects=original,
        initial=_notice_initial(original, for_correction=True),
        requirements=requirement_initial(original.requirements.filter(relay__isnull=True)),
    )


@login_required
def attachment_remove(request: HttpRequest, notice_id: int, attachment_id: int) -> HttpResponse:
    notice = _issuable(request, notice_id)
    attachment = get_object_or_404(Attachment, pk=attachment_id, notice=notice)
    error = None
    if request.method == "POST":
        try:
            services.remove_attachment(actor=request.user, attachment=attachment)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("%(name)s was removed.") % {"name": attachment.name})
            return redirect("notice_edit", notice_id=notice.pk)
    return render(
        request,
        "notices/confirm.html",
        {
            "notice": notice,
            "title": _("Remove %(name)s?") % {"name": attachment.name},
            "intro": _("The file is removed from the draft."),
            "errors": [error] if error else [],
            "allowed": notice.is_draft,
            "refusal": _("An issued notice cannot be changed; issue a correction notice instead."),
            "button": _("Remove"),
            "danger": True,
            "back": ("notice_edit" if notice.is_draft else "notice_detail", notice.pk),
        },
    )


@login_required
def attachment_download(request: HttpRequest, notice_id: int, attachment_id: int) -> HttpResponse:
    notice = _notice(request, notice_id)
    attachment = get_object_or_404(Attachment, pk=attachment_id, notice=notice)
    return _file_response(attachment.file, attachment.name, attachment.content_type)


def _file_response(file: Any, name: str, content_type: str) -> FileResponse:
    try:
        handle = file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    inline = content_type.startswith("image/") or content_type == "application/pdf"
    return FileResponse(handle, as_attachment=not inline, filename=name, content_type=content_type)


# --- the notice --------------------------------------------------------------------------------


@login_required
def notice_detail(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = _notice(request, notice_id)
    user = request.user
    issuer_side = scoping.can(user, Perm.ORG_VIEW, notice.issuer)
    own_orgs = [g.org_id for g in scoping.grants_for(user)]
    mine = list(Dispatch.objects.filter(notice=notice, org_id__in=own_orgs).select_related("org"))
    today = timezone.localdate()
    for d in mine:
        d.notice = notice
        d.badges = dispatch_badges(d, today)
    context = {
        "notice": notice,
        "trail": org_selectors.breadcrumb(notice.issuer) if issuer_side else [],
        "issuer_side": issuer_side,
        "can_issue": scoping.can(user, Perm.NOTICE_ISSUE, notice.issuer),
        "attachments": list(notice.attachments.all()),
        "requirements": list(notice.requirements.filter(relay__isnull=True)),
        "corrections": list(
            notice.corrections.exclude(status=NoticeStatus.DRAFT)
            if not issuer_side
            else notice.corrections.all()
        ),
        "mine": mine,
    }
    return render(request, "notices/notice_detail.html", context)


@login_required
def notice_issue(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = _issuable(request, notice_id)
    errors: list[str] = []
    if request.method == "POST":
        try:
            notice = services.issue_notice(actor=request.user, notice=notice)
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, _("Issued to %(n)d unions.") % {"n": notice.audience_size})
            return redirect("notice_detail", notice_id=notice.pk)
    size = services.audience(notice).count() if notice.is_draft else notice.audience_size
    return render(
        request,
        "notices/notice_issue.html",
        {
            "notice": notice,
            "audience_size": size,
            "requirements": list(notice.requirements.filter(relay__isnull=True)),
            "errors": errors,
        },
    )


@login_required
def notice_close(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = _issuable(request, notice_id)
    errors: list[str] = []
    if request.method == "POST":
        try:
            services.close_notice(actor=request.user, notice=notice)
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, _("The notice is closed."))
            return redirect("notice_detail", notice_id=notice.pk)
    return render(
        request,
        "notices/confirm.html",
        {
            "notice": notice,
            "title": _("Close %(notice)s?") % {"notice": notice},
            "intro": _(
                "Closing ends the work on this notice: no union can acknowledge, plan or "
                "report any more. The records stay."
            ),
            "errors": errors,
            "allowed": notice.status == NoticeStatus.ISSUED,
            "refusal": _("Only an issued notice can be closed."),
            "button": _("Close the notice"),
            "danger": True,
            "back": ("notice_detail", notice.pk),
        },
    )


# --- a union's dispatch ------------------------------------------------------------------------


def _has_below(d: Dispatch) -> bool:
    return (
        Dispatch.objects.filter(
            notice_id=d.notice_id, **{f"org__{ancestor_field(d.org.depth)}": d.org_id}
        )
        .exclude(pk=d.pk)
        .exists()
    )


def _report_form(
    d: Dispatch, latest: Report | None, data: Any = None, files: Any = None
) -> ReportForm:
    prefill = selectors.report_prefill(d)
    recorded = {f.code: f.value for f in prefill}
    initial: dict[str, Any] = {"submission_key": new_key()}
    if latest is not None and latest.status == ReportStatus.RETURNED:
        # A returned report comes back as it was sent, to be corrected.
        initial["narrative"] = latest.narrative
        for f in prefill:
            if f.code in latest.figures:
                initial[f"fig_{f.code}"] = latest.figures[f.code]
    return ReportForm(data, files, prefill=prefill, recorded=recorded, initial=initial)


def _dispatch_page(
    request: HttpRequest,
    d: Dispatch,
    *,
    plan_form: PlanForm | None = None,
    report_form: ReportForm | None = None,
    review_form: ReviewForm | None = None,
    status: int = 200,
) -> HttpResponse:
    from gonghui.stats.selectors import metrics

    user = request.user
    notice = d.notice
    is_open = notice.status == NoticeStatus.ISSUED
    can_handle = scoping.can_at(user, Perm.NOTICE_HANDLE, d.org)
    reports = list(
        d.reports.select_related("submitted_by", "reviewed_by").prefetch_related("evidence")
    )
    latest = reports[0] if reports else None
    own_relay = selectors.own_relay(d)
    has_below = _has_below(d)
    labels = {m.code: str(m.label) for m in metrics()}
    for report in reports:
        report.figure_rows = [(labels.get(k, k), v) for k, v in report.figures.items()]
    act = can_handle and is_open
    if act and plan_form is None and d.report_status != ReportStatus.ACCEPTED:
        plan_form = PlanForm(initial={"plan": d.plan})
    may_report = d.report_status in (ReportStatus.NONE, ReportStatus.RETURNED)
    if act and report_form is None and may_report:
        report_form = _report_form(d, latest)
    can_review = (
        latest is not None
        and latest.status == ReportStatus.SUBMITTED
        and services.can_review(user, d)
    )
    if can_review and review_form is None:
        review_form = ReviewForm()
    chain = selectors.relay_chain(d)
    own_relay_requirements = list(own_relay.requirements.all()) if own_relay else []
    _show_reach(d, [r for step in chain for r in step.requirements] + own_relay_requirements)
    context = {
        "d": d,
        "notice": notice,
        "org": d.org,
        "trail": org_selectors.breadcrumb(d.org),
        "badges": dispatch_badges(d, timezone.localdate()),
        "chain": chain,
        "own_relay": own_relay,
        "own_relay_requirements": own_relay_requirements,
        "attachments": list(notice.attachments.all()),
        "schedule_org": d.org
        if is_open and d.org.is_active and scoping.can(user, Perm.ACTIVITY_MANAGE, d.org)
        else None,
        "can_handle": act,
        "can_relay": act and own_relay is None and has_below,
        "can_supervise": has_below,
        "plan_form": plan_form if act else None,
        "report_form": report_form if act else None,
        "review_form": review_form
        if can_review or (review_form is not None and review_form.is_bound)
        else None,
        "reports": reports,
        "latest": latest,
    }
    return render(request, "notices/dispatch_detail.html", context, status=status)


def _show_reach(d: Dispatch, requirements: list[Any]) -> None:
    """Under each requirement: what the activities linked to it reached in the union's
    subtree (from the roll-ups, one statement)."""
    from gonghui.activities.selectors import reach_of_requirements
    from gonghui.competitions.selectors import competitions_of_requirements

    ids = [r.pk for r in requirements]
    reach = reach_of_requirements(ids, d.org)
    competed = competitions_of_requirements(ids, d.org)
    for r in requirements:
        r.reach = reach[r.pk]
        r.competitions_held, r.competitors_count = competed[r.pk]


@login_required
def dispatch_detail(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    d = _dispatch(request, dispatch_id)
    if d.read_at is None:
        services.mark_read(actor=request.user, dispatch=d)
    return _dispatch_page(request, d)


@login_required
def dispatch_acknowledge(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    d = _dispatch(request, dispatch_id)
    if request.method != "POST":
        return _dispatch_page(request, d)
    try:
        services.acknowledge(actor=request.user, dispatch=d)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Acknowledged."))
    return redirect("dispatch_detail", dispatch_id=d.pk)


@login_required
def dispatch_plan(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    d = _dispatch(request, dispatch_id)
    if request.method != "POST":
        return _dispatch_page(request, d)
    scoping.require_at(request.user, Perm.NOTICE_HANDLE, d.org)
    form = PlanForm(request.POST)
    if form.is_valid():
        try:
            services.save_plan(actor=request.user, dispatch=d, plan=form.cleaned_data["plan"])
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"plan": "plan"})
        else:
            messages.success(request, _("The plan was saved."))
            return redirect("dispatch_detail", dispatch_id=d.pk)
    return _dispatch_page(request, d, plan_form=form)


@login_required
def dispatch_report(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    d = _dispatch(request, dispatch_id)
    if request.method != "POST":
        return _dispatch_page(request, d)
    scoping.require_at(request.user, Perm.NOTICE_HANDLE, d.org)
    latest = d.reports.first()
    form = _report_form(d, latest, request.POST, request.FILES)
    if form.is_valid():
        try:
            services.submit_report(
                actor=request.user,
                dispatch=d,
                figures_values=form.figures_values(),
                narrative=form.cleaned_data["narrative"],
                submission_key=form.cleaned_data["submission_key"],
                evidence=form.cleaned_data["evidence"],
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_codes=REPORT_ERROR_FIELDS)
        else:
            messages.success(request, _("The report was submitted for review."))
            return redirect("dispatch_detail", dispatch_id=d.pk)
    return _dispatch_page(request, d, report_form=form)


@login_required
def dispatch_relay(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    d = _dispatch(request, dispatch_id)
    scoping.require_at(request.user, Perm.NOTICE_HANDLE, d.org)
    post = request.method == "POST"
    form = RelayForm(request.POST if post else None)
    formset = requirement_formset(request.POST if post else None)
    if post and form.is_valid() and formset.is_valid():
        try:
            services.relay(
                actor=request.user,
                dispatch=d,
                requirements=requirement_inputs(formset),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request,
                _("Relayed to the unions below %(org)s.") % {"org": d.org.name},
            )
            return redirect("dispatch_detail", dispatch_id=d.pk)
    return render(
        request,
        "notices/relay_form.html",
        {
            "d": d,
            "notice": d.notice,
            "org": d.org,
            "form": form,
            "formset": formset,
            "chain": selectors.relay_chain(d),
            "already": selectors.own_relay(d),
            "trail": org_selectors.breadcrumb(d.org),
        },
    )


@login_required
def report_review(request: HttpRequest, report_id: int) -> HttpResponse:
    report = _report(request, report_id)
    d = _dispatch(request, report.dispatch_id)
    if request.method != "POST":
        return _dispatch_page(request, d)
    if not services.can_review(request.user, d):
        raise PermissionDenied
    form = ReviewForm(request.POST)
    if form.is_valid():
        accept = form.cleaned_data["decision"] == ReviewForm.ACCEPT
        try:
            services.review_report(
                actor=request.user,
                report=report,
                accept=accept,
                comment=form.cleaned_data["comment"],
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"comment": "comment"})
        else:
            messages.success(
                request,
                (
                    _("The report of %(org)s was accepted.")
                    if accept
                    else _("The report of %(org)s was returned.")
                )
                % {"org": d.org.name},
            )
            return redirect("dispatch_detail", dispatch_id=d.pk)
    return _dispatch_page(request, d, review_form=form)


@login_required
def report_evidence(request: HttpRequest, report_id: int) -> HttpResponse:
    """One evidence file (?file=<id>), or all of the report's files as a .zip."""
    report = _report(request, report_id)
    files = list(Evidence.objects.filter(report=report).order_by("id"))
    wanted = request.GET.get("file", "")
    if wanted:
        item = next((f for f in files if str(f.pk) == wanted), None)
        if item is None:
            raise Http404
        return _file_response(item.file, item.name, item.content_type)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        seen: set[str] = set()
        for item in files:
            name = item.name if item.name not in seen else f"{item.pk}-{item.name}"
            seen.add(name)
            try:
                with item.file.open("rb") as handle:
                    archive.writestr(name, handle.read())
            except FileNotFoundError:
                continue
    buffer.seek(0)
    return FileResponse(
        buffer,
        as_attachment=True,
        filename=f"report-{report.pk}-evidence.zip",
        content_type="application/zip",
    )


# --- supervision -------------------------------------------------------------------------------

COLUMNS = (
    ("acknowledged", False),
    ("ack_on_time", True),
    ("planned", False),
    ("reported", False),
    ("report_on_time", True),
    ("accepted", False),
    ("ack_overdue", True),
    ("report_overdue", True),
)
STEP_LABELS = {
    "acknowledged": pgettext_lazy("supervision", "Acknowledged"),
    "ack_on_time": pgettext_lazy("supervision", "Acknowledged on time"),
    "planned": pgettext_lazy("supervision", "Planned"),
    "reported": pgettext_lazy("supervision", "Reported"),
    "report_on_time": pgettext_lazy("supervision", "Reported on time"),
    "accepted": pgettext_lazy("supervision", "Accepted"),
    "ack_overdue": pgettext_lazy("supervision", "Acknowledgement overdue"),
    "report_overdue": pgettext_lazy("supervision", "Report overdue"),
}


def _cells(row: selectors.SupervisionRow) -> list[dict[str, Any]]:
    cells = []
    for step, optional in COLUMNS:
        rate = row.rate(step)
        cells.append(
            {
                "step": step,
                "label": STEP_LABELS[step],
                "value": row.values.get(step, 0),
                "percent": None if rate is None else round(rate * 100),
                "opt": optional,
                "bad": step.endswith("overdue") and row.values.get(step, 0) > 0,
            }
        )
    return cells


def _supervision_page(
    request: HttpRequest, notice: Notice, org: Org, *, status: int = 200
) -> HttpResponse:
    user = request.user
    head, rows = selectors.supervision(notice, org, user)
    late_ack = selectors.late_list(notice, org, user, kind=ReminderKind.ACK)
    late_report = selectors.late_list(notice, org, user, kind=ReminderKind.REPORT)
    trail = [
        o
        for o in org_selectors.breadcrumb(org)
        if o.depth >= notice.issuer.depth and scoping.can(user, Perm.ORG_VIEW, o)
    ]
    context = {
        "notice": notice,
        "org": org,
        "trail": trail,
        "head": head,
        "head_cells": _cells(head),
        "rows": [
            {"org": r.org, "audience": r.values.get("audience", 0), "cells": _cells(r)}
            for r in rows
        ],
        "columns": [{"label": STEP_LABELS[step], "opt": opt} for step, opt in COLUMNS],
        "late_ack": late_ack[:LATE_SHOWN],
        "late_ack_count": late_ack.count(),
        "late_report": late_report[:LATE_SHOWN],
        "late_report_count": late_report.count(),
        "late_shown": LATE_SHOWN,
        "can_remind": notice.status == NoticeStatus.ISSUED
        and scoping.can(user, Perm.NOTICE_REVIEW, org),
        "batch_key": new_key(),
        "is_issuer": org.pk == notice.issuer_id,
    }
    return render(request, "notices/supervision.html", context, status=status)


@login_required
def supervision(request: HttpRequest, notice_id: int, org_id: int) -> HttpResponse:
    notice, org = _supervised(request, notice_id, org_id)
    return _supervision_page(request, notice, org)


@login_required
def supervision_remind(request: HttpRequest, notice_id: int, org_id: int) -> HttpResponse:
    notice, org = _supervised(request, notice_id, org_id)
    if request.method != "POST":
        return _supervision_page(request, notice, org)
    scoping.require(request.user, Perm.NOTICE_REVIEW, org)
    form = RemindForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The form is incomplete; reload it."))
        return redirect("supervision", notice_id=notice.pk, org_id=org.pk)
    key = form.cleaned_data["batch_key"]
    kind = form.cleaned_data["kind"]
    kinds = [ReminderKind.ACK, ReminderKind.REPORT] if kind == "all" else [kind]
    try:
        reminded = sum(
            services.remind_late(
                actor=request.user,
                notice=notice,
                org=org,
                kind=k,
                batch_key=f"{key[:32]}-{k}" if len(kinds) > 1 else key,
            )
            for k in kinds
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if reminded:
            messages.success(request, _("Reminded %(n)d late unions.") % {"n": reminded})
        else:
            messages.success(request, _("Nobody new to remind: they have been reminded already."))
    return redirect("supervision", notice_id=notice.pk, org_id=org.pk)


@login_required
def ledger_export(request: HttpRequest, notice_id: int, org_id: int) -> HttpResponse:
    notice, org = _supervised(request, notice_id, org_id)
    sheet = exports.ledger_sheet(request.user, notice, org)
    return xlsx_response(sheet, f"ledger-{notice.pk}-{org.code}.xlsx")
