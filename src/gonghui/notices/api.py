"""API of notices (通知): draft, issue, close; the inbox; acknowledge (签收), relay (转发),
plan (实施方案), report (报送), review (审核); supervision and reminders (催办).

Thin callers of `notices.services` and `notices.selectors`. Every object is fetched
through the scoping filter, so anything outside the caller's scope is a 404; refusals
of the services are mapped centrally (422 with a code, 403, 409).

Evidence files of a report are not taken here: the API takes a report's figures and
narrative as JSON, and evidence is attached on the report page of the web app. The
reports listed in a dispatch name the evidence they carry (name, size, type).
"""

import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, Q
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from gonghui.notices import selectors, services
from gonghui.notices.figures import STEPS
from gonghui.notices.models import (
    Attachment,
    Dispatch,
    Notice,
    NoticeStatus,
    Relay,
    ReminderKind,
    Report,
    Requirement,
)
from gonghui.orgs.models import Org
from gonghui.orgs.scoping import (
    Perm,
    can_at,
    get_in_scope_or_404,
    grants_for,
    is_unrestricted,
    scope_q,
)

router = Router(tags=["notices"])


# --- schemas ------------------------------------------------------------------------------


class OrgRef(Schema):
    id: int
    name: str
    kind: str


class RequirementIn(Schema):
    kind: str = Field(
        description="study, training, lecture, competition, service, publicity or other"
    )
    title: str = Field(description="What is asked, e.g. 宣讲进企业、进车间、进班组")
    measure: str = Field(
        "none",
        description="How the target is measured: per_unit (at least `threshold` in every "
        "union of `unit_kind`), share (at least `threshold` % of members reached), total "
        "(at least `threshold` in the whole subtree) or none (described in words)",
    )
    threshold: Decimal | None = Field(None, description="N or P of the target")
    unit_kind: str = Field("", description="For per_unit: the kind of union, e.g. grassroots")
    due: datetime.date | None = Field(None, description="No later than the report deadline")


class RequirementOut(Schema):
    id: int
    kind: str
    title: str
    measure: str
    threshold: float | None
    unit_kind: str
    target_text: str = Field(description="The target in words, e.g. ≥1 in every 基层工会")
    due: datetime.date | None
    relay_id: int | None = Field(description="The relay that added it; null: the issuer's own")


class AttachmentOut(Schema):
    id: int
    name: str
    size: int = Field(description="Bytes")
    content_type: str
    uploaded_at: datetime.datetime


class RelayOut(Schema):
    id: int
    org: OrgRef = Field(description="The union that relayed the notice to its subtree")
    note: str = Field(description="Its covering note (sanitised HTML)")
    doc_number: str
    ack_due: datetime.date | None
    report_due: datetime.date | None
    created_at: datetime.datetime
    requirements: list[RequirementOut] = Field(description="The requirements it added")


class NoticeBriefOut(Schema):
    id: int
    issuer: OrgRef
    title: str
    doc_number: str = Field(description="文号, e.g. 川工发〔2026〕12号")
    status: str = Field(description="draft, issued or closed")
    requires_ack: bool
    ack_due: datetime.date | None = Field(description="The issuer's acknowledgement deadline")
    report_due: datetime.date | None = Field(description="The issuer's report deadline")
    issued_at: datetime.datetime | None
    audience_size: int = Field(description="Unions the notice was dispatched to")


class NoticeOut(NoticeBriefOut):
    body: str = Field(description="The text (sanitised HTML)")
    audience_kinds: list[str] = Field(description="Only unions of these kinds (empty: all)")
    audience_orgs: list[OrgRef] = Field(
        description="Only these unions and those below them (empty: the issuer's subtree)"
    )
    corrects_id: int | None = Field(description="The issued notice this one corrects")
    created_at: datetime.datetime
    closed_at: datetime.datetime | None
    version: int = Field(description="Send it back with a change (PATCH)")
    requirements: list[RequirementOut] = Field(description="The issuer's requirements")
    attachments: list[AttachmentOut]
    relays: list[RelayOut] = Field(description="Relays by unions in your scope")


class NoticeIn(Schema):
    issuer_id: int = Field(description="The issuing union; you need the right to issue there")
    title: str
    doc_number: str = Field("", description="文号, unique per issuer and year")
    body: str = Field("", description="Rich text (HTML); scripts and styles are removed")
    audience_kinds: list[str] = Field(
        [], description="Narrow the audience to these kinds of union (city, county, ...)"
    )
    audience_org_ids: list[int] = Field(
        [], description="Narrow the audience to the subtrees of these unions"
    )
    requires_ack: bool = True
    ack_due: datetime.date | None = None
    report_due: datetime.date | None = None
    requirements: list[RequirementIn] = []
    corrects_id: int | None = Field(None, description="The issued notice this one corrects")


class NoticeUpdateIn(Schema):
    version: int = Field(description="The version read; a stale one is refused with 409")
    title: str | None = None
    doc_number: str | None = None
    body: str | None = None
    audience_kinds: list[str] | None = None
    audience_org_ids: list[int] | None = None
    requires_ack: bool | None = None
    ack_due: datetime.date | None = None
    report_due: datetime.date | None = None
    requirements: list[RequirementIn] | None = Field(
        None, description="Replaces the requirements; left out: they stay"
    )


class NoticeFilter(Schema):
    org_id: int | None = Field(None, description="Issued by this union (default: any in scope)")
    status: str | None = Field(None, description="draft, issued or closed")


class InboxFilter(Schema):
    org_id: int | None = Field(
        None,
        description="The receiving union (default: every union where you handle notices)",
    )


class DispatchBase(Schema):
    id: int
    org: OrgRef = Field(description="The receiving union")
    ack_due: datetime.date | None = Field(description="Effective deadline (relays may advance)")
    report_due: datetime.date | None = Field(description="Effective deadline")
    read_at: datetime.datetime | None
    acknowledged_at: datetime.datetime | None
    planned_at: datetime.datetime | None
    report_status: str = Field(description="'' (not reported), submitted, accepted, returned")
    reported_at: datetime.datetime | None = Field(description="First submission")
    accepted_at: datetime.datetime | None
    ack_overdue: bool
    report_overdue: bool


class InboxItemOut(DispatchBase):
    unread: bool
    notice: NoticeBriefOut


class ChainStepOut(Schema):
    org: OrgRef
    relay_id: int | None = Field(description="null for the issuer")
    doc_number: str
    note: str
    ack_due: datetime.date | None
    report_due: datetime.date | None
    requirements: list[RequirementOut]


class EvidenceOut(Schema):
    id: int
    name: str
    size: int
    content_type: str


class ReportOut(Schema):
    id: int
    dispatch_id: int
    figures: dict[str, int]
    narrative: str
    submission_key: str
    submitted_at: datetime.datetime
    submitted_by: str | None
    status: str = Field(description="submitted, accepted or returned")
    review_comment: str
    reviewed_at: datetime.datetime | None
    reviewed_by: str | None
    evidence: list[EvidenceOut]


class DispatchOut(DispatchBase):
    notice: NoticeBriefOut
    body: str = Field(description="The notice's text (sanitised HTML)")
    attachments: list[AttachmentOut]
    acknowledged_by: str | None
    plan: str
    version: int
    chain: list[ChainStepOut] = Field(
        description="How the notice came down: the issuer, then every union above that "
        "relayed it, each with its requirements and deadlines"
    )
    relay: RelayOut | None = Field(description="This union's own relay, if it relayed")
    reports: list[ReportOut] = Field(description="Every submission, newest first")
    may_handle: bool = Field(description="You may acknowledge, relay, plan and report")
    may_review: bool = Field(description="You may review this union's reports")


class RelayIn(Schema):
    note: str = Field("", description="Covering note (HTML, sanitised)")
    doc_number: str = Field("", description="The relaying union's own 文号")
    ack_due: datetime.date | None = Field(None, description="No later than your own deadline")
    report_due: datetime.date | None = Field(None, description="No later than your own")
    requirements: list[RequirementIn] = Field([], description="Requirements you add")


class PlanIn(Schema):
    plan: str = Field(description="实施方案: how the union will meet the requirements")


class ReportIn(Schema):
    figures: dict[str, int] = Field(
        {}, description="Figure code → whole number; start from GET …/prefill"
    )
    narrative: str = Field(description="What was done")
    submission_key: str = Field(
        description="A key made once per filled form (e.g. a UUID): sending it again "
        "returns the report already made instead of a second one"
    )


class PrefillOut(Schema):
    code: str
    label: str
    value: int = Field(description="Recorded in the union's subtree since the notice was issued")


class ReviewIn(Schema):
    accept: bool = Field(description="true: accept; false: return it for changes")
    comment: str = Field("", description="Required when returning")


class StepOut(Schema):
    code: str
    label: str


class SupervisionRowOut(Schema):
    org: OrgRef
    values: dict[str, int] = Field(description="Step code → count of unions")
    rates: dict[str, float | None] = Field(
        description="Step code → share of the audience (null when the audience is 0)"
    )
    late: int = Field(description="Acknowledgements plus reports overdue")


class SupervisionOut(Schema):
    notice_id: int
    steps: list[StepOut] = Field(description="The steps counted, in order")
    headline: SupervisionRowOut = Field(description="The whole subtree of the union")
    children: list[SupervisionRowOut] = Field(description="Each child that has an audience")


class LateFilter(Schema):
    kind: str = Field("ack", description="ack: acknowledgement overdue; report: report overdue")


class LateOut(Schema):
    dispatch_id: int
    org: OrgRef
    parent: OrgRef | None
    due: datetime.date | None


class RemindIn(Schema):
    org_id: int = Field(description="Remind the late unions below this one")
    kind: str = Field(description="ack or report")
    batch_key: str = Field("", description="A key per click: sending it again reminds nobody twice")


class RemindOut(Schema):
    reminded: int = Field(description="Unions reminded now")


# --- conversion -------------------------------------------------------------------------


def org_ref(org: Org) -> dict[str, Any]:
    return {"id": org.pk, "name": org.name, "kind": org.kind}


def _person(user: Any) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


def requirement_out(r: Requirement) -> dict[str, Any]:
    return {
        "id": r.pk,
        "kind": r.kind,
        "title": r.title,
        "measure": r.measure,
        "threshold": float(r.threshold) if r.threshold is not None else None,
        "unit_kind": r.unit_kind,
        "target_text": r.target_text,
        "due": r.due,
        "relay_id": r.relay_id,
    }


def attachment_out(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "name": a.name,
        "size": a.size,
        "content_type": a.content_type,
        "uploaded_at": a.uploaded_at,
    }


def relay_out(relay: Relay) -> dict[str, Any]:
    return {
        "id": relay.pk,
        "org": org_ref(relay.org),
        "note": relay.note,
        "doc_number": relay.doc_number,
        "ack_due": relay.ack_due,
        "report_due": relay.report_due,
        "created_at": relay.created_at,
        "requirements": [requirement_out(r) for r in relay.requirements.all()],
    }


def notice_brief(n: Notice) -> dict[str, Any]:
    return {
        "id": n.pk,
        "issuer": org_ref(n.issuer),
        "title": n.title,
        "doc_number": n.doc_number,
        "status": n.status,
        "requires_ack": n.requires_ack,
        "ack_due": n.ack_due,
        "report_due": n.report_due,
        "issued_at": n.issued_at,
        "audience_size": n.audience_size,
    }


def notice_out(n: Notice, user: Any) -> dict[str, Any]:
    relays = (
        Relay.objects.restrict(user, Perm.ORG_VIEW)
        .filter(notice=n)
        .select_related("org")
        .prefetch_related("requirements")
        .order_by("org__path")
    )
    return {
        **notice_brief(n),
        "body": n.body,
        "audience_kinds": list(n.audience_kinds),
        "audience_orgs": [org_ref(o) for o in n.audience_orgs.order_by("path")],
        "corrects_id": n.corrects_id,
        "created_at": n.created_at,
        "closed_at": n.closed_at,
        "version": n.version,
        "requirements": [requirement_out(r) for r in n.requirements.filter(relay__isnull=True)],
        "attachments": [attachment_out(a) for a in n.attachments.all()],
        "relays": [relay_out(r) for r in relays],
    }


def _dispatch_base(d: Dispatch) -> dict[str, Any]:
    return {
        "id": d.pk,
        "org": org_ref(d.org),
        "ack_due": d.ack_due,
        "report_due": d.report_due,
        "read_at": d.read_at,
        "acknowledged_at": d.acknowledged_at,
        "planned_at": d.planned_at,
        "report_status": d.report_status,
        "reported_at": d.reported_at,
        "accepted_at": d.accepted_at,
        "ack_overdue": d.ack_overdue,
        "report_overdue": d.report_overdue,
    }


def inbox_item_out(d: Dispatch) -> dict[str, Any]:
    return {**_dispatch_base(d), "unread": d.read_at is None, "notice": notice_brief(d.notice)}


def report_out(r: Report) -> dict[str, Any]:
    return {
        "id": r.pk,
        "dispatch_id": r.dispatch_id,
        "figures": r.figures,
        "narrative": r.narrative,
        "submission_key": r.submission_key,
        "submitted_at": r.submitted_at,
        "submitted_by": _person(r.submitted_by),
        "status": r.status,
        "review_comment": r.review_comment,
        "reviewed_at": r.reviewed_at,
        "reviewed_by": _person(r.reviewed_by),
        "evidence": [
            {"id": e.pk, "name": e.name, "size": e.size, "content_type": e.content_type}
            for e in r.evidence.order_by("pk")
        ],
    }


def dispatch_out(d: Dispatch, user: Any) -> dict[str, Any]:
    notice = d.notice
    own = selectors.own_relay(d)
    reports = d.reports.select_related("submitted_by", "reviewed_by")
    return {
        **_dispatch_base(d),
        "notice": notice_brief(notice),
        "body": notice.body,
        "attachments": [attachment_out(a) for a in notice.attachments.all()],
        "acknowledged_by": _person(d.acknowledged_by),
        "plan": d.plan,
        "version": d.version,
        "chain": [
            {
                "org": org_ref(step.org),
                "relay_id": step.relay.pk if step.relay else None,
                "doc_number": step.doc_number,
                "note": step.note,
                "ack_due": step.ack_due,
                "report_due": step.report_due,
                "requirements": [requirement_out(r) for r in step.requirements],
            }
            for step in selectors.relay_chain(d)
        ],
        "relay": relay_out(own) if own else None,
        "reports": [report_out(r) for r in reports],
        "may_handle": can_at(user, Perm.NOTICE_HANDLE, d.org),
        "may_review": services.can_review(user, d),
    }


def supervision_row_out(row: selectors.SupervisionRow) -> dict[str, Any]:
    return {
        "org": org_ref(row.org),
        "values": {step: row.values.get(step, 0) for step, _label in STEPS},
        "rates": {step: row.rate(step) for step, _label in STEPS if step != "audience"},
        "late": row.late,
    }


class _PageOf:
    """A queryset for the paginator that converts only the rows of the page it slices."""

    def __init__(self, queryset: Any, convert: Any) -> None:
        self.queryset = queryset
        self.convert = convert

    def __len__(self) -> int:
        return self.queryset.count()

    def __getitem__(self, index: slice) -> list[Any]:
        return [self.convert(row) for row in self.queryset[index]]


# --- fetching through the scoping filter ---------------------------------------------------


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(Org.objects.all(), request.user, Perm.ORG_VIEW, pk=org_id)


def _orgs(request: HttpRequest, ids: list[int]) -> list[Org]:
    wanted = set(ids)
    found = list(Org.objects.restrict(request.user, Perm.ORG_VIEW).filter(pk__in=wanted))
    if len(found) != len(wanted):
        raise Http404
    return found


def _visible_notices(user: Any) -> Any:
    """Notices the user may read: issued by a union in scope (drafts included), or
    dispatched to one (issued and closed notices only)."""
    if is_unrestricted(user):
        return Notice.objects.all()  # (an empty Q() in the OR below would vanish)
    received = Dispatch.objects.restrict(user, Perm.ORG_VIEW).filter(notice=OuterRef("pk"))
    return Notice.objects.filter(
        scope_q(user, Perm.ORG_VIEW, "issuer")
        | Q(Exists(received), status__in=[NoticeStatus.ISSUED, NoticeStatus.CLOSED])
    )


def _notice(request: HttpRequest, notice_id: int) -> Notice:
    found = _visible_notices(request.user).select_related("issuer").filter(pk=notice_id).first()
    if found is None:
        raise Http404
    return found


def _dispatch(request: HttpRequest, dispatch_id: int) -> Dispatch:
    return get_in_scope_or_404(
        Dispatch.objects.select_related("notice", "notice__issuer", "org", "acknowledged_by"),
        request.user,
        Perm.ORG_VIEW,
        pk=dispatch_id,
    )


def _report(request: HttpRequest, report_id: int) -> Report:
    found = (
        Report.objects.filter(scope_q(request.user, Perm.ORG_VIEW, "dispatch__org"))
        .select_related("dispatch__org", "dispatch__notice")
        .filter(pk=report_id)
        .first()
    )
    if found is None:
        raise Http404
    return found


def _supervised(request: HttpRequest, notice_id: int, org_id: int) -> tuple[Notice, Org]:
    notice = _notice(request, notice_id)
    org = _org(request, org_id)
    if not selectors.can_supervise(request.user, notice, org):
        raise Http404
    return notice, org


def _requirements(items: list[RequirementIn]) -> list[services.RequirementInput]:
    return [services.RequirementInput(**item.dict()) for item in items]


def _check_reminder_kind(kind: str) -> None:
    if kind not in ReminderKind.values:
        raise ValidationError(_("Unknown reminder."), code="reminder_kind")


# --- notices ------------------------------------------------------------------------------


@router.get(
    "",
    response=list[NoticeBriefOut],
    summary="Notices issued by a union",
)
@paginate(LimitOffsetPagination)
def notice_list(request: HttpRequest, filters: Query[NoticeFilter]):
    """Notices issued by `org_id` (drafts included), or by any union in your scope;
    drafts first, then the most recently issued."""
    if filters.org_id:
        qs = selectors.notices_issued_by(request.user, _org(request, filters.org_id))
    else:
        qs = Notice.objects.restrict(request.user, Perm.ORG_VIEW)
    if filters.status:
        qs = qs.filter(status=filters.status)
    qs = qs.select_related("issuer").order_by(
        F("issued_at").desc(nulls_first=True), "-created_at", "-pk"
    )
    return _PageOf(qs, notice_brief)


@router.get("/inbox", response=list[InboxItemOut], summary="A union's inbox")
@paginate(LimitOffsetPagination)
def inbox(request: HttpRequest, filters: Query[InboxFilter]):
    """The notices dispatched to a union: unread first, then by nearest report deadline.
    Without `org_id`: the inboxes of every union where you hold a role that handles
    notices."""
    if filters.org_id:
        orgs: Any = _org(request, filters.org_id)
    else:
        ids = {g.org_id for g in grants_for(request.user) if Perm.NOTICE_HANDLE in g.perms}
        orgs = list(Org.objects.filter(pk__in=ids))
    return _PageOf(selectors.inbox(request.user, orgs), inbox_item_out)


@router.post("", response={201: NoticeOut}, summary="Draft a notice")
def notice_create(request: HttpRequest, payload: NoticeIn):
    """A draft: nothing is sent until it is issued. Requirements with an empty title are
    skipped; their deadlines may not be later than the report deadline."""
    issuer = _org(request, payload.issuer_id)
    audience_orgs = _orgs(request, payload.audience_org_ids)
    corrects = _notice(request, payload.corrects_id) if payload.corrects_id else None
    notice = services.create_notice(
        actor=request.user,
        issuer=issuer,
        title=payload.title,
        doc_number=payload.doc_number,
        body=payload.body,
        audience_kinds=payload.audience_kinds,
        audience_orgs=audience_orgs,
        requires_ack=payload.requires_ack,
        ack_due=payload.ack_due,
        report_due=payload.report_due,
        requirements=_requirements(payload.requirements),
        corrects=corrects,
    )
    return Status(201, notice_out(notice, request.user))


@router.get("/{notice_id}", response=NoticeOut, summary="A notice")
def notice_detail(request: HttpRequest, notice_id: int):
    """The notice with its requirements, attachments (metadata) and the relays of unions
    in your scope. Visible to the issuer's cadres and to every union it was dispatched
    to; a union's own copy, with its relay chain, is under /dispatches/{dispatch_id}."""
    return notice_out(_notice(request, notice_id), request.user)


@router.patch("/{notice_id}", response=NoticeOut, summary="Change a draft")
def notice_update(request: HttpRequest, notice_id: int, payload: NoticeUpdateIn):
    """Only a draft can change; an issued notice is amended by a correction notice
    (`corrects_id`). Fields left out keep their value; `version` must be the one read."""
    notice = _notice(request, notice_id)
    changes = payload.dict(exclude_unset=True)
    audience_ids = changes.pop("audience_org_ids", None)
    audience_orgs = (
        _orgs(request, audience_ids)
        if audience_ids is not None
        else list(notice.audience_orgs.all())
    )
    requirements = changes.pop("requirements", None)
    current = {
        "title": notice.title,
        "doc_number": notice.doc_number,
        "body": notice.body,
        "audience_kinds": notice.audience_kinds,
        "requires_ack": notice.requires_ack,
        "ack_due": notice.ack_due,
        "report_due": notice.report_due,
    }
    fields = {name: changes.get(name, value) for name, value in current.items()}
    for name in ("title", "doc_number", "body", "audience_kinds", "requires_ack"):
        if fields[name] is None:  # an explicit null of a field that has no null
            fields[name] = current[name]
    updated = services.update_notice(
        actor=request.user,
        notice=notice,
        version=payload.version,
        audience_orgs=audience_orgs,
        requirements=(
            _requirements([RequirementIn(**r) for r in requirements])
            if requirements is not None
            else None
        ),
        **fields,
    )
    return notice_out(updated, request.user)


@router.post("/{notice_id}/issue", response=NoticeOut, summary="Issue a draft (下发)")
def notice_issue(request: HttpRequest, notice_id: int):
    """Dispatches the notice to every union of its audience at once. Issuing an issued
    notice again changes nothing and answers the same. Refused (422) when a deadline has
    passed (`deadline_past`), acknowledgement is due after the report
    (`deadline_order`) or no union matches the audience (`audience_empty`)."""
    notice = _notice(request, notice_id)
    return notice_out(services.issue_notice(actor=request.user, notice=notice), request.user)


@router.post("/{notice_id}/close", response=NoticeOut, summary="Close an issued notice")
def notice_close(request: HttpRequest, notice_id: int):
    """No more acknowledging, relaying or reporting; the figures stay."""
    notice = _notice(request, notice_id)
    return notice_out(services.close_notice(actor=request.user, notice=notice), request.user)


# --- supervision --------------------------------------------------------------------------


@router.get(
    "/{notice_id}/supervision/{org_id}",
    response=SupervisionOut,
    summary="Supervision (督查) of a notice in a union's subtree",
)
def supervision(request: HttpRequest, notice_id: int, org_id: int):
    """Expected against actual for the union's subtree and for each child's: audience,
    acknowledged (on time, overdue), relayed, planned, reported (on time, overdue) and
    accepted, as counts and as shares of the audience. For the issuer and every union
    the notice reached; exact now."""
    notice, org = _supervised(request, notice_id, org_id)
    headline, children = selectors.supervision(notice, org, request.user)
    return {
        "notice_id": notice.pk,
        "steps": [{"code": step, "label": str(label)} for step, label in STEPS],
        "headline": supervision_row_out(headline),
        "children": [supervision_row_out(row) for row in children],
    }


@router.get(
    "/{notice_id}/supervision/{org_id}/late",
    response=list[LateOut],
    summary="The late unions below a union",
)
@paginate(LimitOffsetPagination)
def supervision_late(request: HttpRequest, notice_id: int, org_id: int, filters: Query[LateFilter]):
    """Unions below `org_id` past the deadline of `kind` and still not done, in tree
    order: the drill-down of the overdue figures and who a reminder would reach."""
    notice, org = _supervised(request, notice_id, org_id)
    _check_reminder_kind(filters.kind)
    qs = selectors.late_list(notice, org, request.user, kind=filters.kind)
    due = "ack_due" if filters.kind == ReminderKind.ACK else "report_due"

    def convert(d: Dispatch) -> dict[str, Any]:
        return {
            "dispatch_id": d.pk,
            "org": org_ref(d.org),
            "parent": org_ref(d.org.parent) if d.org.parent else None,
            "due": getattr(d, due),
        }

    return _PageOf(qs, convert)


@router.post("/{notice_id}/remind", response=RemindOut, summary="Remind the late (催办)")
def remind(request: HttpRequest, notice_id: int, payload: RemindIn):
    """Sends a reminder (in-app, and email when configured) to every union below
    `org_id` that is late with `kind`, in one action, and records it. The same
    `batch_key` again reminds nobody twice."""
    notice, org = _supervised(request, notice_id, payload.org_id)
    reminded = services.remind_late(
        actor=request.user,
        notice=notice,
        org=org,
        kind=payload.kind,
        batch_key=payload.batch_key or None,
    )
    return {"reminded": reminded}


# --- a union's own copy: the dispatch -----------------------------------------------------


@router.get("/dispatches/{dispatch_id}", response=DispatchOut, summary="A union's copy of a notice")
def dispatch_detail(request: HttpRequest, dispatch_id: int):
    """The notice as the union received it: text, attachments, the relay chain with
    every level's requirements and deadlines, its progress and its reports. Opening it
    as a cadre of that union marks it read."""
    dispatch = _dispatch(request, dispatch_id)
    services.mark_read(actor=request.user, dispatch=dispatch)
    dispatch.refresh_from_db(fields=["read_at"])
    return dispatch_out(dispatch, request.user)


@router.post(
    "/dispatches/{dispatch_id}/acknowledge", response=DispatchOut, summary="Acknowledge (签收)"
)
def dispatch_acknowledge(request: HttpRequest, dispatch_id: int):
    """By a cadre of the receiving union only. Again changes nothing."""
    dispatch = _dispatch(request, dispatch_id)
    done = services.acknowledge(actor=request.user, dispatch=dispatch)
    return dispatch_out(_dispatch(request, done.pk), request.user)


@router.post("/dispatches/{dispatch_id}/relay", response={201: RelayOut}, summary="Relay (转发)")
def dispatch_relay(request: HttpRequest, dispatch_id: int, payload: RelayIn):
    """Passes the notice on to the unions below that received it, with added
    requirements and deadlines no later than your own (`deadline_later_than_parent`);
    it also acknowledges. Once per union (`relayed`)."""
    dispatch = _dispatch(request, dispatch_id)
    relay = services.relay(
        actor=request.user,
        dispatch=dispatch,
        note=payload.note,
        doc_number=payload.doc_number,
        ack_due=payload.ack_due,
        report_due=payload.report_due,
        requirements=_requirements(payload.requirements),
    )
    return Status(201, relay_out(relay))


@router.post(
    "/dispatches/{dispatch_id}/plan", response=DispatchOut, summary="Save the plan (实施方案)"
)
def dispatch_plan(request: HttpRequest, dispatch_id: int, payload: PlanIn):
    """Can be revised until the report is accepted."""
    dispatch = _dispatch(request, dispatch_id)
    services.save_plan(actor=request.user, dispatch=dispatch, plan=payload.plan)
    return dispatch_out(_dispatch(request, dispatch.pk), request.user)


@router.get(
    "/dispatches/{dispatch_id}/prefill",
    response=list[PrefillOut],
    summary="Figures to pre-fill a report",
)
def dispatch_prefill(request: HttpRequest, dispatch_id: int):
    """What was recorded in the union's subtree since the notice was issued, for every
    figure a report can carry: start the report's `figures` from these."""
    dispatch = _dispatch(request, dispatch_id)
    return [
        {"code": f.code, "label": f.label, "value": f.value}
        for f in selectors.report_prefill(dispatch)
    ]


@router.post(
    "/dispatches/{dispatch_id}/report",
    response={200: ReportOut, 201: ReportOut},
    summary="Report (报送)",
)
def dispatch_report(request: HttpRequest, dispatch_id: int, payload: ReportIn):
    """Submits figures and narrative (JSON; evidence files are attached on the web
    page). 201 with the new report; a retry with the same `submission_key` answers 200
    with the report already made. Refused while a report awaits review
    (`report_pending`)."""
    dispatch = _dispatch(request, dispatch_id)
    key = payload.submission_key.strip()[:40]
    seen = bool(key) and Report.objects.filter(dispatch=dispatch, submission_key=key).exists()
    report = services.submit_report(
        actor=request.user,
        dispatch=dispatch,
        figures_values=payload.figures,
        narrative=payload.narrative,
        submission_key=payload.submission_key,
    )
    return Status(200 if seen else 201, report_out(report))


@router.post("/reports/{report_id}/review", response=ReportOut, summary="Review a report (审核)")
def report_review(request: HttpRequest, report_id: int, payload: ReviewIn):
    """By the unions above the reporting one: accept, or return with a comment
    (`comment_missing` without). The same decision again changes nothing."""
    report = _report(request, report_id)
    reviewed = services.review_report(
        actor=request.user, report=report, accept=payload.accept, comment=payload.comment
    )
    return report_out(
        Report.objects.select_related("submitted_by", "reviewed_by").get(pk=reviewed.pk)
    )
