"""Competition pages (劳动和技能竞赛): thin callers of services and selectors.

Cadres list a union's competitions, set one up (trades and scoring sheets), and run it
from its page (`detail` and its POST actions): approve entries, seat judges, set awards,
open, start judging, publish, nominate to the next stage. Members enter on the phone
(`mine`, `enter`, `withdraw`). Judges see entries by number only (`judging`,
`judge_sheet` and its actions): no page of theirs names a member or a union. Published
results are public (`public_*`), with certificates for the ranked entries.

Objects are fetched only through selectors (`competition_for`, `entry_for`, `seat_for`,
`visible_to_member`, `published`) and orgs through the scoping filter, so anything outside
the user's sight is a 404; a service's PermissionDenied is a 403. A service's refusal
(ValidationError) is shown on the form that was posted, re-rendered with what was typed,
or as a message; every action URL answers GET with the page its form is on.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from gonghui.activities.selectors import requirements_for
from gonghui.competitions import pdf, selectors, services
from gonghui.competitions.forms import (
    COMPETITION_ERROR_FIELDS,
    SHEET_CODES,
    AwardsForm,
    CancelForm,
    CompetitionForm,
    CorrectForm,
    DecideForm,
    DisciplineFormSet,
    EntryForm,
    MarksForm,
    RegisterMemberForm,
    SeatForm,
    WithdrawForm,
    competition_input,
    discipline_initial,
)
from gonghui.competitions.models import (
    Competition,
    CompetitionStatus,
    Discipline,
    Entry,
    EntryKind,
    EntryStatus,
    Judge,
    Nomination,
)
from gonghui.core.errors import ConcurrentEditError
from gonghui.core.forms import add_service_error
from gonghui.orgs import scoping
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Member, MemberStatus, Org, ancestor_field
from gonghui.orgs.scoping import Perm, get_in_scope_or_404
from gonghui.orgs.selectors import grassroots_union_of, member_record_of

LIST_LIMIT = 100
ENTRY_ERROR_FIELDS = {
    "discipline": "discipline",
    "certificate": "certificate",
    "team_name": "team_name",
    "team_size": "team_members",
}
STATUS_TABS = ["", *CompetitionStatus.values]
MEMBER_MATCHES = 20


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(
        Org.objects.select_related("parent"), request.user, Perm.ORG_VIEW, pk=org_id
    )


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# --- a union's competitions -------------------------------------------------------------


@login_required
def org_competitions(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    status = request.GET.get("status", "")
    competitions = selectors.competitions_of(request.user, org)
    if status in CompetitionStatus.values:
        competitions = competitions.filter(status=status)
    else:
        status = ""
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "competitions": list(competitions[:LIST_LIMIT]),
        "from_above": list(selectors.open_to_org(org)[:LIST_LIMIT]) if not status else [],
        "status": status,
        "tabs": [("", _("All")), *CompetitionStatus.choices],
        "can_create": scoping.can(request.user, Perm.COMPETITION_MANAGE, org) and org.is_active,
    }
    return render(request, "competitions/org_competitions.html", context)


def _sheet_error(exc: ValidationError) -> bool:
    return all((e.code or "") in SHEET_CODES for e in exc.error_list)


def _setup_page(
    request: HttpRequest,
    *,
    org: Org,
    competition: Competition | None,
    save: Any,
    done: str,
) -> HttpResponse:
    """The set-up form (create and edit): the competition's fields and its trades."""
    parents = selectors.stage_parents(org, competition.parent_id if competition else None)
    quizzes = selectors.theory_quizzes(org)
    requirements = requirements_for(org)
    sheet_errors: list[str] = []
    if request.method == "POST":
        form = CompetitionForm(request.POST, parents=parents, requirements=requirements)
        trades = DisciplineFormSet(request.POST, prefix="trades", quizzes=quizzes)
        if form.is_valid() and trades.is_valid():
            try:
                saved = save(form, competition_input(form, trades))
            except ConcurrentEditError as exc:
                messages.error(request, _errors(exc))
                data = request.POST.copy()
                data["version"] = str(Competition.objects.get(pk=competition.pk).version)  # type: ignore[union-attr]
                form = CompetitionForm(data, parents=parents, requirements=requirements)
                form.is_valid()
            except ValidationError as exc:
                if _sheet_error(exc):
                    sheet_errors = exc.messages
                else:
                    add_service_error(form, exc, field_codes=COMPETITION_ERROR_FIELDS)
            else:
                messages.success(request, done)
                return redirect("competitions:detail", competition_id=saved.pk)
    elif competition is not None:
        form = CompetitionForm(
            initial=CompetitionForm.initial_of(competition),
            parents=parents,
            requirements=requirements,
        )
        trades = DisciplineFormSet(
            initial=discipline_initial(competition), prefix="trades", quizzes=quizzes
        )
    else:
        form = CompetitionForm(parents=parents, requirements=requirements)
        trades = DisciplineFormSet(prefix="trades", quizzes=quizzes)
    context = {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "competition": competition,
        "form": form,
        "trades": trades,
        "sheet_errors": sheet_errors,
    }
    return render(request, "competitions/form.html", context)


@login_required
def create(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    scoping.require(request.user, Perm.COMPETITION_MANAGE, org)
    return _setup_page(
        request,
        org=org,
        competition=None,
        save=lambda form, data: services.create_competition(request.user, org=org, data=data),
        done=_("The competition was saved as a draft. Open it when it is ready."),
    )


@login_required
def edit(request: HttpRequest, competition_id: int) -> HttpResponse:
    competition = selectors.competition_for(request.user, competition_id)
    if not services.can_manage(request.user, competition):
        raise PermissionDenied(_("You may not manage this competition."))
    if competition.status != CompetitionStatus.DRAFT:
        messages.error(request, _("Only a draft can be changed."))
        return redirect("competitions:detail", competition_id=competition.pk)
    return _setup_page(
        request,
        org=competition.org,
        competition=competition,
        save=lambda form, data: services.update_competition(
            request.user,
            competition,
            data=data,
            version=form.cleaned_data["version"] or competition.version,
        ),
        done=_("The competition was changed."),
    )


# --- one competition, for its cadres ----------------------------------------------------


def _detail_page(
    request: HttpRequest, competition: Competition, *, bound: dict[Any, Any] | None = None
) -> HttpResponse:
    user = request.user
    bound = bound or {}
    can_manage = services.can_manage(user, competition)
    status = competition.status
    disciplines = list(competition.disciplines.prefetch_related("criteria", "awards"))
    entries = list(selectors.entries_of(user, competition))
    judges = list(Judge.objects.filter(competition=competition).select_related("user"))
    nominated = set(
        Nomination.objects.filter(entry__competition=competition).values_list("entry_id", flat=True)
    )
    deciding = status in (CompetitionStatus.OPEN, CompetitionStatus.JUDGING)
    sections = []
    for d in disciplines:
        rows = []
        for e in entries:
            if e.discipline_id != d.pk:
                continue
            may_decide = (
                deciding and e.status == EntryStatus.PENDING and services.can_decide(user, e)
            )
            form = bound.get(("decide", e.pk)) or (DecideForm() if may_decide else None)
            rows.append({"entry": e, "decide_form": form})
        settable = can_manage and status not in (
            CompetitionStatus.PUBLISHED,
            CompetitionStatus.CANCELLED,
        )
        sections.append(
            {
                "discipline": d,
                "criteria": list(d.criteria.all()),
                "awards": list(d.awards.all()),
                "rows": rows,
                "judges": [j for j in judges if j.discipline_id == d.pk],
                "seat_form": bound.get(("seat", d.pk)) or (SeatForm() if settable else None),
                "awards_form": bound.get(("awards", d.pk))
                or (AwardsForm(awards=d.awards.all()) if settable else None),
            }
        )
    results = []
    if status == CompetitionStatus.PUBLISHED:
        results = selectors.results(competition)
    context = {
        "competition": competition,
        "org": competition.org,
        "trail": org_selectors.visible_breadcrumb(user, competition.org),
        "can_manage": can_manage,
        "sections": sections,
        "results": results,
        "nominated": nominated,
        "may_nominate": can_manage
        and competition.parent_id is not None
        and competition.advance_count > 0
        and status == CompetitionStatus.PUBLISHED,
        "cancel_form": bound.get("cancel")
        or (CancelForm() if can_manage and status not in _ENDED else None),
        "entry_count": len(entries),
        "may_register": selectors.registration_is_open(competition)
        and selectors.may_register_members(user, competition),
    }
    return render(request, "competitions/detail.html", context)


_ENDED = (CompetitionStatus.PUBLISHED, CompetitionStatus.CANCELLED)


@login_required
def detail(request: HttpRequest, competition_id: int) -> HttpResponse:
    return _detail_page(request, selectors.competition_for(request.user, competition_id))


def _to_detail(competition: Competition, anchor: str = "") -> HttpResponse:
    url = reverse("competitions:detail", args=[competition.pk])
    return redirect(f"{url}#{anchor}" if anchor else url)


def _move(request: HttpRequest, competition_id: int, run: Any, done: str) -> HttpResponse:
    """A button of the competition page: done, back with `done`; refused, the reason."""
    competition = selectors.competition_for(request.user, competition_id)
    if request.method != "POST":
        return _detail_page(request, competition)
    try:
        run(competition)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, done)
    return _to_detail(competition)


@login_required
def open_registration(request: HttpRequest, competition_id: int) -> HttpResponse:
    return _move(
        request,
        competition_id,
        lambda c: services.open_competition(request.user, c),
        _("Registration is open: members of the unions below can enter."),
    )


@login_required
def start_judging(request: HttpRequest, competition_id: int) -> HttpResponse:
    return _move(
        request,
        competition_id,
        lambda c: services.start_judging(request.user, c),
        _("Registration is closed; the judges can enter their marks."),
    )


@login_required
def publish(request: HttpRequest, competition_id: int) -> HttpResponse:
    return _move(
        request,
        competition_id,
        lambda c: services.publish_results(request.user, c),
        _("The results are published."),
    )


@login_required
def cancel(request: HttpRequest, competition_id: int) -> HttpResponse:
    competition = selectors.competition_for(request.user, competition_id)
    if request.method != "POST":
        return _detail_page(request, competition)
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            services.cancel_competition(
                request.user, competition, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"reason": "reason"})
        else:
            messages.success(request, _("The competition was cancelled."))
            return _to_detail(competition)
    return _detail_page(request, competition, bound={"cancel": form})


@login_required
def decide(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = selectors.entry_for(request.user, entry_id)
    competition = selectors.competition_for(request.user, entry.competition_id)
    if request.method != "POST":
        return _detail_page(request, competition)
    form = DecideForm(request.POST)
    if form.is_valid():
        approve = form.cleaned_data["decision"] == "approve"
        try:
            entry = services.decide_entry(
                request.user, entry, approve=approve, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"note": "note"})
        else:
            if approve:
                messages.success(
                    request,
                    _("%(name)s's entry was approved: number %(number)s.")
                    % {"name": entry.member.name, "number": entry.number},
                )
            else:
                messages.success(
                    request, _("%(name)s's entry was rejected.") % {"name": entry.member.name}
                )
            return _to_detail(competition, f"trade-{entry.discipline_id}")
    return _detail_page(request, competition, bound={("decide", entry.pk): form})


def _discipline(request: HttpRequest, discipline_id: int) -> Discipline:
    """A trade of a competition the user sees as a cadre, or 404."""
    discipline = Discipline.objects.filter(pk=discipline_id).first()
    if discipline is None:
        raise Http404
    discipline.competition = selectors.competition_for(request.user, discipline.competition_id)
    return discipline


@login_required
def seat_judge(request: HttpRequest, discipline_id: int) -> HttpResponse:
    discipline = _discipline(request, discipline_id)
    competition = discipline.competition
    if request.method != "POST":
        return _detail_page(request, competition)
    form = SeatForm(request.POST)
    if form.is_valid():
        user = form.cleaned_data["username"]
        try:
            services.seat_judge(
                request.user, discipline, user=user, chief=form.cleaned_data["chief"]
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"judge": "username"})
        else:
            messages.success(
                request,
                _("%(user)s judges %(trade)s.") % {"user": user, "trade": discipline.name},
            )
            return _to_detail(competition, f"trade-{discipline.pk}")
    return _detail_page(request, competition, bound={("seat", discipline.pk): form})


@login_required
def awards(request: HttpRequest, discipline_id: int) -> HttpResponse:
    discipline = _discipline(request, discipline_id)
    competition = discipline.competition
    if request.method != "POST":
        return _detail_page(request, competition)
    form = AwardsForm(request.POST)
    if form.is_valid():
        try:
            services.set_awards(request.user, discipline, awards=form.as_input())
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request, _("The awards of %(trade)s were saved.") % {"trade": discipline.name}
            )
            return _to_detail(competition, f"trade-{discipline.pk}")
    return _detail_page(request, competition, bound={("awards", discipline.pk): form})


@login_required
def nominate(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = selectors.entry_for(request.user, entry_id)
    competition = selectors.competition_for(request.user, entry.competition_id)
    if request.method != "POST":
        return _detail_page(request, competition)
    try:
        nomination = services.nominate(request.user, entry)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(
            request,
            _("%(name)s was nominated to %(next)s.")
            % {"name": entry.member.name, "next": nomination.to_competition.title},
        )
    return _to_detail(competition, "results")


@login_required
def entry_certificate(request: HttpRequest, entry_id: int) -> HttpResponse:
    """荣誉证书 of a ranked entry of published results: for the organiser's cadres, the
    cadres of the entry's union and the member themself."""
    entry = selectors.entry_for(request.user, entry_id)
    competition = entry.competition
    if (
        competition.status != CompetitionStatus.PUBLISHED
        or entry.status != EntryStatus.APPROVED
        or entry.rank is None
    ):
        raise Http404
    award = services.award_of(entry, entry.discipline.awards.all())
    response = HttpResponse(pdf.certificate(entry, award), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="certificate-{entry.pk}.pdf"'
    return response


# --- registering members, by their union ------------------------------------------------


def _picked(members: Any, value: Any) -> Member | None:
    """The member a form names, if it names one the cadre may register."""
    if not value:
        return None
    try:
        return members.filter(pk=value).first()
    except (ValueError, TypeError):
        return None


@login_required
def register_member(request: HttpRequest, competition_id: int) -> HttpResponse:
    """A union's cadre registers a member of their unions (报名 by the union): the member
    is found by name or ID-number tail within the cadre's unions below the organiser."""
    user = request.user
    competition = selectors.competition_for(user, competition_id)
    if not selectors.may_register_members(user, competition):
        raise PermissionDenied(_("You may not register members for this competition."))
    if not selectors.registration_is_open(competition):
        messages.error(request, _("Registration is not open."))
        return _to_detail(competition)
    members = selectors.registrable_members(user, competition)
    data = request.POST if request.method == "POST" else None
    leader = _picked(members, data.get("member") if data else request.GET.get("member"))
    mates = None
    if leader is not None and competition.entry_kind == EntryKind.TEAM:
        mates = _mates(leader, competition).filter(
            pk__in=Member.objects.restrict(user, Perm.MEMBER_VIEW).values("pk")
        )
    kwargs: dict[str, Any] = {"competition": competition, "members": members, "mates": mates}
    if data is not None:
        form = RegisterMemberForm(data, **kwargs)
        if form.is_valid():
            cleaned = form.cleaned_data
            member = cleaned["member"]
            try:
                entry = services.register(
                    user,
                    competition=competition,
                    discipline=cleaned["discipline"],
                    member=member,
                    certificate=cleaned["certificate"],
                    team_name=cleaned.get("team_name", ""),
                    team_members=list(cleaned.get("team_members") or []),
                )
            except ValidationError as exc:
                add_service_error(form, exc, field_codes=ENTRY_ERROR_FIELDS)
            else:
                if entry.status == EntryStatus.APPROVED:
                    done = _("%(name)s is registered: number %(number)s.") % {
                        "name": member.name,
                        "number": entry.number,
                    }
                else:
                    done = _("%(name)s is registered; %(unit)s approves the entry.") % {
                        "name": member.name,
                        "unit": entry.unit.name,
                    }
                messages.success(request, done)
                return _to_detail(competition, f"trade-{entry.discipline_id}")
    else:
        form = RegisterMemberForm(initial={"member": leader.pk if leader else None}, **kwargs)
    q = request.GET.get("q", "").strip()
    matches = selectors.registrable_matches(
        user, competition, q, chosen=leader, limit=MEMBER_MATCHES
    )
    context = {
        "competition": competition,
        "org": competition.org,
        "form": form,
        "matches": matches,
        "q": q,
        "leader": leader,
    }
    target = request.headers.get("HX-Target", "")
    if request.headers.get("HX-Request") and target == "member-matches":
        return render(request, "competitions/_register_matches.html", context)
    if request.headers.get("HX-Request") and target == "team-fields":
        return render(request, "competitions/_register_team.html", context)
    return render(request, "competitions/register_member.html", context)


# --- members ----------------------------------------------------------------------------


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    member = member_record_of(request.user, include_left=True)
    competitions: list[Competition] = []
    entries: list[Entry] = []
    if member is not None:
        competitions = list(selectors.open_for_member(member)[:LIST_LIMIT])
        entries = list(
            selectors.entries_of_member(member).prefetch_related("discipline__awards")[:LIST_LIMIT]
        )
        for e in entries:
            published = e.competition.status == CompetitionStatus.PUBLISHED
            e.award = (  # type: ignore[attr-defined]
                services.award_of(e, e.discipline.awards.all()) if published else None
            )
            e.has_certificate = (  # type: ignore[attr-defined]
                published
                and e.status == EntryStatus.APPROVED
                and e.rank is not None
                and e.member_id == member.pk
            )
    entered = {e.competition_id for e in entries if e.status in _LIVE}
    context = {
        "member": member,
        "competitions": competitions,
        "entries": entries,
        "entered": entered,
    }
    return render(request, "competitions/mine.html", context)


_LIVE = (EntryStatus.PENDING, EntryStatus.APPROVED)


def _mates(member: Member, competition: Competition) -> Any:
    """Whom a member may take into their team: active members of their grassroots union."""
    if competition.entry_kind != EntryKind.TEAM:
        return None
    union = grassroots_union_of(member.unit)
    return (
        Member.objects.filter(
            status=MemberStatus.ACTIVE, **{f"unit__{ancestor_field(union.depth)}": union.pk}
        )
        .exclude(pk=member.pk)
        .select_related("unit")
        .order_by("name", "id")
    )


@login_required
def enter(request: HttpRequest, competition_id: int) -> HttpResponse:
    member = member_record_of(request.user, include_left=True)
    if member is None:
        raise Http404
    competition = selectors.visible_to_member(member, competition_id)
    entry = selectors.live_entry(member, competition)
    is_open = selectors.registration_is_open(competition)
    mates = _mates(member, competition)
    form = None
    if entry is None and is_open:
        if request.method == "POST":
            form = EntryForm(request.POST, competition=competition, mates=mates)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    entry = services.register(
                        request.user,
                        competition=competition,
                        discipline=data["discipline"],
                        member=member,
                        certificate=data["certificate"],
                        team_name=data.get("team_name", ""),
                        team_members=list(data.get("team_members") or []),
                    )
                except ValidationError as exc:
                    add_service_error(form, exc, field_codes=ENTRY_ERROR_FIELDS)
                else:
                    if entry.status == EntryStatus.APPROVED:
                        done = _("You are entered: your number is %(number)s.") % {
                            "number": entry.number
                        }
                    else:
                        done = _("Your entry was sent to %(unit)s for approval.") % {
                            "unit": entry.unit.name
                        }
                    messages.success(request, done)
                    return redirect("competitions:enter", competition_id=competition.pk)
        else:
            form = EntryForm(competition=competition, mates=mates)
    context = {
        "member": member,
        "competition": competition,
        "disciplines": list(competition.disciplines.prefetch_related("criteria")),
        "entry": entry,
        "is_open": is_open,
        "form": form,
        "withdraw_form": WithdrawForm()
        if entry is not None
        and entry.member_id == member.pk
        and competition.status == CompetitionStatus.OPEN
        else None,
    }
    return render(request, "competitions/enter.html", context)


@login_required
def withdraw(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = selectors.own_entry(request.user, entry_id)
    if request.method == "POST":
        form = WithdrawForm(request.POST)
        form.is_valid()
        try:
            services.withdraw_entry(request.user, entry, reason=form.cleaned_data.get("reason", ""))
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        else:
            messages.success(request, _("Your entry was withdrawn."))
    return redirect("competitions:enter", competition_id=entry.competition_id)


# --- judges -----------------------------------------------------------------------------


@login_required
def judging(request: HttpRequest) -> HttpResponse:
    seats = list(selectors.seats_of(request.user).order_by("-competition_id", "discipline_id"))
    return render(request, "competitions/judging.html", {"seats": seats})


def _sheet_page(
    request: HttpRequest, seat: Judge, *, bound: dict[Any, Any] | None = None
) -> HttpResponse:
    """A judge's sheet: entry numbers, their marks, the others' once confirmed."""
    bound = bound or {}
    discipline = seat.discipline
    competition = seat.competition
    criteria, rows = selectors.judge_sheet(seat)
    marking = competition.status == CompetitionStatus.JUDGING and not discipline.locked
    corrections = selectors.marks_to_correct(seat)
    correcting = (
        seat.chief and discipline.locked and competition.status == CompetitionStatus.JUDGING
    )
    items = []
    for row in rows:
        form = bound.get(("marks", row.entry_id))
        if form is None and marking:
            form = MarksForm(
                initial={f"c{pk}": f"{value.normalize():f}" for pk, value in row.marks.items()},
                prefix=f"e{row.entry_id}",
                criteria=criteria,
            )
        marks = [
            {
                "mark": m,
                "form": bound.get(("correct", m.pk)) or CorrectForm(prefix=f"m{m.pk}"),
            }
            for m in corrections.get(row.entry_id, [])
        ]
        items.append(
            {
                "row": row,
                "form": form,
                "cells": [
                    {
                        "criterion": c,
                        "mine": row.marks.get(c.pk),
                        "others": row.others.get(c.pk, []),
                    }
                    for c in criteria
                ],
                "corrections": marks if correcting else [],
            }
        )
    context = {
        "seat": seat,
        "discipline": discipline,
        "competition": competition,
        "criteria": criteria,
        "items": items,
        "marking": marking,
        "can_confirm": seat.chief and marking,
        "can_import": seat.chief and marking and discipline.theory_quiz_id is not None,
        "correcting": correcting,
    }
    return render(request, "competitions/judge_sheet.html", context)


@login_required
def judge_sheet(request: HttpRequest, discipline_id: int) -> HttpResponse:
    return _sheet_page(request, selectors.seat_for(request.user, discipline_id))


def _to_sheet(seat: Judge, anchor: str = "") -> HttpResponse:
    url = reverse("competitions:judge_sheet", args=[seat.discipline_id])
    return redirect(f"{url}#{anchor}" if anchor else url)


@login_required
def judge_marks(request: HttpRequest, discipline_id: int, entry_id: int) -> HttpResponse:
    seat = selectors.seat_for(request.user, discipline_id)
    entry = selectors.judge_entry(seat, entry_id)
    if request.method != "POST":
        return _sheet_page(request, seat)
    criteria = list(seat.discipline.criteria.all())
    form = MarksForm(request.POST, prefix=f"e{entry.pk}", criteria=criteria)
    if form.is_valid():
        marks = {pk: value for pk, value in form.marks().items() if value != ""}
        try:
            if not marks:
                raise ValidationError(_("Enter at least one mark."), code="empty")
            services.enter_marks(request.user, entry, marks=marks)
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Marks of %(number)s saved.") % {"number": entry.number})
            return _to_sheet(seat, f"entry-{entry.pk}")
    return _sheet_page(request, seat, bound={("marks", entry.pk): form})


def _sheet_action(request: HttpRequest, discipline_id: int, run: Any, done: Any) -> HttpResponse:
    seat = selectors.seat_for(request.user, discipline_id)
    if request.method != "POST":
        return _sheet_page(request, seat)
    try:
        result = run(seat)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, done(result))
    return _to_sheet(seat)


@login_required
def confirm(request: HttpRequest, discipline_id: int) -> HttpResponse:
    return _sheet_action(
        request,
        discipline_id,
        lambda seat: services.confirm_scores(request.user, seat.discipline),
        lambda _d: _("The scores are confirmed and locked; totals and ranks are written."),
    )


@login_required
def import_theory(request: HttpRequest, discipline_id: int) -> HttpResponse:
    return _sheet_action(
        request,
        discipline_id,
        lambda seat: services.import_theory_marks(request.user, seat.discipline),
        lambda n: _("%(n)d theory test marks imported.") % {"n": n},
    )


@login_required
def correct(request: HttpRequest, discipline_id: int, mark_id: int) -> HttpResponse:
    seat = selectors.seat_for(request.user, discipline_id)
    mark = selectors.mark_for_correction(seat, mark_id)
    if request.method != "POST":
        return _sheet_page(request, seat)
    form = CorrectForm(request.POST, prefix=f"m{mark.pk}")
    if form.is_valid():
        try:
            services.correct_mark(
                request.user,
                mark,
                value=form.cleaned_data["value"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"reason": "reason", "out_": "value"})
        else:
            messages.success(
                request,
                _("The mark of %(number)s was corrected; totals and ranks follow.")
                % {"number": mark.entry.number},
            )
            return _to_sheet(seat, f"entry-{mark.entry_id}")
    return _sheet_page(request, seat, bound={("correct", mark.pk): form})


# --- published results ------------------------------------------------------------------


def public_index(request: HttpRequest) -> HttpResponse:
    competitions = list(selectors.public_results()[:LIST_LIMIT])
    return render(request, "competitions/public_index.html", {"competitions": competitions})


def public_results(request: HttpRequest, competition_id: int) -> HttpResponse:
    competition = selectors.published(competition_id)
    context = {"competition": competition, "results": selectors.results(competition)}
    return render(request, "competitions/public_results.html", context)
