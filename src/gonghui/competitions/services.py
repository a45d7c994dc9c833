"""Running a competition: setting it up, registration and approval, judging, confirming
and correcting scores, ranking, awards, publishing results, nominating to the next stage.

Every function is one transaction, checks who may do it and writes the audit log. Marks
are one row per (entry, criterion, judge), so two judges entering at once never touch the
same row; a judge re-entering their own mark updates it under a row lock.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.competitions import figures
from gonghui.competitions.models import (
    Award,
    CertificateLevel,
    CombineRule,
    Competition,
    CompetitionKind,
    CompetitionStatus,
    Criterion,
    CriterionPart,
    Discipline,
    Entry,
    EntryKind,
    EntryStatus,
    Judge,
    Mark,
    MarkCorrection,
    Nomination,
)
from gonghui.core.errors import ConcurrentEditError
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, MemberStatus, Org
from gonghui.orgs.scoping import Perm
from gonghui.orgs.selectors import grassroots_union_of

HUNDRED = Decimal(100)
PLACES = Decimal("0.001")
# Certificate levels from lowest to highest (level 1 is the highest, 高级技师).
CERTIFICATE_ORDER: list[str] = [
    CertificateLevel.NONE,
    CertificateLevel.LEVEL5,
    CertificateLevel.LEVEL4,
    CertificateLevel.LEVEL3,
    CertificateLevel.LEVEL2,
    CertificateLevel.LEVEL1,
]


# --- who may do what --------------------------------------------------------------------


def can_manage(user: Any, competition: Competition) -> bool:
    return scoping.can(user, Perm.COMPETITION_MANAGE, competition.org)


def _require_manage(user: Any, competition: Competition) -> None:
    if can_manage(user, competition):
        return
    if scoping.can(user, Perm.ORG_VIEW, competition.org):
        raise PermissionDenied(_("You may not manage this competition."))
    raise Http404


def seat_of(user: Any, discipline: Discipline) -> Judge | None:
    if getattr(user, "pk", None) is None:
        return None
    return Judge.objects.filter(discipline=discipline, user=user).first()


def _locked_competition(competition: Competition, version: int | None = None) -> Competition:
    fresh = Competition.objects.select_for_update().select_related("org").get(pk=competition.pk)
    if version is not None and fresh.version != version:
        raise ConcurrentEditError(
            _("Someone else changed this competition in the meantime. Reload it and try again."),
            code="stale",
        )
    return fresh


def _audit(
    actor: Any, competition: Competition, action: str, summary: str, target: Any = None
) -> None:
    record(
        actor=actor,
        action=action,
        target=target if target is not None else competition,
        org=competition.org,
        summary=summary,
    )


# --- setting up -------------------------------------------------------------------------


@dataclass
class CriterionInput:
    part: str
    name: str
    max_marks: Decimal
    weight: Decimal
    tie_break: int | None = None
    from_quiz: bool = False


@dataclass
class DisciplineInput:
    name: str
    criteria: list[CriterionInput]
    min_certificate: str = CertificateLevel.NONE
    theory_quiz_id: int | None = None


@dataclass
class CompetitionInput:
    title: str
    registration_opens_at: datetime.datetime
    registration_closes_at: datetime.datetime
    disciplines: list[DisciplineInput]
    kind: str = CompetitionKind.SKILL
    description: str = ""
    entry_kind: str = EntryKind.INDIVIDUAL
    team_size: int = 1
    held_on: datetime.date | None = None
    min_age: int | None = None
    max_age: int | None = None
    unit_approval: bool = True
    quota_per_unit: int | None = None
    combine_rule: str = CombineRule.MEAN
    advance_count: int = 0
    parent_id: int | None = None
    requirement_id: int | None = None
    errors: list[str] = field(default_factory=list)


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def _clean_disciplines(disciplines: Sequence[DisciplineInput]) -> None:
    if not disciplines:
        raise ValidationError(_("Add at least one trade."), code="disciplines")
    names = [" ".join((d.name or "").split()) for d in disciplines]
    if any(not n for n in names):
        raise ValidationError(_("Every trade needs a name."), code="discipline_name")
    if len(set(names)) != len(names):
        raise ValidationError(_("Two trades have the same name."), code="discipline_name")
    for name, discipline in zip(names, disciplines, strict=True):
        discipline.name = name[:60]
        if discipline.min_certificate not in CertificateLevel.values:
            raise ValidationError(_("Unknown certificate level."), code="certificate")
        if not discipline.criteria:
            raise ValidationError(
                _("%(trade)s: add the criteria of its scoring sheet.") % {"trade": name},
                code="criteria",
            )
        total = Decimal(0)
        tie_breaks = []
        for criterion in discipline.criteria:
            criterion.name = " ".join((criterion.name or "").split())[:100]
            maximum = _decimal(criterion.max_marks)
            weight = _decimal(criterion.weight)
            if not criterion.name or criterion.part not in CriterionPart.values:
                raise ValidationError(
                    _("%(trade)s: every criterion needs a name and a part.") % {"trade": name},
                    code="criterion",
                )
            if maximum is None or maximum <= 0 or maximum > 1000:
                raise ValidationError(
                    _("%(trade)s, %(criterion)s: the maximum marks must be above 0.")
                    % {"trade": name, "criterion": criterion.name},
                    code="max_marks",
                )
            if weight is None or weight <= 0 or weight > 100:
                raise ValidationError(
                    _("%(trade)s, %(criterion)s: the weight must be between 0 and 100.")
                    % {"trade": name, "criterion": criterion.name},
                    code="weight",
                )
            if criterion.from_quiz and discipline.theory_quiz_id is None:
                raise ValidationError(
                    _("%(trade)s: choose the theory test that gives this mark.") % {"trade": name},
                    code="theory_quiz",
                )
            criterion.max_marks, criterion.weight = maximum, weight
            total += weight
            if criterion.tie_break is not None:
                tie_breaks.append(criterion.tie_break)
        if total != HUNDRED:
            raise ValidationError(
                _("%(trade)s: the weights add up to %(total)s, not 100.")
                % {"trade": name, "total": f"{total.normalize():f}"},
                code="weights",
            )
        if len(set(tie_breaks)) != len(tie_breaks):
            raise ValidationError(
                _("%(trade)s: two criteria have the same tie-break order.") % {"trade": name},
                code="tie_break",
            )


def _clean(org: Org, data: CompetitionInput) -> CompetitionInput:
    data.title = " ".join((data.title or "").split())[:200]
    if not data.title:
        raise ValidationError(_("Give the competition a title."), code="title")
    if data.kind not in CompetitionKind.values or data.entry_kind not in EntryKind.values:
        raise ValidationError(_("Unknown kind of competition."), code="kind")
    if data.combine_rule not in CombineRule.values:
        raise ValidationError(_("Unknown rule for combining marks."), code="combine_rule")
    if data.registration_opens_at is None or data.registration_closes_at is None:
        raise ValidationError(_("Give the registration window."), code="window")
    if data.registration_closes_at <= data.registration_opens_at:
        raise ValidationError(_("Registration must close after it opens."), code="window")
    if data.entry_kind == EntryKind.TEAM and not 2 <= data.team_size <= 20:
        raise ValidationError(_("A team has 2 to 20 members."), code="team_size")
    if data.entry_kind == EntryKind.INDIVIDUAL:
        data.team_size = 1
    if data.min_age is not None and data.max_age is not None and data.min_age > data.max_age:
        raise ValidationError(_("The minimum age is above the maximum age."), code="age")
    if data.parent_id is not None:
        parent = Competition.objects.filter(pk=data.parent_id).select_related("org").first()
        if parent is None or not org.is_descendant_of(parent.org, inclusive=False):
            raise ValidationError(
                _("A stage belongs to a competition of a union above this one."), code="parent"
            )
    if data.requirement_id is not None:
        from gonghui.notices.models import Requirement

        if not Requirement.objects.filter(
            Q(notice__dispatches__org=org) | Q(notice__issuer=org), pk=data.requirement_id
        ).exists():
            raise ValidationError(
                _("The notice requirement is not one sent to this union."), code="requirement"
            )
    quizzes = [d.theory_quiz_id for d in data.disciplines if d.theory_quiz_id is not None]
    if quizzes:
        from gonghui.learning.models import Quiz

        known = set(Quiz.objects.filter(pk__in=quizzes).values_list("pk", flat=True))
        if set(quizzes) - known:
            raise ValidationError(_("Unknown theory test."), code="theory_quiz")
    _clean_disciplines(data.disciplines)
    return data


def _write_disciplines(competition: Competition, disciplines: Sequence[DisciplineInput]) -> None:
    for position, d in enumerate(disciplines):
        discipline = Discipline.objects.create(
            competition=competition,
            name=d.name,
            min_certificate=d.min_certificate,
            theory_quiz_id=d.theory_quiz_id,
            position=position,
        )
        Criterion.objects.bulk_create(
            [
                Criterion(
                    discipline=discipline,
                    part=c.part,
                    name=c.name,
                    max_marks=c.max_marks,
                    weight=c.weight,
                    tie_break=c.tie_break,
                    from_quiz=c.from_quiz,
                    position=n,
                )
                for n, c in enumerate(d.criteria)
            ]
        )


_FIELDS = (
    "title",
    "kind",
    "description",
    "entry_kind",
    "team_size",
    "registration_opens_at",
    "registration_closes_at",
    "held_on",
    "min_age",
    "max_age",
    "unit_approval",
    "quota_per_unit",
    "combine_rule",
    "advance_count",
    "parent_id",
    "requirement_id",
)


@transaction.atomic
def create_competition(actor: Any, *, org: Org, data: CompetitionInput) -> Competition:
    if not scoping.can(actor, Perm.COMPETITION_MANAGE, org):
        scoping.require(actor, Perm.ORG_VIEW, org)
        raise PermissionDenied(_("You may not organise competitions at this union."))
    data = _clean(org, data)
    competition = Competition.objects.create(
        org=org,
        created_by=scoping.as_user(actor),
        **{name: getattr(data, name) for name in _FIELDS},
    )
    _write_disciplines(competition, data.disciplines)
    _audit(actor, competition, AuditAction.CREATE, _("Competition created"))
    return competition


@transaction.atomic
def update_competition(
    actor: Any, competition: Competition, *, data: CompetitionInput, version: int
) -> Competition:
    """A draft can change entirely; once open, the scoring sheets are fixed."""
    _require_manage(actor, competition)
    competition = _locked_competition(competition, version)
    if competition.status != CompetitionStatus.DRAFT:
        raise ValidationError(_("Only a draft can be changed."), code="status")
    data = _clean(competition.org, data)
    for name in _FIELDS:
        setattr(competition, name, getattr(data, name))
    competition.version = F("version") + 1
    competition.save()
    competition.refresh_from_db()
    competition.disciplines.all().delete()
    _write_disciplines(competition, data.disciplines)
    _audit(actor, competition, AuditAction.UPDATE, _("Competition changed"))
    return competition


@transaction.atomic
def _move(
    actor: Any, competition: Competition, *, to: str, allowed: Iterable[str], summary: str
) -> Competition:
    _require_manage(actor, competition)
    competition = _locked_competition(competition)
    if competition.status not in allowed:
        raise ValidationError(
            _("This cannot be done while the competition is %(status)s.")
            % {"status": competition.get_status_display()},
            code="status",
        )
    competition.status = to
    competition.version += 1
    competition.save()
    _audit(actor, competition, AuditAction.UPDATE, summary)
    return competition


def open_competition(actor: Any, competition: Competition) -> Competition:
    """Publish the competition: members may register within the window."""
    return _move(
        actor,
        competition,
        to=CompetitionStatus.OPEN,
        allowed=[CompetitionStatus.DRAFT],
        summary=_("Competition opened for registration"),
    )


def start_judging(actor: Any, competition: Competition) -> Competition:
    """Registration is over; judges enter marks."""
    return _move(
        actor,
        competition,
        to=CompetitionStatus.JUDGING,
        allowed=[CompetitionStatus.OPEN],
        summary=_("Judging started"),
    )


@transaction.atomic
def cancel_competition(actor: Any, competition: Competition, *, reason: str) -> Competition:
    if not (reason or "").strip():
        raise ValidationError(_("Say why the competition is cancelled."), code="reason")
    competition = _move(
        actor,
        competition,
        to=CompetitionStatus.CANCELLED,
        allowed=[CompetitionStatus.DRAFT, CompetitionStatus.OPEN, CompetitionStatus.JUDGING],
        summary=_("Competition cancelled: %(reason)s") % {"reason": reason.strip()[:200]},
    )
    return competition


# --- registration -----------------------------------------------------------------------


def age_on(birth: datetime.date, day: datetime.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _check_member(
    competition: Competition, discipline: Discipline, member: Member, certificate: str
) -> None:
    if member.status != MemberStatus.ACTIVE:
        raise ValidationError(
            _("%(name)s is not an active member.") % {"name": member.name}, code="member"
        )
    if not member.unit.is_descendant_of(competition.org):
        raise ValidationError(
            _("%(name)s is not a member below %(org)s.")
            % {"name": member.name, "org": competition.org.name},
            code="eligibility",
        )
    day = competition.held_on or timezone.localdate()
    age = age_on(member.birth_date, day)
    if competition.min_age is not None and age < competition.min_age:
        raise ValidationError(
            _("%(name)s is younger than %(age)d.")
            % {"name": member.name, "age": competition.min_age},
            code="age",
        )
    if competition.max_age is not None and age > competition.max_age:
        raise ValidationError(
            _("%(name)s is older than %(age)d.")
            % {"name": member.name, "age": competition.max_age},
            code="age",
        )
    if certificate not in CertificateLevel.values:
        raise ValidationError(_("Unknown certificate level."), code="certificate")
    if CERTIFICATE_ORDER.index(certificate) < CERTIFICATE_ORDER.index(discipline.min_certificate):
        raise ValidationError(
            _("%(trade)s needs at least: %(level)s.")
            % {"trade": discipline.name, "level": discipline.get_min_certificate_display()},
            code="certificate",
        )


def can_register_for(user: Any, member: Member) -> bool:
    """The member themself, or a cadre of their union."""
    if getattr(user, "pk", None) is not None and member.user_id == user.pk:
        return True
    return scoping.can(user, Perm.COMPETITION_MANAGE, member.unit)


def _live(competition: Competition, unit: Org) -> int:
    return Entry.objects.filter(
        competition=competition, unit=unit, status__in=[EntryStatus.PENDING, EntryStatus.APPROVED]
    ).count()


@transaction.atomic
def register(
    actor: Any,
    *,
    competition: Competition,
    discipline: Discipline,
    member: Member,
    certificate: str = CertificateLevel.NONE,
    team_name: str = "",
    team_members: Sequence[Member] = (),
) -> Entry:
    if not can_register_for(actor, member):
        if scoping.can(actor, Perm.ORG_VIEW, member.unit):
            raise PermissionDenied(_("You may not register this member."))
        raise Http404
    competition = _locked_competition(competition)
    if discipline.competition_id != competition.pk:
        raise ValidationError(_("Unknown trade."), code="discipline")
    now = timezone.now()
    if competition.status != CompetitionStatus.OPEN:
        raise ValidationError(_("Registration is not open."), code="closed")
    if now < competition.registration_opens_at:
        raise ValidationError(_("Registration has not opened yet."), code="not_open")
    if now > competition.registration_closes_at:
        raise ValidationError(
            _("Registration closed at %(time)s.")
            % {
                "time": timezone.localtime(competition.registration_closes_at).strftime(
                    "%Y-%m-%d %H:%M"
                )
            },
            code="closed",
        )
    _check_member(competition, discipline, member, certificate)
    team = list(team_members)
    if competition.entry_kind == EntryKind.TEAM:
        team_name = " ".join((team_name or "").split())[:60]
        if not team_name:
            raise ValidationError(_("Give the team a name."), code="team_name")
        if len(team) + 1 != competition.team_size or member in team:
            raise ValidationError(
                _("A team has %(n)d members, the leader included.") % {"n": competition.team_size},
                code="team_size",
            )
        for mate in team:
            _check_member(
                competition,
                discipline,
                mate,
                CertificateLevel.NONE
                if discipline.min_certificate == CertificateLevel.NONE
                else certificate,
            )
    else:
        team, team_name = [], ""
    unit = grassroots_union_of(member.unit)
    if (
        competition.quota_per_unit is not None
        and _live(competition, unit) >= competition.quota_per_unit
    ):
        raise ValidationError(
            _("%(unit)s has used its %(n)d places.")
            % {"unit": unit.name, "n": competition.quota_per_unit},
            code="quota",
        )
    try:
        with transaction.atomic():
            entry = Entry.objects.create(
                competition=competition,
                discipline=discipline,
                member=member,
                team_name=team_name,
                unit=unit,
                certificate=certificate,
                registered_by=scoping.as_user(actor),
                registered_at=now,
                people=1 + len(team),
            )
    except IntegrityError as exc:
        raise ValidationError(
            _("%(name)s is already registered.") % {"name": member.name}, code="duplicate"
        ) from exc
    if team:
        entry.team_members.set(team)
    if not competition.unit_approval:
        _approve(entry, actor, competition)
    _audit(actor, competition, AuditAction.CREATE, _("Entry registered"), target=entry)
    return entry


def _approve(entry: Entry, actor: Any, competition: Competition) -> None:
    taken = Entry.objects.filter(competition=competition).exclude(number="").count()
    entry.status = EntryStatus.APPROVED
    entry.number = f"{entry.discipline.position + 1:02d}-{taken + 1:03d}"
    entry.decided_by = scoping.as_user(actor)
    entry.decided_at = timezone.now()
    entry.save()


def can_decide(user: Any, entry: Entry) -> bool:
    return scoping.can(user, Perm.COMPETITION_MANAGE, entry.unit)


@transaction.atomic
def decide_entry(actor: Any, entry: Entry, *, approve: bool, note: str = "") -> Entry:
    """The member's union approves (within its quota) or rejects a registration."""
    if not can_decide(actor, entry):
        if scoping.can(actor, Perm.ORG_VIEW, entry.unit):
            raise PermissionDenied(_("Only the member's union decides on this entry."))
        raise Http404
    competition = _locked_competition(entry.competition)
    entry = Entry.objects.select_for_update().select_related("discipline").get(pk=entry.pk)
    if entry.status != EntryStatus.PENDING:
        raise ValidationError(_("This entry has been decided already."), code="status")
    if competition.status not in (CompetitionStatus.OPEN, CompetitionStatus.JUDGING):
        raise ValidationError(_("Registration is not open."), code="closed")
    if approve:
        _approve(entry, actor, competition)
    else:
        if not (note or "").strip():
            raise ValidationError(_("Say why the entry is rejected."), code="note")
        entry.status = EntryStatus.REJECTED
        entry.decided_by = scoping.as_user(actor)
        entry.decided_at = timezone.now()
        entry.decision_note = note.strip()[:200]
        entry.save()
    _audit(
        actor,
        competition,
        AuditAction.UPDATE,
        _("Entry approved") if approve else _("Entry rejected"),
        target=entry,
    )
    return entry


@transaction.atomic
def withdraw_entry(actor: Any, entry: Entry, *, reason: str = "") -> Entry:
    if not can_register_for(actor, entry.member):
        if scoping.can(actor, Perm.ORG_VIEW, entry.unit):
            raise PermissionDenied(_("You may not withdraw this entry."))
        raise Http404
    competition = _locked_competition(entry.competition)
    entry = Entry.objects.select_for_update().get(pk=entry.pk)
    if entry.status not in (EntryStatus.PENDING, EntryStatus.APPROVED):
        raise ValidationError(_("This entry is not active."), code="status")
    if competition.status not in (CompetitionStatus.OPEN, CompetitionStatus.DRAFT):
        raise ValidationError(
            _("Entries cannot be withdrawn once judging has begun."), code="judging"
        )
    entry.status = EntryStatus.WITHDRAWN
    entry.decision_note = (reason or "").strip()[:200]
    entry.save()
    _audit(actor, competition, AuditAction.UPDATE, _("Entry withdrawn"), target=entry)
    return entry


# --- judging ----------------------------------------------------------------------------


@transaction.atomic
def seat_judge(actor: Any, discipline: Discipline, *, user: Any, chief: bool = False) -> Judge:
    competition = discipline.competition
    _require_manage(actor, competition)
    if not scoping.can(user, Perm.COMPETITION_JUDGE, competition.org):
        raise ValidationError(
            _("%(user)s holds no judge role for %(org)s.")
            % {"user": user, "org": competition.org.name},
            code="judge",
        )
    if chief:
        Judge.objects.filter(discipline=discipline, chief=True).exclude(user=user).update(
            chief=False
        )
    judge, _created = Judge.objects.update_or_create(
        discipline=discipline, user=user, defaults={"competition": competition, "chief": chief}
    )
    _audit(
        actor,
        competition,
        AuditAction.UPDATE,
        _("Judge seated: %(user)s") % {"user": user},
        target=judge,
    )
    return judge


def _require_seat(user: Any, discipline: Discipline) -> Judge:
    seat = seat_of(user, discipline)
    if seat is None:
        raise Http404
    return seat


def _check_value(criterion: Criterion, value: Any) -> Decimal:
    number = _decimal(value)
    if number is None or number < 0 or number > criterion.max_marks:
        raise ValidationError(
            _("%(criterion)s: a mark between 0 and %(max)s.")
            % {"criterion": criterion.name, "max": f"{criterion.max_marks.normalize():f}"},
            code="out_of_range",
        )
    return number.quantize(Decimal("0.01"))


@transaction.atomic
def enter_marks(judge_user: Any, entry: Entry, *, marks: Mapping[int, Any]) -> list[Mark]:
    """A judge's marks for one entry, criterion by criterion (their own marks only; a
    re-entry replaces them). Refused once the chief judge has confirmed."""
    discipline = entry.discipline
    _require_seat(judge_user, discipline)
    if entry.status != EntryStatus.APPROVED:
        raise Http404
    competition = entry.competition
    if competition.status != CompetitionStatus.JUDGING:
        raise ValidationError(_("The competition is not being judged."), code="status")
    discipline = Discipline.objects.select_for_update().get(pk=discipline.pk)
    if discipline.locked:
        raise ValidationError(
            _("The scores are confirmed; only the chief judge corrects them, with a reason."),
            code="locked",
        )
    criteria = {c.pk: c for c in discipline.criteria.filter(from_quiz=False)}
    unknown = [pk for pk in marks if int(pk) not in criteria]
    if unknown:
        raise ValidationError(_("Unknown criterion."), code="criterion")
    values = {int(pk): _check_value(criteria[int(pk)], v) for pk, v in marks.items()}
    now = timezone.now()
    saved = []
    for pk, value in values.items():
        mark = (
            Mark.objects.select_for_update()
            .filter(entry=entry, criterion_id=pk, judge=judge_user)
            .first()
        )
        if mark is None:
            try:
                with transaction.atomic():
                    mark = Mark.objects.create(
                        entry=entry, criterion_id=pk, judge=judge_user, value=value, entered_at=now
                    )
            except IntegrityError:
                # The same judge's other tab created it a moment ago: update that row.
                mark = Mark.objects.select_for_update().get(
                    entry=entry, criterion_id=pk, judge=judge_user
                )
        if mark.value != value:
            mark.value = value
            mark.entered_at = now
            mark.save(update_fields=["value", "entered_at"])
        saved.append(mark)
    record(
        actor=judge_user,
        action=AuditAction.UPDATE,
        target=entry,
        org=competition.org,
        summary=_("Marks entered for %(number)s") % {"number": entry.number},
    )
    return saved


def combine(values: Sequence[Decimal], rule: str) -> Decimal:
    """The judges' marks of one criterion as one mark."""
    if not values:
        return Decimal(0)
    ordered = sorted(values)
    if rule == CombineRule.TRIMMED and len(ordered) >= 3:
        ordered = ordered[1:-1]
    return sum(ordered, Decimal(0)) / len(ordered)


def rank_rows(rows: Sequence[tuple[int, Decimal, Sequence[Decimal]]]) -> dict[int, int]:
    """Competition ranking (1, 2, 2, 4): by total, then by the tie-break values in order,
    all higher first; rows equal on all of them share a rank."""
    keyed = sorted(rows, key=lambda r: (r[1], *r[2]), reverse=True)
    ranks: dict[int, int] = {}
    previous: tuple[Decimal, ...] | None = None
    rank = 0
    for position, (entry_id, total, tie_breaks) in enumerate(keyed, start=1):
        key = (total, *tie_breaks)
        if key != previous:
            rank = position
            previous = key
        ranks[entry_id] = rank
    return ranks


@dataclass(frozen=True)
class Missing:
    number: str
    criterion: str
    judge: str


def _combined(discipline: Discipline) -> tuple[dict[int, dict[int, Decimal]], list[Missing]]:
    """{entry: {criterion: combined mark}} and the marks still missing."""
    competition = discipline.competition
    criteria = list(discipline.criteria.all())
    entries = list(discipline.entries.filter(status=EntryStatus.APPROVED))
    judges = list(discipline.judges.select_related("user"))
    marks: dict[tuple[int, int], dict[Any, Decimal]] = {}
    for mark in Mark.objects.filter(entry__in=entries):
        marks.setdefault((mark.entry_id, mark.criterion_id), {})[mark.judge_id] = mark.value
    missing = []
    combined: dict[int, dict[int, Decimal]] = {}
    for entry in entries:
        combined[entry.pk] = {}
        for criterion in criteria:
            given = marks.get((entry.pk, criterion.pk), {})
            if criterion.from_quiz:
                combined[entry.pk][criterion.pk] = given.get(None, Decimal(0))
                continue
            for judge in judges:
                if judge.user_id not in given:
                    missing.append(Missing(entry.number, criterion.name, judge.user.get_username()))
            combined[entry.pk][criterion.pk] = combine(
                list(given.values()), competition.combine_rule
            )
    return combined, missing


def _score(discipline: Discipline) -> list[Missing]:
    """Totals and ranks of a discipline's entries from the marks as they stand."""
    combined, missing = _combined(discipline)
    criteria = list(discipline.criteria.all())
    tie_breakers = sorted(
        (c for c in criteria if c.tie_break is not None), key=lambda c: c.tie_break or 0
    )
    rows = []
    totals: dict[int, Decimal] = {}
    for entry_id, by_criterion in combined.items():
        total = sum(
            (by_criterion[c.pk] / c.max_marks * c.weight for c in criteria), Decimal(0)
        ).quantize(PLACES, rounding=ROUND_HALF_UP)
        totals[entry_id] = total
        rows.append((entry_id, total, [by_criterion[c.pk] for c in tie_breakers]))
    ranks = rank_rows(rows)
    for entry in discipline.entries.filter(pk__in=list(totals)):
        entry.total = totals[entry.pk]
        entry.rank = ranks[entry.pk]
        entry.save(update_fields=["total", "rank"])
    return missing


@transaction.atomic
def import_theory_marks(actor: Any, discipline: Discipline) -> int:
    """The theory test's best scores (learning app) as marks of the quiz criteria."""
    from gonghui.learning.models import QuizResult

    competition = discipline.competition
    seat = seat_of(actor, discipline)
    if not (seat and seat.chief) and not can_manage(actor, competition):
        raise PermissionDenied(_("Only the chief judge imports the theory test."))
    discipline = Discipline.objects.select_for_update().get(pk=discipline.pk)
    if discipline.locked:
        raise ValidationError(_("The scores are confirmed."), code="locked")
    if discipline.theory_quiz_id is None:
        raise ValidationError(_("This trade has no theory test."), code="theory_quiz")
    criteria = list(discipline.criteria.filter(from_quiz=True))
    entries = list(discipline.entries.filter(status=EntryStatus.APPROVED))
    scores = dict(
        QuizResult.objects.filter(
            quiz_id=discipline.theory_quiz_id, member_id__in=[e.member_id for e in entries]
        ).values_list("member_id", "score")
    )
    now = timezone.now()
    count = 0
    for entry in entries:
        for criterion in criteria:
            value = (
                Decimal(scores.get(entry.member_id, 0)) / HUNDRED * criterion.max_marks
            ).quantize(Decimal("0.01"))
            Mark.objects.update_or_create(
                entry=entry,
                criterion=criterion,
                judge=None,
                defaults={"value": value, "entered_at": now},
            )
            count += 1
    _audit(
        actor, competition, AuditAction.UPDATE, _("Theory test marks imported"), target=discipline
    )
    return count


@transaction.atomic
def confirm_scores(actor: Any, discipline: Discipline) -> Discipline:
    """The chief judge confirms: every judge has marked every entry; totals and ranks are
    written and the scores locked."""
    seat = _require_seat(actor, discipline)
    if not seat.chief:
        raise PermissionDenied(_("Only the chief judge confirms the scores."))
    competition = _locked_competition(discipline.competition)
    discipline = Discipline.objects.select_for_update().get(pk=discipline.pk)
    if competition.status != CompetitionStatus.JUDGING:
        raise ValidationError(_("The competition is not being judged."), code="status")
    if discipline.locked:
        raise ValidationError(_("The scores are confirmed already."), code="locked")
    missing = _score(discipline)
    if missing:
        first = missing[0]
        raise ValidationError(
            _("%(n)d marks are missing, e.g. %(number)s, %(criterion)s by %(judge)s.")
            % {
                "n": len(missing),
                "number": first.number,
                "criterion": first.criterion,
                "judge": first.judge,
            },
            code="missing_marks",
        )
    discipline.scores_confirmed_at = timezone.now()
    discipline.save(update_fields=["scores_confirmed_at"])
    _audit(
        actor,
        competition,
        AuditAction.UPDATE,
        _("Scores of %(trade)s confirmed") % {"trade": discipline.name},
        target=discipline,
    )
    return discipline


@transaction.atomic
def correct_mark(actor: Any, mark: Mark, *, value: Any, reason: str) -> Mark:
    """After confirmation only the chief judge changes a mark, with a reason; the totals
    and ranks follow and the change is kept."""
    discipline = mark.entry.discipline
    seat = _require_seat(actor, discipline)
    if not seat.chief:
        raise PermissionDenied(_("Only the chief judge corrects confirmed scores."))
    competition = _locked_competition(discipline.competition)
    if competition.status == CompetitionStatus.PUBLISHED:
        raise ValidationError(_("The results are published."), code="published")
    if not discipline.locked:
        raise ValidationError(
            _("The scores are not confirmed yet: the judge changes the mark."), code="not_locked"
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Say why the mark is corrected."), code="reason")
    mark = Mark.objects.select_for_update().select_related("criterion").get(pk=mark.pk)
    new = _check_value(mark.criterion, value)
    if new == mark.value:
        raise ValidationError(_("The mark is unchanged."), code="unchanged")
    MarkCorrection.objects.create(
        mark=mark,
        before=mark.value,
        after=new,
        reason=reason[:300],
        by=scoping.as_user(actor),
        at=timezone.now(),
    )
    before = mark.value
    mark.value = new
    mark.save(update_fields=["value"])
    _score(discipline)
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=mark.entry,
        org=competition.org,
        summary=_("Mark corrected: %(reason)s") % {"reason": reason[:200]},
        before={"value": str(before)},
        after={"value": str(new)},
    )
    return mark


# --- awards and results -----------------------------------------------------------------


@dataclass
class AwardInput:
    name: str
    from_rank: int
    to_rank: int
    title: str = ""


@transaction.atomic
def set_awards(actor: Any, discipline: Discipline, *, awards: Sequence[AwardInput]) -> list[Award]:
    competition = discipline.competition
    _require_manage(actor, competition)
    if competition.status in (CompetitionStatus.PUBLISHED, CompetitionStatus.CANCELLED):
        raise ValidationError(_("The results are published."), code="published")
    ranges = []
    for award in awards:
        award.name = " ".join((award.name or "").split())[:40]
        if not award.name or award.from_rank < 1 or award.to_rank < award.from_rank:
            raise ValidationError(_("Each award needs a name and a range of ranks."), code="award")
        ranges.append((award.from_rank, award.to_rank))
    ranges.sort()
    for (_a, b), (c, _d) in itertools.pairwise(ranges):
        if c <= b:
            raise ValidationError(_("Two awards cover the same rank."), code="award_overlap")
    discipline.awards.all().delete()
    created = Award.objects.bulk_create(
        [
            Award(
                discipline=discipline,
                name=a.name,
                title=a.title.strip()[:40],
                from_rank=a.from_rank,
                to_rank=a.to_rank,
            )
            for a in awards
        ]
    )
    _audit(
        actor,
        competition,
        AuditAction.UPDATE,
        _("Awards of %(trade)s set") % {"trade": discipline.name},
        target=discipline,
    )
    return created


@transaction.atomic
def publish_results(actor: Any, competition: Competition) -> Competition:
    _require_manage(actor, competition)
    competition = _locked_competition(competition)
    if competition.status != CompetitionStatus.JUDGING:
        raise ValidationError(_("The competition is not being judged."), code="status")
    unconfirmed = [d.name for d in competition.disciplines.all() if not d.locked]
    if unconfirmed:
        raise ValidationError(
            _("The chief judge has not confirmed: %(trades)s.")
            % {"trades": "、".join(unconfirmed)},
            code="unconfirmed",
        )
    now = timezone.now()
    competition.status = CompetitionStatus.PUBLISHED
    competition.published_at = now
    competition.published_on = timezone.localdate(now)
    competition.version += 1
    competition.save()
    figures.count_published(competition)
    _audit(actor, competition, AuditAction.UPDATE, _("Results published"))
    return competition


def award_of(entry: Entry, awards: Iterable[Award]) -> Award | None:
    if entry.rank is None:
        return None
    for award in awards:
        if award.from_rank <= entry.rank <= award.to_rank:
            return award
    return None


# --- stages -----------------------------------------------------------------------------


@transaction.atomic
def nominate(actor: Any, entry: Entry) -> Nomination:
    """Send an entry on to the higher competition: only a top-N entry of published
    results, once."""
    competition = entry.competition
    _require_manage(actor, competition)
    parent = competition.parent
    if parent is None:
        raise ValidationError(_("This competition is not a stage of another."), code="no_parent")
    if competition.status != CompetitionStatus.PUBLISHED:
        raise ValidationError(_("Nominate after the results are published."), code="unpublished")
    if (
        entry.status != EntryStatus.APPROVED
        or entry.rank is None
        or entry.rank > competition.advance_count
    ):
        raise ValidationError(
            _("Only the top %(n)d of a trade go on to the next stage.")
            % {"n": competition.advance_count},
            code="not_qualified",
        )
    if Nomination.objects.filter(entry=entry).exists():
        raise ValidationError(_("This entry is nominated already."), code="duplicate")
    target = parent.disciplines.filter(name=entry.discipline.name).first()
    if target is None:
        raise ValidationError(
            _("%(trade)s is not a trade of the next stage.") % {"trade": entry.discipline.name},
            code="discipline",
        )
    parent = _locked_competition(parent)
    if parent.status != CompetitionStatus.OPEN:
        raise ValidationError(_("The next stage is not taking entries."), code="closed")
    if Entry.objects.filter(
        competition=parent,
        member=entry.member,
        status__in=[EntryStatus.PENDING, EntryStatus.APPROVED],
    ).exists():
        raise ValidationError(
            _("%(name)s is already registered.") % {"name": entry.member.name}, code="duplicate"
        )
    now = timezone.now()
    nominated = Entry.objects.create(
        competition=parent,
        discipline=target,
        member=entry.member,
        team_name=entry.team_name,
        unit=entry.unit,
        certificate=entry.certificate,
        registered_by=scoping.as_user(actor),
        registered_at=now,
        people=entry.people,
    )
    nominated.team_members.set(entry.team_members.all())
    _approve(nominated, actor, parent)
    nomination = Nomination.objects.create(
        entry=entry, to_competition=parent, to_entry=nominated, by=scoping.as_user(actor), at=now
    )
    _audit(
        actor,
        competition,
        AuditAction.CREATE,
        _("Nominated to %(next)s") % {"next": parent.title},
        target=entry,
    )
    return nomination
