"""Forms of the learning pages. They check the shape of the input; the services decide."""

from __future__ import annotations

import datetime
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gonghui.activities.forms import (
    CHOICES_LIMIT,
    DATETIME,
    OrgMultipleChoiceField,
    _orgs_by_codes,
    _subtree,
)
from gonghui.activities.selectors import requirements_for
from gonghui.learning import queries, services
from gonghui.learning.models import Difficulty, Material, MaterialKind, QuestionKind
from gonghui.orgs.models import MEMBER_UNIT_KINDS, Org, OrgKind

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TAGS_SPLIT = re.compile(r"[\s,，;；、]+")
OPTION_LETTERS = "ABCDEF"
NUMERIC = {"inputmode": "numeric"}


def _tags(text: str) -> list[str]:
    return [t for t in TAGS_SPLIT.split(text or "") if t]


# --- the audience (courses and quizzes) --------------------------------------------------


class AudienceMixin:
    """The audience fields: kinds of unit, and units chosen from a list (a small subtree)
    or named by their codes (a city or a county)."""

    org: Org
    fields: dict[str, Any]
    cleaned_data: dict[str, Any]

    def add_audience_fields(self, org: Org) -> None:
        self.org = org
        subtree = _subtree(org)
        self.small = subtree[: CHOICES_LIMIT + 1].count() <= CHOICES_LIMIT
        self.fields["audience_kinds"] = forms.MultipleChoiceField(
            label=_("Only members of these kinds of unit"),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            choices=[c for c in OrgKind.choices if c[0] in MEMBER_UNIT_KINDS],
            help_text=_("None ticked: every member of this union and below."),
        )
        if self.small:
            self.fields["audience_units"] = OrgMultipleChoiceField(
                label=_("Only these units"),
                queryset=subtree.filter(kind__in=MEMBER_UNIT_KINDS),
                root=org,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                help_text=_("None ticked: the whole union. Each unit includes those below it."),
            )
        else:
            self.fields["audience_units"] = forms.CharField(
                label=_("Only these units (codes)"),
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
                help_text=_("Codes separated by spaces or commas; empty: the whole union."),
            )

    def clean_audience_units(self) -> list[Org]:
        value = self.cleaned_data.get("audience_units")
        if not value:
            return []
        if isinstance(value, str):
            return _orgs_by_codes(self.org, value, kinds=MEMBER_UNIT_KINDS)
        return list(value)


def _requirement_field(org: Org, help_text: Any) -> forms.TypedChoiceField:
    field = forms.TypedChoiceField(
        label=_("meets notice requirement"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=help_text,
    )
    field.choices = [
        ("", "—"),
        *[(r.pk, f"{r.notice.title} · {r.title}") for r in requirements_for(org)],
    ]
    return field


# --- materials ----------------------------------------------------------------------------


class MaterialForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("kind"), choices=MaterialKind.choices, widget=forms.HiddenInput
    )
    title = forms.CharField(label=_("title"), max_length=200)
    body = forms.CharField(label=_("text"), required=False, widget=forms.HiddenInput)
    file = forms.FileField(
        label=_("PDF document"),
        required=False,
        help_text=_("A PDF file of at most 50 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,application/pdf"}),
    )
    video_url = forms.CharField(
        label=_("video link"),
        max_length=200,
        required=False,
        help_text=_("The http(s) address of the video (the union's video platform)."),
        widget=forms.URLInput(attrs={"inputmode": "url"}),
    )
    tags = forms.CharField(
        label=_("tags"),
        max_length=200,
        required=False,
        help_text=_("Separated by spaces or commas, e.g. 工会法 全会精神."),
    )

    def as_input(self) -> services.MaterialInput:
        data = self.cleaned_data
        return services.MaterialInput(
            kind=data["kind"],
            title=data["title"],
            body=data.get("body") or "",
            video_url=data.get("video_url") or "",
            tags=_tags(data.get("tags") or ""),
            upload=data.get("file"),
        )


MATERIAL_ERROR_FIELDS = {
    "title": "title",
    "kind": "kind",
    "body": "body",
    "video_url": "video_url",
    "file": "file",
}


# --- courses ------------------------------------------------------------------------------


class MaterialChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        kind = MaterialKind(obj.kind).label
        return f"{obj.title}（{kind} · {obj.org.name}）"


class CourseItemForm(forms.Form):
    material = MaterialChoiceField(
        label=_("material"), queryset=Material.objects.none(), required=False
    )
    min_seconds = forms.IntegerField(
        label=_("minimum reading time (s)"),
        min_value=0,
        max_value=4 * 3600,
        required=False,
        initial=60,
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    confirm_watched = forms.BooleanField(label=_("watch confirmation"), required=False)

    def __init__(self, *args: Any, materials: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if materials is not None:
            self.fields["material"].queryset = materials  # type: ignore[attr-defined]

    def as_input(self) -> services.CourseItemInput | None:
        data = getattr(self, "cleaned_data", None) or {}
        if not data or not data.get("material"):
            return None
        return services.CourseItemInput(
            material=data["material"],
            min_seconds=data.get("min_seconds") or 0,
            confirm_watched=bool(data.get("confirm_watched")),
        )


CourseItemFormSet = forms.formset_factory(CourseItemForm, extra=3, max_num=50)


def course_item_formset(data: Any = None, *, org: Org) -> Any:
    return CourseItemFormSet(
        data, prefix="item", form_kwargs={"materials": queries.usable_materials(org)}
    )


class CourseForm(AudienceMixin, forms.Form):
    title = forms.CharField(label=_("title"), max_length=200)
    description = forms.CharField(
        label=_("description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    due = forms.DateField(label=_("complete by"), required=False, widget=DATE)

    def __init__(self, *args: Any, org: Org, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_audience_fields(org)
        self.fields["requirement"] = _requirement_field(
            org, _("What completing the course counts towards: the notice's report shows it.")
        )

    def as_input(self, items: list[services.CourseItemInput]) -> services.CourseInput:
        data = self.cleaned_data
        return services.CourseInput(
            title=data["title"],
            description=data.get("description") or "",
            items=items,
            due=data.get("due"),
            requirement_id=data.get("requirement"),
            audience_kinds=list(data.get("audience_kinds") or []),
            audience_units=list(data.get("audience_units") or []),
        )


COURSE_ERROR_FIELDS = {
    "title": "title",
    "audience_kind": "audience_kinds",
    "audience_outside": "audience_units",
    "requirement": "requirement",
}


# --- questions ----------------------------------------------------------------------------


class QuestionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    kind = forms.ChoiceField(label=_("kind"), choices=QuestionKind.choices)
    text = forms.CharField(label=_("question"), widget=forms.Textarea(attrs={"rows": 3}))
    correct = forms.MultipleChoiceField(
        label=_("right answer"),
        required=False,
        choices=[(str(i), c) for i, c in enumerate(OPTION_LETTERS)],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick the right option (several for a multiple-choice question)."),
    )
    true_false = forms.ChoiceField(
        label=_("right answer"),
        required=False,
        choices=[("", "—"), ("0", "正确"), ("1", "错误")],
    )
    fill = forms.CharField(
        label=_("accepted answers"),
        max_length=400,
        required=False,
        help_text=_("Separate several accepted answers with |, e.g. 维护职工合法权益|维权."),
    )
    explanation = forms.CharField(
        label=_("explanation"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    tags = forms.CharField(
        label=_("tags"),
        max_length=200,
        required=False,
        help_text=_("Separated by spaces or commas; quizzes draw questions by tag."),
    )
    difficulty = forms.TypedChoiceField(
        label=_("difficulty"), choices=Difficulty.choices, coerce=int, initial=Difficulty.MEDIUM
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for i, letter in enumerate(OPTION_LETTERS):
            self.fields[f"option_{i}"] = forms.CharField(
                label=_("option %(letter)s") % {"letter": letter}, max_length=300, required=False
            )
        self.order_fields(
            [
                "version",
                "kind",
                "text",
                *[f"option_{i}" for i in range(len(OPTION_LETTERS))],
                "correct",
                "true_false",
                "fill",
                "explanation",
                "tags",
                "difficulty",
            ]
        )

    @property
    def option_fields(self) -> list[Any]:
        return [self[f"option_{i}"] for i in range(len(OPTION_LETTERS))]

    def as_input(self) -> services.QuestionInput:
        data = self.cleaned_data
        kind = data["kind"]
        typed = [(i, (data.get(f"option_{i}") or "").strip()) for i in range(len(OPTION_LETTERS))]
        answer: list[Any] = []
        options: list[str] = []
        if kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            # Blank options are left out: the ticked ones are renumbered with the rest.
            kept = [(i, text) for i, text in typed if text]
            options = [text for _i, text in kept]
            ticked = {int(v) for v in data.get("correct") or []}
            answer = [n for n, (i, _text) in enumerate(kept) if i in ticked]
            if ticked - {i for i, _text in kept}:
                answer.append(len(options))  # a ticked blank option: refused as not an option
        elif kind == QuestionKind.TRUE_FALSE:
            answer = [int(data["true_false"])] if data.get("true_false") else []
        else:
            answer = [a for a in re.split(r"[|｜]", data.get("fill") or "") if a.strip()]
        return services.QuestionInput(
            kind=kind,
            text=data["text"],
            options=options,
            answer=answer,
            explanation=data.get("explanation") or "",
            tags=_tags(data.get("tags") or ""),
            difficulty=data["difficulty"],
        )


QUESTION_ERROR_FIELDS = {
    "text": "text",
    "kind": "kind",
    "difficulty": "difficulty",
    "options": "option_0",
    "answer": "correct",
    "duplicate": "text",
}


def question_initial(question: Any) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "version": question.version,
        "kind": question.kind,
        "text": question.text,
        "explanation": question.explanation,
        "tags": " ".join(question.tags or []),
        "difficulty": question.difficulty,
    }
    if question.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        for i, text in enumerate(question.options[: len(OPTION_LETTERS)]):
            initial[f"option_{i}"] = text
        initial["correct"] = [str(a) for a in question.answer]
    elif question.kind == QuestionKind.TRUE_FALSE:
        initial["true_false"] = str(question.answer[0]) if question.answer else ""
    else:
        initial["fill"] = "|".join(str(a) for a in question.answer)
    return initial


class BankFilterForm(forms.Form):
    tag = forms.CharField(label=_("tag"), required=False, max_length=30)
    difficulty = forms.TypedChoiceField(
        label=_("difficulty"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("Every difficulty")), *Difficulty.choices],
    )
    kind = forms.ChoiceField(
        label=_("kind"), required=False, choices=[("", _("Every kind")), *QuestionKind.choices]
    )
    retired = forms.BooleanField(label=_("retired questions"), required=False)

    def filters(self) -> queries.BankFilters:
        if not self.is_valid():
            return queries.BankFilters()
        data = self.cleaned_data
        return queries.BankFilters(
            tag=(data.get("tag") or "").strip(),
            difficulty=data.get("difficulty"),
            kind=data.get("kind") or "",
            retired=bool(data.get("retired")),
        )


class QuestionImportForm(forms.Form):
    sheet = forms.FileField(
        label=_("Question sheet"),
        help_text=_("An .xlsx or .csv file with the columns of the template."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv"}),
    )


# --- quizzes ------------------------------------------------------------------------------


class DrawRuleForm(forms.Form):
    count = forms.IntegerField(
        label=_("questions"),
        min_value=1,
        max_value=200,
        required=False,
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    tag = forms.CharField(label=_("tag"), max_length=30, required=False)
    difficulty = forms.TypedChoiceField(
        label=_("difficulty"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("Any difficulty")), *Difficulty.choices],
    )

    def as_rule(self) -> services.DrawRule | None:
        data = getattr(self, "cleaned_data", None) or {}
        if not data or not data.get("count"):
            return None
        return services.DrawRule(
            count=data["count"],
            tag=(data.get("tag") or "").strip(),
            difficulty=data.get("difficulty"),
        )


DrawRuleFormSet = forms.formset_factory(DrawRuleForm, extra=2, max_num=20)


def draw_rule_formset(data: Any = None, *, initial: list[dict[str, Any]] | None = None) -> Any:
    return DrawRuleFormSet(data, initial=initial, prefix="rule")


class QuizForm(AudienceMixin, forms.Form):
    title = forms.CharField(label=_("title"), max_length=200)
    description = forms.CharField(
        label=_("description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    opens_at = forms.DateTimeField(label=_("opens at"), widget=DATETIME)
    closes_at = forms.DateTimeField(label=_("closes at"), widget=DATETIME)
    time_limit_minutes = forms.IntegerField(
        label=_("time limit (minutes)"),
        min_value=1,
        max_value=240,
        initial=10,
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    pass_mark = forms.IntegerField(
        label=_("pass mark (%)"),
        min_value=0,
        max_value=100,
        initial=60,
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    attempts_allowed = forms.IntegerField(
        label=_("attempts allowed"),
        min_value=1,
        max_value=20,
        initial=1,
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    explanations_after_close = forms.BooleanField(
        label=_("show answers and explanations after it closes"), required=False, initial=True
    )
    is_contest = forms.BooleanField(
        label=_("knowledge contest (ranked)"),
        required=False,
        help_text=_("Members and units are ranked by best score, then by less time."),
    )

    def __init__(self, *args: Any, org: Org, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_audience_fields(org)
        self.fields["requirement"] = _requirement_field(
            org, _("What passing the quiz counts towards: the notice's report shows it.")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        opens, closes = data.get("opens_at"), data.get("closes_at")
        if opens and closes and closes <= opens:
            self.add_error("closes_at", _("The quiz must close after it opens."))
        return data

    def as_input(self, rules: list[services.DrawRule]) -> services.QuizInput:
        data = self.cleaned_data
        return services.QuizInput(
            title=data["title"],
            rules=rules,
            opens_at=data["opens_at"],
            closes_at=data["closes_at"],
            description=data.get("description") or "",
            time_limit_seconds=data["time_limit_minutes"] * 60,
            pass_mark=data["pass_mark"],
            attempts_allowed=data["attempts_allowed"],
            explanations_after_close=bool(data.get("explanations_after_close")),
            is_contest=bool(data.get("is_contest")),
            requirement_id=data.get("requirement"),
            audience_kinds=list(data.get("audience_kinds") or []),
            audience_units=list(data.get("audience_units") or []),
        )


def quiz_initial() -> dict[str, Any]:
    start = timezone.localtime().replace(minute=0, second=0, microsecond=0)
    start += datetime.timedelta(hours=1)
    return {
        "opens_at": start.strftime("%Y-%m-%dT%H:%M"),
        "closes_at": (start + datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
    }


QUIZ_ERROR_FIELDS = {
    "title": "title",
    "window": "closes_at",
    "time_limit": "time_limit_minutes",
    "pass_mark": "pass_mark",
    "attempts": "attempts_allowed",
    "audience_kind": "audience_kinds",
    "audience_outside": "audience_units",
    "requirement": "requirement",
}


def validation_messages(exc: ValidationError) -> list[str]:
    return [str(m) for m in exc.messages]
