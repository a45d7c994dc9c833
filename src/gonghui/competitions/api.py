"""API of labour and skill competitions (劳动和技能竞赛): what an organiser's client needs
(set up, open, judge, publish, cancel, entries, judges, awards, totals), what a worker's
phone needs (the competitions open to them, register, withdraw) and what a judge's client
needs (the scoring sheet by entry number, marks, confirmation, corrections), plus the
public results.

Thin callers of `competitions.services` and `competitions.selectors`. A competition is read
through the scoping function (its organiser in the user's scope, `Perm.ORG_VIEW`); a
worker sees the competitions organised on their path to the root once opened. Judges see a
trade only through their seat on its panel (`selectors.seat_for`: anything else is a 404)
and entries only by number, never a name or a union. Everything a user may not read
answers 404; an action on a readable object the user may not take answers 403
(`permission_denied`). Refusals of services: 422 with the service's code, 409 `stale` for
a `version` that is no longer current.
"""

import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from gonghui.competitions import selectors, services
from gonghui.competitions.models import (
    Award,
    Competition,
    CompetitionStatus,
    Criterion,
    Discipline,
    Entry,
    EntryStatus,
    Judge,
    Mark,
)
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, Org, ancestor_field
from gonghui.orgs.scoping import Perm, get_in_scope_or_404
from gonghui.orgs.selectors import grassroots_union_of, member_record_of

router = Router(tags=["competitions"])


# --- schemas ------------------------------------------------------------------------------


class CompetitionOrgRef(Schema):
    id: int
    name: str
    kind: str


class CompetitionMemberRef(Schema):
    id: int
    name: str


class CompetitionCriterionOut(Schema):
    id: int
    part: str = Field(description="theory or practical")
    name: str
    max_marks: float
    weight: float = Field(description="Percentage points of the total (the sheet adds to 100)")
    tie_break: int | None = Field(description="Equal totals are ordered by these, 1 first")
    from_quiz: bool = Field(description="Marked by the theory test, not by the judges")


class CompetitionAwardOut(Schema):
    id: int
    name: str = Field(description="一等奖, 二等奖 …")
    title: str = Field(description="Honorary title, e.g. 技术能手")
    from_rank: int
    to_rank: int


class CompetitionJudgeOut(Schema):
    id: int
    user_id: int
    username: str
    chief: bool


class CompetitionDisciplineOut(Schema):
    id: int
    name: str = Field(description="The trade (工种)")
    min_certificate: str = Field(description="none, or the lowest certificate level 5 … 1")
    theory_quiz_id: int | None
    confirmed: bool = Field(description="The chief judge confirmed its scores (locked)")
    criteria: list[CompetitionCriterionOut]
    awards: list[CompetitionAwardOut]
    judges: list[CompetitionJudgeOut] | None = Field(
        description="The panel, for the organiser's cadres; null for everyone else"
    )


class CompetitionOut(Schema):
    id: int
    org: CompetitionOrgRef = Field(description="The organising union")
    parent_id: int | None = Field(description="The higher competition this is a stage of")
    kind: str = Field(description="skill or labour")
    title: str
    description: str
    status: str = Field(description="draft, open, judging, published or cancelled")
    entry_kind: str = Field(description="individual or team")
    team_size: int
    registration_opens_at: datetime.datetime
    registration_closes_at: datetime.datetime
    registration_open: bool = Field(description="Members may register now")
    held_on: datetime.date | None
    min_age: int | None
    max_age: int | None
    unit_approval: bool = Field(description="The member's union approves each entry")
    quota_per_unit: int | None = Field(description="Entries per grassroots union (null: any)")
    combine_rule: str = Field(description="mean, or trimmed (drop the highest and lowest)")
    advance_count: int = Field(description="The top N of a trade may go to the next stage")
    requirement_id: int | None
    published_at: datetime.datetime | None
    may_manage: bool = Field(description="You may change, open, publish … it")
    version: int = Field(description="Send it back with a change (409 stale)")


class CompetitionDetailOut(CompetitionOut):
    disciplines: list[CompetitionDisciplineOut]


class CompetitionFilter(Schema):
    org_id: int | None = Field(
        None, description="Organised in this union's subtree (in your scope, else 404)"
    )
    status: str = Field("", description="draft, open, judging, published or cancelled")


class CompetitionCriterionIn(Schema):
    part: str = Field(description="theory or practical")
    name: str
    max_marks: Decimal = Field(description="Above 0, at most 1000")
    weight: Decimal = Field(description="Percentage points; a trade's weights add up to 100")
    tie_break: int | None = None
    from_quiz: bool = False


class CompetitionDisciplineIn(Schema):
    name: str
    criteria: list[CompetitionCriterionIn]
    min_certificate: str = "none"
    theory_quiz_id: int | None = Field(None, description="A quiz you may see")


class CompetitionIn(Schema):
    title: str
    registration_opens_at: datetime.datetime
    registration_closes_at: datetime.datetime
    disciplines: list[CompetitionDisciplineIn]
    kind: str = "skill"
    description: str = ""
    entry_kind: str = "individual"
    team_size: int = 1
    held_on: datetime.date | None = None
    min_age: int | None = None
    max_age: int | None = None
    unit_approval: bool = True
    quota_per_unit: int | None = None
    combine_rule: str = "mean"
    advance_count: int = 0
    parent_id: int | None = None
    requirement_id: int | None = None


class CompetitionCreateIn(CompetitionIn):
    org_id: int = Field(description="The organising union (where you organise competitions)")


class CompetitionUpdateIn(CompetitionIn):
    version: int = Field(description="The version read (stale: 409)")


class CompetitionCancelIn(Schema):
    reason: str


class CompetitionEntryOut(Schema):
    id: int
    competition_id: int
    discipline: CompetitionMemberRef = Field(description="The trade")
    member: CompetitionMemberRef = Field(description="The member, or the team's leader")
    unit: CompetitionOrgRef = Field(description="The grassroots union it counts for")
    team_name: str
    team_members: list[CompetitionMemberRef] = Field(description="Besides the leader")
    certificate: str
    status: str = Field(description="pending, approved, rejected or withdrawn")
    number: str = Field(description="The anonymous entry number, given on approval")
    registered_at: datetime.datetime
    decided_at: datetime.datetime | None
    decision_note: str
    total: float | None = Field(description="Once published (the organiser: once confirmed)")
    rank: int | None = Field(description="Once published (the organiser: once confirmed)")


class CompetitionEntryFilter(Schema):
    status: str = Field("", description="pending, approved, rejected or withdrawn")
    discipline_id: int | None = None


class CompetitionEntryIn(Schema):
    member_id: int | None = Field(
        None, description="A cadre registers this member; left out: the worker themself"
    )
    discipline_id: int
    certificate: str = Field("none", description="none, or the certificate level 5 … 1")
    team_name: str = ""
    team_member_ids: list[int] = Field(
        [], description="Team competitions: the other members, of the leader's union"
    )


class CompetitionDecideIn(Schema):
    approve: bool
    note: str = Field("", description="Why it is rejected (needed to reject)")


class CompetitionWithdrawIn(Schema):
    reason: str = ""


class CompetitionNominationOut(Schema):
    id: int
    entry_id: int
    to_competition_id: int
    to_entry_id: int | None
    to_entry_number: str


class CompetitionMineItemOut(Schema):
    competition: CompetitionOut
    disciplines: list[CompetitionMemberRef] = Field(description="Its trades")
    entries: list[CompetitionEntryOut] = Field(
        description="Your entries in it, as a competitor or a team member"
    )


class CompetitionJudgeIn(Schema):
    user_id: int = Field(description="A user holding the judge role at or above the organiser")
    chief: bool = False


class CompetitionAwardIn(Schema):
    name: str
    from_rank: int
    to_rank: int
    title: str = ""


class CompetitionSeatOut(Schema):
    discipline: CompetitionMemberRef = Field(description="The trade")
    competition_id: int
    competition_title: str
    competition_status: str
    chief: bool
    confirmed: bool


class CompetitionSheetRowOut(Schema):
    entry_id: int
    number: str = Field(description="Entry number only: never a name or a union")
    marks: dict[int, float] = Field(description="Criterion id → your mark")
    others: dict[int, list[float]] = Field(
        description="Criterion id → the other marks (the chief judge, or once confirmed)"
    )
    total: float | None = Field(description="Once confirmed")
    rank: int | None = Field(description="Once confirmed")


class CompetitionPanelMarkOut(Schema):
    id: int = Field(description="For POST /api/competitions/marks/{mark_id}/correct")
    entry_id: int
    number: str
    criterion_id: int
    judge: str | None = Field(description="The judge's username; null: the theory test")
    value: float


class CompetitionSheetOut(Schema):
    discipline: CompetitionSeatOut
    criteria: list[CompetitionCriterionOut]
    entries: list[CompetitionSheetRowOut]
    panel_marks: list[CompetitionPanelMarkOut] | None = Field(
        description="The chief judge: every mark with its judge once confirmed (to correct "
        "one; empty before); null for the other judges"
    )


class CompetitionMarksIn(Schema):
    marks: dict[int, Decimal] = Field(description="Criterion id → mark (0 to its maximum)")


class CompetitionMarkOut(Schema):
    criterion_id: int
    value: float


class CompetitionTheoryOut(Schema):
    imported: int = Field(description="Marks written from the theory test's best scores")


class CompetitionCorrectIn(Schema):
    value: Decimal
    reason: str


class CompetitionCorrectionOut(Schema):
    before: float
    after: float
    reason: str
    by: str | None
    at: datetime.datetime


class CompetitionCorrectedOut(Schema):
    id: int
    entry_id: int
    number: str
    criterion_id: int
    value: float
    entry_total: float | None
    entry_rank: int | None
    corrections: list[CompetitionCorrectionOut]


class CompetitionScoreRowOut(Schema):
    entry_id: int
    number: str
    total: float | None
    rank: int | None


class CompetitionScoreDisciplineOut(Schema):
    id: int
    name: str
    confirmed: bool
    rows: list[CompetitionScoreRowOut] = Field(description="Once confirmed, by rank")


class CompetitionScoresOut(Schema):
    competition_id: int
    disciplines: list[CompetitionScoreDisciplineOut]


class CompetitionResultRowOut(Schema):
    rank: int | None
    number: str
    name: str
    team_name: str
    unit: str
    total: float | None
    award: str | None
    title: str | None = Field(description="Honorary title of the award, e.g. 技术能手")


class CompetitionResultDisciplineOut(Schema):
    id: int
    name: str
    rows: list[CompetitionResultRowOut]


class CompetitionResultsOut(Schema):
    id: int
    title: str
    org: str
    held_on: datetime.date | None
    published_on: datetime.date | None
    disciplines: list[CompetitionResultDisciplineOut]


# --- output -------------------------------------------------------------------------------


def _float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def org_ref(org: Org) -> dict[str, Any]:
    return {"id": org.pk, "name": org.name, "kind": org.kind}


def criterion_out(c: Criterion) -> dict[str, Any]:
    return {
        "id": c.pk,
        "part": c.part,
        "name": c.name,
        "max_marks": float(c.max_marks),
        "weight": float(c.weight),
        "tie_break": c.tie_break,
        "from_quiz": c.from_quiz,
    }


def award_out(a: Award) -> dict[str, Any]:
    return {
        "id": a.pk,
        "name": a.name,
        "title": a.title,
        "from_rank": a.from_rank,
        "to_rank": a.to_rank,
    }


def judge_out(j: Judge) -> dict[str, Any]:
    return {"id": j.pk, "user_id": j.user_id, "username": j.user.get_username(), "chief": j.chief}


def competition_out(c: Competition, user: Any) -> dict[str, Any]:
    return {
        "id": c.pk,
        "org": org_ref(c.org),
        "parent_id": c.parent_id,
        "kind": c.kind,
        "title": c.title,
        "description": c.description,
        "status": c.status,
        "entry_kind": c.entry_kind,
        "team_size": c.team_size,
        "registration_opens_at": c.registration_opens_at,
        "registration_closes_at": c.registration_closes_at,
        "registration_open": selectors.registration_is_open(c),
        "held_on": c.held_on,
        "min_age": c.min_age,
        "max_age": c.max_age,
        "unit_approval": c.unit_approval,
        "quota_per_unit": c.quota_per_unit,
        "combine_rule": c.combine_rule,
        "advance_count": c.advance_count,
        "requirement_id": c.requirement_id,
        "published_at": c.published_at,
        "may_manage": services.can_manage(user, c),
        "version": c.version,
    }


def competition_detail_out(c: Competition, user: Any) -> dict[str, Any]:
    manage = services.can_manage(user, c)
    panel = Prefetch("judges", queryset=Judge.objects.select_related("user").order_by("id"))
    disciplines = c.disciplines.prefetch_related("criteria", "awards", panel)
    return {
        **competition_out(c, user),
        "disciplines": [
            {
                "id": d.pk,
                "name": d.name,
                "min_certificate": d.min_certificate,
                "theory_quiz_id": d.theory_quiz_id,
                "confirmed": d.locked,
                "criteria": [criterion_out(x) for x in d.criteria.all()],
                "awards": [award_out(a) for a in d.awards.all()],
                "judges": [judge_out(j) for j in d.judges.all()] if manage else None,
            }
            for d in disciplines
        ],
    }


def entry_out(e: Entry, *, show_result: bool) -> dict[str, Any]:
    """`show_result`: totals and ranks (published results, or the organiser's cadres)."""
    return {
        "id": e.pk,
        "competition_id": e.competition_id,
        "discipline": {"id": e.discipline.pk, "name": e.discipline.name},
        "member": {"id": e.member.pk, "name": e.member.name},
        "unit": org_ref(e.unit),
        "team_name": e.team_name,
        "team_members": [{"id": m.pk, "name": m.name} for m in e.team_members.all()],
        "certificate": e.certificate,
        "status": e.status,
        "number": e.number,
        "registered_at": e.registered_at,
        "decided_at": e.decided_at,
        "decision_note": e.decision_note,
        "total": _float(e.total) if show_result else None,
        "rank": e.rank if show_result else None,
    }


def _shows_result(user: Any, competition: Competition) -> bool:
    return competition.status == CompetitionStatus.PUBLISHED or services.can_manage(
        user, competition
    )


def _entry_after(request: HttpRequest, entry: Entry) -> dict[str, Any]:
    entry = (
        Entry.objects.select_related("competition", "competition__org", "discipline")
        .select_related("member", "unit")
        .prefetch_related("team_members")
        .get(pk=entry.pk)
    )
    return entry_out(entry, show_result=_shows_result(request.user, entry.competition))


def seat_out(seat: Judge) -> dict[str, Any]:
    d, c = seat.discipline, seat.competition
    return {
        "discipline": {"id": d.pk, "name": d.name},
        "competition_id": c.pk,
        "competition_title": c.title,
        "competition_status": c.status,
        "chief": seat.chief,
        "confirmed": d.locked,
    }


def sheet_out(seat: Judge) -> dict[str, Any]:
    criteria, rows = selectors.judge_sheet(seat)
    numbers = {r.entry_id: r.number for r in rows}
    panel = None
    if seat.chief:
        panel = [
            {
                "id": m.pk,
                "entry_id": m.entry_id,
                "number": numbers.get(m.entry_id, ""),
                "criterion_id": m.criterion_id,
                "judge": m.judge.get_username() if m.judge else None,
                "value": float(m.value),
            }
            for marks in selectors.marks_to_correct(seat).values()
            for m in marks
        ]
    return {
        "discipline": seat_out(seat),
        "criteria": [criterion_out(c) for c in criteria],
        "entries": [
            {
                "entry_id": r.entry_id,
                "number": r.number,
                "marks": {k: float(v) for k, v in r.marks.items()},
                "others": {k: [float(v) for v in vs] for k, vs in r.others.items()},
                "total": _float(r.total),
                "rank": r.rank,
            }
            for r in rows
        ],
        "panel_marks": panel,
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


def _competition(request: HttpRequest, competition_id: int) -> Competition:
    """A competition whose organiser is in the user's scope (404 otherwise)."""
    return selectors.competition_for(request.user, competition_id)


def _discipline(request: HttpRequest, discipline_id: int) -> Discipline:
    """A trade of a competition in the user's scope (404 otherwise)."""
    visible = Competition.objects.restrict(request.user, Perm.ORG_VIEW)
    try:
        return Discipline.objects.select_related("competition", "competition__org").get(
            pk=discipline_id, competition__in=visible
        )
    except Discipline.DoesNotExist as exc:
        raise Http404 from exc


def _may_see_names(user: Any, competition: Competition) -> bool:
    """Judges score by number: one who may judge for the organiser sees no names or unions
    of its entrants unless they also manage the competition."""
    return services.can_manage(user, competition) or not scoping.can(
        user, Perm.COMPETITION_JUDGE, competition.org
    )


def _input(user: Any, org: Org, payload: CompetitionIn) -> services.CompetitionInput:
    _check_links(user, org, payload)
    return services.CompetitionInput(
        title=payload.title,
        registration_opens_at=payload.registration_opens_at,
        registration_closes_at=payload.registration_closes_at,
        disciplines=[
            services.DisciplineInput(
                name=d.name,
                criteria=[
                    services.CriterionInput(
                        part=c.part,
                        name=c.name,
                        max_marks=c.max_marks,
                        weight=c.weight,
                        tie_break=c.tie_break,
                        from_quiz=c.from_quiz,
                    )
                    for c in d.criteria
                ],
                min_certificate=d.min_certificate,
                theory_quiz_id=d.theory_quiz_id,
            )
            for d in payload.disciplines
        ],
        kind=payload.kind,
        description=payload.description,
        entry_kind=payload.entry_kind,
        team_size=payload.team_size,
        held_on=payload.held_on,
        min_age=payload.min_age,
        max_age=payload.max_age,
        unit_approval=payload.unit_approval,
        quota_per_unit=payload.quota_per_unit,
        combine_rule=payload.combine_rule,
        advance_count=payload.advance_count,
        parent_id=payload.parent_id,
        requirement_id=payload.requirement_id,
    )


def _check_links(user: Any, org: Org, payload: CompetitionIn) -> None:
    """Ids of other apps' rows: a theory test the user may see, a requirement the organiser
    received (never a database error for an unknown id)."""
    from gonghui.activities.services import _check_requirement
    from gonghui.learning.models import Quiz

    if not scoping.can(user, Perm.COMPETITION_MANAGE, org):
        return  # the service refuses first, without a word about the ids
    quiz_ids = {d.theory_quiz_id for d in payload.disciplines if d.theory_quiz_id is not None}
    visible = Quiz.objects.restrict(user, Perm.ORG_VIEW).filter(pk__in=quiz_ids)
    if quiz_ids and visible.count() != len(quiz_ids):
        raise _invalid("theory_quiz_id", _("Choose a theory test you can see."), "theory_quiz")
    if payload.requirement_id is not None:
        _check_requirement(org, payload.requirement_id)


# --- competitions -------------------------------------------------------------------------


@router.get("", response=list[CompetitionOut], summary="Competitions you may see")
@router.get("/", response=list[CompetitionOut], include_in_schema=False)
@paginate(LimitOffsetPagination)
def competition_list(request: HttpRequest, filters: Query[CompetitionFilter]):
    """Competitions organised by unions in your scope, latest registration first; with
    `org_id` (a union in your scope, else 404) those organised in its subtree. Refusal:
    `status`."""
    user = request.user
    if filters.status and filters.status not in CompetitionStatus.values:
        raise _invalid("status", _("Unknown status."), "status")
    if filters.org_id is None:
        competitions = Competition.objects.restrict(user, Perm.ORG_VIEW).select_related("org")
    else:
        org = get_in_scope_or_404(Org.objects.all(), user, Perm.ORG_VIEW, pk=filters.org_id)
        competitions = selectors.competitions_of(user, org)
    if filters.status:
        competitions = competitions.filter(status=filters.status)
    return _Page(competitions, lambda rows: [competition_out(c, user) for c in rows])


@router.post("", response={201: CompetitionDetailOut}, summary="Set up a competition (draft)")
@router.post("/", response={201: CompetitionDetailOut}, include_in_schema=False)
def competition_create(request: HttpRequest, payload: CompetitionCreateIn):
    """A draft with its trades and their scoring sheets, by a cadre who organises
    competitions at `org_id`. Refusals: `title`, `kind`, `combine_rule`, `window`,
    `team_size`, `age`, `parent`, `disciplines`, `discipline_name`, `certificate`,
    `criteria`, `criterion`, `max_marks`, `weight`, `weights` (not 100), `tie_break`,
    `theory_quiz`, `requirement` (422); 403 where you only see the union; 404 outside."""
    user = request.user
    org = get_in_scope_or_404(Org.objects.all(), user, Perm.ORG_VIEW, pk=payload.org_id)
    competition = services.create_competition(user, org=org, data=_input(user, org, payload))
    return Status(201, competition_detail_out(_competition(request, competition.pk), user))


@router.get("/mine", response=list[CompetitionMineItemOut], summary="Competitions open to me")
@paginate(LimitOffsetPagination)
def competition_mine(request: HttpRequest):
    """For a worker: the competitions organised by unions on their path to the root once
    opened (open, judging or published), latest closing first, each with its trades and the
    worker's entries in it. Empty for an account without a member record."""
    member = member_record_of(request.user, include_left=True)
    if member is None:
        return []
    entries = selectors.entries_of_member(member).prefetch_related("team_members")
    entries = entries.select_related("member", "unit")

    def convert(rows: list[Competition]) -> list[dict[str, Any]]:
        ids = [c.pk for c in rows]
        mine: dict[int, list[Entry]] = {}
        for e in entries.filter(competition_id__in=ids):
            mine.setdefault(e.competition_id, []).append(e)
        trades: dict[int, list[dict[str, Any]]] = {}
        for d in Discipline.objects.filter(competition_id__in=ids).only(
            "pk", "name", "competition_id", "position"
        ):
            trades.setdefault(d.competition_id, []).append({"id": d.pk, "name": d.name})
        return [
            {
                "competition": competition_out(c, request.user),
                "disciplines": trades.get(c.pk, []),
                "entries": [
                    entry_out(e, show_result=c.status == CompetitionStatus.PUBLISHED)
                    for e in mine.get(c.pk, [])
                ],
            }
            for c in rows
        ]

    return _Page(selectors.open_for_member(member), convert)


@router.get("/seats", response=list[CompetitionSeatOut], summary="My seats on judging panels")
def competition_seats(request: HttpRequest):
    """The trades you judge, with the competition and whether you are the chief judge."""
    return [seat_out(s) for s in selectors.seats_of(request.user).order_by("-competition_id")]


# --- entries ------------------------------------------------------------------------------


@router.post(
    "/entries/{entry_id}/decide", response=CompetitionEntryOut, summary="Approve or reject"
)
def entry_decide(request: HttpRequest, entry_id: int, payload: CompetitionDecideIn):
    """By the member's union (within its quota); approval gives the entry its number.
    Refusals: `status` (decided already), `closed`, `note` (a rejection needs one), `quota`
    (422); 403 for cadres who see the entry but are not of the member's union."""
    entry = selectors.entry_for(request.user, entry_id)
    entry = services.decide_entry(request.user, entry, approve=payload.approve, note=payload.note)
    return _entry_after(request, entry)


@router.post("/entries/{entry_id}/withdraw", response=CompetitionEntryOut, summary="Withdraw")
def entry_withdraw(request: HttpRequest, entry_id: int, payload: CompetitionWithdrawIn):
    """By the worker or a cadre of their union, before judging begins. Refusals: `status`
    (not active), `judging` (422); 403."""
    entry = selectors.entry_for(request.user, entry_id)
    entry = services.withdraw_entry(request.user, entry, reason=payload.reason)
    return _entry_after(request, entry)


@router.post(
    "/entries/{entry_id}/nominate",
    response={201: CompetitionNominationOut},
    summary="Nominate to the next stage",
)
def entry_nominate(request: HttpRequest, entry_id: int):
    """A top-`advance_count` entry of published results goes on to the higher competition
    (approved there at once). Refusals: `no_parent`, `unpublished`, `not_qualified`,
    `duplicate`, `discipline`, `closed` (422); 403."""
    entry = selectors.entry_for(request.user, entry_id)
    nomination = services.nominate(request.user, entry)
    return Status(
        201,
        {
            "id": nomination.pk,
            "entry_id": nomination.entry_id,
            "to_competition_id": nomination.to_competition_id,
            "to_entry_id": nomination.to_entry_id,
            "to_entry_number": nomination.to_entry.number if nomination.to_entry else "",
        },
    )


@router.get(
    "/entries/{entry_id}/certificate",
    response={200: None},
    summary="Certificate of honour (PDF)",
)
def entry_certificate(request: HttpRequest, entry_id: int):
    """荣誉证书 of a ranked entry of published results, for the organiser's cadres, the
    cadres of the entry's union and the member themself; 404 before publication and for
    everyone else."""
    from gonghui.competitions import pdf

    entry = selectors.entry_for(request.user, entry_id)
    if (
        entry.competition.status != CompetitionStatus.PUBLISHED
        or entry.status != EntryStatus.APPROVED
        or entry.rank is None
    ):
        raise Http404
    award = services.award_of(entry, entry.discipline.awards.all())
    response = HttpResponse(pdf.certificate(entry, award), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="certificate-{entry.pk}.pdf"'
    return response


# --- judges, awards and marks -------------------------------------------------------------


@router.post(
    "/disciplines/{discipline_id}/judges",
    response=CompetitionJudgeOut,
    summary="Seat a judge on a trade's panel",
)
def discipline_seat_judge(request: HttpRequest, discipline_id: int, payload: CompetitionJudgeIn):
    """`user_id`: someone holding the judge role at or above the organiser; `chief`: the
    chief judge (one per trade: seating another chief unseats the former as chief).
    Seating a judge again changes only `chief`. Refusals: `judge` (422); 403."""
    discipline = _discipline(request, discipline_id)
    competition = discipline.competition
    judge = get_user_model().objects.filter(pk=payload.user_id, is_active=True).first()
    if services.can_manage(request.user, competition) and (
        judge is None or not scoping.can(judge, Perm.COMPETITION_JUDGE, competition.org)
    ):
        # Refused here, without naming whoever the id belongs to.
        raise _invalid(
            "user_id",
            _("Choose someone who holds the judge role for %(org)s.")
            % {"org": competition.org.name},
            "judge",
        )
    seat = services.seat_judge(request.user, discipline, user=judge, chief=payload.chief)
    return judge_out(Judge.objects.select_related("user").get(pk=seat.pk))


@router.put(
    "/disciplines/{discipline_id}/awards",
    response=list[CompetitionAwardOut],
    summary="Set a trade's awards",
)
def discipline_awards(request: HttpRequest, discipline_id: int, payload: list[CompetitionAwardIn]):
    """Replaces the trade's awards: tiers of ranks (`from_rank`…`to_rank`) with a name and
    an optional honorary title. Before the results are published. Refusals: `award`,
    `award_overlap`, `published` (422); 403."""
    discipline = _discipline(request, discipline_id)
    awards = services.set_awards(
        request.user,
        discipline,
        awards=[
            services.AwardInput(
                name=a.name, from_rank=a.from_rank, to_rank=a.to_rank, title=a.title
            )
            for a in payload
        ],
    )
    return [award_out(a) for a in sorted(awards, key=lambda a: a.from_rank)]


@router.get(
    "/disciplines/{discipline_id}/scores",
    response=CompetitionSheetOut,
    summary="A judge's scoring sheet",
)
def discipline_scores(request: HttpRequest, discipline_id: int):
    """For judges seated on the trade's panel (everyone else: 404). Entries by number only,
    never a name or a union; your own marks; the other judges' marks only for the chief
    judge or once confirmed; totals and ranks once confirmed."""
    return sheet_out(selectors.seat_for(request.user, discipline_id))


@router.post(
    "/disciplines/{discipline_id}/scores/confirm",
    response=CompetitionSheetOut,
    summary="Confirm the scores (the chief judge)",
)
def discipline_confirm(request: HttpRequest, discipline_id: int):
    """Every judge has marked every entry: the marks are combined, totals and ranks
    written and the scores locked. Refusals: `missing_marks`, `status`, `locked` (422);
    403 for judges who are not the chief; 404 unless seated."""
    seat = selectors.seat_for(request.user, discipline_id)
    services.confirm_scores(request.user, seat.discipline)
    return sheet_out(selectors.seat_for(request.user, discipline_id))


@router.post(
    "/disciplines/{discipline_id}/scores/theory",
    response=CompetitionTheoryOut,
    summary="Import the theory test",
)
def discipline_theory(request: HttpRequest, discipline_id: int):
    """The best scores of the trade's theory test (learning app) become the marks of its
    theory-test criteria. By the chief judge or the organiser. Refusals: `theory_quiz`
    (none), `locked` (422); 403."""
    seat = selectors.seats_of(request.user).filter(discipline_id=discipline_id).first()
    discipline = seat.discipline if seat is not None else _discipline(request, discipline_id)
    return {"imported": services.import_theory_marks(request.user, discipline)}


# (After …/scores/confirm and …/scores/theory: the path would match them too.)
@router.put(
    "/disciplines/{discipline_id}/scores/{entry_id}",
    response=list[CompetitionMarkOut],
    summary="Enter my marks for an entry",
)
def discipline_enter_marks(
    request: HttpRequest, discipline_id: int, entry_id: int, payload: CompetitionMarksIn
):
    """Your marks, criterion by criterion (re-entering replaces your own; the other judges'
    marks are theirs). Refusals: `out_of_range`, `criterion` (unknown, or marked by the
    theory test), `status` (not being judged), `locked` (confirmed) (422); 404 unless seated
    and the entry is an approved one of the trade."""
    seat = selectors.seat_for(request.user, discipline_id)
    entry = selectors.judge_entry(seat, entry_id)
    marks = services.enter_marks(request.user, entry, marks=payload.marks)
    return [{"criterion_id": m.criterion_id, "value": float(m.value)} for m in marks]


@router.post(
    "/marks/{mark_id}/correct",
    response=CompetitionCorrectedOut,
    summary="Correct a confirmed mark (the chief judge)",
)
def mark_correct(request: HttpRequest, mark_id: int, payload: CompetitionCorrectIn):
    """After confirmation, with a reason; totals and ranks follow and the change is kept.
    Refusals: `not_locked`, `published`, `reason`, `out_of_range`, `unchanged` (422); 404
    for anyone but the trade's chief judge."""
    seat = selectors.seats_of(request.user).filter(discipline__criteria__marks=mark_id).first()
    if seat is None:
        raise Http404
    mark = selectors.mark_for_correction(seat, mark_id)
    services.correct_mark(request.user, mark, value=payload.value, reason=payload.reason)
    mark = Mark.objects.select_related("entry").get(pk=mark.pk)
    return {
        "id": mark.pk,
        "entry_id": mark.entry_id,
        "number": mark.entry.number,
        "criterion_id": mark.criterion_id,
        "value": float(mark.value),
        "entry_total": _float(mark.entry.total),
        "entry_rank": mark.entry.rank,
        "corrections": [
            {
                "before": float(c.before),
                "after": float(c.after),
                "reason": c.reason,
                "by": c.by.get_username() if c.by else None,
                "at": c.at,
            }
            for c in mark.corrections.select_related("by")
        ],
    }


# --- one competition ----------------------------------------------------------------------


@router.get("/{competition_id}", response=CompetitionDetailOut, summary="A competition")
def competition_detail(request: HttpRequest, competition_id: int):
    """For cadres who see its organiser, and for workers it is open to (once opened);
    the panels only for the organiser's cadres."""
    user = request.user
    try:
        competition = _competition(request, competition_id)
    except Http404:
        member = member_record_of(user, include_left=True)
        if member is None:
            raise
        competition = selectors.visible_to_member(member, competition_id)
    return competition_detail_out(competition, user)


@router.put("/{competition_id}", response=CompetitionDetailOut, summary="Change a draft")
def competition_update(request: HttpRequest, competition_id: int, payload: CompetitionUpdateIn):
    """Every field and the whole scoring sheets are replaced. Only a draft (`status`).
    Refusals as when setting up; `stale` (409)."""
    user = request.user
    competition = _competition(request, competition_id)
    services.update_competition(
        user,
        competition,
        data=_input(user, competition.org, payload),
        version=payload.version,
    )
    return competition_detail_out(_competition(request, competition_id), user)


def _moved(request: HttpRequest, competition_id: int, move: Any, **extra: Any) -> dict[str, Any]:
    competition = move(request.user, _competition(request, competition_id), **extra)
    return competition_detail_out(_competition(request, competition.pk), request.user)


@router.post("/{competition_id}/open", response=CompetitionDetailOut, summary="Open registration")
def competition_open(request: HttpRequest, competition_id: int):
    """A draft is published: members below the organiser may register within the window.
    Refusals: `status` (422); 403."""
    return _moved(request, competition_id, services.open_competition)


@router.post(
    "/{competition_id}/start-judging", response=CompetitionDetailOut, summary="Start judging"
)
def competition_start_judging(request: HttpRequest, competition_id: int):
    """Registration is over; the judges enter marks. Refusals: `status` (422); 403."""
    return _moved(request, competition_id, services.start_judging)


@router.post(
    "/{competition_id}/publish", response=CompetitionDetailOut, summary="Publish the results"
)
def competition_publish(request: HttpRequest, competition_id: int):
    """Every trade's scores confirmed: the results become public and count in the figures.
    Refusals: `status`, `unconfirmed` (422); 403."""
    return _moved(request, competition_id, services.publish_results)


@router.post("/{competition_id}/cancel", response=CompetitionDetailOut, summary="Cancel")
def competition_cancel(request: HttpRequest, competition_id: int, payload: CompetitionCancelIn):
    """Before results are published, with a reason. Refusals: `reason`, `status` (422);
    403."""
    return _moved(request, competition_id, services.cancel_competition, reason=payload.reason)


@router.get("/{competition_id}/entries", response=list[CompetitionEntryOut], summary="Entries")
@paginate(LimitOffsetPagination)
def competition_entries(
    request: HttpRequest, competition_id: int, filters: Query[CompetitionEntryFilter]
):
    """All entries for the organiser's cadres; the entries of their own unions for cadres
    below it. Judges of the organiser (who score by number) get 404. Refusal: `status`."""
    user = request.user
    competition = _competition(request, competition_id)
    if not _may_see_names(user, competition):
        raise Http404
    if filters.status and filters.status not in EntryStatus.values:
        raise _invalid("status", _("Unknown status."), "status")
    entries = selectors.entries_of(user, competition).prefetch_related("team_members")
    if filters.status:
        entries = entries.filter(status=filters.status)
    if filters.discipline_id is not None:
        entries = entries.filter(discipline_id=filters.discipline_id)
    show = _shows_result(user, competition)
    return _Page(entries, lambda rows: [entry_out(e, show_result=show) for e in rows])


@router.post("/{competition_id}/entries", response={201: CompetitionEntryOut}, summary="Register")
def competition_register(request: HttpRequest, competition_id: int, payload: CompetitionEntryIn):
    """A worker registers themself (leave out `member_id`); a cadre of a member's union
    registers that member. Team competitions: `team_name` and `team_member_ids` (members of
    the leader's grassroots union). Without the union's approval step the entry is approved
    and numbered at once. Refusals: `no_member`, `discipline`, `team_member`, `closed`,
    `not_open`, `member`, `eligibility`, `age`, `certificate`, `team_name`, `team_size`,
    `quota`, `duplicate` (422); 403 for a cadre who sees the member but may not register
    them; 404 for a member or competition outside your reach."""
    user = request.user
    if payload.member_id is not None:
        member = get_in_scope_or_404(
            Member.objects.select_related("unit"), user, Perm.MEMBER_VIEW, pk=payload.member_id
        )
    else:
        member = member_record_of(user, include_left=True)
        if member is None:
            _competition(request, competition_id)  # outside your scope: 404 first
            raise ValidationError(
                _("Your account is not linked to a union member record."), code="no_member"
            )
    competition = selectors.visible_to_member(member, competition_id)
    discipline = competition.disciplines.filter(pk=payload.discipline_id).first()
    if discipline is None:
        raise _invalid("discipline_id", _("Choose a trade of this competition."), "discipline")
    team: list[Member] = []
    if payload.team_member_ids:
        unit = grassroots_union_of(member.unit)
        team = list(
            Member.objects.select_related("unit").filter(
                pk__in=set(payload.team_member_ids),
                **{f"unit__{ancestor_field(unit.depth)}": unit.pk},
            )
        )
        if len(team) != len(set(payload.team_member_ids)):
            raise _invalid(
                "team_member_ids",
                _("A team's members belong to the leader's union."),
                "team_member",
            )
    entry = services.register(
        user,
        competition=competition,
        discipline=discipline,
        member=member,
        certificate=payload.certificate,
        team_name=payload.team_name,
        team_members=team,
    )
    return Status(201, _entry_after(request, entry))


@router.get(
    "/{competition_id}/scores",
    response=CompetitionScoresOut,
    summary="Totals and ranks by entry number (the organiser)",
)
def competition_scores(request: HttpRequest, competition_id: int):
    """For the organiser's cadres: each trade's totals and ranks by entry number once its
    chief judge confirmed (before that: no rows). 403 for other cadres who see it."""
    user = request.user
    competition = _competition(request, competition_id)
    if not services.can_manage(user, competition):
        raise PermissionDenied(_("You may not manage this competition."))
    rows: dict[int, list[dict[str, Any]]] = {}
    confirmed = (
        selectors.entries_of(user, competition)
        .filter(status=EntryStatus.APPROVED, discipline__scores_confirmed_at__isnull=False)
        .order_by("rank", "number")
    )
    for e in confirmed:
        rows.setdefault(e.discipline_id, []).append(
            {"entry_id": e.pk, "number": e.number, "total": _float(e.total), "rank": e.rank}
        )
    return {
        "competition_id": competition.pk,
        "disciplines": [
            {"id": d.pk, "name": d.name, "confirmed": d.locked, "rows": rows.get(d.pk, [])}
            for d in competition.disciplines.all()
        ],
    }


@router.get(
    "/{competition_id}/results",
    auth=None,
    response=CompetitionResultsOut,
    summary="Published results (public)",
)
def competition_results(request: HttpRequest, competition_id: int):
    """Anyone, without signing in, once the results are published (before: 404): each
    trade's ranking with names, unions, totals, awards and honorary titles."""
    competition = selectors.published(competition_id)
    return {
        "id": competition.pk,
        "title": competition.title,
        "org": competition.org.name,
        "held_on": competition.held_on,
        "published_on": competition.published_on,
        "disciplines": [
            {
                "id": d.pk,
                "name": d.name,
                "rows": [
                    {
                        "rank": r.rank,
                        "number": r.number,
                        "name": r.name,
                        "team_name": r.team_name,
                        "unit": r.unit,
                        "total": _float(r.total),
                        "award": r.award.name if r.award else None,
                        "title": (r.award.title or None) if r.award else None,
                    }
                    for r in rows
                ],
            }
            for d, rows in selectors.results(competition)
        ],
    }
