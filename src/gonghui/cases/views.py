"""Case pages: thin callers of services and selectors.

A worker files and follows their own requests on the phone (`mine_*`). Cadres work a
union's queue and one case at a time (`detail` and its actions), read the figures and
export the ledger; hardship aid files sit beside them.

Cases are fetched only through `selectors.case_for` (the case visibility rule): anything
the user may not read is a 404. The worker's pages answer only for the worker's own
cases, and the cadre pages refuse the case's own worker, so internal notes never reach
them. A service's refusal becomes an error on the form that was posted, re-rendered with
what was typed, or a message; every action URL answers GET with the page its form is on.
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
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from gonghui.cases import exports, selectors, services
from gonghui.cases.figures import DAYS_CAP
from gonghui.cases.forms import (
    AID_ERROR_FIELDS,
    CASE_ERROR_FIELDS,
    HARDSHIP_ERROR_FIELDS,
    AidForm,
    AssignForm,
    CadreCaseForm,
    CaseForm,
    CloseForm,
    HardshipFilterForm,
    HardshipForm,
    HardshipNewForm,
    LiftForm,
    MessageForm,
    NoteForm,
    QueueFilterForm,
    RateForm,
    ReasonForm,
    ReopenForm,
    TextForm,
    TransferForm,
    VersionForm,
    WithdrawForm,
    add_case_error,
    hardship_initial,
    new_submission_key,
)
from gonghui.cases.models import (
    Case,
    CaseCategory,
    CaseStatus,
    HardshipCause,
    HardshipFile,
    HardshipStatus,
    Outcome,
)
from gonghui.core.errors import ConcurrentEditError
from gonghui.core.xlsx import xlsx_response
from gonghui.orgs import scoping
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404
from gonghui.orgs.selectors import member_record_of

PAGE_SIZE = 30
MEMBER_MATCHES = 20
TEXT_CODES = {"text": "text"}
REASON_CODES = {"text": "reason"}


# --- fetching through the scoping filter ------------------------------------------------


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(
        Org.objects.select_related("parent"), request.user, Perm.ORG_VIEW, pk=org_id
    )


def _case_org(request: HttpRequest, org_id: int) -> Org:
    """A union whose cases the user works: outside their scope 404, visible but not
    theirs to handle 403."""
    org = _org(request, org_id)
    if not selectors.handles_cases_at(request.user, org):
        raise PermissionDenied
    return org


def _hardship_org(request: HttpRequest, org_id: int, perm: str) -> Org:
    org = _org(request, org_id)
    scoping.require(request.user, perm, org)
    return org


def _own_case(request: HttpRequest, case_id: int) -> Case:
    """The worker's own case; anybody else's is a 404 here, even one they handle."""
    case = selectors.case_for(request.user, case_id)
    if not services.is_worker_of(request.user, case):
        raise Http404
    return case


def _cadre_case(request: HttpRequest, case_id: int) -> Case:
    """A case the user reads as its handler or a supervisor. Its own worker gets a 404:
    the cadre page shows internal notes and the handling tools."""
    case = selectors.case_for(request.user, case_id)
    if services.is_worker_of(request.user, case) or not services.can_handle(request.user, case):
        raise Http404
    return case


def _page(request: HttpRequest, queryset: Any) -> Any:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _query(request: HttpRequest) -> str:
    """The current filters, without the page: for the pager's links."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _matches(request: HttpRequest, org: Org, chosen: Any) -> list[Any]:
    return selectors.member_matches(
        request.user, org, request.GET.get("q", ""), chosen=chosen, limit=MEMBER_MATCHES
    )


def _chosen_member(form: Any) -> Any:
    """The member the form names, if it names one the user may pick."""
    value = form["member"].value()
    if not value:
        return None
    try:
        return form.fields["member"].queryset.filter(pk=value).select_related("unit").first()
    except (ValueError, TypeError):
        return None


# --- the worker -------------------------------------------------------------------------


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """My requests: what I asked, where it stands, by when the union answers."""
    member = member_record_of(request.user, include_left=True)
    page = _page(request, selectors.cases_of_worker(request.user))
    today = timezone.localdate()
    for case in page.object_list:
        case.lights = selectors.case_lights(case, today)  # type: ignore[attr-defined]
    return render(request, "cases/mine.html", {"member": member, "page": page})


@login_required
def file_request(request: HttpRequest) -> HttpResponse:
    member = member_record_of(request.user, include_left=True)
    if member is None or not member.is_active:
        return render(request, "cases/file.html", {"member": member, "form": None})
    if request.method == "POST":
        form = CaseForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                case = services.file_case(
                    request.user,
                    member=member,
                    data=form.as_input(),
                    attachments=form.cleaned_data["attachments"],
                    submission_key=form.cleaned_data["submission_key"],
                )
            except (ValidationError, PermissionDenied) as exc:
                add_case_error(form, exc, field_codes=CASE_ERROR_FIELDS)
            else:
                messages.success(
                    request,
                    _("Your request %(n)s was sent to %(org)s.")
                    % {"n": case.number, "org": case.handling_org.name},
                )
                return redirect("cases:mine_detail", case_id=case.pk)
    else:
        form = CaseForm(
            initial={"submission_key": new_submission_key(), "contact_phone": member.phone}
        )
    return render(request, "cases/file.html", {"member": member, "form": form})


def _mine_page(
    request: HttpRequest, case: Case, *, bound: dict[str, Any] | None = None
) -> HttpResponse:
    answered = case.status == CaseStatus.CLOSED and case.outcome != Outcome.WITHDRAWN
    context = {
        "case": case,
        "timeline": selectors.timeline(case, for_worker=True),
        "lights": selectors.case_lights(case),
        "can_rate": answered and case.rating is None,
        "can_reopen": services.can_reopen(case),
        "reopen_deadline": services.reopen_deadline(case),
        "message_form": MessageForm(),
        "rate_form": RateForm(),
        "reopen_form": ReopenForm(),
        "withdraw_form": WithdrawForm(),
        **(bound or {}),
    }
    return render(request, "cases/mine_detail.html", context)


@login_required
def mine_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    return _mine_page(request, _own_case(request, case_id))


def _worker_action(
    request: HttpRequest,
    case_id: int,
    *,
    form_class: type,
    name: str,
    run: Any,
    done: str,
    codes: dict[str, str],
) -> HttpResponse:
    """Post one of the worker's forms: on success back to the case with `done`; refused,
    the case page again with the form as typed and the reason on it."""
    case = _own_case(request, case_id)
    if request.method != "POST":
        return _mine_page(request, case)
    form = form_class(request.POST, request.FILES)
    if form.is_valid():
        try:
            run(case, form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            add_case_error(form, exc, field_codes=codes)
        else:
            messages.success(request, done)
            return redirect(reverse("cases:mine_detail", args=[case.pk]) + "#timeline")
    return _mine_page(request, case, bound={name: form})


@login_required
def mine_message(request: HttpRequest, case_id: int) -> HttpResponse:
    return _worker_action(
        request,
        case_id,
        form_class=MessageForm,
        name="message_form",
        run=lambda case, data: services.post_message(
            request.user, case, text=data["text"], attachments=data["attachments"]
        ),
        done=_("Your message was sent."),
        codes={**TEXT_CODES, "file_": "attachments"},
    )


@login_required
def mine_rate(request: HttpRequest, case_id: int) -> HttpResponse:
    return _worker_action(
        request,
        case_id,
        form_class=RateForm,
        name="rate_form",
        run=lambda case, data: services.rate_case(
            request.user, case, rating=data["rating"], comment=data["comment"]
        ),
        done=_("Thank you for your rating."),
        codes={"rating": "rating", "text": "comment"},
    )


@login_required
def mine_reopen(request: HttpRequest, case_id: int) -> HttpResponse:
    return _worker_action(
        request,
        case_id,
        form_class=ReopenForm,
        name="reopen_form",
        run=lambda case, data: services.reopen_case(request.user, case, reason=data["reason"]),
        done=_("Your request was reopened: the union will come back to you."),
        codes=REASON_CODES,
    )


@login_required
def mine_withdraw(request: HttpRequest, case_id: int) -> HttpResponse:
    return _worker_action(
        request,
        case_id,
        form_class=WithdrawForm,
        name="withdraw_form",
        run=lambda case, data: services.withdraw_case(request.user, case, reason=data["reason"]),
        done=_("Your request was withdrawn."),
        codes=REASON_CODES,
    )


# --- a union's queue --------------------------------------------------------------------


@login_required
def queue(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _case_org(request, org_id)
    filters = QueueFilterForm(request.GET).filters()
    page = _page(request, selectors.queue(request.user, org, **filters))
    today = timezone.localdate()
    for case in page.object_list:
        case.lights = selectors.case_lights(case, today)  # type: ignore[attr-defined]
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "page": page,
        "query": _query(request),
        "categories": CaseCategory.choices,
        "can_file": scoping.can(request.user, Perm.CASE_HANDLE, org) and org.is_active,
        "can_hardship": scoping.can(request.user, Perm.HARDSHIP_VIEW, org),
        "tabs": [
            ("open", pgettext("cases", "Open")),
            ("new", CaseStatus.NEW.label),
            ("in_progress", CaseStatus.IN_PROGRESS.label),
            ("overdue", _("Overdue")),
            ("closed", CaseStatus.CLOSED.label),
            ("all", _("All")),
        ],
        **filters,
    }
    return render(request, "cases/queue.html", context)


@login_required
def file_for_worker(request: HttpRequest, org_id: int) -> HttpResponse:
    """A cadre files what a worker asked by phone, in person or by letter."""
    org = _case_org(request, org_id)
    scoping.require(request.user, Perm.CASE_HANDLE, org)
    if request.method == "POST":
        form = CadreCaseForm(request.POST, request.FILES, user=request.user, org=org)
        if form.is_valid():
            data = form.cleaned_data
            try:
                case = services.file_case(
                    request.user,
                    member=data["member"],
                    data=form.as_input(),
                    channel=data["channel"],
                    attachments=data["attachments"],
                    handling_org=org if data["handle_here"] else None,
                    submission_key=data["submission_key"],
                )
            except (ValidationError, PermissionDenied) as exc:
                add_case_error(form, exc, field_codes=CASE_ERROR_FIELDS)
            else:
                messages.success(
                    request,
                    _("Case %(n)s was filed for %(name)s and goes to %(org)s.")
                    % {"n": case.number, "name": data["member"].name, "org": case.handling_org},
                )
                if selectors.can_read(request.user, case.pk):
                    return redirect("cases:detail", case_id=case.pk)
                return redirect("cases:queue", org_id=org.pk)
    else:
        form = CadreCaseForm(
            initial={"submission_key": new_submission_key(), "member": request.GET.get("member")},
            user=request.user,
            org=org,
        )
    matches = _matches(request, org, _chosen_member(form))
    q = request.GET.get("q", "").strip()
    if request.headers.get("HX-Request"):
        return render(
            request, "cases/_member_matches.html", {"matches": matches, "form": form, "q": q}
        )
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "form": form,
        "matches": matches,
        "q": q,
    }
    return render(request, "cases/file_for.html", context)


# --- one case, for its handlers ---------------------------------------------------------


def _action_forms(user: Any, case: Case) -> dict[str, Any]:
    """The forms of what the user may do to the case now, each with the version shown."""
    if not services.can_handle(user, case):
        return {}
    initial = {"version": case.version}
    forms: dict[str, Any] = {"note_form": NoteForm(), "message_form": MessageForm()}
    if case.is_open:
        forms["contact_form"] = TextForm()
        forms["close_form"] = CloseForm(initial=initial)
        if case.status == CaseStatus.NEW:
            forms["accept_form"] = VersionForm(initial=initial)
        handlers = services.eligible_handlers(case)
        if handlers:
            forms["assign_form"] = AssignForm(
                initial={**initial, "handler": case.handler_id}, handlers=handlers
            )
        if case.handling_org.parent_id is not None:
            forms["escalate_form"] = ReasonForm(initial=initial)
        if scoping.has_any(user, Perm.CASE_SUPERVISE):
            transfer_form = TransferForm(initial=initial, user=user, case=case)
            if transfer_form.has_targets:
                forms["transfer_form"] = transfer_form
    return forms


def _detail_page(
    request: HttpRequest, case: Case, *, bound: dict[str, Any] | None = None
) -> HttpResponse:
    user = request.user
    forms = {**_action_forms(user, case), **(bound or {})}
    context = {
        "case": case,
        "org": case.handling_org,
        "trail": org_selectors.visible_breadcrumb(user, case.handling_org),
        "timeline": selectors.timeline(case, for_worker=False),
        "attachments": selectors.attachments_of(case),
        "lights": selectors.case_lights(case),
        "can_queue": selectors.handles_cases_at(user, case.handling_org),
        "can_open_hardship": scoping.can(user, Perm.HARDSHIP_CHANGE, case.handling_org)
        and case.category
        in (CaseCategory.HARDSHIP, CaseCategory.MEDICAL_AID, CaseCategory.SCHOOLING_AID),
        "hardship_files": list(case.hardship_files.all()),
        "reopen_deadline": services.reopen_deadline(case) if services.can_reopen(case) else None,
        **forms,
    }
    return render(request, "cases/detail.html", context)


@login_required
def detail(request: HttpRequest, case_id: int) -> HttpResponse:
    return _detail_page(request, _cadre_case(request, case_id))


def _cadre_action(
    request: HttpRequest,
    case_id: int,
    *,
    name: str,
    make_form: Any,
    run: Any,
    done: str,
    codes: dict[str, str] | None = None,
    anchor: str = "timeline",
) -> HttpResponse:
    """Post one action form of the case page. Done: back to the case (or to the queue
    when the case has left the user's sight) with `done`. Refused: the case page again,
    the form as typed with the reason on it; a change by someone else in between is said
    at the top, and the form then carries the version now shown."""
    case = _cadre_case(request, case_id)
    if request.method != "POST":
        return _detail_page(request, case)
    form = make_form(case, request.POST, request.FILES)
    if form.is_valid():
        try:
            run(case, form)
        except ConcurrentEditError as exc:
            messages.error(request, " ".join(exc.messages))
            data = request.POST.copy()
            data["version"] = str(case.version)
            form = make_form(case, data, request.FILES)
            form.is_valid()
        except (ValidationError, PermissionDenied) as exc:
            add_case_error(form, exc, field_codes=codes)
        else:
            messages.success(request, done)
            if selectors.can_read(request.user, case.pk):
                return redirect(reverse("cases:detail", args=[case.pk]) + f"#{anchor}")
            # Escalated or transferred out of the user's sight: back to where they work.
            if selectors.handles_cases_at(request.user, case.handling_org):
                return redirect("cases:queue", org_id=case.handling_org_id)
            return redirect("home")
    return _detail_page(request, case, bound={name: form})


def _version(form: Any) -> int | None:
    return form.cleaned_data.get("version")


@login_required
def accept(request: HttpRequest, case_id: int) -> HttpResponse:
    return _cadre_action(
        request,
        case_id,
        name="accept_form",
        make_form=lambda case, *args: VersionForm(*args),
        run=lambda case, form: services.accept_case(request.user, case, version=_version(form)),
        done=_("The case was accepted; the worker is told."),
    )


@login_required
def assign(request: HttpRequest, case_id: int) -> HttpResponse:
    return _cadre_action(
        request,
        case_id,
        name="assign_form",
        make_form=lambda case, *args: AssignForm(*args, handlers=services.eligible_handlers(case)),
        run=lambda case, form: services.assign_case(
            request.user, case, handler=form.cleaned_data["handler"], version=_version(form)
        ),
        done=_("The case was assigned."),
        codes={"handler": "handler"},
    )


@login_required
def contact(request: HttpRequest, case_id: int) -> HttpResponse:
    return _cadre_action(
        request,
        case_id,
        name="contact_form",
        make_form=lambda case, *args: TextForm(*args),
        run=lambda case, form: services.record_contact(
            request.user, case, text=form.cleaned_data["text"]
        ),
        done=_("The contact with the worker was recorded."),
        codes=TEXT_CODES,
    )


@login_required
def note(request: HttpRequest, case_id: int) -> HttpResponse:
    return _cadre_action(
        request,
        case_id,
        name="note_form",
        make_form=lambda case, *args: NoteForm(*args),
        run=lambda case, form: services.add_note(
            request.user, case, text=form.cleaned_data["text"]
        ),
        done=_("The internal note was added."),
        codes=TEXT_CODES,
    )


@login_required
def message(request: HttpRequest, case_id: int) -> HttpResponse:
    return _cadre_action(
        request,
        case_id,
        name="message_form",
        make_form=lambda case, *args: MessageForm(*args),
        run=lambda case, form: services.post_message(
            request.user,
            case,
            text=form.cleaned_data["text"],
            attachments=form.cleaned_data["attachments"],
        ),
        done=_("The message was sent to the worker."),
        codes={**TEXT_CODES, "file_": "attachments"},
    )


@login_required
def escalate(request: HttpRequest, case_id: int) -> HttpResponse:
    return _cadre_action(
        request,
        case_id,
        name="escalate_form",
        make_form=lambda case, *args: ReasonForm(*args),
        run=lambda case, form: services.escalate_case(
            request.user, case, reason=form.cleaned_data["reason"], version=_version(form)
        ),
        done=_("The case was passed up to the union above."),
        codes=REASON_CODES,
    )


@login_required
def transfer(request: HttpRequest, case_id: int) -> HttpResponse:
    return _cadre_action(
        request,
        case_id,
        name="transfer_form",
        make_form=lambda case, *args: TransferForm(*args, user=request.user, case=case),
        run=lambda case, form: services.transfer_case(
            request.user,
            case,
            to_org=form.cleaned_data["to_org"],
            reason=form.cleaned_data["reason"],
            version=_version(form),
        ),
        done=_("The case was transferred."),
        codes={**REASON_CODES, "target": "to_org", "concealed": "to_org"},
    )


@login_required
def close(request: HttpRequest, case_id: int) -> HttpResponse:
    return _cadre_action(
        request,
        case_id,
        name="close_form",
        make_form=lambda case, *args: CloseForm(*args),
        run=lambda case, form: services.close_case(
            request.user, case, closing=form.as_closing(), version=_version(form)
        ),
        done=_("The case was closed; the worker is told and may rate the answer."),
        codes={"outcome": "outcome", "note": "note"},
    )


@login_required
def attachment_download(request: HttpRequest, case_attachment_id: int) -> HttpResponse:
    item = selectors.attachment_for(request.user, case_attachment_id)
    case = item.case
    # The worker gets only what their own timeline shows.
    if (
        services.is_worker_of(request.user, case)
        and not services.can_handle(request.user, case)
        and item.event is not None
        and not item.event.worker_visible
    ):
        raise Http404
    try:
        handle = item.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    inline = item.content_type.startswith("image/") or item.content_type == "application/pdf"
    return FileResponse(
        handle, as_attachment=not inline, filename=item.name, content_type=item.content_type
    )


# --- figures and ledger -----------------------------------------------------------------


@login_required
def figures(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    total, children = selectors.case_figures(org, request.user)
    by_category = [
        (label, total.by_category.get(value, 0)) for value, label in CaseCategory.choices
    ]
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "total": total,
        "children": children,
        "by_category": by_category,
        "chart": {
            "names": [str(n) for n, _v in by_category],
            "values": [v for _n, v in by_category],
        },
        "can_queue": selectors.handles_cases_at(request.user, org),
        "can_hardship": scoping.can(request.user, Perm.HARDSHIP_VIEW, org),
        "days_cap": DAYS_CAP,
    }
    return render(request, "cases/figures.html", context)


@login_required
def ledger(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _case_org(request, org_id)
    return xlsx_response(exports.ledger_sheet(request.user, org), f"case-ledger-{org.code}.xlsx")


# --- hardship aid files -----------------------------------------------------------------


@login_required
def hardship_list(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _hardship_org(request, org_id, Perm.HARDSHIP_VIEW)
    filters = HardshipFilterForm(request.GET).filters()
    page = _page(request, selectors.hardship_files(request.user, org, **filters))
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "page": page,
        "query": _query(request),
        "status": filters["status"] or "all",
        "due": filters["due"],
        "q": filters["q"],
        "statuses": [*HardshipStatus.choices, ("all", _("All"))],
        "today": timezone.localdate(),
        "can_change": scoping.can(request.user, Perm.HARDSHIP_CHANGE, org) and org.is_active,
    }
    return render(request, "cases/hardship_list.html", context)


@login_required
def hardship_new(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _hardship_org(request, org_id, Perm.HARDSHIP_CHANGE)
    if request.method == "POST":
        form = HardshipNewForm(request.POST, user=request.user, org=org)
        if form.is_valid():
            try:
                file = services.open_hardship_file(
                    request.user,
                    member=form.cleaned_data["member"],
                    org=org,
                    data=form.as_input(),
                    case=form.cleaned_data["case_number"],
                )
            except (ValidationError, PermissionDenied) as exc:
                add_case_error(form, exc, field_codes=HARDSHIP_ERROR_FIELDS)
            else:
                messages.success(
                    request,
                    _("The hardship aid file of %(name)s was opened.") % {"name": file.member.name},
                )
                return redirect("cases:hardship_detail", file_id=file.pk)
    else:
        # Opened from a case's page: the worker and the case filled in.
        wanted = request.GET.get("case", "")
        linked = selectors.case_for_or_none(request.user, wanted)
        form = HardshipNewForm(
            initial={
                "member": linked.member_id if linked else request.GET.get("member"),
                "case_number": linked.number if linked else "",
            },
            user=request.user,
            org=org,
        )
    matches = _matches(request, org, _chosen_member(form))
    q = request.GET.get("q", "").strip()
    if request.headers.get("HX-Request"):
        return render(
            request, "cases/_member_matches.html", {"matches": matches, "form": form, "q": q}
        )
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "form": form,
        "matches": matches,
        "q": q,
    }
    return render(request, "cases/hardship_new.html", context)


def _givers(user: Any, file: HardshipFile) -> list[Org]:
    """Unions that may record aid on the file: its own and those above it, where the user
    keeps hardship files."""
    return [
        o for o in org_selectors.breadcrumb(file.org) if scoping.can(user, Perm.HARDSHIP_CHANGE, o)
    ]


def _hardship_page(
    request: HttpRequest, file: HardshipFile, *, bound: dict[str, Any] | None = None
) -> HttpResponse:
    user = request.user
    can_change = scoping.can(user, Perm.HARDSHIP_CHANGE, file.org)
    active = file.status == HardshipStatus.ACTIVE
    forms: dict[str, Any] = {}
    if can_change and active:
        forms["review_form"] = HardshipForm(initial=hardship_initial(file))
        forms["lift_form"] = LiftForm(initial={"version": file.version})
    givers = _givers(user, file)
    if givers and active:
        forms["aid_form"] = AidForm(
            initial={"given_on": timezone.localdate(), "org": file.org_id}, givers=givers
        )
    context = {
        "file": file,
        "org": file.org,
        "trail": org_selectors.visible_breadcrumb(user, file.org),
        "aid": list(file.aid.select_related("org", "recorded_by")),
        "causes": [HardshipCause(c).label for c in file.causes if c in HardshipCause.values],
        "case_visible": file.case_id is not None and selectors.can_read(user, file.case_id),
        "today": timezone.localdate(),
        **forms,
        **(bound or {}),
    }
    return render(request, "cases/hardship_detail.html", context)


@login_required
def hardship_detail(request: HttpRequest, file_id: int) -> HttpResponse:
    return _hardship_page(request, selectors.hardship_file_for(request.user, file_id))


def _hardship_action(
    request: HttpRequest,
    file_id: int,
    *,
    name: str,
    allowed: Any,
    make_form: Any,
    run: Any,
    done: str,
    codes: dict[str, str] | None = None,
) -> HttpResponse:
    """Post one form of the hardship file page; like `_cadre_action`. A file the user
    reads but may not change: 403."""
    file = selectors.hardship_file_for(request.user, file_id)
    if request.method != "POST":
        return _hardship_page(request, file)
    if not allowed(file):
        raise PermissionDenied
    form = make_form(file, request.POST)
    if form.is_valid():
        try:
            run(file, form)
        except ConcurrentEditError as exc:
            messages.error(request, " ".join(exc.messages))
            data = request.POST.copy()
            data["version"] = str(file.version)
            form = make_form(file, data)
            form.is_valid()
        except (ValidationError, PermissionDenied) as exc:
            add_case_error(form, exc, field_codes=codes)
        else:
            messages.success(request, done)
            return redirect("cases:hardship_detail", file_id=file.pk)
    return _hardship_page(request, file, bound={name: form})


@login_required
def hardship_review(request: HttpRequest, file_id: int) -> HttpResponse:
    return _hardship_action(
        request,
        file_id,
        name="review_form",
        allowed=lambda file: scoping.can(request.user, Perm.HARDSHIP_CHANGE, file.org),
        make_form=lambda file, *args: HardshipForm(*args),
        run=lambda file, form: services.review_hardship_file(
            request.user, file, data=form.as_input(), version=_version(form)
        ),
        done=_("The review was saved."),
    )


@login_required
def hardship_lift(request: HttpRequest, file_id: int) -> HttpResponse:
    return _hardship_action(
        request,
        file_id,
        name="lift_form",
        allowed=lambda file: scoping.can(request.user, Perm.HARDSHIP_CHANGE, file.org),
        make_form=lambda file, *args: LiftForm(*args),
        run=lambda file, form: services.lift_hardship_file(
            request.user, file, reason=form.cleaned_data["reason"], version=_version(form)
        ),
        done=_("The family is recorded as out of hardship; the file is kept."),
        codes=REASON_CODES,
    )


@login_required
def hardship_aid(request: HttpRequest, file_id: int) -> HttpResponse:
    return _hardship_action(
        request,
        file_id,
        name="aid_form",
        allowed=lambda file: bool(_givers(request.user, file)),
        make_form=lambda file, *args: AidForm(*args, givers=_givers(request.user, file)),
        run=lambda file, form: services.record_aid(request.user, file, **form.as_kwargs()),
        done=_("The aid was recorded."),
        codes=AID_ERROR_FIELDS,
    )
