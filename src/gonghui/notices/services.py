"""State changes of notices: draft, issue, acknowledge, relay, plan, report, review, remind.

Each function is one transaction, checks the actor's permission, writes the audit log and
the supervision figures. Retries and double clicks change nothing twice: issuing an issued
notice, acknowledging an acknowledged dispatch, resubmitting a form with the same
submission key all return what is already there.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import nh3
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from gonghui.accounts.services import notify
from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.notices import figures
from gonghui.notices.models import (
    ATTACHMENT_MAX_BYTES,
    ATTACHMENT_TYPES,
    Attachment,
    Dispatch,
    Evidence,
    Measure,
    Notice,
    NoticeStatus,
    Relay,
    Reminder,
    ReminderKind,
    Report,
    ReportStatus,
    Requirement,
    RequirementKind,
)
from gonghui.orgs import scoping
from gonghui.orgs.models import Org, OrgKind, OrgStatus, Role, ancestor_field
from gonghui.orgs.scoping import Perm

NOTICE_AUDIT_FIELDS = ["title", "doc_number", "status", "ack_due", "report_due"]
DOC_YEAR = re.compile(r"[〔\[(（]\s*(\d{4})\s*[〕\])）]")

# What rich-text bodies may contain: text formatting, lists, links, tables, headings.
ALLOWED_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "s", "h2", "h3", "h4", "ul", "ol", "li",
    "blockquote", "a", "table", "thead", "tbody", "tr", "th", "td", "div", "span", "hr",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan"}}


def sanitise_html(html: str) -> str:
    """Rich text as it may reach readers: no scripts, styles, event handlers or
    javascript: links (ammonia, through nh3)."""
    return nh3.clean(
        html or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


# --- drafting ---------------------------------------------------------------------------


@dataclass
class RequirementInput:
    kind: str
    title: str
    measure: str = Measure.NONE
    threshold: Decimal | None = None
    unit_kind: str = ""
    due: datetime.date | None = None


def _clean_requirements(
    items: Sequence[RequirementInput], *, latest_due: datetime.date | None
) -> list[RequirementInput]:
    cleaned = []
    for number, item in enumerate(items, start=1):
        title = " ".join((item.title or "").split())
        if not title:
            continue  # an empty line of the form
        if item.kind not in RequirementKind.values:
            raise ValidationError(
                _("Requirement %(n)d: unknown kind.") % {"n": number}, code="requirement_kind"
            )
        if item.measure not in Measure.values:
            raise ValidationError(
                _("Requirement %(n)d: unknown target.") % {"n": number}, code="requirement_measure"
            )
        if item.measure != Measure.NONE and (item.threshold is None or item.threshold <= 0):
            raise ValidationError(
                _("Requirement %(n)d: give the number the target asks for.") % {"n": number},
                code="requirement_threshold",
            )
        if item.measure == Measure.SHARE and item.threshold is not None and item.threshold > 100:
            raise ValidationError(
                _("Requirement %(n)d: a share cannot exceed 100%%.") % {"n": number},
                code="requirement_threshold",
            )
        if item.measure == Measure.PER_UNIT and item.unit_kind not in OrgKind.values:
            raise ValidationError(
                _("Requirement %(n)d: say in which kind of union.") % {"n": number},
                code="requirement_unit_kind",
            )
        if item.due is not None and latest_due is not None and item.due > latest_due:
            raise ValidationError(
                _("Requirement %(n)d: its deadline is later than %(date)s.")
                % {"n": number, "date": latest_due},
                code="requirement_due",
            )
        cleaned.append(
            RequirementInput(
                item.kind,
                title[:200],
                item.measure,
                item.threshold,
                item.unit_kind if item.measure == Measure.PER_UNIT else "",
                item.due,
            )
        )
    return cleaned


def _doc_year(doc_number: str) -> int | None:
    match = DOC_YEAR.search(doc_number or "")
    return int(match.group(1)) if match else None


def _check_doc_number(
    issuer: Org, doc_number: str, exclude_pk: int | None
) -> tuple[str, int | None]:
    doc_number = (doc_number or "").strip()
    year = _doc_year(doc_number) or (timezone.localdate().year if doc_number else None)
    if doc_number:
        clash = Notice.objects.filter(issuer=issuer, doc_year=year, doc_number=doc_number)
        if exclude_pk is not None:
            clash = clash.exclude(pk=exclude_pk)
        if clash.exists():
            raise ValidationError(
                _("%(org)s already has a notice numbered %(number)s in %(year)s.")
                % {"org": issuer.name, "number": doc_number, "year": year},
                code="doc_number_taken",
            )
    return doc_number[:60], year


def _check_audience_orgs(issuer: Org, orgs: Iterable[Org]) -> list[Org]:
    orgs = list(orgs)
    for org in orgs:
        if org.pk == issuer.pk or not org.is_descendant_of(issuer):
            raise ValidationError(
                _("%(org)s is not below %(issuer)s; a notice goes only to its issuer's subtree.")
                % {"org": org.name, "issuer": issuer.name},
                code="audience_outside",
            )
    return orgs


def _check_kinds(kinds: Iterable[str]) -> list[str]:
    kinds = [k for k in kinds if k]
    unknown = [k for k in kinds if k not in OrgKind.values]
    if unknown:
        raise ValidationError(
            _("Unknown kind of union: %(kind)s.") % {"kind": unknown[0]}, code="kind"
        )
    return kinds


def _write_requirements(
    notice: Notice, items: Sequence[RequirementInput], relay: Relay | None = None
) -> None:
    Requirement.objects.bulk_create(
        [
            Requirement(
                notice=notice,
                relay=relay,
                kind=item.kind,
                title=item.title,
                measure=item.measure,
                threshold=item.threshold,
                unit_kind=item.unit_kind,
                due=item.due,
                position=position,
            )
            for position, item in enumerate(items)
        ]
    )


@transaction.atomic
def create_notice(
    *,
    actor: Any,
    issuer: Org,
    title: str,
    doc_number: str = "",
    body: str = "",
    audience_kinds: Iterable[str] = (),
    audience_orgs: Iterable[Org] = (),
    requires_ack: bool = True,
    ack_due: datetime.date | None = None,
    report_due: datetime.date | None = None,
    requirements: Sequence[RequirementInput] = (),
    corrects: Notice | None = None,
) -> Notice:
    """A draft notice; nothing is sent until `issue_notice`."""
    scoping.require(actor, Perm.NOTICE_ISSUE, issuer)
    title = " ".join((title or "").split())
    if not title:
        raise ValidationError(_("The title is missing."), code="title_missing")
    doc_number, year = _check_doc_number(issuer, doc_number, None)
    if corrects is not None and (corrects.issuer_id != issuer.pk or corrects.is_draft):
        raise ValidationError(
            _("A correction must come from the same union and correct an issued notice."),
            code="corrects",
        )
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                issuer=issuer,
                title=title[:200],
                doc_number=doc_number,
                doc_year=year,
                body=sanitise_html(body),
                audience_kinds=_check_kinds(audience_kinds),
                requires_ack=requires_ack,
                ack_due=ack_due,
                report_due=report_due,
                corrects=corrects,
                created_by=scoping.as_user(actor),
            )
    except IntegrityError:
        # The same 文号 saved by somebody else a moment ago.
        _check_doc_number(issuer, doc_number, None)
        raise
    notice.audience_orgs.set(_check_audience_orgs(issuer, audience_orgs))
    _write_requirements(notice, _clean_requirements(requirements, latest_due=report_due))
    record(actor=actor, action=AuditAction.CREATE, target=notice, org=issuer)
    return notice


def _editable(actor: Any, notice: Notice) -> Notice:
    scoping.require(actor, Perm.NOTICE_ISSUE, notice.issuer)
    notice = Notice.objects.select_for_update().get(pk=notice.pk)
    if not notice.is_draft:
        raise ValidationError(
            _("An issued notice cannot be changed; issue a correction notice instead."),
            code="not_draft",
        )
    return notice


@transaction.atomic
def update_notice(
    *,
    actor: Any,
    notice: Notice,
    version: int,
    title: str,
    doc_number: str = "",
    body: str = "",
    audience_kinds: Iterable[str] = (),
    audience_orgs: Iterable[Org] = (),
    requires_ack: bool = True,
    ack_due: datetime.date | None = None,
    report_due: datetime.date | None = None,
    requirements: Sequence[RequirementInput] | None = None,
) -> Notice:
    from gonghui.core.errors import ConcurrentEditError

    notice = _editable(actor, notice)
    if notice.version != version:
        raise ConcurrentEditError(
            _("Somebody else changed this notice meanwhile. Reload it and edit again."),
            code="stale",
        )
    title = " ".join((title or "").split())
    if not title:
        raise ValidationError(_("The title is missing."), code="title_missing")
    notice.doc_number, notice.doc_year = _check_doc_number(notice.issuer, doc_number, notice.pk)
    notice.title = title[:200]
    notice.body = sanitise_html(body)
    notice.audience_kinds = _check_kinds(audience_kinds)
    notice.requires_ack = requires_ack
    notice.ack_due = ack_due
    notice.report_due = report_due
    notice.version = F("version") + 1
    notice.save()
    notice.refresh_from_db()
    notice.audience_orgs.set(_check_audience_orgs(notice.issuer, audience_orgs))
    if requirements is not None:
        notice.requirements.filter(relay__isnull=True).delete()
        _write_requirements(notice, _clean_requirements(requirements, latest_due=report_due))
    elif report_due is not None:
        # The requirements are kept: none may now be due after the report.
        kept = notice.requirements.filter(relay__isnull=True).order_by("position", "id")
        for number, requirement in enumerate(kept, start=1):
            if requirement.due is not None and requirement.due > report_due:
                raise ValidationError(
                    _("Requirement %(n)d: its deadline is later than %(date)s.")
                    % {"n": number, "date": report_due},
                    code="requirement_due",
                )
    record(actor=actor, action=AuditAction.UPDATE, target=notice, org=notice.issuer)
    return notice


def check_upload(upload: Any) -> tuple[str, str]:
    """(file name, content type) of an accepted upload; refuses other types and sizes.
    The first bytes must match the extension: a renamed program is not a PDF."""
    name = Path(getattr(upload, "name", "") or "file").name[:200]
    suffix = Path(name).suffix.lower()
    if suffix not in ATTACHMENT_TYPES:
        raise ValidationError(
            _("%(name)s: only PDF, Word and image files (jpg, png) can be attached.")
            % {"name": name},
            code="file_type",
        )
    size = getattr(upload, "size", 0) or 0
    if size > ATTACHMENT_MAX_BYTES:
        raise ValidationError(
            _("%(name)s is larger than %(mb)d MB.")
            % {"name": name, "mb": ATTACHMENT_MAX_BYTES // (1024 * 1024)},
            code="file_size",
        )
    head = upload.read(8)
    upload.seek(0)
    signatures = {
        ".pdf": (b"%PDF",),
        ".doc": (b"\xd0\xcf\x11\xe0",),
        ".docx": (b"PK\x03\x04",),
        ".jpg": (b"\xff\xd8\xff",),
        ".jpeg": (b"\xff\xd8\xff",),
        ".png": (b"\x89PNG",),
    }
    if not any(head.startswith(sig) for sig in signatures[suffix]):
        raise ValidationError(
            _("%(name)s is not really a %(type)s file.") % {"name": name, "type": suffix[1:]},
            code="file_content",
        )
    return name, ATTACHMENT_TYPES[suffix]


@transaction.atomic
def add_attachment(*, actor: Any, notice: Notice, upload: Any) -> Attachment:
    notice = _editable(actor, notice)
    name, content_type = check_upload(upload)
    attachment = Attachment(notice=notice, name=name, size=upload.size, content_type=content_type)
    attachment.file.save(name, upload, save=False)
    attachment.save()
    record(actor=actor, action=AuditAction.UPDATE, target=notice, org=notice.issuer, summary=name)
    return attachment


@transaction.atomic
def remove_attachment(*, actor: Any, attachment: Attachment) -> None:
    notice = _editable(actor, attachment.notice)
    record(
        actor=actor, action=AuditAction.UPDATE, target=notice, org=notice.issuer,
        summary=_("Attachment removed: %(name)s") % {"name": attachment.name},
    )  # fmt: skip
    attachment.file.delete(save=False)
    attachment.delete()


# --- issuing ----------------------------------------------------------------------------


def audience(notice: Notice) -> QuerySet[Org]:
    """The orgs a notice goes to: active, below the issuer, narrowed by kinds and orgs."""
    issuer = notice.issuer
    qs = Org.objects.filter(
        **{ancestor_field(issuer.depth): issuer.pk}, status=OrgStatus.ACTIVE
    ).exclude(pk=issuer.pk)
    if notice.audience_kinds:
        qs = qs.filter(kind__in=notice.audience_kinds)
    chosen = list(notice.audience_orgs.all())
    if chosen:
        within = Q(pk__in=[])
        for org in chosen:
            within |= Q(**{ancestor_field(org.depth): org.pk})
        qs = qs.filter(within)
    return qs


@transaction.atomic
def issue_notice(*, actor: Any, notice: Notice) -> Notice:
    """Send the notice: one dispatch per org of the audience, in one statement."""
    scoping.require(actor, Perm.NOTICE_ISSUE, notice.issuer)
    notice = Notice.objects.select_for_update().select_related("issuer").get(pk=notice.pk)
    if not notice.is_draft:
        return notice  # issued already: a retry or a double click
    today = timezone.localdate()
    for label, due in ((_("acknowledgement"), notice.ack_due), (_("report"), notice.report_due)):
        if due is not None and due < today:
            raise ValidationError(
                _("The %(what)s deadline %(date)s has passed.") % {"what": label, "date": due},
                code="deadline_past",
            )
    if notice.ack_due and notice.report_due and notice.ack_due > notice.report_due:
        raise ValidationError(
            _("Acknowledgement cannot be due after the report."), code="deadline_order"
        )
    if notice.requires_ack and notice.ack_due is None:
        raise ValidationError(
            _("Give a deadline for acknowledging, or do not require it."), code="ack_due_missing"
        )
    orgs_sql, params = audience(notice).values_list("id").query.sql_with_params()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{Dispatch._meta.db_table}" '  # noqa: S608
            "(notice_id, org_id, ack_due, report_due, plan, report_status, "
            "ack_overdue, report_overdue, version) "
            f"SELECT %s, a.id, %s, %s, '', '', %s, %s, 1 FROM ({orgs_sql}) a",
            [
                notice.pk,
                notice.ack_due if notice.requires_ack else None,
                notice.report_due,
                False,
                False,
                *params,
            ],
        )
        size = cursor.rowcount
    if size <= 0:
        raise ValidationError(
            _("No union matches the audience; nothing would be sent."), code="audience_empty"
        )
    Notice.objects.filter(pk=notice.pk).update(
        status=NoticeStatus.ISSUED,
        issued_at=now,
        issued_by=scoping.as_user(actor),
        audience_size=size,
        version=F("version") + 1,
    )
    notice.refresh_from_db()
    figures.emit_audience(notice)
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=notice,
        org=notice.issuer,
        summary=_("Issued to %(n)d unions") % {"n": size},
        before={"status": NoticeStatus.DRAFT},
        after={"status": NoticeStatus.ISSUED, "audience": size},
    )
    return notice


@transaction.atomic
def close_notice(*, actor: Any, notice: Notice) -> Notice:
    scoping.require(actor, Perm.NOTICE_ISSUE, notice.issuer)
    notice = Notice.objects.select_for_update().get(pk=notice.pk)
    if notice.status == NoticeStatus.CLOSED:
        return notice  # closed already: a retry or a double click
    if notice.status != NoticeStatus.ISSUED:
        raise ValidationError(_("Only an issued notice can be closed."), code="not_issued")
    Notice.objects.filter(pk=notice.pk).update(
        status=NoticeStatus.CLOSED, closed_at=timezone.now(), version=F("version") + 1
    )
    notice.refresh_from_db()
    record(
        actor=actor, action=AuditAction.UPDATE, target=notice, org=notice.issuer,
        before={"status": NoticeStatus.ISSUED}, after={"status": NoticeStatus.CLOSED},
    )  # fmt: skip
    return notice


# --- handling a dispatch -----------------------------------------------------------------


def _lock_dispatch(actor: Any, dispatch: Dispatch) -> Dispatch:
    scoping.require_at(actor, Perm.NOTICE_HANDLE, dispatch.org)
    dispatch = (
        Dispatch.objects.select_for_update().select_related("notice", "org").get(pk=dispatch.pk)
    )
    if dispatch.notice.status != NoticeStatus.ISSUED:
        raise ValidationError(_("This notice is closed."), code="notice_closed")
    return dispatch


def mark_read(*, actor: Any, dispatch: Dispatch) -> None:
    """First opening by a cadre of the receiving union (unread notices come first)."""
    if dispatch.read_at is None and scoping.can_at(actor, Perm.NOTICE_HANDLE, dispatch.org):
        Dispatch.objects.filter(pk=dispatch.pk, read_at__isnull=True).update(read_at=timezone.now())


def _done_ack(dispatch: Dispatch, actor: Any, now: datetime.datetime) -> None:
    on_time = dispatch.ack_due is None or timezone.localdate(now) <= dispatch.ack_due
    Dispatch.objects.filter(pk=dispatch.pk).update(
        acknowledged_at=now,
        acknowledged_by=scoping.as_user(actor),
        read_at=dispatch.read_at or now,
        ack_overdue=False,
        version=F("version") + 1,
    )
    figures.emit_step(dispatch, "acknowledged")
    if on_time:
        figures.emit_step(dispatch, "ack_on_time")
    if dispatch.ack_overdue:
        figures.emit_step(dispatch, "ack_overdue", -1)
    dispatch.acknowledged_at = now


@transaction.atomic
def acknowledge(*, actor: Any, dispatch: Dispatch) -> Dispatch:
    """签收: the receiving union confirms it has the notice. Again changes nothing."""
    dispatch = _lock_dispatch(actor, dispatch)
    if dispatch.acknowledged_at is None:
        _done_ack(dispatch, actor, timezone.now())
        record(actor=actor, action=AuditAction.UPDATE, target=dispatch, org=dispatch.org,
               summary=_("Acknowledged"))  # fmt: skip
    dispatch.refresh_from_db()
    return dispatch


@transaction.atomic
def relay(
    *,
    actor: Any,
    dispatch: Dispatch,
    note: str = "",
    doc_number: str = "",
    ack_due: datetime.date | None = None,
    report_due: datetime.date | None = None,
    requirements: Sequence[RequirementInput] = (),
) -> Relay:
    """转发: pass the notice on to this union's own subtree, adding requirements and
    deadlines no later than its own. The audience below is the notice's: never wider."""
    dispatch = _lock_dispatch(actor, dispatch)
    org = dispatch.org
    if Relay.objects.filter(notice=dispatch.notice, org=org).exists():
        raise ValidationError(
            _("%(org)s has already relayed this notice.") % {"org": org.name}, code="relayed"
        )
    today = timezone.localdate()
    for label, due, limit in (
        (_("acknowledgement"), ack_due, dispatch.ack_due),
        (_("report"), report_due, dispatch.report_due),
    ):
        if due is None:
            continue
        if due < today:
            raise ValidationError(
                _("The %(what)s deadline %(date)s has passed.") % {"what": label, "date": due},
                code="deadline_past",
            )
        if limit is not None and due > limit:
            raise ValidationError(
                _("The %(what)s deadline cannot be later than %(date)s, the one you were given.")
                % {"what": label, "date": limit},
                code="deadline_later_than_parent",
            )
    below = Dispatch.objects.filter(
        notice=dispatch.notice, **{f"org__{ancestor_field(org.depth)}": org.pk}
    ).exclude(pk=dispatch.pk)
    if not below.exists():
        raise ValidationError(
            _("No union below %(org)s receives this notice.") % {"org": org.name},
            code="nothing_below",
        )
    relay_row = Relay.objects.create(
        notice=dispatch.notice,
        org=org,
        note=sanitise_html(note),
        doc_number=(doc_number or "").strip()[:60],
        ack_due=ack_due,
        report_due=report_due,
        created_by=scoping.as_user(actor),
    )
    _write_requirements(
        dispatch.notice,
        _clean_requirements(requirements, latest_due=report_due or dispatch.report_due),
        relay_row,
    )
    # Earlier deadlines apply below, except to steps already done under the old ones.
    if ack_due is not None:
        below.filter(acknowledged_at__isnull=True).filter(
            Q(ack_due__isnull=True) | Q(ack_due__gt=ack_due)
        ).update(ack_due=ack_due)
    if report_due is not None:
        below.filter(reported_at__isnull=True).filter(
            Q(report_due__isnull=True) | Q(report_due__gt=report_due)
        ).update(report_due=report_due)
    if dispatch.acknowledged_at is None:
        _done_ack(dispatch, actor, timezone.now())
    figures.emit_step(dispatch, "relayed")
    record(
        actor=actor, action=AuditAction.CREATE, target=relay_row, org=org,
        summary=_("Relayed to %(n)d unions below") % {"n": below.count()},
    )  # fmt: skip
    return relay_row


@transaction.atomic
def save_plan(*, actor: Any, dispatch: Dispatch, plan: str) -> Dispatch:
    """实施方案: how the union will meet the requirements. Can be revised until accepted."""
    dispatch = _lock_dispatch(actor, dispatch)
    plan = (plan or "").strip()
    if not plan:
        raise ValidationError(_("The plan is empty."), code="plan_missing")
    if dispatch.report_status == ReportStatus.ACCEPTED:
        raise ValidationError(_("The report has been accepted."), code="accepted")
    first = dispatch.planned_at is None
    Dispatch.objects.filter(pk=dispatch.pk).update(
        plan=plan, planned_at=dispatch.planned_at or timezone.now(), version=F("version") + 1
    )
    if first:
        figures.emit_step(dispatch, "planned")
    record(actor=actor, action=AuditAction.UPDATE, target=dispatch, org=dispatch.org,
           summary=_("Plan saved"))  # fmt: skip
    dispatch.refresh_from_db()
    return dispatch


def _whole_number(value: Any) -> int | None:
    """A figure as typed or sent: 3, "3", 3.0 -- not 2.5, "2.5", inf, None or True
    (int() would quietly cut 2.5 to 2 and fail on infinity)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value).strip()) if isinstance(value, str) else Decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


@transaction.atomic
def submit_report(
    *,
    actor: Any,
    dispatch: Dispatch,
    figures_values: dict[str, Any],
    narrative: str,
    submission_key: str,
    evidence: Sequence[Any] = (),
) -> Report:
    """报送. The same submission key returns the report already made (double submit)."""
    dispatch = _lock_dispatch(actor, dispatch)
    key = (submission_key or "").strip()[:40]
    if not key:
        raise ValidationError(_("The form is incomplete; reload it."), code="submission_key")
    existing = Report.objects.filter(dispatch=dispatch, submission_key=key).first()
    if existing is not None:
        return existing
    if dispatch.report_status in (ReportStatus.SUBMITTED, ReportStatus.ACCEPTED):
        raise ValidationError(
            _("The report is with the reviewer; it can be changed only if returned."),
            code="report_pending",
        )
    narrative = (narrative or "").strip()
    if not narrative:
        raise ValidationError(_("Say what was done."), code="narrative_missing")
    clean_figures: dict[str, int] = {}
    for name, value in (figures_values or {}).items():
        number = _whole_number(value)
        if number is None:
            raise ValidationError(
                _("%(name)s must be a whole number.") % {"name": name}, code="figure"
            )
        if number < 0:
            raise ValidationError(_("%(name)s cannot be negative.") % {"name": name}, code="figure")
        clean_figures[str(name)[:60]] = number
    checked = [(upload, *check_upload(upload)) for upload in evidence]
    try:
        with transaction.atomic():
            report = Report.objects.create(
                dispatch=dispatch,
                figures=clean_figures,
                narrative=narrative,
                submitted_by=scoping.as_user(actor),
                submission_key=key,
            )
    except IntegrityError:
        return Report.objects.get(dispatch=dispatch, submission_key=key)
    for upload, name, content_type in checked:
        item = Evidence(report=report, name=name, size=upload.size, content_type=content_type)
        item.file.save(name, upload, save=False)
        item.save()
    now = timezone.now()
    first = dispatch.reported_at is None
    Dispatch.objects.filter(pk=dispatch.pk).update(
        report_status=ReportStatus.SUBMITTED,
        reported_at=dispatch.reported_at or now,
        report_overdue=False,
        version=F("version") + 1,
    )
    if first:
        figures.emit_step(dispatch, "reported")
        if dispatch.report_due is None or timezone.localdate(now) <= dispatch.report_due:
            figures.emit_step(dispatch, "report_on_time")
    if dispatch.report_overdue:
        figures.emit_step(dispatch, "report_overdue", -1)
    if dispatch.acknowledged_at is None:
        _done_ack(dispatch, actor, now)
    record(actor=actor, action=AuditAction.CREATE, target=report, org=dispatch.org,
           summary=_("Report submitted"), after={"figures": clean_figures})  # fmt: skip
    notify(
        users=reviewers_of(dispatch.org),
        title=_("Report to review: %(org)s") % {"org": dispatch.org.name},
        body=dispatch.notice.title,
        link=reverse("dispatch_detail", args=[dispatch.pk]),
    )
    return report


def can_review(actor: Any, dispatch: Dispatch) -> bool:
    parent = dispatch.org.parent
    return parent is not None and scoping.can(actor, Perm.NOTICE_REVIEW, parent)


@transaction.atomic
def review_report(*, actor: Any, report: Report, accept: bool, comment: str = "") -> Report:
    """审核: the parent union (or any level above it) accepts or returns the report."""
    dispatch = report.dispatch
    if not can_review(actor, dispatch):
        scoping.require(actor, Perm.ORG_VIEW, dispatch.org)
        raise PermissionDenied(_("Only the unions above review this report."))
    report = (
        Report.objects.select_for_update()
        .select_related("dispatch__notice", "dispatch__org")
        .get(pk=report.pk)
    )
    dispatch = (
        Dispatch.objects.select_for_update()
        .select_related("notice", "org")
        .get(pk=report.dispatch_id)
    )
    if report.status != ReportStatus.SUBMITTED or dispatch.report_status != ReportStatus.SUBMITTED:
        if report.status == (ReportStatus.ACCEPTED if accept else ReportStatus.RETURNED):
            return report  # the same decision again: a double click
        raise ValidationError(_("This report has already been reviewed."), code="reviewed")
    comment = (comment or "").strip()
    if not accept and not comment:
        raise ValidationError(_("Say why the report is returned."), code="comment_missing")
    now = timezone.now()
    report.status = ReportStatus.ACCEPTED if accept else ReportStatus.RETURNED
    report.review_comment = comment
    report.reviewed_by = scoping.as_user(actor)
    report.reviewed_at = now
    report.save()
    Dispatch.objects.filter(pk=dispatch.pk).update(
        report_status=report.status,
        accepted_at=now if accept else None,
        version=F("version") + 1,
    )
    if accept:
        figures.emit_step(dispatch, "accepted")
    record(
        actor=actor, action=AuditAction.UPDATE, target=report, org=dispatch.org,
        summary=_("Report accepted") if accept else _("Report returned: %(c)s") % {"c": comment},
    )  # fmt: skip
    _notify_cadres(
        dispatch.org,
        Perm.NOTICE_HANDLE,
        (_("Report accepted: %(title)s") if accept else _("Report returned: %(title)s"))
        % {"title": dispatch.notice.title},
        comment,
        reverse("dispatch_detail", args=[dispatch.pk]),
    )
    return report


# --- supervision ------------------------------------------------------------------------


def cadres_at(org: Org | None, perm: str) -> list[Any]:
    """The people who hold `perm` through a role at `org` itself."""
    if org is None:
        return []
    return cadres_at_orgs([org.pk], perm).get(org.pk, [])


def cadres_at_orgs(org_ids: Iterable[int], perm: str) -> dict[int, list[Any]]:
    """`cadres_at` of many orgs in one read: {org id: people} (orgs without any left out)."""
    from gonghui.orgs.scoping import PERMISSIONS_BY_ROLE

    kinds = [kind for kind, perms in PERMISSIONS_BY_ROLE.items() if perm in perms]
    roles = Role.objects.filter(org_id__in=list(org_ids), kind__in=kinds).select_related("user")
    by_org: dict[int, dict[int, Any]] = {}
    for role in roles.order_by("org_id", "pk"):
        if role.user.is_active:
            by_org.setdefault(role.org_id, {})[role.user_id] = role.user
    return {org_id: list(users.values()) for org_id, users in by_org.items()}


def reviewers_of(org: Org) -> list[Any]:
    """Who is told that `org`'s report waits for review: the cadres of the nearest union
    above it that has any (a township union without cadres of its own passes it up)."""
    from gonghui.orgs.scoping import PERMISSIONS_BY_ROLE

    above = org.ancestor_ids[:-1]
    if not above:
        return []
    kinds = [kind for kind, perms in PERMISSIONS_BY_ROLE.items() if Perm.NOTICE_REVIEW in perms]
    roles = (
        Role.objects.filter(org_id__in=above, kind__in=kinds)
        .filter(Q(org_only=False) | Q(org_id=above[-1]))
        .select_related("user")
    )
    by_org: dict[int, dict[int, Any]] = {}
    for role in roles:
        if role.user.is_active:
            by_org.setdefault(role.org_id, {})[role.user_id] = role.user
    for org_id in reversed(above):
        if by_org.get(org_id):
            return list(by_org[org_id].values())
    return []


def _notify_cadres(org: Org | None, perm: str, title: str, body: str, link: str) -> int:
    return notify(users=cadres_at(org, perm), title=title, body=body, link=link)


def late_dispatches(notice: Notice, org: Org, *, kind: str) -> QuerySet[Dispatch]:
    """Dispatches in `org`'s subtree that are past the deadline of `kind` and not done."""
    today = timezone.localdate()
    qs = Dispatch.objects.filter(
        notice=notice, **{f"org__{ancestor_field(org.depth)}": org.pk}
    ).exclude(org=org)
    if kind == ReminderKind.ACK:
        return qs.filter(acknowledged_at__isnull=True, ack_due__lt=today)
    return qs.filter(reported_at__isnull=True, report_due__lt=today)


@transaction.atomic
def remind_late(
    *, actor: Any, notice: Notice, org: Org, kind: str, batch_key: str | None = None
) -> int:
    """催办: remind every late union below `org` at once. The batch key (from the form)
    makes a repeated click remind nobody twice. Returns the number of unions reminded."""
    scoping.require(actor, Perm.NOTICE_REVIEW, org)
    if kind not in ReminderKind.values:
        raise ValidationError(_("Unknown reminder."), code="reminder_kind")
    if not Notice.objects.filter(pk=notice.pk, status=NoticeStatus.ISSUED).exists():
        # A closed notice can no longer be acknowledged or reported on.
        raise ValidationError(_("This notice is closed."), code="notice_closed")
    key = f"manual:{(batch_key or uuid.uuid4().hex)[:40]}"
    late = list(late_dispatches(notice, org, kind=kind).select_related("org", "notice"))
    reminded = 0
    for dispatch in late:
        reminder, created = Reminder.objects.get_or_create(
            dispatch=dispatch, key=key, defaults={"kind": kind, "sent_by": scoping.as_user(actor)}
        )
        if not created:
            continue
        reminder.recipients = _send_reminder(dispatch, kind)
        reminder.save(update_fields=["recipients"])
        reminded += 1
    record(
        actor=actor, action=AuditAction.UPDATE, target=notice, org=org,
        summary=_("Reminded %(n)d late unions (%(kind)s)")
        % {"n": reminded, "kind": ReminderKind(kind).label},
    )  # fmt: skip
    return reminded


def reminder_message(dispatch: Dispatch, kind: str) -> tuple[str, str, str]:
    """A reminder's title, body and link (the dispatch's notice and org are read)."""
    due = dispatch.ack_due if kind == ReminderKind.ACK else dispatch.report_due
    what = _("acknowledge") if kind == ReminderKind.ACK else _("report on")
    return (
        _("Reminder: %(what)s “%(title)s” by %(date)s")
        % {"what": what, "title": dispatch.notice.title, "date": due},
        dispatch.notice.doc_number,
        reverse("dispatch_detail", args=[dispatch.pk]),
    )


def _send_reminder(dispatch: Dispatch, kind: str) -> int:
    title, body, link = reminder_message(dispatch, kind)
    return _notify_cadres(dispatch.org, Perm.NOTICE_HANDLE, title, body, link)
