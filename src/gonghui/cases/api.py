"""API of worker cases (职工诉求) and hardship aid files (困难职工档案): what a worker's
phone needs (file a request, follow it, write, attach a file, withdraw, rate, reopen) and
what a cadre's client needs (the queue, accept, assign, contact, notes, escalate,
transfer, close, figures, hardship files and aid).

Thin callers of `cases.services` and `cases.selectors`. A case is read only through the
case visibility rule (`Case.objects.restrict`): its worker, its handler, the case handlers
of the handling union while unassigned, and supervisors of the handling union and above;
never the unions below it, so a case filed past the employer's union is a 404 there, on
every route (the case, its timeline, its files, the queue). Everything a user may not read
answers 404; an action on a readable case the user may not take answers 403
(`permission_denied`). Refusals of services: 422 with the service's code (and field),
409 `stale` for a `version` that is no longer current.

The worker who filed a case always gets the worker's view of it: no internal notes, no
routing steps, no `handling` block.
"""

import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from gonghui.cases import figures as names
from gonghui.cases import selectors, services
from gonghui.cases.models import (
    AidRecord,
    Case,
    CaseAttachment,
    CaseCategory,
    CaseEvent,
    HardshipFile,
    HardshipStatus,
    WorkCalendarDay,
)
from gonghui.orgs import scoping
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Member, Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404
from gonghui.orgs.selectors import member_record_of

router = Router(tags=["cases"])


# --- schemas ------------------------------------------------------------------------------


class OrgRef(Schema):
    id: int
    name: str
    kind: str


class MemberRef(Schema):
    id: int
    name: str
    unit: OrgRef = Field(description="The member's unit now")


class CaseAttachmentOut(Schema):
    id: int
    name: str
    content_type: str
    size: int = Field(description="Bytes")
    by_worker: bool = Field(description="Uploaded by the worker (else by a cadre)")
    uploaded_at: datetime.datetime
    url: str = Field(description="The file, for whoever may read the case")


class EventOut(Schema):
    id: int
    kind: str = Field(
        description="filed, routed, accepted, assigned, contacted, note, message, transferred, "
        "escalated, overdue, closed, rated, reopened (the worker sees neither routed, assigned, "
        "note nor overdue)"
    )
    at: datetime.datetime
    actor: str = Field(description="Who: the cadre's name, the worker's name, or 系统")
    by_worker: bool
    text: str
    from_org: OrgRef | None = Field(description="Escalated or transferred from")
    to_org: OrgRef | None = Field(description="Routed, escalated or transferred to")
    automatic: bool = Field(description="By the deadline sweep, not a person")
    attachments: list[CaseAttachmentOut]


class HandlingOut(Schema):
    """What only handlers and supervisors see."""

    member: MemberRef = Field(description="The worker (never their ID number)")
    unit: OrgRef = Field(description="The worker's unit when the case was filed")
    channel: str = Field(description="app, phone, visit or letter")
    filed_by: str | None = Field(description="The account that filed it (a cadre on a call)")
    escalations: int
    may_handle: bool = Field(description="You may accept, assign, close … this case")


class CaseOut(Schema):
    id: int
    number: str = Field(description="The number people quote (年份 + 7 digits)")
    category: str = Field(description="wages, contract, social_insurance, hours, safety, …")
    title: str
    description: str
    contact_preference: str = Field(description="message, phone or visit")
    contact_phone: str
    conceal_from_employer_union: bool = Field(
        description="The worker's own grassroots union must not see it"
    )
    filed_at: datetime.datetime
    handling_org: OrgRef = Field(description="The union handling it now")
    handler: str | None = Field(description="The handler's username (null: not assigned)")
    status: str = Field(description="new (awaiting acceptance), in_progress or closed")
    ack_due: datetime.date = Field(description="Accept by (the handling union's deadline)")
    resolve_due: datetime.date = Field(description="Resolve by (the handling union's deadline)")
    first_ack_due: datetime.date = Field(description="Accept by, as promised when filed")
    first_resolve_due: datetime.date = Field(description="Resolve by, as promised when filed")
    accepted_at: datetime.datetime | None
    overdue: bool = Field(description="Past the deadline promised when filed")
    outcome: str = Field(
        description="resolved, arbitration, legal_aid, out_of_remit, withdrawn ('' while open)"
    )
    outcome_note: str = Field(description="The answer to the worker")
    money_recovered: int = Field(description="Yuan")
    aid_paid: int = Field(description="Yuan")
    closed_at: datetime.datetime | None
    working_days_taken: int | None = Field(description="Working days from filing to closing")
    rating: int | None = Field(description="1 to 5, by the worker")
    rating_comment: str
    rated_on: datetime.date | None
    reopened: bool = Field(description="Reopened once already (a case reopens only once)")
    can_reopen: bool = Field(description="The worker may reopen it now")
    reopen_until: datetime.date | None = Field(description="The last day it may be reopened")
    version: int = Field(description="Send it back with an action that takes one (409 stale)")
    handling: HandlingOut | None = Field(
        description="For handlers and supervisors; null in the worker's view"
    )


class CaseDetailOut(CaseOut):
    attachments: list[CaseAttachmentOut]


class CaseFilter(Schema):
    org_id: int | None = Field(
        None, description="A union's queue (it must be in your scope); left out: every case"
    )
    show: str = Field("open", description="open, new, in_progress, overdue, closed or all")
    subtree: bool = Field(False, description="With org_id: the unions below it too")
    category: str = Field("", description="Only this category")
    mine: bool = Field(False, description="Only cases assigned to you")
    q: str = Field("", description="Number or subject contains")


class CaseIn(Schema):
    member_id: int | None = Field(
        None, description="A cadre files for this worker; left out: a worker for themself"
    )
    channel: str | None = Field(
        None, description="A cadre: how the worker asked (phone, visit, letter)"
    )
    handling_org_id: int | None = Field(
        None, description="A cadre: keep the case at this union above the worker (optional)"
    )
    category: str = Field(description="wages, contract, social_insurance, hours, safety, …")
    title: str = Field(description="At most 100 characters")
    description: str = Field(description="10 to 5,000 characters")
    contact_preference: str = Field("message", description="message, phone or visit")
    contact_phone: str = Field("", description="Needed with contact_preference=phone")
    conceal_from_employer_union: bool = Field(
        False, description="Skip the worker's own union: it goes to the union above"
    )
    submission_key: str = Field(
        "", description="Any unique string per form: a retry with it files nothing twice"
    )


class VersionIn(Schema):
    version: int | None = Field(None, description="The version read (stale: 409)")


class AssignIn(VersionIn):
    handler_id: int = Field(description="A user who handles cases at the handling union")


class TextIn(Schema):
    text: str = Field(description="At most 2,000 characters")


class ReasonIn(VersionIn):
    reason: str


class WithdrawIn(Schema):
    reason: str = ""


class CaseTransferIn(VersionIn):
    to_org_id: int = Field(description="A handling union you supervise")
    reason: str


class CloseIn(VersionIn):
    outcome: str = Field(description="resolved, arbitration, legal_aid or out_of_remit")
    note: str = Field(description="What was done, or why it was referred or refused")
    money_recovered: int = Field(0, description="Yuan")
    aid_paid: int = Field(0, description="Yuan")


class RateIn(Schema):
    rating: int = Field(description="1 to 5")
    comment: str = ""


class ReopenIn(Schema):
    reason: str = Field(description="What is still unresolved")


class CaseFiguresRowOut(Schema):
    org: OrgRef
    filed: int
    open: int
    overdue: int
    acknowledged: int
    ack_on_time_rate: float | None = Field(description="Accepted on time / accepted")
    closed: int
    closed_on_time_rate: float | None = Field(
        description="Closed by the deadline promised when filed / closed"
    )
    median_days: int | None = Field(description="Median working days to close")
    median_over_cap: bool = Field(description="The median is beyond 30 working days")
    escalated: int = Field(description="Escalations away from these unions")
    rated: int
    satisfaction_rate: float | None = Field(description="Ratings of 4 or 5 / ratings")
    average_rating: float | None
    money_recovered: int = Field(description="Yuan")
    aid_paid: int = Field(description="Yuan, with cases")
    by_category: dict[str, int] = Field(description="Filed, per category")
    hardship_files: int = Field(description="Families on active hardship files")
    hardship_aid_given: int = Field(description="Times aid was given")
    hardship_aid_paid: int = Field(description="Yuan of aid given")


class CaseFiguresOut(Schema):
    subtree: CaseFiguresRowOut = Field(description="The union and everything below it")
    children: list[CaseFiguresRowOut] = Field(description="Each union directly below, visible")


class CalendarDayOut(Schema):
    day: datetime.date
    is_workday: bool = Field(description="true: a make-up workday; false: a holiday")
    note: str


class CalendarOut(Schema):
    year: int
    days: list[CalendarDayOut] = Field(
        description="Exceptions to the Monday–Friday week; every other day is as usual"
    )


class HardshipFileOut(Schema):
    id: int
    member: MemberRef = Field(description="The worker (never their ID number)")
    org: OrgRef = Field(description="The union keeping the file")
    level: str = Field(description="deep, relative or sudden")
    causes: list[str]
    family_size: int
    monthly_income_per_capita: int = Field(description="Yuan")
    situation: str
    status: str = Field(description="active or lifted")
    review_due: datetime.date
    reviewed_on: datetime.date | None
    lifted_on: datetime.date | None
    opened_on: datetime.date
    case_id: int | None = Field(description="The case it came from (only if you may read it)")
    version: int
    created_at: datetime.datetime


class AidOut(Schema):
    id: int
    file_id: int
    org: OrgRef = Field(description="The union that gave it")
    kind: str = Field(description="cash, goods, medical, schooling, employment or other")
    amount: int = Field(description="Yuan")
    given_on: datetime.date
    note: str
    recorded_by: str | None
    recorded_at: datetime.datetime


class HardshipFileDetailOut(HardshipFileOut):
    aid: list[AidOut] = Field(description="Latest first")
    aid_total: int = Field(description="Yuan, all aid on this file")


class HardshipFilter(Schema):
    org_id: int | None = Field(
        None,
        description="Files kept by this union and the unions below it (left out: the highest "
        "union in your scope)",
    )
    status: str = Field("active", description="active, lifted or all")
    due: bool = Field(False, description="Only files due for review")
    q: str = Field("", description="Member name contains")


class HardshipFieldsIn(Schema):
    level: str = Field(description="deep, relative or sudden")
    causes: list[str] = Field(
        description="illness, disability, unemployment, schooling, disaster, single_parent, other"
    )
    family_size: int = Field(description="1 to 30")
    monthly_income_per_capita: int = Field(description="Yuan")
    situation: str = Field(description="At least 10 characters")
    review_due: datetime.date = Field(description="The next review, a day in the future")


class HardshipIn(HardshipFieldsIn):
    member_id: int
    org_id: int = Field(description="The union keeping the file: the member's or one above")
    case_id: int | None = Field(None, description="The case it came from (one you may read)")


class HardshipReviewIn(HardshipFieldsIn):
    version: int | None = Field(None, description="The version read (stale: 409)")


class LiftIn(Schema):
    reason: str = Field(description="Why the family is out of hardship")
    version: int | None = Field(None, description="The version read (stale: 409)")


class AidIn(Schema):
    kind: str = Field(description="cash, goods, medical, schooling, employment or other")
    amount: int = Field(description="Yuan")
    given_on: datetime.date = Field(description="Not in the future")
    note: str = ""
    org_id: int | None = Field(
        None, description="The union giving it: the file's (default) or one above"
    )


# --- output -------------------------------------------------------------------------------


def org_ref(org: Org) -> dict[str, Any]:
    return {"id": org.pk, "name": org.name, "kind": org.kind}


def member_ref(member: Member) -> dict[str, Any]:
    # Never str(member): it carries the masked ID number.
    return {"id": member.pk, "name": member.name, "unit": org_ref(member.unit)}


def attachment_out(a: CaseAttachment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "name": a.name,
        "content_type": a.content_type,
        "size": a.size,
        "by_worker": a.by_worker,
        "uploaded_at": a.uploaded_at,
        "url": reverse("api:case_attachment", kwargs={"case_attachment_id": a.pk}),
    }


def event_out(e: CaseEvent) -> dict[str, Any]:
    return {
        "id": e.pk,
        "kind": e.kind,
        "at": e.at,
        "actor": e.actor_name,
        "by_worker": e.by_worker,
        "text": e.text,
        "from_org": org_ref(e.from_org) if e.from_org else None,
        "to_org": org_ref(e.to_org) if e.to_org else None,
        "automatic": e.automatic,
        "attachments": [attachment_out(a) for a in e.attachments.all()],
    }


def case_out(case: Case, user: Any) -> dict[str, Any]:
    handling = None
    if not services.is_worker_of(user, case):
        handling = {
            "member": member_ref(case.member),
            "unit": org_ref(case.unit),
            "channel": case.channel,
            "filed_by": case.filed_by.get_username() if case.filed_by else None,
            "escalations": case.escalations,
            "may_handle": services.can_handle(user, case),
        }
    return {
        "id": case.pk,
        "number": case.number,
        "category": case.category,
        "title": case.title,
        "description": case.description,
        "contact_preference": case.contact_preference,
        "contact_phone": case.contact_phone,
        "conceal_from_employer_union": case.conceal_from_employer_union,
        "filed_at": case.filed_at,
        "handling_org": org_ref(case.handling_org),
        "handler": case.handler.get_username() if case.handler else None,
        "status": case.status,
        "ack_due": case.ack_due,
        "resolve_due": case.resolve_due,
        "first_ack_due": case.first_ack_due,
        "first_resolve_due": case.first_resolve_due,
        "accepted_at": case.accepted_at,
        "overdue": case.overdue,
        "outcome": case.outcome,
        "outcome_note": case.outcome_note,
        "money_recovered": case.money_recovered,
        "aid_paid": case.aid_paid,
        "closed_at": case.closed_at,
        "working_days_taken": case.working_days_taken,
        "rating": case.rating,
        "rating_comment": case.rating_comment,
        "rated_on": case.rated_on,
        "reopened": case.reopened,
        "can_reopen": services.can_reopen(case),
        "reopen_until": services.reopen_deadline(case) if services.can_reopen(case) else None,
        "version": case.version,
        "handling": handling,
    }


def case_detail_out(case: Case, user: Any) -> dict[str, Any]:
    return {
        **case_out(case, user),
        "attachments": [attachment_out(a) for a in selectors.attachments_of(case)],
    }


def figures_row(f: selectors.CaseFigures) -> dict[str, Any]:
    return {
        "org": org_ref(f.org),
        "filed": f.get(names.FILED),
        "open": f.get(names.OPEN),
        "overdue": f.get(names.OVERDUE),
        "acknowledged": f.get(names.ACKNOWLEDGED),
        "ack_on_time_rate": f.ack_on_time_rate,
        "closed": f.get(names.CLOSED),
        "closed_on_time_rate": f.closed_on_time_rate,
        "median_days": f.median_days,
        "median_over_cap": f.median_over_cap,
        "escalated": f.get(names.ESCALATED),
        "rated": f.get(names.RATED),
        "satisfaction_rate": f.satisfaction_rate,
        "average_rating": f.average_rating,
        "money_recovered": f.get(names.MONEY_RECOVERED),
        "aid_paid": f.get(names.AID_PAID),
        "by_category": f.by_category,
        "hardship_files": f.get(names.HARDSHIP_FILES),
        "hardship_aid_given": f.get(names.HARDSHIP_AID_GIVEN),
        "hardship_aid_paid": f.get(names.HARDSHIP_AID_PAID),
    }


def hardship_out(file: HardshipFile, readable_case_ids: set[int]) -> dict[str, Any]:
    """`readable_case_ids`: the linked cases the viewer may read; any other link is left
    out (a file kept below a case's handling union must not reveal the case)."""
    return {
        "id": file.pk,
        "member": member_ref(file.member),
        "org": org_ref(file.org),
        "level": file.level,
        "causes": list(file.causes),
        "family_size": file.family_size,
        "monthly_income_per_capita": file.monthly_income_per_capita,
        "situation": file.situation,
        "status": file.status,
        "review_due": file.review_due,
        "reviewed_on": file.reviewed_on,
        "lifted_on": file.lifted_on,
        "opened_on": file.opened_on,
        "case_id": file.case_id if file.case_id in readable_case_ids else None,
        "version": file.version,
        "created_at": file.created_at,
    }


def aid_out(a: AidRecord) -> dict[str, Any]:
    return {
        "id": a.pk,
        "file_id": a.file_id,
        "org": org_ref(a.org),
        "kind": a.kind,
        "amount": a.amount,
        "given_on": a.given_on,
        "note": a.note,
        "recorded_by": a.recorded_by.get_username() if a.recorded_by else None,
        "recorded_at": a.recorded_at,
    }


def _readable_cases(user: Any, files: list[HardshipFile]) -> set[int]:
    ids = {f.case_id for f in files if f.case_id is not None}
    if not ids:
        return set()
    return set(selectors.visible_cases(user).filter(pk__in=ids).values_list("pk", flat=True))


def hardship_detail_out(user: Any, file: HardshipFile) -> dict[str, Any]:
    aid = list(file.aid.select_related("org", "recorded_by"))
    return {
        **hardship_out(file, _readable_cases(user, [file])),
        "aid": [aid_out(a) for a in aid],
        "aid_total": sum(a.amount for a in aid),
    }


class _Page:
    """A queryset for the paginator that converts only the rows of the page it slices
    (`convert` takes the page's rows, so it may look things up for all at once)."""

    def __init__(self, queryset: Any, convert: Any) -> None:
        self.queryset = queryset
        self.convert = convert

    def __len__(self) -> int:
        return self.queryset.count()

    def __getitem__(self, index: slice) -> list[Any]:
        return self.convert(list(self.queryset[index]))


# --- fetching -----------------------------------------------------------------------------

# The relations the case output reads (beyond those of `selectors.visible_cases`).
CASE_RELATIONS = ("unit", "filed_by", "member__unit")


def _invalid(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def _org(request: HttpRequest, org_id: int, perm: str = Perm.ORG_VIEW) -> Org:
    return get_in_scope_or_404(Org.objects.all(), request.user, perm, pk=org_id)


def _org_or_primary(request: HttpRequest, org_id: int | None, perm: str = Perm.ORG_VIEW) -> Org:
    """`org_id`, or else the highest union in the user's scope (none: 404)."""
    if org_id is None:
        primary = org_selectors.primary_org(request.user)
        if primary is None:
            raise Http404
        org_id = primary.pk
    return _org(request, org_id, perm)


def _case(request: HttpRequest, case_id: int) -> Case:
    """A case the user may read (404 otherwise)."""
    return selectors.case_for(request.user, case_id)


def _file(request: HttpRequest, file_id: int) -> HardshipFile:
    return selectors.hardship_file_for(request.user, file_id)


def _case_page(request: HttpRequest, cases: Any) -> _Page:
    user = request.user
    return _Page(
        cases.select_related(*CASE_RELATIONS), lambda rows: [case_out(c, user) for c in rows]
    )


# --- cases --------------------------------------------------------------------------------


@router.get("", response=list[CaseOut], summary="Cases you may read")
@router.get("/", response=list[CaseOut], include_in_schema=False)
@paginate(LimitOffsetPagination)
def case_list(request: HttpRequest, filters: Query[CaseFilter]):
    """Without `org_id`: every case you may read — a worker's own, a handler's, a
    supervisor's subtree. With `org_id` (a union in your scope, else 404): that union's
    queue, or its subtree's with `subtree=true`; cases you may not read are never listed
    (a case filed past a worker's own union is not in that union's queue). `show`: open
    (default; by deadline), new, in_progress, overdue, closed or all (closed and all: latest
    filed first). Refusals: `show`, `category`. Also at /api/cases/."""
    if filters.show not in selectors.QUEUE_FILTERS:
        raise _invalid("show", _("Unknown status."), "show")
    if filters.category and filters.category not in CaseCategory.values:
        raise _invalid("category", _("Choose what the request is about."), "category")
    options = {
        "show": filters.show,
        "category": filters.category,
        "mine": filters.mine,
        "q": filters.q.strip(),
    }
    if filters.org_id is None:
        cases = selectors.case_list(request.user, **options)
    else:
        org = _org(request, filters.org_id)
        cases = selectors.queue(request.user, org, subtree=filters.subtree, **options)
    return _case_page(request, cases)


@router.post(
    "",
    response={200: CaseDetailOut, 201: CaseDetailOut},
    summary="File a case (a worker, or a cadre for a worker)",
)
@router.post("/", response={200: CaseDetailOut, 201: CaseDetailOut}, include_in_schema=False)
def case_create(request: HttpRequest, payload: CaseIn):
    """A worker files for themself (leave out `member_id`; `channel` and `handling_org_id`
    are ignored: it is routed by its category, and to the county federation above them
    with `conceal_from_employer_union`). A cadre who handles cases at the worker's unit files
    for `member_id` with the `channel` the worker used, and may keep it at their own union
    above the worker (`handling_org_id`).

    Idempotent with `submission_key`: 201 with the new case; 200 with the case already
    filed under the same key for the same worker (a retried form; nothing filed twice,
    the body of the retry is not read again). The answer shows the case to whoever filed
    it, even when it went to a union they may not read. Files go up afterwards through
    …/{case_id}/attachments.

    Refusals: `no_member` (an account without a member record), `member` (not an active
    member), `channel`, `category`, `title`, `description`, `contact_preference`,
    `contact_phone`, `target`, `concealed` (422); 403 for a cadre who may see the worker
    but not handle cases there; 404 for a worker or union outside your scope."""
    user = request.user
    if payload.member_id is not None:
        member = get_in_scope_or_404(
            Member.objects.select_related("unit"), user, Perm.MEMBER_VIEW, pk=payload.member_id
        )
    else:
        member = member_record_of(user, include_left=True)
        if member is None:
            raise ValidationError(
                _("Your account is not linked to a union member record."), code="no_member"
            )
    handling_org = None
    if payload.handling_org_id and not services.is_worker_of_member(user, member):
        handling_org = _org(request, payload.handling_org_id)
    key = (payload.submission_key or "")[:64]
    seen = bool(key) and Case.objects.filter(member=member, submission_key=key).exists()
    case = services.file_case(
        user,
        member=member,
        data=services.CaseInput(
            category=payload.category,
            title=payload.title,
            description=payload.description,
            contact_preference=payload.contact_preference,
            contact_phone=payload.contact_phone,
            conceal_from_employer_union=payload.conceal_from_employer_union,
        ),
        channel=payload.channel,
        handling_org=handling_org,
        submission_key=key,
    )
    filed_it = case.filed_by_id is not None and case.filed_by_id == user.pk
    if not (filed_it or selectors.visible_cases(user).filter(pk=case.pk).exists()):
        # Another's case under the same key: a retry shows only the case one filed.
        raise Http404
    return Status(200 if seen else 201, case_detail_out(case, user))


@router.get("/mine", response=list[CaseOut], summary="My cases (a worker)")
@paginate(LimitOffsetPagination)
def my_cases(request: HttpRequest):
    """Every case filed for the signed-in worker, open or closed, latest first, in the
    worker's view. Empty for an account without a member record."""
    user = request.user
    cases = selectors.cases_of_worker(user).select_related("handler", "member")
    return _Page(cases, lambda rows: [case_out(c, user) for c in rows])


@router.get("/figures", response=CaseFiguresOut, summary="Case and hardship figures of a union")
def case_figures(request: HttpRequest, org_id: int | None = None):
    """The figures of `org_id` (a union in your scope, else 404; left out: the highest
    union in your scope) and its subtree, and of each union directly below it that you
    may see; exact now. A case counts where it is handled, never at the worker's unit: a
    case that skipped the employer's union is not even a number there. Rates are null
    when there is nothing to divide by."""
    org = _org_or_primary(request, org_id)
    subtree, children = selectors.case_figures(org, request.user)
    return {"subtree": figures_row(subtree), "children": [figures_row(c) for c in children]}


@router.get("/calendar", response=CalendarOut, summary="Holidays and make-up workdays")
def calendar(request: HttpRequest, year: int | None = None):
    """The exceptions to the Monday–Friday week that case deadlines are counted with
    (working days), for `year` (default: this year). Any signed-in user. Refusal: `year`
    (outside 1900–2100)."""
    if year is None:
        year = timezone.localdate().year
    if not 1900 <= year <= 2100:
        raise _invalid("year", _("Choose a year between 1900 and 2100."), "year")
    days: list[WorkCalendarDay] = list(selectors.calendar_year(year))
    return {
        "year": year,
        "days": [{"day": d.day, "is_workday": d.is_workday, "note": d.note} for d in days],
    }


@router.get(
    "/attachments/{case_attachment_id}",
    url_name="case_attachment",
    summary="A file attached to a case",
    response={200: None},
)
def case_attachment(request: HttpRequest, case_attachment_id: int):
    """The file itself (images and PDFs inline, others as a download), for whoever may
    read its case; 404 for everyone else."""
    attachment = selectors.attachment_for(request.user, case_attachment_id)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    inline = attachment.content_type.startswith("image/") or (
        attachment.content_type == "application/pdf"
    )
    return FileResponse(
        handle,
        as_attachment=not inline,
        filename=attachment.name,
        content_type=attachment.content_type,
    )


# --- hardship aid files -------------------------------------------------------------------
# (Before /{case_id}: these paths are not numbers, but keep the static ones first.)


@router.get(
    "/hardship-files", response=list[HardshipFileOut], summary="Hardship aid files of a union"
)
@paginate(LimitOffsetPagination)
def hardship_list(request: HttpRequest, filters: Query[HardshipFilter]):
    """Files kept by `org_id` and the unions below it, the next review first. For roles
    that read hardship files there (else 404). Never the member's ID number. Refusal:
    `status`."""
    if filters.status not in (*HardshipStatus.values, "all"):
        raise _invalid("status", _("Unknown status."), "status")
    user = request.user
    org = _org_or_primary(request, filters.org_id, Perm.HARDSHIP_VIEW)
    files = selectors.hardship_files(
        user,
        org,
        status="" if filters.status == "all" else filters.status,
        due=filters.due,
        q=filters.q.strip(),
    )

    def convert(rows: list[HardshipFile]) -> list[dict[str, Any]]:
        readable = _readable_cases(user, rows)
        return [hardship_out(f, readable) for f in rows]

    return _Page(files, convert)


@router.post(
    "/hardship-files", response={201: HardshipFileDetailOut}, summary="Open a hardship aid file"
)
def hardship_create(request: HttpRequest, payload: HardshipIn):
    """By a cadre who keeps hardship files at `org_id`, for a member at or below it;
    `case_id`: the case it came from, one you may read. Refusals: `member`, `duplicate`
    (an active file exists), `level`, `causes`, `family_size`, `amount`, `situation`,
    `review_due` (422); 403 where you may see the union but not keep files; 404 for a
    member, union or case outside your scope."""
    user = request.user
    org = _org(request, payload.org_id)
    member = get_in_scope_or_404(
        Member.objects.select_related("unit"), user, Perm.MEMBER_VIEW, pk=payload.member_id
    )
    case = _case(request, payload.case_id) if payload.case_id is not None else None
    file = services.open_hardship_file(
        user, member=member, org=org, data=_hardship_input(payload), case=case
    )
    return Status(201, hardship_detail_out(user, _file(request, file.pk)))


@router.get(
    "/hardship-files/{file_id}", response=HardshipFileDetailOut, summary="A hardship aid file"
)
def hardship_detail(request: HttpRequest, file_id: int):
    """With every aid given. For roles that read hardship files at its union (else 404)."""
    return hardship_detail_out(request.user, _file(request, file_id))


@router.post(
    "/hardship-files/{file_id}/review",
    response=HardshipFileDetailOut,
    summary="Review a hardship aid file",
)
def hardship_review(request: HttpRequest, file_id: int, payload: HardshipReviewIn):
    """The periodic review: the situation now and the next review date (every field is
    replaced). Refusals: `status` (lifted), the fields' codes as when opening (422),
    `stale` (409)."""
    file = _file(request, file_id)
    services.review_hardship_file(
        request.user, file, data=_hardship_input(payload), version=payload.version
    )
    return hardship_detail_out(request.user, _file(request, file_id))


@router.post(
    "/hardship-files/{file_id}/lift",
    response=HardshipFileDetailOut,
    summary="The family is out of hardship",
)
def hardship_lift(request: HttpRequest, file_id: int, payload: LiftIn):
    """The file is closed and kept. Refusals: `status` (already lifted), `text` (no
    reason), `text_too_long` (422), `stale` (409)."""
    file = _file(request, file_id)
    services.lift_hardship_file(request.user, file, reason=payload.reason, version=payload.version)
    return hardship_detail_out(request.user, _file(request, file_id))


@router.post("/hardship-files/{file_id}/aid", response={201: AidOut}, summary="Record aid given")
def hardship_aid(request: HttpRequest, file_id: int, payload: AidIn):
    """Aid given to the family, by the file's union or one above it (`org_id`, a union in
    your scope). Refusals: `org` (below the file's union), `kind`, `amount`, `given_on`
    (422); 403 without the right to record aid for that union."""
    file = _file(request, file_id)
    org = _org(request, payload.org_id) if payload.org_id is not None else None
    aid = services.record_aid(
        request.user,
        file,
        kind=payload.kind,
        amount=payload.amount,
        given_on=payload.given_on,
        note=payload.note,
        org=org,
    )
    return Status(201, aid_out(aid))


def _hardship_input(payload: HardshipFieldsIn) -> services.HardshipInput:
    return services.HardshipInput(
        level=payload.level,
        causes=list(payload.causes),
        family_size=payload.family_size,
        monthly_income_per_capita=payload.monthly_income_per_capita,
        situation=payload.situation,
        review_due=payload.review_due,
    )


# --- one case -----------------------------------------------------------------------------


@router.get("/{case_id}", response=CaseDetailOut, summary="A case")
def case_detail(request: HttpRequest, case_id: int):
    """For whoever may read it; the worker gets the worker's view (`handling` null)."""
    return case_detail_out(_case(request, case_id), request.user)


@router.get("/{case_id}/events", response=list[EventOut], summary="A case's timeline")
def case_events(request: HttpRequest, case_id: int):
    """Every step, oldest first, with the files each one carries. The worker sees the
    steps meant for them: not internal notes, routing, assignment or overdue marks."""
    case = _case(request, case_id)
    for_worker = services.is_worker_of(request.user, case)
    return [event_out(e) for e in selectors.timeline(case, for_worker=for_worker)]


def _after(request: HttpRequest, case: Case) -> dict[str, Any]:
    """The case as an action left it. Answered even if the action took it out of the
    user's sight (escalated or transferred away): they just did it."""
    return case_detail_out(case, request.user)


@router.post("/{case_id}/accept", response=CaseDetailOut, summary="Accept (受理)")
def case_accept(request: HttpRequest, case_id: int, payload: VersionIn | None = None):
    """A handler of the handling union (or a supervisor) accepts a new case and becomes its
    handler if it had none. Refusals: `status` (not waiting), 409 `stale`, 403 for the
    worker and other readers who may not handle it."""
    case = services.accept_case(
        request.user, _case(request, case_id), version=payload.version if payload else None
    )
    return _after(request, case)


@router.post("/{case_id}/assign", response=CaseDetailOut, summary="Assign a handler")
def case_assign(request: HttpRequest, case_id: int, payload: AssignIn):
    """`handler_id`: a user who handles cases at the handling union. Refusals: `handler`
    (anyone else, unnamed), `status` (closed), 409 `stale`, 403."""
    case = _case(request, case_id)
    handler = get_user_model().objects.filter(pk=payload.handler_id, is_active=True).first()
    if services.can_handle(request.user, case) and (
        handler is None or not scoping.can(handler, Perm.CASE_HANDLE, case.handling_org)
    ):
        # Refused here, without naming whoever the id belongs to.
        raise _invalid(
            "handler_id",
            _("Choose someone who handles cases at %(org)s.") % {"org": case.handling_org.name},
            "handler",
        )
    case = services.assign_case(request.user, case, handler=handler, version=payload.version)
    return _after(request, case)


@router.post("/{case_id}/contact", response={201: EventOut}, summary="Record a contact")
def case_contact(request: HttpRequest, case_id: int, payload: TextIn):
    """The handler spoke to the worker (a call, a visit); the worker sees it. Refusals:
    `text`, `text_too_long`, `status` (closed), 403."""
    event = services.record_contact(request.user, _case(request, case_id), text=payload.text)
    return Status(201, event_out(event))


@router.post("/{case_id}/notes", response={201: EventOut}, summary="Add an internal note")
def case_note(request: HttpRequest, case_id: int, payload: TextIn):
    """Handlers and supervisors see it; the worker never does. Refusals: `text`,
    `text_too_long`, 403."""
    event = services.add_note(request.user, _case(request, case_id), text=payload.text)
    return Status(201, event_out(event))


@router.post("/{case_id}/messages", response={201: EventOut}, summary="Write a message")
def case_message(request: HttpRequest, case_id: int, payload: TextIn):
    """Between the worker and the handler, on both timelines. Refusals: `text`,
    `text_too_long`, 403 for readers who may not handle it."""
    event = services.post_message(request.user, _case(request, case_id), text=payload.text)
    return Status(201, event_out(event))


@router.post("/{case_id}/attachments", response={201: CaseAttachmentOut}, summary="Attach a file")
def case_attachment_add(
    request: HttpRequest,
    case_id: int,
    file: File[UploadedFile],
    text: Form[str] = "",
):
    """multipart/form-data: `file` (jpg, png, pdf, doc or docx, at most 10 MB) and an
    optional `text`; by the worker or a handler, it goes on both timelines as a message
    (its text: `text`, or the file's name). Refusals: `file_type`, `file_size`,
    `file_content` (a renamed program is not a photo), `text_too_long` (422); 403."""
    attachment = services.add_attachment(
        request.user, _case(request, case_id), upload=file, text=text
    )
    return Status(201, attachment_out(attachment))


@router.post("/{case_id}/escalate", response=CaseDetailOut, summary="Escalate to the union above")
def case_escalate(request: HttpRequest, case_id: int, payload: ReasonIn):
    """It goes to the handling union's parent with fresh deadlines and waits for acceptance
    there. Refusals: `text` (no reason), `status` (closed), `no_parent`, 409 `stale`, 403."""
    case = services.escalate_case(
        request.user, _case(request, case_id), reason=payload.reason, version=payload.version
    )
    return _after(request, case)


@router.post("/{case_id}/transfer", response=CaseDetailOut, summary="Transfer to another union")
def case_transfer(request: HttpRequest, case_id: int, payload: CaseTransferIn):
    """To a handling union you supervise (`to_org_id`; outside your scope: 404). Never to
    or below the worker's own union when they asked to skip it. Refusals: `target_scope`,
    `target`, `concealed`, `text`, `status`, 409 `stale`, 403."""
    case = _case(request, case_id)
    if not services.can_handle(request.user, case):
        # Before looking up the target: a reader who may not handle it learns nothing more.
        raise PermissionDenied(_("You may not handle this case."))
    to_org = _org(request, payload.to_org_id)
    case = services.transfer_case(
        request.user, case, to_org=to_org, reason=payload.reason, version=payload.version
    )
    return _after(request, case)


@router.post("/{case_id}/close", response=CaseDetailOut, summary="Close with an outcome (办结)")
def case_close(request: HttpRequest, case_id: int, payload: CloseIn):
    """With the outcome and the answer to the worker. Refusals (with their field):
    `outcome`, `note`, `amount`; `status` (already closed), 409 `stale`, 403."""
    case = services.close_case(
        request.user,
        _case(request, case_id),
        closing=services.Closing(
            outcome=payload.outcome,
            note=payload.note,
            money_recovered=payload.money_recovered,
            aid_paid=payload.aid_paid,
        ),
        version=payload.version,
    )
    return _after(request, case)


@router.post("/{case_id}/withdraw", response=CaseDetailOut, summary="Withdraw (the worker)")
def case_withdraw(request: HttpRequest, case_id: int, payload: WithdrawIn):
    """The worker no longer needs help. Refusals: `status` (closed), 403 for anyone but
    the worker."""
    case = services.withdraw_case(request.user, _case(request, case_id), reason=payload.reason)
    return _after(request, case)


@router.post("/{case_id}/rate", response=CaseDetailOut, summary="Rate the answer (the worker)")
def case_rate(request: HttpRequest, case_id: int, payload: RateIn):
    """Once, 1 to 5, after the case was answered. Refusals: `rating`, `rated`, `status`,
    `text_too_long` (422); 403 for anyone but the worker."""
    case = services.rate_case(
        request.user, _case(request, case_id), rating=payload.rating, comment=payload.comment
    )
    return _after(request, case)


@router.post("/{case_id}/reopen", response=CaseDetailOut, summary="Reopen (the worker)")
def case_reopen(request: HttpRequest, case_id: int, payload: ReopenIn):
    """Once, within 15 days of the answer (`can_reopen`, `reopen_until`). Refusals:
    `status` (open), `reopened` (once already), `withdrawn`, `too_late`, `text` (422);
    403 for anyone but the worker."""
    case = services.reopen_case(request.user, _case(request, case_id), reason=payload.reason)
    return _after(request, case)
