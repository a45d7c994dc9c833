"""Activity pages: thin callers of services and selectors.

Cadres fetch an activity through the scoping filter (outside their scope: 404; visible
but not theirs to manage: 403). A worker sees an activity only when they are in its
audience (else 404), and checks in by the QR code on the venue's screen or by the
6-digit code. Every change goes through a service, which writes the audit log; its
refusal becomes a message or an error on the form, so nothing typed is lost. Every
action URL also answers GET with the page its form lives on.
"""

from __future__ import annotations

import datetime
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from gonghui.activities import pdf, selectors, services
from gonghui.activities.forms import (
    ACTIVITY_ERROR_FIELDS,
    ActivityForm,
    CancelForm,
    CodeForm,
    EvidenceForm,
    SheetForm,
    initial_of,
)
from gonghui.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Evidence,
    Registration,
    RegistrationStatus,
)
from gonghui.core.forms import add_service_error
from gonghui.core.xlsx import Sheet, xlsx_response
from gonghui.orgs import scoping
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Member, MemberStatus, Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404

PAGE_SIZE = 30
CHECKINS_SHOWN = 50
REGISTRATIONS_SHOWN = 200
SIGN_IN_SHEET_MAX = 3000
PENDING_SCAN = "activities.pending_scan"
RELATED = ("org", "venue_org", "requirement__notice", "created_by")


# --- fetching through the scoping filter -----------------------------------------------------


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(
        Org.objects.select_related("parent"), request.user, Perm.ORG_VIEW, pk=org_id
    )


def _activity(request: HttpRequest, activity_id: int) -> Activity:
    """An activity the user sees as a cadre (organised or held in their scope)."""
    return get_in_scope_or_404(
        Activity.objects.select_related(*RELATED), request.user, Perm.ORG_VIEW, pk=activity_id
    )


def _managed(request: HttpRequest, activity_id: int) -> Activity:
    """An activity the user may manage: in scope (else 404) and theirs (else 403)."""
    activity = _activity(request, activity_id)
    if not services.can_manage(request.user, activity):
        raise PermissionDenied
    return activity


def _require_manage(request: HttpRequest, activity: Activity) -> None:
    if not services.can_manage(request.user, activity):
        raise PermissionDenied


def _member(user: Any) -> Member | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Member.objects.filter(user=user, status=MemberStatus.ACTIVE).select_related("unit").first()
    )


def _visible(request: HttpRequest, activity_id: int) -> tuple[Activity, bool]:
    """The activity and whether the user sees it as a cadre; a worker only when in its
    audience. Anyone else: 404."""
    activity = (
        Activity.objects.restrict(request.user, Perm.ORG_VIEW)
        .select_related(*RELATED)
        .filter(pk=activity_id)
        .first()
    )
    if activity is not None:
        return activity, True
    member = _member(request.user)
    activity = Activity.objects.select_related(*RELATED).filter(pk=activity_id).first()
    if activity is None or member is None or not services.in_audience(activity, member):
        raise Http404
    return activity, False


def _error_text(exc: Exception) -> str:
    if isinstance(exc, services.CheckInRefused):
        return exc.message
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or _("You do not have permission to do this.")


def _next_or(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# --- an org's activities ----------------------------------------------------------------------


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The menu entry: a cadre's own union's activities, a worker's own page."""
    org = org_selectors.primary_org(request.user)
    if org is None:
        return redirect("activities:mine")
    return redirect("activities:org_activities", org_id=org.pk)


def _month(request: HttpRequest) -> tuple[int, int] | None:
    text = request.GET.get("month", "")
    try:
        day = datetime.datetime.strptime(text, "%Y-%m")
    except ValueError:
        return None
    return day.year, day.month


def _filters(request: HttpRequest) -> dict[str, Any]:
    scope = request.GET.get("scope", selectors.OWN)
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    return {
        "scope": scope if scope in (selectors.OWN, selectors.SUBTREE) else selectors.OWN,
        "kind": kind if kind in ActivityKind.values else "",
        "status": status if status in ActivityStatus.values else "",
        "month": _month(request),
    }


def _filtered(request: HttpRequest, org: Org, filters: dict[str, Any]) -> Any:
    qs = selectors.activities_of_org(request.user, org, scope=filters["scope"])
    if filters["kind"]:
        qs = qs.filter(kind=filters["kind"])
    if filters["status"]:
        qs = qs.filter(status=filters["status"])
    return qs


def _list_context(request: HttpRequest, org: Org, filters: dict[str, Any]) -> dict[str, Any]:
    month = filters["month"]
    return {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "scope": filters["scope"],
        "kind": filters["kind"],
        "status": filters["status"],
        "month": f"{month[0]:04d}-{month[1]:02d}" if month else "",
        "kinds": ActivityKind.choices,
        "statuses": ActivityStatus.choices,
        "can_schedule": scoping.can(request.user, Perm.ACTIVITY_MANAGE, org) and org.is_active,
    }


@login_required
def org_activities(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    filters = _filters(request)
    qs = _filtered(request, org, filters)
    if filters["month"]:
        qs = selectors.in_month(qs, *filters["month"])
    page = Paginator(
        selectors.with_checkin_counts(qs.order_by("-starts_at", "-id")), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    context = _list_context(request, org, filters)
    query = request.GET.copy()
    query.pop("page", None)
    context.update({"page": page, "query": query.urlencode()})
    return render(request, "activities/org_activities.html", context)


@login_required
def org_calendar(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    filters = _filters(request)
    today = timezone.localdate()
    year, month = filters["month"] or (today.year, today.month)
    filters["month"] = (year, month)
    weeks = selectors.month_calendar(_filtered(request, org, filters), year, month)
    first = datetime.date(year, month, 1)
    previous = (first - datetime.timedelta(days=1)).replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    context = _list_context(request, org, filters)
    context.update(
        {
            "weeks": weeks,
            "first": first,
            "previous": f"{previous:%Y-%m}",
            "following": f"{following:%Y-%m}",
            "weekdays": [
                _("Mon"),
                _("Tue"),
                _("Wed"),
                _("Thu"),
                _("Fri"),
                _("Sat"),
                _("Sun"),
            ],
        }
    )
    return render(request, "activities/org_calendar.html", context)


# --- scheduling and editing ------------------------------------------------------------------


def _form_page(
    request: HttpRequest, form: ActivityForm, org: Org, activity: Activity | None
) -> HttpResponse:
    title = (
        _("Edit “%(title)s”") % {"title": activity.title}
        if activity
        else _("New activity of %(org)s") % {"org": org.name}
    )
    return render(
        request,
        "activities/activity_form.html",
        {
            "form": form,
            "org": org,
            "activity": activity,
            "title": title,
            "trail": org_selectors.visible_breadcrumb(request.user, org),
        },
    )


@login_required
def activity_create(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    scoping.require(request.user, Perm.ACTIVITY_MANAGE, org)
    if request.method == "POST":
        form = ActivityForm(request.POST, org=org)
        if form.is_valid():
            try:
                activity = services.schedule_activity(request.user, org=org, data=form.as_input())
            except (ValidationError, PermissionDenied) as exc:
                add_service_error(form, exc, field_codes=ACTIVITY_ERROR_FIELDS)
            else:
                messages.success(
                    request,
                    _("“%(title)s” was scheduled. Its check-in code is %(code)s.")
                    % {"title": activity.title, "code": activity.check_in_code},
                )
                return redirect("activities:detail", activity_id=activity.pk)
        return _form_page(request, form, org, None)
    start = timezone.localtime().replace(minute=0, second=0, microsecond=0)
    start += datetime.timedelta(days=1)
    start = start.replace(hour=9)
    initial: dict[str, Any] = {
        "kind": ActivityKind.LECTURE,
        "venue": org.pk,
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
    }
    form = ActivityForm(initial=initial, org=org)
    if not form.small:
        form.initial["venue"] = org.code
    wanted = request.GET.get("requirement", "")
    if wanted.isdigit() and any(
        str(v) == wanted for v, _label in form.fields["requirement"].choices
    ):
        form.initial["requirement"] = int(wanted)
        form.initial["kind"] = _kind_for_requirement(int(wanted))
    return _form_page(request, form, org, None)


def _kind_for_requirement(requirement_id: int) -> str:
    from gonghui.notices.models import Requirement

    kind = Requirement.objects.filter(pk=requirement_id).values_list("kind", flat=True).first()
    return kind if kind in ActivityKind.values else ActivityKind.LECTURE


@login_required
def activity_edit(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _managed(request, activity_id)
    org = activity.org
    if request.method == "POST":
        form = ActivityForm(request.POST, org=org)
        if form.is_valid():
            try:
                saved = services.update_activity(
                    request.user,
                    activity,
                    form.as_input(),
                    version=form.cleaned_data["version"] or 0,
                )
            except (ValidationError, PermissionDenied) as exc:
                add_service_error(form, exc, field_codes=ACTIVITY_ERROR_FIELDS)
            else:
                messages.success(request, _("The changes were saved."))
                return redirect("activities:detail", activity_id=saved.pk)
        return _form_page(request, form, org, activity)
    form = ActivityForm(org=org)
    form.initial = initial_of(activity, small=form.small)
    return _form_page(request, form, org, activity)


# --- the activity ----------------------------------------------------------------------------


def _detail_page(
    request: HttpRequest,
    activity: Activity,
    *,
    sheet_rejected: services.AttendanceSheetRejected | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    manage = services.can_manage(user, activity)
    query = request.GET.get("q", "").strip()
    roster = (
        selectors.roster_page(activity, user, query=query, page=request.GET.get("page"))
        if manage
        else None
    )
    checkins = Paginator(selectors.checkins(activity), CHECKINS_SHOWN).get_page(
        request.GET.get("checkins_page")
    )
    now = timezone.now()
    context = {
        "activity": activity,
        "org": activity.org,
        "trail": org_selectors.visible_breadcrumb(user, activity.org),
        "can_manage": manage,
        "counts": selectors.counts(activity),
        "audience_units": list(activity.audience_units.order_by("path")),
        "audience_kinds": [
            label
            for value, label in ActivityForm.base_fields["audience_kinds"].choices
            if value in activity.audience_kinds
        ],
        "registrations": list(selectors.registrations(activity)[:REGISTRATIONS_SHOWN]),
        "checkins": checkins,
        "roster": roster,
        "query": query,
        "evidence": list(activity.evidence.select_related("uploaded_by")),
        "sheet_form": SheetForm(),
        "sheet_rejected": sheet_rejected,
        "evidence_form": EvidenceForm(),
        "can_mark_held": manage
        and activity.status == ActivityStatus.PLANNED
        and activity.starts_at <= now,
        "is_open": activity.status != ActivityStatus.CANCELLED,
    }
    return render(request, "activities/activity_detail.html", context, status=status)


def _worker_page(request: HttpRequest, activity: Activity, member: Member) -> HttpResponse:
    context = {
        "activity": activity,
        "member": member,
        "registration": selectors.registration_of(activity, member),
        "checkin": selectors.checkin_of(activity, member),
        "counts": selectors.counts(activity),
        "may_register": activity.status == ActivityStatus.PLANNED
        and activity.ends_at > timezone.now(),
    }
    return render(request, "activities/activity_worker.html", context)


@login_required
def activity_detail(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity, as_cadre = _visible(request, activity_id)
    if as_cadre:
        return _detail_page(request, activity)
    member = _member(request.user)
    if member is None:  # (_visible let a worker through only with a member record)
        raise Http404
    return _worker_page(request, activity, member)


def _back(activity: Activity, anchor: str = "") -> HttpResponse:
    url = reverse("activities:detail", kwargs={"activity_id": activity.pk})
    return redirect(f"{url}#{anchor}" if anchor else url)


@login_required
def activity_mark_held(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _activity(request, activity_id)
    if request.method != "POST":
        return _detail_page(request, activity)
    _require_manage(request, activity)
    try:
        services.mark_held(request.user, activity)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Marked as held."))
    return _back(activity)


@login_required
def activity_cancel(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _managed(request, activity_id)
    form = CancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.cancel_activity(request.user, activity, reason=form.cleaned_data["reason"])
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc, field_codes={"reason": "reason"})
        else:
            messages.success(request, _("“%(title)s” was cancelled.") % {"title": activity.title})
            return _back(activity)
    return render(
        request,
        "activities/confirm.html",
        {
            "activity": activity,
            "form": form,
            "title": _("Cancel “%(title)s”?") % {"title": activity.title},
            "intro": _(
                "A cancelled activity counts nothing: what it counted (held, attendances, "
                "members and units reached) is withdrawn, and registered members are told."
            ),
            "allowed": not activity.is_cancelled,
            "refusal": _("This activity was cancelled."),
            "button": _("Cancel the activity"),
            "danger": True,
        },
    )


@login_required
def qr_renew(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _activity(request, activity_id)
    if request.method != "POST":
        return _detail_page(request, activity)
    _require_manage(request, activity)
    try:
        services.renew_qr_secret(request.user, activity)
    except PermissionDenied as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Every QR code shown so far no longer works."))
    return redirect(_next_or(request, reverse("activities:detail", args=[activity.pk])))


# --- attendance: roster, sheet ---------------------------------------------------------------


@login_required
def roster(request: HttpRequest, activity_id: int) -> HttpResponse:
    """GET (htmx): the audience rows matching ?q=; POST: tick members present."""
    activity = _activity(request, activity_id)
    if request.method != "POST":
        if not request.headers.get("HX-Request"):
            return _detail_page(request, activity)
        if not services.can_manage(request.user, activity):
            raise PermissionDenied
        query = request.GET.get("q", "").strip()
        page = selectors.roster_page(
            activity, request.user, query=query, page=request.GET.get("page")
        )
        return render(
            request,
            "activities/_roster_rows.html",
            {"activity": activity, "roster": page, "query": query, "can_manage": True},
        )
    _require_manage(request, activity)
    ids = {int(v) for v in request.POST.getlist("member") if v.isdigit()}
    if not ids:
        messages.error(request, _("Tick the members who are present."))
        return _back(activity, "roster")
    # Only members the cadre can see on the roster: an id from elsewhere is not taken.
    visible = set(
        selectors.audience(activity, request.user).filter(pk__in=ids).values_list("pk", flat=True)
    )
    if visible != ids:
        messages.error(request, _("Some of the ticked members are not in the audience."))
        return _back(activity, "roster")
    try:
        outcome = services.roster_check_in(request.user, activity, visible)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
        return _back(activity, "roster")
    if outcome.refused:
        messages.error(
            request,
            _("Nobody was checked in: %(reasons)s")
            % {"reasons": "；".join(reason for _m, reason in outcome.refused)},
        )
    else:
        messages.success(
            request,
            _("%(new)d checked in, %(already)d already were.")
            % {"new": outcome.checked_in, "already": outcome.already},
        )
    return _back(activity, "roster")


@login_required
def sheet_upload(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _activity(request, activity_id)
    if request.method != "POST":
        return _detail_page(request, activity)
    _require_manage(request, activity)
    form = SheetForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose the attendance sheet (.xlsx or .csv) to upload."))
        return _back(activity, "sheet")
    upload = form.cleaned_data["sheet"]
    try:
        outcome = services.import_attendance_sheet(request.user, activity, upload, upload.name)
    except services.AttendanceSheetRejected as rejected:
        return _detail_page(request, activity, sheet_rejected=rejected)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
        return _back(activity, "sheet")
    messages.success(
        request,
        _("The sheet was accepted: %(new)d checked in, %(already)d already were.")
        % {"new": outcome.checked_in, "already": outcome.already},
    )
    return _back(activity, "checkins")


@login_required
def sheet_template(request: HttpRequest) -> HttpResponse:
    if not scoping.has_any(request.user, Perm.ACTIVITY_MANAGE):
        raise Http404
    sheet = Sheet(
        title="签到表",
        headers=["姓名", "身份证号"],
        rows=[["张三", "510104199003070023"]],
        notes=[
            (
                "说明",
                [
                    "每行一名到场的会员；身份证号必须填写，姓名可留空，填写时须与会员信息一致。",
                    "身份证号：18 位，末位可为 X，校验位必须正确。",
                    "任何一行有误时整份文件都不导入，并列出每一行的原因；改正后重新上传即可。",
                    "同一会员重复上传只计一次签到。",
                ],
            )
        ],
    )
    return xlsx_response(sheet, "attendance-template.xlsx")


# --- evidence ---------------------------------------------------------------------------------


@login_required
def evidence_add(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _activity(request, activity_id)
    if request.method != "POST":
        return _detail_page(request, activity)
    _require_manage(request, activity)
    form = EvidenceForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose the kind and the file to attach."))
        return _back(activity, "evidence")
    try:
        evidence = services.add_evidence(
            request.user, activity, upload=form.cleaned_data["file"], kind=form.cleaned_data["kind"]
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("%(name)s was attached.") % {"name": evidence.name})
    return _back(activity, "evidence")


@login_required
def evidence_download(request: HttpRequest, activity_id: int, evidence_id: int) -> HttpResponse:
    activity = _activity(request, activity_id)
    item = get_object_or_404(Evidence, pk=evidence_id, activity=activity)
    try:
        handle = item.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    inline = item.content_type.startswith("image/") or item.content_type == "application/pdf"
    return FileResponse(
        handle, as_attachment=not inline, filename=item.name, content_type=item.content_type
    )


@login_required
def evidence_remove(request: HttpRequest, activity_id: int, evidence_id: int) -> HttpResponse:
    activity = _managed(request, activity_id)
    item = get_object_or_404(Evidence, pk=evidence_id, activity=activity)
    if request.method == "POST":
        try:
            services.remove_evidence(request.user, item)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, _("%(name)s was removed.") % {"name": item.name})
        return _back(activity, "evidence")
    return render(
        request,
        "activities/confirm.html",
        {
            "activity": activity,
            "title": _("Remove %(name)s?") % {"name": item.name},
            "intro": _("The file is removed from the activity's evidence."),
            "allowed": True,
            "button": _("Remove"),
            "danger": True,
        },
    )


# --- registration ----------------------------------------------------------------------------


@login_required
def register(request: HttpRequest, activity_id: int) -> HttpResponse:
    """A worker registers themselves (a place, or the waiting list when full)."""
    activity, _as_cadre = _visible(request, activity_id)
    if request.method != "POST":
        return activity_detail(request, activity_id)
    back = _next_or(request, reverse("activities:detail", args=[activity.pk]))
    member = _member(request.user)
    if member is None:
        messages.error(request, _("Your account is not linked to a union member record."))
        return redirect(back)
    try:
        registration = services.register(request.user, activity, member)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        if registration.status == RegistrationStatus.WAITLISTED:
            messages.success(request, _("The activity is full: you are on the waiting list."))
        else:
            messages.success(request, _("You are registered."))
    return redirect(back)


@login_required
def cancel_registration(request: HttpRequest, registration_id: int) -> HttpResponse:
    """The member cancels their registration, or a cadre who manages the activity does."""
    registration = get_object_or_404(
        Registration.objects.select_related("member", "activity"), pk=registration_id
    )
    own = registration.member.user_id == request.user.pk
    visible = (
        Activity.objects.restrict(request.user, Perm.ORG_VIEW)
        .filter(pk=registration.activity_id)
        .exists()
    )
    if not own and not visible:
        raise Http404
    if request.method != "POST":
        return activity_detail(request, registration.activity_id)
    back = _next_or(request, reverse("activities:detail", args=[registration.activity_id]))
    try:
        services.cancel_registration(request.user, registration)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request,
            _("The registration of %(name)s was cancelled.") % {"name": registration.member.name},
        )
    return redirect(back)


# --- the QR screen at the venue ---------------------------------------------------------------


def _screen_state(request: HttpRequest, activity: Activity) -> dict[str, Any]:
    token = services.qr_token(activity)
    url = request.build_absolute_uri(reverse("activities:scan", kwargs={"token": token}))
    svg = segno.make(url, error="m").svg_inline(scale=10, border=2, omitsize=True)
    return {
        "url": url,
        "svg": svg,
        "code": activity.check_in_code,
        "checked_in": selectors.counts(activity).checked_in,
        "open": activity.check_in_open,
        "rotate_seconds": services.QR_ROTATE_SECONDS,
    }


@login_required
@never_cache
def qr_screen(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _managed(request, activity_id)
    return render(
        request,
        "activities/screen.html",
        {"activity": activity, **_screen_state(request, activity)},
    )


@login_required
@never_cache
def qr_screen_token(request: HttpRequest, activity_id: int) -> HttpResponse:
    """The screen's next QR code (fetched every QR_ROTATE_SECONDS)."""
    activity = _managed(request, activity_id)
    return JsonResponse(_screen_state(request, activity))


# --- checking in ------------------------------------------------------------------------------


def _result(
    request: HttpRequest,
    *,
    activity: Activity | None,
    outcome: str,
    message: str = "",
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "activities/check_in_result.html",
        {"activity": _shown(request, activity), "outcome": outcome, "message": message},
        status=status,
    )


def _shown(request: HttpRequest, activity: Activity | None) -> Activity | None:
    """The activity, if the user may read it (a cadre in scope, a worker of its audience):
    a valid token alone does not show another city's activity."""
    if activity is None:
        return None
    if Activity.objects.restrict(request.user, Perm.ORG_VIEW).filter(pk=activity.pk).exists():
        return activity
    member = _member(request.user)
    return activity if member is not None and services.in_audience(activity, member) else None


def _checked(request: HttpRequest, result: services.CheckInResult) -> HttpResponse:
    return _result(
        request, activity=result.activity, outcome="created" if result.created else "already"
    )


def _activity_of_token(token: str) -> Activity | None:
    """The activity of a validly signed token (to name it on a refusal), else None."""
    try:
        return services.activity_of_token(token)
    except services.CheckInRefused:
        return None


@never_cache
def scan(request: HttpRequest, token: str) -> HttpResponse:
    """The QR code's target. Signed in: GET confirms, POST checks in. Signed out: the scan
    is remembered (the token was valid now) and finished right after signing in."""
    if request.user.is_authenticated and request.method == "POST":
        try:
            result = services.check_in_with_token(request.user, token)
        except services.CheckInRefused as refused:
            return _result(
                request,
                activity=_activity_of_token(token),
                outcome="refused",
                message=refused.message,
            )
        return _checked(request, result)
    try:
        activity = services.activity_of_token(token)
    except services.CheckInRefused as refused:
        return _result(request, activity=None, outcome="refused", message=refused.message)
    if not request.user.is_authenticated:
        request.session[PENDING_SCAN] = {
            "activity": activity.pk,
            "scanned_at": timezone.now().isoformat(),
        }
        return redirect_to_login(reverse("activities:scan_finish"))
    # Ask only those who may check in; the others learn why, and nothing of the activity.
    try:
        member = services.member_of(request.user)
    except services.CheckInRefused as refused:
        return _result(request, activity=None, outcome="refused", message=refused.message)
    if not services.in_audience(activity, member):
        message = _("%(name)s is not in the audience of this activity.") % {"name": member.name}
        return _result(request, activity=None, outcome="refused", message=message)
    if selectors.checkin_of(activity, member) is not None:
        return _result(request, activity=activity, outcome="already")
    return render(
        request,
        "activities/scan_confirm.html",
        {"activity": activity, "token": token, "member": member},
    )


@login_required
@never_cache
def scan_finish(request: HttpRequest) -> HttpResponse:
    """After signing in: finish the check-in begun by scanning while signed out."""
    pending = request.session.pop(PENDING_SCAN, None)
    scanned_at = parse_datetime(pending.get("scanned_at", "")) if pending else None
    activity = (
        Activity.objects.select_related("venue_org").filter(pk=pending.get("activity")).first()
        if pending
        else None
    )
    if activity is None or scanned_at is None:
        messages.error(request, _("No scanned QR code is waiting. Scan the code on the screen."))
        return redirect("activities:check_in_code")
    try:
        result = services.check_in_scanned(request.user, activity, scanned_at=scanned_at)
    except services.CheckInRefused as refused:
        return _result(request, activity=activity, outcome="refused", message=refused.message)
    return _checked(request, result)


@login_required
def code_check_in(request: HttpRequest) -> HttpResponse:
    """A worker types the 6-digit code shown on the screen or read out."""
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.check_in_with_code(request.user, form.cleaned_data["code"])
        except services.CheckInRefused as refused:
            form.add_error("code", refused.message)
        else:
            return _checked(request, result)
    return render(
        request, "activities/check_in_code.html", {"form": form, "member": _member(request.user)}
    )


# --- the worker's page ------------------------------------------------------------------------


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """For me: what is coming up for my unit (register, cancel), what I registered for,
    and what I attended."""
    member = _member(request.user)
    if member is None:
        return render(request, "activities/mine.html", {"member": None})
    upcoming = selectors.upcoming_for(member)
    registered = selectors.registrations_of(member, upcoming)
    present = selectors.checked_in_ids(member, upcoming)
    now = timezone.now()
    for activity in upcoming:
        activity.my_registration = registered.get(activity.pk)  # type: ignore[attr-defined]
        activity.checked_in = activity.pk in present  # type: ignore[attr-defined]
        activity.may_register = (  # type: ignore[attr-defined]
            activity.status == ActivityStatus.PLANNED and activity.ends_at > now
        )
    attended = Paginator(selectors.attended_by(member), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "member": member,
        "upcoming": upcoming,
        "registered": list(selectors.registered_by(member)[:PAGE_SIZE]),
        "attended": attended,
        "now": now,
    }
    return render(request, "activities/mine.html", context)


# --- printables -------------------------------------------------------------------------------


def _pdf_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@login_required
def sign_in_sheet_pdf(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _managed(request, activity_id)
    members = list(selectors.audience(activity, request.user)[: SIGN_IN_SHEET_MAX + 1])
    truncated = len(members) > SIGN_IN_SHEET_MAX
    data = pdf.sign_in_sheet(activity, members[:SIGN_IN_SHEET_MAX], truncated=truncated)
    return _pdf_response(data, f"sign-in-sheet-{activity.pk}.pdf")


@login_required
def poster_pdf(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _activity(request, activity_id)
    url = request.build_absolute_uri(reverse("activities:detail", args=[activity.pk]))
    return _pdf_response(pdf.poster(activity, url), f"poster-{activity.pk}.pdf")
