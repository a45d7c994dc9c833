"""Forms of the competition pages. They check the shape of the input; the services decide
(weights, windows, quotas, ranges), and their refusals are shown on the form as typed."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from gonghui.competitions import services
from gonghui.competitions.models import (
    CertificateLevel,
    CombineRule,
    Competition,
    CompetitionKind,
    CriterionPart,
    Discipline,
    EntryKind,
)
from gonghui.orgs.models import Member

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
NUMBER = forms.NumberInput(attrs={"inputmode": "numeric", "min": "0"})
MARK = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": "6"})
# Room for this many trades on the form beyond those already there.
EXTRA_TRADES = 2
AWARD_ROWS = 5

# A service refusal about the trades and their scoring sheets belongs to that section.
SHEET_CODES = frozenset(
    {
        "disciplines",
        "discipline_name",
        "certificate",
        "criteria",
        "criterion",
        "max_marks",
        "weight",
        "weights",
        "tie_break",
        "theory_quiz",
    }
)
COMPETITION_ERROR_FIELDS = {
    "title": "title",
    "kind": "kind",
    "combine_rule": "combine_rule",
    "window": "registration_closes_at",
    "team_size": "team_size",
    "age": "max_age",
    "parent": "parent",
    "requirement": "requirement",
}

PART_WORDS = {
    "theory": CriterionPart.THEORY,
    "理论": CriterionPart.THEORY,
    "理论知识": CriterionPart.THEORY,
    "practical": CriterionPart.PRACTICAL,
    "实操": CriterionPart.PRACTICAL,
    "实际操作": CriterionPart.PRACTICAL,
}
QUIZ_WORDS = {"quiz", "test", "测试", "理论测试", "题库"}


def _local(value: Any) -> Any:
    return timezone.localtime(value).replace(tzinfo=None) if value else value


# --- setting up -------------------------------------------------------------------------


class CompetitionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    title = forms.CharField(label=_("title"), max_length=200, required=False)
    kind = forms.ChoiceField(label=_("kind"), choices=CompetitionKind.choices)
    description = forms.CharField(
        label=_("description"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    entry_kind = forms.ChoiceField(
        label=_("entries"), choices=EntryKind.choices, widget=forms.RadioSelect
    )
    team_size = forms.IntegerField(
        label=_("members per team"),
        min_value=1,
        max_value=99,
        initial=1,
        widget=NUMBER,
        help_text=_("For team competitions: the leader included."),
    )
    registration_opens_at = forms.DateTimeField(label=_("registration opens"), widget=DATETIME)
    registration_closes_at = forms.DateTimeField(label=_("registration closes"), widget=DATETIME)
    held_on = forms.DateField(label=_("held on"), required=False, widget=DATE)
    min_age = forms.IntegerField(
        label=_("minimum age"), required=False, min_value=0, max_value=120, widget=NUMBER
    )
    max_age = forms.IntegerField(
        label=_("maximum age"), required=False, min_value=0, max_value=120, widget=NUMBER
    )
    unit_approval = forms.BooleanField(
        label=_("the member's union approves entries"), required=False, initial=True
    )
    quota_per_unit = forms.IntegerField(
        label=_("entries per grassroots union"),
        required=False,
        min_value=1,
        max_value=9999,
        widget=NUMBER,
        help_text=_("Empty: no limit."),
    )
    combine_rule = forms.ChoiceField(
        label=_("combining the judges' marks"), choices=CombineRule.choices
    )
    advance_count = forms.IntegerField(
        label=_("nominated to the next stage"),
        min_value=0,
        max_value=999,
        initial=0,
        widget=NUMBER,
        help_text=_("The top N of each discipline may be nominated to the higher competition."),
    )
    parent = forms.ModelChoiceField(
        label=_("stage of"),
        queryset=Competition.objects.none(),
        required=False,
        empty_label=_("— not a stage of another competition —"),
        help_text=_("The higher competition this one qualifies for."),
    )

    requirement = forms.TypedChoiceField(
        label=_("notice requirement"),
        coerce=int,
        required=False,
        empty_value=None,
        help_text=_(
            "Meets a requirement of a notice sent to this union (a qualifying round, for example)."
        ),
    )

    def __init__(
        self, *args: Any, parents: Any, requirements: Sequence[Any] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = parents
        self.fields["requirement"].choices = [
            ("", "—"),
            *[(r.pk, f"{r.notice.title} · {r.title}") for r in requirements],
        ]

    @classmethod
    def initial_of(cls, competition: Competition) -> dict[str, Any]:
        names = [n for n in cls.base_fields if n not in ("parent", "requirement", "version")]
        initial = {name: getattr(competition, name) for name in names}
        initial["registration_opens_at"] = _local(competition.registration_opens_at)
        initial["registration_closes_at"] = _local(competition.registration_closes_at)
        initial["parent"] = competition.parent_id
        initial["requirement"] = competition.requirement_id
        initial["version"] = competition.version
        return initial


class DisciplineForm(forms.Form):
    """One trade with its scoring sheet, one criterion per line."""

    name = forms.CharField(label=_("trade"), max_length=60, required=False)
    min_certificate = forms.ChoiceField(
        label=_("lowest certificate"), choices=CertificateLevel.choices, required=False
    )
    theory_quiz = forms.TypedChoiceField(
        label=_("theory test"), coerce=int, required=False, empty_value=None
    )
    criteria = forms.CharField(
        label=_("scoring sheet"),
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": (
                    "理论知识 | 理论考试 | 100 | 30 | 2\n实际操作 | 配电柜接线 | 50 | 70 | 1"
                ),
            }
        ),
        help_text=_(
            "One criterion per line: part (theory or practical) | name | maximum marks | "
            "weight (%) | tie-break order (optional) | quiz (optional: marked by the theory "
            "test). The weights add up to 100."
        ),
    )

    def __init__(self, *args: Any, quizzes: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["theory_quiz"].choices = [("", "—"), *quizzes]

    @property
    def is_blank(self) -> bool:
        data = self.cleaned_data
        return not (data.get("name") or "").strip() and not (data.get("criteria") or "").strip()

    def clean_criteria(self) -> list[services.CriterionInput]:
        rows = []
        for number, line in enumerate(self.cleaned_data["criteria"].splitlines(), start=1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.replace("｜", "|").split("|")]
            if len(parts) < 4 or len(parts) > 6:
                raise ValidationError(
                    _(
                        "Line %(n)d: write part | name | maximum marks | weight, then "
                        "optionally the tie-break order and “quiz”."
                    ),
                    params={"n": number},
                    code="line",
                )
            part = PART_WORDS.get(parts[0].lower())
            if part is None:
                raise ValidationError(
                    _("Line %(n)d: the part is “theory” or “practical”, not “%(word)s”."),
                    params={"n": number, "word": parts[0]},
                    code="part",
                )
            try:
                maximum = Decimal(parts[2])
                weight = Decimal(parts[3])
                tie_break = int(parts[4]) if len(parts) > 4 and parts[4] else None
            except (InvalidOperation, ValueError):
                raise ValidationError(
                    _("Line %(n)d: the maximum marks, weight and tie-break order are numbers."),
                    params={"n": number},
                    code="number",
                ) from None
            from_quiz = len(parts) > 5 and parts[5].lower() in QUIZ_WORDS
            rows.append(
                services.CriterionInput(part, parts[1], maximum, weight, tie_break, from_quiz)
            )
        return rows

    def as_input(self) -> services.DisciplineInput:
        data = self.cleaned_data
        return services.DisciplineInput(
            name=data["name"],
            criteria=data["criteria"],
            min_certificate=data["min_certificate"] or CertificateLevel.NONE,
            theory_quiz_id=data["theory_quiz"],
        )


def criteria_text(discipline: Discipline) -> str:
    lines = []
    for c in discipline.criteria.all():
        parts = [
            c.part,
            c.name,
            f"{c.max_marks.normalize():f}",
            f"{c.weight.normalize():f}",
            str(c.tie_break or ""),
        ]
        if c.from_quiz:
            parts.append("quiz")
        lines.append(" | ".join(parts).rstrip(" |"))
    return "\n".join(lines)


def discipline_initial(competition: Competition) -> list[dict[str, Any]]:
    return [
        {
            "name": d.name,
            "min_certificate": d.min_certificate,
            "theory_quiz": d.theory_quiz_id,
            "criteria": criteria_text(d),
        }
        for d in competition.disciplines.prefetch_related("criteria")
    ]


class BaseDisciplineFormSet(forms.BaseFormSet):
    def __init__(self, *args: Any, quizzes: list[tuple[int, str]], **kwargs: Any) -> None:
        self.quizzes = quizzes
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {"quizzes": self.quizzes}

    def inputs(self) -> list[services.DisciplineInput]:
        return [f.as_input() for f in self.forms if f.is_valid() and not f.is_blank]


DisciplineFormSet = forms.formset_factory(
    DisciplineForm, formset=BaseDisciplineFormSet, extra=EXTRA_TRADES, max_num=30
)


def competition_input(form: CompetitionForm, disciplines: Any) -> services.CompetitionInput:
    data = form.cleaned_data
    parent = data.get("parent")
    return services.CompetitionInput(
        title=data["title"],
        kind=data["kind"],
        description=data["description"],
        entry_kind=data["entry_kind"],
        team_size=data["team_size"],
        registration_opens_at=data["registration_opens_at"],
        registration_closes_at=data["registration_closes_at"],
        held_on=data["held_on"],
        min_age=data["min_age"],
        max_age=data["max_age"],
        unit_approval=data["unit_approval"],
        quota_per_unit=data["quota_per_unit"],
        combine_rule=data["combine_rule"],
        advance_count=data["advance_count"],
        parent_id=parent.pk if parent else None,
        requirement_id=data.get("requirement"),
        disciplines=disciplines.inputs(),
    )


# --- the detail page's actions ----------------------------------------------------------


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"), max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class DecideForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", _("Approve")), ("reject", _("Reject"))], widget=forms.HiddenInput
    )
    note = forms.CharField(
        label=_("reason for rejecting"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Not enough years in the trade")}),
    )


class SeatForm(forms.Form):
    username = forms.CharField(
        label=_("username"),
        max_length=150,
        error_messages={"required": _("Give the judge's username.")},
    )
    chief = forms.BooleanField(label=_("chief judge"), required=False)

    def clean_username(self) -> Any:
        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        if user is None:
            raise ValidationError(
                _("There is no user %(name)s."), params={"name": name}, code="user"
            )
        return user


class AwardsForm(forms.Form):
    """The awards of a trade: up to AWARD_ROWS tiers, each a name and a range of ranks."""

    def __init__(self, *args: Any, awards: Any = (), **kwargs: Any) -> None:
        initial = kwargs.pop("initial", None) or {}
        for n, award in enumerate(list(awards)[:AWARD_ROWS]):
            initial.update(
                {
                    f"name_{n}": award.name,
                    f"from_{n}": award.from_rank,
                    f"to_{n}": award.to_rank,
                    f"title_{n}": award.title,
                }
            )
        super().__init__(*args, initial=initial, **kwargs)
        for n in range(AWARD_ROWS):
            self.fields[f"name_{n}"] = forms.CharField(
                label=_("award"), max_length=40, required=False
            )
            self.fields[f"from_{n}"] = forms.IntegerField(
                label=_("from rank"), required=False, min_value=1, widget=NUMBER
            )
            self.fields[f"to_{n}"] = forms.IntegerField(
                label=_("to rank"), required=False, min_value=1, widget=NUMBER
            )
            self.fields[f"title_{n}"] = forms.CharField(
                label=_("honorary title"), max_length=40, required=False
            )

    def rows(self) -> list[list[Any]]:
        return [
            [self[f"name_{n}"], self[f"from_{n}"], self[f"to_{n}"], self[f"title_{n}"]]
            for n in range(AWARD_ROWS)
        ]

    def as_input(self) -> list[services.AwardInput]:
        data = self.cleaned_data
        awards = []
        for n in range(AWARD_ROWS):
            name = (data.get(f"name_{n}") or "").strip()
            low, high = data.get(f"from_{n}"), data.get(f"to_{n}")
            if not name and low is None and high is None:
                continue
            awards.append(
                services.AwardInput(
                    name=name,
                    from_rank=low or 0,
                    to_rank=high if high is not None else (low or 0),
                    title=data.get(f"title_{n}") or "",
                )
            )
        return awards


# --- members ----------------------------------------------------------------------------


class EntryForm(forms.Form):
    discipline = forms.ModelChoiceField(
        label=_("trade"),
        queryset=Discipline.objects.none(),
        empty_label=None,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose the trade you enter.")},
    )
    certificate = forms.ChoiceField(
        label=_("my vocational certificate"),
        choices=CertificateLevel.choices,
        initial=CertificateLevel.NONE,
    )
    team_name = forms.CharField(label=_("team name"), max_length=60, required=False)
    team_members = forms.ModelMultipleChoiceField(
        label=_("team members"),
        queryset=Member.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(
        self, *args: Any, competition: Competition, mates: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["discipline"].queryset = competition.disciplines.all()
        if competition.entry_kind == EntryKind.TEAM and mates is not None:
            self.fields["team_members"].queryset = mates
            self.fields["team_members"].help_text = gettext(
                "Choose %(n)d colleagues of your union; you lead the team."
            ) % {"n": competition.team_size - 1}
        else:
            del self.fields["team_name"]
            del self.fields["team_members"]


class RegisterMemberForm(EntryForm):
    """A cadre registers a member of their union (报名 by the union): the member is picked
    from a search (the page lists the matches as radio buttons); only members the cadre
    may register are accepted. For a team, the member leads it."""

    member = forms.ModelChoiceField(
        label=_("member"),
        queryset=Member.objects.none(),
        widget=forms.HiddenInput,
        error_messages={
            "required": _("Search for the member and pick them from the list."),
            "invalid_choice": _("Pick a member of a union you manage competitions of."),
        },
    )

    def __init__(
        self,
        *args: Any,
        competition: Competition,
        members: Any,
        mates: Any = None,
        **kwargs: Any,
    ) -> None:
        if competition.entry_kind == EntryKind.TEAM and mates is None:
            mates = Member.objects.none()  # no leader picked yet: the team fields stay
        super().__init__(*args, competition=competition, mates=mates, **kwargs)
        self.fields["member"].queryset = members
        self.fields["certificate"].label = _("vocational certificate")
        self.fields["discipline"].error_messages["required"] = _("Choose the trade.")
        if "team_members" in self.fields:
            self.fields["team_members"].help_text = gettext(
                "Choose %(n)d colleagues of the leader's grassroots union."
            ) % {"n": competition.team_size - 1}
        self.order_fields(["member", "discipline", "certificate", "team_name", "team_members"])


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("reason (optional)"), max_length=200, required=False)


# --- judges -----------------------------------------------------------------------------


class MarksForm(forms.Form):
    """One judge's marks of one entry: a field per criterion the judges mark."""

    def __init__(self, *args: Any, criteria: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.criteria = [c for c in criteria if not c.from_quiz]
        for c in self.criteria:
            self.fields[f"c{c.pk}"] = forms.CharField(
                label=c.name, max_length=12, required=False, widget=MARK
            )

    def marks(self) -> dict[int, str]:
        return {c.pk: self.cleaned_data[f"c{c.pk}"].strip() for c in self.criteria}

    def inputs(self) -> list[tuple[Any, Any]]:
        return [(c, self[f"c{c.pk}"]) for c in self.criteria]


class CorrectForm(forms.Form):
    value = forms.CharField(label=_("corrected mark"), max_length=12, widget=MARK)
    reason = forms.CharField(
        label=_("reason"),
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. A wiring point was not counted")}),
    )
