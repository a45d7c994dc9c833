"""Worker cases: filing, routing, handling, deadlines, escalation, closing, rating; and
hardship aid files.

Every function is one transaction, checks who may do it, writes the case's timeline, the
audit log and the change of its figures (`figures.contributions` before and after). The
audit entries name the case by its number and belong to the handling union, so nothing
about a case reaches the unions below it — the employer's union a worker chose to skip.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from gonghui.accounts.services import notify
from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.cases import figures
from gonghui.cases.models import (
    ATTACHMENT_MAX_BYTES,
    DEFAULT_POLICIES,
    REOPEN_WITHIN_DAYS,
    AidKind,
    AidRecord,
    Case,
    CaseAttachment,
    CaseCategory,
    CaseEvent,
    CaseStatus,
    CategoryPolicy,
    Channel,
    ContactPreference,
    EventKind,
    HardshipCause,
    HardshipFile,
    HardshipLevel,
    HardshipStatus,
    Outcome,
    Route,
    WorkCalendarDay,
)
from gonghui.cases.workdays import WorkCalendar, read_calendar_file
from gonghui.core.errors import ConcurrentEditError
from gonghui.core.uploads import DOCUMENT_TYPES, IMAGE_TYPES, check_upload
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, MemberStatus, Org, OrgKind, OrgStatus, Role, RoleKind
from gonghui.orgs.scoping import Perm
from gonghui.orgs.selectors import grassroots_union_of
from gonghui.stats import services as stats

ATTACHMENT_TYPES = {**IMAGE_TYPES, **DOCUMENT_TYPES}
MAX_ATTACHMENTS = 5
# Kinds of union that handle cases: federations and grassroots unions, not workshops.
HANDLING_KINDS = (
    OrgKind.PROVINCE,
    OrgKind.CITY,
    OrgKind.COUNTY,
    OrgKind.TOWNSHIP,
    OrgKind.INDUSTRY,
    OrgKind.GRASSROOTS,
)
COUNTY_OR_ABOVE = (OrgKind.PROVINCE, OrgKind.CITY, OrgKind.COUNTY)
# A reminder goes to the handlers this many working days before a deadline.
REMIND_WORKDAYS_BEFORE = 1


@dataclass(frozen=True)
class Policy:
    ack_days: int
    resolve_days: int
    route: str


def policy_for(category: str) -> Policy:
    row = CategoryPolicy.objects.filter(category=category).first()
    if row is not None:
        return Policy(row.ack_days, row.resolve_days, row.route)
    ack, resolve, route = DEFAULT_POLICIES[category]
    return Policy(ack, resolve, route)


# --- who may do what --------------------------------------------------------------------


def is_worker_of(user: Any, case: Case) -> bool:
    return (
        user is not None
        and getattr(user, "pk", None) is not None
        and case.member.user_id == user.pk
    )


def can_handle(user: Any, case: Case) -> bool:
    """Act on the case: its handler, a case handler of the handling union (or above)."""
    if getattr(user, "pk", None) is not None and case.handler_id == user.pk:
        return True
    return scoping.can(user, Perm.CASE_HANDLE, case.handling_org) or scoping.can(
        user, Perm.CASE_SUPERVISE, case.handling_org
    )


def can_supervise(user: Any, case: Case) -> bool:
    return scoping.can(user, Perm.CASE_SUPERVISE, case.handling_org)


def _visible(user: Any, case: Case) -> bool:
    return Case.objects.restrict(user).filter(pk=case.pk).exists()


def _require_handle(user: Any, case: Case) -> None:
    if can_handle(user, case):
        return
    if _visible(user, case):
        raise PermissionDenied(_("You may not handle this case."))
    raise Http404


def _require_worker(user: Any, case: Case) -> None:
    if is_worker_of(user, case):
        return
    if _visible(user, case):
        raise PermissionDenied(_("Only the worker who filed the case may do this."))
    raise Http404


def _locked(case: Case, version: int | None = None) -> Case:
    """The case row locked for this transaction; a stale `version` is refused."""
    fresh = (
        Case.objects.select_for_update().select_related("member", "handling_org").get(pk=case.pk)
    )
    if version is not None and fresh.version != version:
        raise ConcurrentEditError(
            _("Someone else changed this case in the meantime. Reload it and try again."),
            code="stale",
        )
    return fresh


def _save(case: Case, before: Any) -> None:
    case.version += 1
    case.save()
    stats.emit_counts(figures.change(before, figures.contributions(case)))


def _event(
    case: Case,
    kind: str,
    actor: Any,
    *,
    text: str = "",
    by_worker: bool = False,
    from_org: Org | None = None,
    to_org: Org | None = None,
    automatic: bool = False,
) -> CaseEvent:
    now = timezone.now()
    user = scoping.as_user(actor)
    if by_worker:
        name = case.member.name
    elif user is not None:
        name = user.get_full_name() or user.get_username()
    else:
        name = _("System")
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        at=now,
        day=timezone.localdate(now),
        actor=user,
        actor_name=name[:150],
        by_worker=by_worker,
        text=text,
        from_org=from_org,
        to_org=to_org,
        automatic=automatic,
    )


def _audit(actor: Any, case: Case, action: str, summary: str) -> None:
    record(actor=actor, action=action, target=case, org=case.handling_org, summary=summary)


def _link(case: Case) -> str:
    return reverse("cases:detail", kwargs={"case_id": case.pk})


def _worker_link(case: Case) -> str:
    return reverse("cases:mine_detail", kwargs={"case_id": case.pk})


def handlers_of(org: Org) -> list[Any]:
    """Who hears of a new case at `org`: its case handlers, else its administrators."""
    roles = Role.objects.filter(org=org).select_related("user")
    handlers = [r.user for r in roles if r.kind == RoleKind.CASE_HANDLER and r.user.is_active]
    if handlers:
        return handlers
    return [r.user for r in roles if r.kind == RoleKind.ADMIN and r.user.is_active]


def _tell_handlers(case: Case, title: str) -> None:
    users = [case.handler] if case.handler_id else handlers_of(case.handling_org)
    notify(users=users, title=title, link=_link(case))


def _tell_worker(case: Case, title: str) -> None:
    if case.member.user_id:
        notify(users=[case.member.user], title=title, link=_worker_link(case))


# --- routing ----------------------------------------------------------------------------


def _ancestors(org: Org) -> list[Org]:
    """The org's ancestors from the root down, itself included."""
    by_id = {o.pk: o for o in Org.objects.filter(pk__in=org.ancestor_ids)}
    return [by_id[pk] for pk in org.ancestor_ids]


def route_case(*, unit: Org, category: str, conceal_from_employer_union: bool) -> Org:
    """The union that handles a new case first.

    A worker who asks that their employer's union not see the case goes to the county
    (or higher) federation above them: the union that stands outside the enterprise and
    keeps the legal service (a township union is often a joint union of the same
    employers). Otherwise the category's policy decides.
    """
    chain = [o for o in _ancestors(unit) if o.kind in HANDLING_KINDS and o.is_active]
    grassroots = grassroots_union_of(unit)
    above = [o for o in chain if o.depth < grassroots.depth]
    counties = [o for o in above if o.kind in COUNTY_OR_ABOVE]
    route = policy_for(category).route
    if (conceal_from_employer_union or route == Route.COUNTY) and counties:
        return counties[-1]
    if above and (route in (Route.PARENT, Route.COUNTY) or conceal_from_employer_union):
        return above[-1]
    return grassroots


def _check_target(case: Case, to_org: Org) -> None:
    """A union the case may move to: an active handling union, not the one it is at,
    and never the employer's union (or anything below it) when the worker said so."""
    if not to_org.is_active or to_org.kind not in HANDLING_KINDS:
        raise ValidationError(
            _("%(org)s cannot handle cases.") % {"org": to_org.name}, code="target"
        )
    if to_org.pk == case.handling_org_id:
        raise ValidationError(_("The case is already handled there."), code="target")
    if case.conceal_from_employer_union:
        employer = grassroots_union_of(case.unit)
        if to_org.is_descendant_of(employer):
            raise ValidationError(
                _("The worker asked that their employer's union not see this case."),
                code="concealed",
            )


# --- filing -----------------------------------------------------------------------------


@dataclass
class CaseInput:
    category: str
    title: str
    description: str
    contact_preference: str = ContactPreference.MESSAGE
    contact_phone: str = ""
    conceal_from_employer_union: bool = False


def _clean_input(data: CaseInput) -> CaseInput:
    errors: dict[str, list[ValidationError]] = {}

    def fail(field: str, message: str, code: str) -> None:
        errors.setdefault(field, []).append(ValidationError(message, code=code))

    if data.category not in CaseCategory.values:
        fail("category", _("Choose what the request is about."), "category")
    title = " ".join((data.title or "").split())
    if not title:
        fail("title", _("Give the request a short subject."), "title")
    elif len(title) > 100:
        fail("title", _("The subject can be at most 100 characters."), "title")
    description = (data.description or "").strip()
    if len(description) < 10:
        fail("description", _("Describe what happened in at least 10 characters."), "description")
    elif len(description) > 5000:
        fail("description", _("The description can be at most 5,000 characters."), "description")
    if data.contact_preference not in ContactPreference.values:
        fail("contact_preference", _("Choose how to be contacted."), "contact_preference")
    phone = "".join(ch for ch in (data.contact_phone or "") if ch.isdigit() or ch == "-")
    if data.contact_preference == ContactPreference.PHONE and not phone:
        fail("contact_phone", _("Give a phone number to be called on."), "contact_phone")
    if phone and not (7 <= len(phone.replace("-", "")) <= 12):
        fail("contact_phone", _("The phone number is not valid."), "contact_phone")
    if errors:
        raise ValidationError(errors)
    return CaseInput(
        data.category,
        title,
        description,
        data.contact_preference,
        phone,
        bool(data.conceal_from_employer_union),
    )


def _check_files(uploads: Sequence[Any]) -> list[tuple[Any, str, str]]:
    if len(uploads) > MAX_ATTACHMENTS:
        raise ValidationError(
            _("At most %(n)d files can be attached at once.") % {"n": MAX_ATTACHMENTS},
            code="file_count",
        )
    return [
        (upload, *check_upload(upload, allowed=ATTACHMENT_TYPES, max_bytes=ATTACHMENT_MAX_BYTES))
        for upload in uploads
    ]


def _attach(
    case: Case, files: list[tuple[Any, str, str]], actor: Any, event: CaseEvent | None, worker: bool
) -> list[CaseAttachment]:
    saved = []
    for upload, name, content_type in files:
        suffix = name[name.rfind(".") :].lower() if "." in name else ""
        attachment = CaseAttachment(
            case=case,
            event=event,
            name=name,
            content_type=content_type,
            size=upload.size,
            uploaded_by=scoping.as_user(actor),
            by_worker=worker,
        )
        attachment.file.save(f"{secrets.token_hex(12)}{suffix}", upload, save=False)
        attachment.save()
        saved.append(attachment)
    return saved


def file_case(
    actor: Any,
    *,
    member: Member,
    data: CaseInput,
    channel: str | None = None,
    attachments: Sequence[Any] = (),
    handling_org: Org | None = None,
    submission_key: str = "",
) -> Case:
    """A worker files a request for themself, or a cadre files one on a worker's behalf
    (a phone call, a visit). Returns the existing case when `submission_key` was used
    before by the same worker: a retried form files nothing twice."""
    by_worker = is_worker_of_member(actor, member)
    if not by_worker:
        if not scoping.can(actor, Perm.CASE_HANDLE, member.unit):
            if scoping.can(actor, Perm.MEMBER_VIEW, member.unit):
                raise PermissionDenied(_("You may not file cases for this worker."))
            raise Http404
        if channel not in (Channel.PHONE, Channel.VISIT, Channel.LETTER):
            raise ValidationError(_("Say how the worker made the request."), code="channel")
    else:
        channel = Channel.APP
        handling_org = None  # a worker does not choose the handler
    if member.status != MemberStatus.ACTIVE:
        raise ValidationError(_("Only active members can file requests."), code="member")
    key = (submission_key or "")[:64]
    if key:
        existing = _earlier_submission(actor, member, key)
        if existing is not None:
            return existing
    data = _clean_input(data)
    files = _check_files(list(attachments))
    unit = member.unit
    org = route_case(
        unit=unit,
        category=data.category,
        conceal_from_employer_union=data.conceal_from_employer_union,
    )
    if handling_org is not None and handling_org.pk != org.pk:
        # A cadre taking a call may keep the case at their own union, if it is above the
        # worker and the worker's choice allows it.
        if not (unit.is_descendant_of(handling_org) and handling_org.kind in HANDLING_KINDS):
            raise ValidationError(
                _("%(org)s is not above the worker's unit.") % {"org": handling_org.name},
                code="target",
            )
        if data.conceal_from_employer_union and handling_org.is_descendant_of(
            grassroots_union_of(unit)
        ):
            raise ValidationError(
                _("The worker asked that their employer's union not see this case."),
                code="concealed",
            )
        if not scoping.can(actor, Perm.CASE_HANDLE, handling_org):
            raise PermissionDenied(
                _("You may not handle cases at %(org)s.") % {"org": handling_org}
            )
        org = handling_org
    policy = policy_for(data.category)
    now = timezone.now()
    today = timezone.localdate(now)
    calendar = WorkCalendar.around(today, today + datetime.timedelta(days=policy.resolve_days * 2))
    ack_due = calendar.add(today, policy.ack_days)
    resolve_due = calendar.add(today, policy.resolve_days)
    try:
        with transaction.atomic():
            case = Case.objects.create(
                number=f"T{secrets.token_hex(8)}",
                member=member,
                unit=unit,
                category=data.category,
                title=data.title,
                description=data.description,
                contact_preference=data.contact_preference,
                contact_phone=data.contact_phone,
                conceal_from_employer_union=data.conceal_from_employer_union,
                channel=channel,
                filed_by=scoping.as_user(actor),
                filed_at=now,
                filed_on=today,
                handling_org=org,
                ack_due=ack_due,
                resolve_due=resolve_due,
                first_ack_due=ack_due,
                first_resolve_due=resolve_due,
                submission_key=key,
            )
            case.number = f"{today:%Y}{case.pk:07d}"
            case.save(update_fields=["number"])
            filed = _event(
                case,
                EventKind.FILED,
                actor,
                by_worker=by_worker,
                text=str(Channel(channel).label),
            )
            _event(case, EventKind.ROUTED, None, to_org=org, automatic=True)
            _attach(case, files, actor, filed, by_worker)
            stats.emit_counts(figures.contributions(case))
            _audit(
                actor,
                case,
                AuditAction.CREATE,
                _("Case %(number)s filed (%(category)s)")
                % {"number": case.number, "category": case.get_category_display()},
            )
    except IntegrityError:
        # The same submission raced in twice: the first one stands.
        existing = _earlier_submission(actor, member, key) if key else None
        if existing is None:
            raise
        return existing
    _tell_handlers(case, _("New worker case %(n)s") % {"n": case.number})
    return case


def _earlier_submission(actor: Any, member: Member, key: str) -> Case | None:
    """The case this submission already filed — returned only to someone who may read it
    (a key is the phone's random token; anyone else reusing it is refused)."""
    existing = Case.objects.filter(member=member, submission_key=key).first()
    if existing is None:
        return None
    if not Case.objects.restrict(actor).filter(pk=existing.pk).exists():
        raise ValidationError(_("This form was already submitted."), code="duplicate_submission")
    return existing


def is_worker_of_member(user: Any, member: Member) -> bool:
    return user is not None and getattr(user, "pk", None) is not None and member.user_id == user.pk


# --- handling ---------------------------------------------------------------------------


@transaction.atomic
def accept_case(actor: Any, case: Case, *, version: int | None = None) -> Case:
    _require_handle(actor, case)
    case = _locked(case, version)
    if case.status != CaseStatus.NEW:
        raise ValidationError(_("This case is not waiting to be accepted."), code="status")
    before = figures.contributions(case)
    now = timezone.now()
    case.status = CaseStatus.IN_PROGRESS
    case.accepted_at = now
    if case.first_accepted_on is None:
        case.first_accepted_on = timezone.localdate(now)
    user = scoping.as_user(actor)
    if case.handler_id is None and user is not None:
        case.handler = user
    _save(case, before)
    _event(case, EventKind.ACCEPTED, actor, to_org=case.handling_org)
    _audit(actor, case, AuditAction.UPDATE, _("Case %(n)s accepted") % {"n": case.number})
    _tell_worker(case, _("Your request %(n)s has been accepted") % {"n": case.number})
    return case


def eligible_handlers(case: Case) -> list[Any]:
    """Users who may be assigned: case handlers and administrators of the handling union."""
    roles = (
        Role.objects.filter(org=case.handling_org, kind__in=[RoleKind.CASE_HANDLER, RoleKind.ADMIN])
        .select_related("user")
        .order_by("user__username")
    )
    seen: dict[int, Any] = {}
    for role in roles:
        if role.user.is_active:
            seen.setdefault(role.user.pk, role.user)
    return list(seen.values())


@transaction.atomic
def assign_case(actor: Any, case: Case, *, handler: Any, version: int | None = None) -> Case:
    _require_handle(actor, case)
    case = _locked(case, version)
    if not case.is_open:
        raise ValidationError(_("This case is closed."), code="status")
    if handler is None or not scoping.can(handler, Perm.CASE_HANDLE, case.handling_org):
        raise ValidationError(
            _("%(user)s cannot handle cases at %(org)s.")
            % {"user": handler, "org": case.handling_org.name},
            code="handler",
        )
    before = figures.contributions(case)
    case.handler = handler
    _save(case, before)
    _event(case, EventKind.ASSIGNED, actor, text=handler.get_full_name() or handler.username)
    _audit(actor, case, AuditAction.UPDATE, _("Case %(n)s assigned") % {"n": case.number})
    notify(
        users=[handler],
        title=_("Case %(n)s is assigned to you") % {"n": case.number},
        link=_link(case),
    )
    return case


def _clean_text(text: str, *, limit: int = 2000, what: str = "") -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError(what or _("Write something first."), code="text")
    if len(text) > limit:
        raise ValidationError(_("At most %(n)d characters.") % {"n": limit}, code="text_too_long")
    return text


@transaction.atomic
def record_contact(actor: Any, case: Case, *, text: str) -> CaseEvent:
    """The handler spoke to the worker (a call, a visit): the worker sees it."""
    _require_handle(actor, case)
    case = _locked(case)
    if not case.is_open:
        raise ValidationError(_("This case is closed."), code="status")
    event = _event(case, EventKind.CONTACTED, actor, text=_clean_text(text))
    _audit(actor, case, AuditAction.UPDATE, _("Case %(n)s: worker contacted") % {"n": case.number})
    return event


@transaction.atomic
def add_note(actor: Any, case: Case, *, text: str) -> CaseEvent:
    """An internal note: handlers and supervisors see it, the worker does not."""
    _require_handle(actor, case)
    case = _locked(case)
    event = _event(case, EventKind.NOTE, actor, text=_clean_text(text))
    _audit(actor, case, AuditAction.UPDATE, _("Case %(n)s: note added") % {"n": case.number})
    return event


@transaction.atomic
def post_message(
    actor: Any, case: Case, *, text: str, attachments: Sequence[Any] = ()
) -> CaseEvent:
    """A message between the worker and the handler, on the worker's timeline."""
    by_worker = is_worker_of(actor, case)
    if not by_worker:
        _require_handle(actor, case)
    case = _locked(case)
    text = _clean_text(text)
    files = _check_files(list(attachments))
    event = _event(case, EventKind.MESSAGE, actor, text=text, by_worker=by_worker)
    _attach(case, files, actor, event, by_worker)
    _audit(actor, case, AuditAction.UPDATE, _("Case %(n)s: message") % {"n": case.number})
    if by_worker:
        _tell_handlers(case, _("The worker wrote on case %(n)s") % {"n": case.number})
    else:
        _tell_worker(case, _("New reply on your request %(n)s") % {"n": case.number})
    return event


def _move(
    actor: Any,
    case: Case,
    to_org: Org,
    *,
    kind: str,
    reason: str,
    automatic: bool = False,
) -> Case:
    """Hand the case to another union with fresh deadlines; it waits for acceptance
    there. Its figures move with it."""
    before = figures.contributions(case)
    from_org = case.handling_org
    policy = policy_for(case.category)
    today = timezone.localdate()
    calendar = WorkCalendar.around(today, today + datetime.timedelta(days=policy.resolve_days * 2))
    case.handling_org = to_org
    case.handler = None
    case.status = CaseStatus.NEW
    case.accepted_at = None
    case.ack_due = calendar.add(today, policy.ack_days)
    case.resolve_due = calendar.add(today, policy.resolve_days)
    if kind == EventKind.ESCALATED:
        case.escalations += 1
    _save(case, before)
    event = _event(
        case, kind, actor, text=reason, from_org=from_org, to_org=to_org, automatic=automatic
    )
    if kind == EventKind.ESCALATED:
        stats.emit(metric=figures.ESCALATED, org_id=from_org.pk, day=event.day)
    summary = (
        _("Case %(n)s escalated from %(a)s to %(b)s")
        if kind == EventKind.ESCALATED
        else _("Case %(n)s transferred from %(a)s to %(b)s")
    ) % {"n": case.number, "a": from_org.name, "b": to_org.name}
    record(
        actor=actor,
        action=AuditAction.TRANSFER,
        target=case,
        org=to_org,
        summary=summary,
        before={"handling_org": from_org.pk},
        after={"handling_org": to_org.pk},
    )
    _tell_handlers(case, summary)
    return case


@transaction.atomic
def escalate_case(actor: Any, case: Case, *, reason: str, version: int | None = None) -> Case:
    """Pass the case up to the parent union (too hard, too late, or a conflict here)."""
    _require_handle(actor, case)
    case = _locked(case, version)
    if not case.is_open:
        raise ValidationError(_("This case is closed."), code="status")
    reason = _clean_text(reason, limit=500, what=_("Say why the case goes up."))
    parent = _handling_parent(case.handling_org)
    if parent is None:
        raise ValidationError(_("There is no union above this one."), code="no_parent")
    return _move(actor, case, parent, kind=EventKind.ESCALATED, reason=reason)


def _handling_parent(org: Org) -> Org | None:
    for candidate in reversed(_ancestors(org)[:-1]):
        if candidate.kind in HANDLING_KINDS and candidate.is_active:
            return candidate
    return None


@transaction.atomic
def transfer_case(
    actor: Any, case: Case, *, to_org: Org, reason: str, version: int | None = None
) -> Case:
    """Hand the case to another union the actor supervises (the union of the worker's
    employer, an industry union, a sibling that is better placed)."""
    _require_handle(actor, case)
    case = _locked(case, version)
    if not case.is_open:
        raise ValidationError(_("This case is closed."), code="status")
    if not scoping.can(actor, Perm.CASE_SUPERVISE, to_org):
        raise ValidationError(
            _("You can only transfer to unions you supervise."), code="target_scope"
        )
    _check_target(case, to_org)
    reason = _clean_text(reason, limit=500, what=_("Say why the case is transferred."))
    return _move(actor, case, to_org, kind=EventKind.TRANSFERRED, reason=reason)


@dataclass
class Closing:
    outcome: str
    note: str
    money_recovered: int = 0
    aid_paid: int = 0


@transaction.atomic
def close_case(actor: Any, case: Case, *, closing: Closing, version: int | None = None) -> Case:
    """Close with an outcome and the reply to the worker; referrals and refusals say why."""
    _require_handle(actor, case)
    case = _locked(case, version)
    if not case.is_open:
        raise ValidationError(_("This case is already closed."), code="status")
    errors: dict[str, list[ValidationError]] = {}
    if closing.outcome not in Outcome.values or closing.outcome == Outcome.WITHDRAWN:
        errors["outcome"] = [ValidationError(_("Choose the outcome."), code="outcome")]
    note = (closing.note or "").strip()
    if not note:
        errors["note"] = [
            ValidationError(
                _("Write what was done, or why the case was referred or refused."), code="note"
            )
        ]
    for field in ("money_recovered", "aid_paid"):
        value = getattr(closing, field)
        if value is None or not isinstance(value, int) or value < 0 or value > 100_000_000:
            errors[field] = [
                ValidationError(_("Give an amount in yuan, 0 or more."), code="amount")
            ]
    if errors:
        raise ValidationError(errors)
    _close(
        case,
        actor,
        outcome=closing.outcome,
        note=note,
        money=closing.money_recovered,
        aid=closing.aid_paid,
    )
    _audit(
        actor,
        case,
        AuditAction.UPDATE,
        _("Case %(n)s closed: %(outcome)s")
        % {"n": case.number, "outcome": case.get_outcome_display()},
    )
    _tell_worker(
        case,
        _("Your request %(n)s has been answered: %(outcome)s")
        % {"n": case.number, "outcome": case.get_outcome_display()},
    )
    return case


def _close(
    case: Case,
    actor: Any,
    *,
    outcome: str,
    note: str,
    money: int,
    aid: int,
    by_worker: bool = False,
) -> None:
    before = figures.contributions(case)
    now = timezone.now()
    today = timezone.localdate(now)
    if case.first_accepted_on is None and outcome != Outcome.WITHDRAWN:
        # Answering a case accepts it.
        case.first_accepted_on = today
        case.accepted_at = now
    case.status = CaseStatus.CLOSED
    case.outcome = outcome
    case.outcome_note = note
    case.money_recovered = money
    case.aid_paid = aid
    case.closed_at = now
    case.closed_on = today
    case.working_days_taken = WorkCalendar.around(case.filed_on, today).between(
        case.filed_on, today
    )
    case.overdue = False
    if case.handler_id is None and not by_worker:
        case.handler = scoping.as_user(actor)
    _save(case, before)
    _event(case, EventKind.CLOSED, actor, text=note, by_worker=by_worker)


@transaction.atomic
def withdraw_case(actor: Any, case: Case, *, reason: str = "") -> Case:
    """The worker no longer needs help."""
    _require_worker(actor, case)
    case = _locked(case)
    if not case.is_open:
        raise ValidationError(_("This case is already closed."), code="status")
    note = (reason or "").strip()[:500] or _("Withdrawn by the worker")
    _close(case, actor, outcome=Outcome.WITHDRAWN, note=note, money=0, aid=0, by_worker=True)
    _audit(actor, case, AuditAction.UPDATE, _("Case %(n)s withdrawn") % {"n": case.number})
    _tell_handlers(case, _("Case %(n)s was withdrawn by the worker") % {"n": case.number})
    return case


@transaction.atomic
def rate_case(actor: Any, case: Case, *, rating: int, comment: str = "") -> Case:
    _require_worker(actor, case)
    case = _locked(case)
    if case.status != CaseStatus.CLOSED or case.outcome == Outcome.WITHDRAWN:
        raise ValidationError(_("Only an answered request can be rated."), code="status")
    if case.rating is not None:
        raise ValidationError(_("You have rated this answer already."), code="rated")
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationError(_("Choose 1 to 5 stars."), code="rating")
    comment = (comment or "").strip()
    if len(comment) > 500:
        raise ValidationError(_("At most %(n)d characters.") % {"n": 500}, code="text_too_long")
    before = figures.contributions(case)
    case.rating = rating
    case.rating_comment = comment
    case.rated_on = timezone.localdate()
    _save(case, before)
    _event(case, EventKind.RATED, actor, text=f"{rating}/5 {comment}".strip(), by_worker=True)
    _audit(actor, case, AuditAction.UPDATE, _("Case %(n)s rated") % {"n": case.number})
    if rating <= 2:
        _tell_handlers(case, _("The worker is not satisfied with case %(n)s") % {"n": case.number})
    return case


def reopen_deadline(case: Case) -> datetime.date | None:
    if case.closed_on is None:
        return None
    return case.closed_on + datetime.timedelta(days=REOPEN_WITHIN_DAYS)


def can_reopen(case: Case) -> bool:
    deadline = reopen_deadline(case)
    return (
        case.status == CaseStatus.CLOSED
        and not case.reopened
        and case.outcome != Outcome.WITHDRAWN
        and deadline is not None
        and timezone.localdate() <= deadline
    )


@transaction.atomic
def reopen_case(actor: Any, case: Case, *, reason: str) -> Case:
    """The worker is not done: once, within REOPEN_WITHIN_DAYS of closing."""
    _require_worker(actor, case)
    case = _locked(case)
    if case.status != CaseStatus.CLOSED:
        raise ValidationError(_("This case is not closed."), code="status")
    if case.reopened:
        raise ValidationError(_("A case can be reopened only once."), code="reopened")
    if case.outcome == Outcome.WITHDRAWN:
        raise ValidationError(
            _("A withdrawn request cannot be reopened; file a new one."), code="withdrawn"
        )
    if not can_reopen(case):
        raise ValidationError(
            _("A case can be reopened within %(n)d days of its answer.")
            % {"n": REOPEN_WITHIN_DAYS},
            code="too_late",
        )
    reason = _clean_text(reason, limit=1000, what=_("Say what is still unresolved."))
    before = figures.contributions(case)
    policy = policy_for(case.category)
    today = timezone.localdate()
    calendar = WorkCalendar.around(today, today + datetime.timedelta(days=policy.resolve_days * 2))
    case.status = CaseStatus.IN_PROGRESS
    case.reopened = True
    case.outcome = ""
    case.closed_at = None
    case.closed_on = None
    case.working_days_taken = None
    case.rating = None
    case.rating_comment = ""
    case.rated_on = None
    case.resolve_due = calendar.add(today, policy.resolve_days)
    _save(case, before)
    _event(case, EventKind.REOPENED, actor, text=reason, by_worker=True)
    _audit(actor, case, AuditAction.UPDATE, _("Case %(n)s reopened") % {"n": case.number})
    _tell_handlers(case, _("Case %(n)s was reopened by the worker") % {"n": case.number})
    return case


# --- deadlines --------------------------------------------------------------------------


def sweep_cases(today: datetime.date | None = None) -> dict[str, int]:
    """Run by `gonghui worker`: escalate cases left unaccepted or unresolved past their
    union's deadline to the union above; mark cases past the deadline promised to the
    worker as overdue; remind handlers the working day before a deadline. Idempotent:
    each case is re-read under a lock, and an escalation renews its deadlines."""
    today = today or timezone.localdate()
    calendar = WorkCalendar.around(today - datetime.timedelta(days=60), today)
    done = {"escalated": 0, "overdue": 0, "reminded": 0}
    late = Case.objects.filter(status__in=[CaseStatus.NEW, CaseStatus.IN_PROGRESS]).filter(
        models_q_late(today)
    )
    for case_id in late.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            case = _locked(Case(pk=case_id))
            if not case.is_open:
                continue
            if not case.overdue and today > case.first_resolve_due:
                before = figures.contributions(case)
                case.overdue = True
                _save(case, before)
                _event(case, EventKind.OVERDUE, None, automatic=True)
                done["overdue"] += 1
            lapsed = (
                case.status == CaseStatus.NEW and today > case.ack_due
            ) or today > case.resolve_due
            if lapsed:
                parent = _handling_parent(case.handling_org)
                if parent is not None:
                    reason = (
                        _("Not accepted by %(date)s")
                        if case.status == CaseStatus.NEW
                        else _("Not resolved by %(date)s")
                    ) % {
                        "date": case.ack_due if case.status == CaseStatus.NEW else case.resolve_due
                    }
                    _move(
                        scoping.SYSTEM,
                        case,
                        parent,
                        kind=EventKind.ESCALATED,
                        reason=reason,
                        automatic=True,
                    )
                    done["escalated"] += 1
    remind_until = calendar.add(today, REMIND_WORKDAYS_BEFORE)
    soon = Case.objects.filter(
        Q(status=CaseStatus.NEW, ack_due__gte=today, ack_due__lte=remind_until)
        | Q(status=CaseStatus.IN_PROGRESS, resolve_due__gte=today, resolve_due__lte=remind_until)
    )
    for case_id in soon.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            case = _locked(Case(pk=case_id))
            due = case.ack_due if case.status == CaseStatus.NEW else case.resolve_due
            if not case.is_open or case.reminded_due == due or not today <= due <= remind_until:
                continue
            case.reminded_due = due
            case.save(update_fields=["reminded_due"])
            _remind(case, due)
            done["reminded"] += 1
    return done


def _remind(case: Case, due: datetime.date) -> None:
    title = _("Case %(n)s is due on %(date)s") % {"n": case.number, "date": due}
    _tell_handlers(case, title)


def models_q_late(today: datetime.date) -> Q:
    return (
        Q(status=CaseStatus.NEW, ack_due__lt=today)
        | Q(resolve_due__lt=today)
        | Q(overdue=False, first_resolve_due__lt=today)
    )


# --- the working-day calendar -----------------------------------------------------------


@transaction.atomic
def set_calendar_year(
    actor: Any, *, year: int, days: Sequence[tuple[datetime.date, bool, str]]
) -> int:
    """Replace one year's holidays and make-up workdays (as published each November)."""
    if not scoping.is_unrestricted(actor):
        raise PermissionDenied(_("Only the back office may change the calendar."))
    wrong = [d for d, _w, _n in days if d.year != year]
    if wrong:
        raise ValidationError(
            _("%(day)s is not in %(year)d.") % {"day": wrong[0], "year": year}, code="year"
        )
    WorkCalendarDay.objects.filter(day__year=year).delete()
    WorkCalendarDay.objects.bulk_create(
        [WorkCalendarDay(day=d, is_workday=w, note=n[:40]) for d, w, n in days]
    )
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target_type="cases.workcalendarday",
        target_id=str(year),
        target_repr=_("Working-day calendar %(year)d") % {"year": year},
        summary=_("%(n)d calendar exceptions") % {"n": len(days)},
    )
    return len(days)


def load_default_calendar(actor: Any = scoping.SYSTEM) -> int:
    """The published calendars shipped with Gonghui (2025, 2026), for years not set yet."""
    loaded = 0
    for year, days in read_calendar_file().items():
        if not WorkCalendarDay.objects.filter(day__year=year).exists():
            loaded += set_calendar_year(actor, year=year, days=days)
    return loaded


# --- hardship aid files -----------------------------------------------------------------


@dataclass
class HardshipInput:
    level: str
    causes: list[str]
    family_size: int
    monthly_income_per_capita: int
    situation: str
    review_due: datetime.date


def _clean_hardship(data: HardshipInput) -> HardshipInput:
    errors: dict[str, list[ValidationError]] = {}

    def fail(field: str, message: str, code: str) -> None:
        errors.setdefault(field, []).append(ValidationError(message, code=code))

    if data.level not in HardshipLevel.values:
        fail("level", _("Choose the level of hardship."), "level")
    causes = [c for c in data.causes if c]
    if not causes or any(c not in HardshipCause.values for c in causes):
        fail("causes", _("Choose at least one cause."), "causes")
    if not isinstance(data.family_size, int) or not 1 <= data.family_size <= 30:
        fail("family_size", _("Give the number of family members (1 to 30)."), "family_size")
    income = data.monthly_income_per_capita
    if not isinstance(income, int) or not 0 <= income <= 1_000_000:
        fail("monthly_income_per_capita", _("Give an amount in yuan, 0 or more."), "amount")
    situation = (data.situation or "").strip()
    if len(situation) < 10:
        fail(
            "situation",
            _("Describe the family's situation in at least 10 characters."),
            "situation",
        )
    if data.review_due is None or data.review_due <= timezone.localdate():
        fail("review_due", _("The next review must be a day in the future."), "review_due")
    if errors:
        raise ValidationError(errors)
    return HardshipInput(
        data.level,
        sorted(set(causes)),
        data.family_size,
        income,
        situation,
        data.review_due,
    )


@transaction.atomic
def open_hardship_file(
    actor: Any, *, member: Member, org: Org, data: HardshipInput, case: Case | None = None
) -> HardshipFile:
    if not scoping.can(actor, Perm.HARDSHIP_CHANGE, org):
        if scoping.can(actor, Perm.ORG_VIEW, org):
            raise PermissionDenied(_("You may not keep hardship files at this union."))
        raise Http404
    if not member.unit.is_descendant_of(org):
        raise ValidationError(
            _("%(name)s is not a member below %(org)s.") % {"name": member.name, "org": org.name},
            code="member",
        )
    data = _clean_hardship(data)
    if case is not None and case.member_id != member.pk:
        raise ValidationError(_("The linked case is not this worker's."), code="case")
    if HardshipFile.objects.filter(member=member, status=HardshipStatus.ACTIVE).exists():
        raise ValidationError(
            _("%(name)s already has an open hardship file.") % {"name": member.name},
            code="duplicate",
        )
    today = timezone.localdate()
    try:
        with transaction.atomic():
            file = HardshipFile.objects.create(
                member=member,
                org=org,
                level=data.level,
                causes=data.causes,
                family_size=data.family_size,
                monthly_income_per_capita=data.monthly_income_per_capita,
                situation=data.situation,
                review_due=data.review_due,
                opened_on=today,
                case=case,
                created_by=scoping.as_user(actor),
            )
    except IntegrityError as exc:
        raise ValidationError(
            _("%(name)s already has an open hardship file.") % {"name": member.name},
            code="duplicate",
        ) from exc
    stats.emit(metric=figures.HARDSHIP_FILES, org_id=org.pk, day=today)
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=file,
        org=org,
        summary=_("Hardship aid file opened"),
    )
    return file


def _locked_file(file: HardshipFile, version: int | None) -> HardshipFile:
    fresh = HardshipFile.objects.select_for_update().select_related("org", "member").get(pk=file.pk)
    if version is not None and fresh.version != version:
        raise ConcurrentEditError(
            _("Someone else changed this file in the meantime. Reload it and try again."),
            code="stale",
        )
    return fresh


def _require_hardship(actor: Any, file: HardshipFile) -> None:
    if scoping.can(actor, Perm.HARDSHIP_CHANGE, file.org):
        return
    if scoping.can(actor, Perm.HARDSHIP_VIEW, file.org):
        raise PermissionDenied(_("You may not change this hardship file."))
    raise Http404


@transaction.atomic
def review_hardship_file(
    actor: Any, file: HardshipFile, *, data: HardshipInput, version: int | None = None
) -> HardshipFile:
    """The periodic review: the situation as it is now, and the next review date."""
    _require_hardship(actor, file)
    file = _locked_file(file, version)
    if file.status != HardshipStatus.ACTIVE:
        raise ValidationError(_("This file is closed."), code="status")
    data = _clean_hardship(data)
    before = {
        "level": file.level,
        "family_size": file.family_size,
        "income": file.monthly_income_per_capita,
        "review_due": str(file.review_due),
    }
    file.level = data.level
    file.causes = data.causes
    file.family_size = data.family_size
    file.monthly_income_per_capita = data.monthly_income_per_capita
    file.situation = data.situation
    file.review_due = data.review_due
    file.reviewed_on = timezone.localdate()
    file.version += 1
    file.save()
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=file,
        org=file.org,
        summary=_("Hardship aid file reviewed"),
        before=before,
        after={
            "level": file.level,
            "family_size": file.family_size,
            "income": file.monthly_income_per_capita,
            "review_due": str(file.review_due),
        },
    )
    return file


@transaction.atomic
def lift_hardship_file(
    actor: Any, file: HardshipFile, *, reason: str, version: int | None = None
) -> HardshipFile:
    """The family is out of hardship (脱困): the file is closed and kept."""
    _require_hardship(actor, file)
    file = _locked_file(file, version)
    if file.status != HardshipStatus.ACTIVE:
        raise ValidationError(_("This file is closed."), code="status")
    reason = _clean_text(reason, limit=500, what=_("Say why the family is out of hardship."))
    file.status = HardshipStatus.LIFTED
    file.lifted_on = timezone.localdate()
    file.situation = f"{file.situation}\n\n{_('Out of hardship')}: {reason}"
    file.version += 1
    file.save()
    stats.emit(metric=figures.HARDSHIP_FILES, org_id=file.org_id, day=file.opened_on, delta=-1)
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=file,
        org=file.org,
        summary=_("Family out of hardship"),
    )
    return file


@transaction.atomic
def record_aid(
    actor: Any,
    file: HardshipFile,
    *,
    kind: str,
    amount: int,
    given_on: datetime.date,
    note: str = "",
    org: Org | None = None,
) -> AidRecord:
    """Aid given to a family, by the union keeping the file or one above it."""
    org = org or file.org
    if not file.org.is_descendant_of(org):
        raise ValidationError(_("Aid is given by the file's union or one above it."), code="org")
    if not scoping.can(actor, Perm.HARDSHIP_CHANGE, org):
        _require_hardship(actor, file)
        raise PermissionDenied(_("You may not record aid for %(org)s.") % {"org": org.name})
    if kind not in AidKind.values:
        raise ValidationError(_("Choose the kind of aid."), code="kind")
    if not isinstance(amount, int) or amount < 0 or amount > 10_000_000:
        raise ValidationError(_("Give an amount in yuan, 0 or more."), code="amount")
    if given_on is None or given_on > timezone.localdate():
        raise ValidationError(_("The aid cannot be given in the future."), code="given_on")
    aid = AidRecord.objects.create(
        file=file,
        org=org,
        kind=kind,
        amount=amount,
        given_on=given_on,
        note=(note or "").strip()[:200],
        recorded_by=scoping.as_user(actor),
    )
    stats.emit_counts(
        {
            (org.pk, figures.HARDSHIP_AID_GIVEN, given_on): 1,
            (org.pk, figures.HARDSHIP_AID_PAID, given_on): amount,
        }
    )
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=aid,
        org=org,
        summary=_("Aid recorded: %(kind)s %(amount)d yuan")
        % {"kind": aid.get_kind_display(), "amount": amount},
    )
    return aid


def hardship_reviews_due(today: datetime.date | None = None) -> int:
    """Run by `gonghui worker` once a day: remind the keepers of files due for review."""
    today = today or timezone.localdate()
    due = HardshipFile.objects.filter(status=HardshipStatus.ACTIVE, review_due__lte=today)
    by_org: dict[int, int] = {}
    for org_id in due.values_list("org_id", flat=True):
        by_org[org_id] = by_org.get(org_id, 0) + 1
    for org in Org.objects.filter(pk__in=list(by_org), status=OrgStatus.ACTIVE):
        users = [
            r.user
            for r in Role.objects.filter(
                org=org, kind__in=[RoleKind.CASE_HANDLER, RoleKind.ADMIN]
            ).select_related("user")
        ]
        notify(
            users=users,
            title=_("%(n)d hardship files are due for review") % {"n": by_org[org.pk]},
            link=reverse("cases:hardship_list", kwargs={"org_id": org.pk}) + "?due=1",
        )
    return len(by_org)


# --- attachments (for the API) ----------------------------------------------------------


@transaction.atomic
def add_attachment(actor: Any, case: Case, *, upload: Any, text: str = "") -> CaseAttachment:
    """One file on a case (a pay slip, a contract, a photo), by its worker or a handler:
    a message on the timeline that carries it, seen by both sides; its text is `text`, or
    the file's name. Open or closed cases alike, as messages."""
    by_worker = is_worker_of(actor, case)
    if not by_worker:
        _require_handle(actor, case)
    case = _locked(case)
    files = _check_files([upload])
    text = (text or "").strip()
    if len(text) > 2000:
        raise ValidationError(_("At most %(n)d characters.") % {"n": 2000}, code="text_too_long")
    event = _event(case, EventKind.MESSAGE, actor, text=text or files[0][1], by_worker=by_worker)
    attachment = _attach(case, files, actor, event, by_worker)[0]
    _audit(actor, case, AuditAction.UPDATE, _("Case %(n)s: file attached") % {"n": case.number})
    if by_worker:
        _tell_handlers(case, _("The worker wrote on case %(n)s") % {"n": case.number})
    else:
        _tell_worker(case, _("New reply on your request %(n)s") % {"n": case.number})
    return attachment
