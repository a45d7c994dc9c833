"""Forms of the activity pages. They check the shape of the input; the services decide."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gonghui.activities import selectors
from gonghui.activities.models import (
    EVIDENCE_TYPES,
    Activity,
    ActivityKind,
    EvidenceKind,
)
from gonghui.activities.services import ActivityInput
from gonghui.orgs.models import MEMBER_UNIT_KINDS, Org, OrgKind, OrgStatus, ancestor_field

# Up to this many unions below the organiser, the venue and the units are chosen from a
# list; above it (a city or a county), they are named by their codes.
CHOICES_LIMIT = 300
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT)
CODES_SPLIT = re.compile(r"[\s,，;；、]+")


def _subtree(org: Org) -> Any:
    return Org.objects.filter(
        **{ancestor_field(org.depth): org.pk}, status=OrgStatus.ACTIVE
    ).order_by("path")


class OrgChoiceField(forms.ModelChoiceField):
    """A union of the organiser's subtree, indented under its parent."""

    def __init__(self, *args: Any, root: Org, **kwargs: Any) -> None:
        self.root = root
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return "　" * (obj.depth - self.root.depth) + obj.name


class OrgMultipleChoiceField(forms.ModelMultipleChoiceField):
    def __init__(self, *args: Any, root: Org, **kwargs: Any) -> None:
        self.root = root
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name}（{obj.get_kind_display()}）"


def _orgs_by_codes(root: Org, text: str, *, kinds: tuple[str, ...] | None = None) -> list[Org]:
    codes = [c for c in CODES_SPLIT.split(text or "") if c]
    found = {
        o.code: o
        for o in _subtree(root)
        .filter(code__in=codes)
        .filter(**({"kind__in": kinds} if kinds else {}))
    }
    missing = [c for c in dict.fromkeys(codes) if c not in found]
    if missing:
        raise ValidationError(
            _("No active union with the code %(code)s is in %(org)s or below it.")
            % {"code": "、".join(missing), "org": root.name},
            code="unknown_code",
        )
    return [found[c] for c in dict.fromkeys(codes)]


class ActivityForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    kind = forms.ChoiceField(label=_("kind"), choices=ActivityKind.choices)
    title = forms.CharField(label=_("title"), max_length=200)
    starts_at = forms.DateTimeField(label=_("starts at"), widget=DATETIME)
    ends_at = forms.DateTimeField(label=_("ends at"), widget=DATETIME)
    venue = forms.CharField(label=_("held at"))  # replaced in __init__
    place = forms.CharField(
        label=_("place"),
        max_length=200,
        required=False,
        help_text=_("Room or address, as the posters and sign-in sheets show it."),
    )
    speaker = forms.CharField(label=_("speaker"), max_length=100, required=False)
    description = forms.CharField(
        label=_("description"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    audience_kinds = forms.MultipleChoiceField(
        label=_("Only members of these kinds of unit"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[c for c in OrgKind.choices if c[0] in MEMBER_UNIT_KINDS],
        help_text=_("None ticked: every member of the venue and below."),
    )
    audience_units = forms.CharField(label=_("Only these units"), required=False)  # replaced
    capacity = forms.IntegerField(
        label=_("capacity"),
        required=False,
        min_value=1,
        help_text=_("Empty: no limit."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    registration_required = forms.BooleanField(
        label=_("registration required"),
        required=False,
        help_text=_("Only registered members may check in themselves; the others wait."),
    )
    requirement = forms.TypedChoiceField(
        label=_("meets notice requirement"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=_("What the activity counts towards: the notice's report shows its figures."),
    )

    def __init__(self, *args: Any, org: Org, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.org = org
        subtree = _subtree(org)
        self.small = subtree[: CHOICES_LIMIT + 1].count() <= CHOICES_LIMIT
        if self.small:
            self.fields["venue"] = OrgChoiceField(
                label=_("held at"),
                queryset=subtree,
                root=org,
                empty_label=None,
                help_text=_("This union, or a union below it (a lecture sent down)."),
            )
            units = subtree.filter(kind__in=MEMBER_UNIT_KINDS)
            self.fields["audience_units"] = OrgMultipleChoiceField(
                label=_("Only these units"),
                queryset=units,
                root=org,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                help_text=_("None ticked: the whole venue. Each unit includes those below it."),
            )
        else:
            self.fields["venue"] = forms.CharField(
                label=_("held at (code)"),
                max_length=32,
                help_text=_("Code of this union or of a union below it (a lecture sent down)."),
            )
            self.fields["audience_units"] = forms.CharField(
                label=_("Only these units (codes)"),
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
                help_text=_("Codes separated by spaces or commas; empty: the whole venue."),
            )
        requirements = selectors.requirements_for(org)
        self.fields["requirement"].choices = [
            ("", "—"),
            *[(r.pk, f"{r.notice.title} · {r.title}") for r in requirements],
        ]
        self.order_fields(
            [
                "version",
                "kind",
                "title",
                "starts_at",
                "ends_at",
                "venue",
                "place",
                "speaker",
                "description",
                "audience_kinds",
                "audience_units",
                "capacity",
                "registration_required",
                "requirement",
            ]
        )

    def clean_venue(self) -> Org:
        value = self.cleaned_data["venue"]
        if isinstance(value, Org):
            return value
        return _orgs_by_codes(self.org, value)[0]

    def clean_audience_units(self) -> list[Org]:
        value = self.cleaned_data.get("audience_units")
        if not value:
            return []
        if isinstance(value, str):
            return _orgs_by_codes(self.org, value, kinds=MEMBER_UNIT_KINDS)
        return list(value)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("The activity must end after it starts."))
        return data

    def as_input(self) -> ActivityInput:
        data = self.cleaned_data
        return ActivityInput(
            kind=data["kind"],
            title=data["title"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            venue_org=data["venue"],
            description=data["description"],
            speaker=data["speaker"],
            place=data["place"],
            audience_kinds=list(data["audience_kinds"]),
            audience_units=list(data["audience_units"]),
            capacity=data["capacity"],
            registration_required=data["registration_required"],
            requirement_id=data["requirement"],
        )


def initial_of(activity: Activity, *, small: bool) -> dict[str, Any]:
    """The form's values for editing `activity`."""
    units = list(activity.audience_units.order_by("path"))
    return {
        "version": activity.version,
        "kind": activity.kind,
        "title": activity.title,
        "starts_at": timezone.localtime(activity.starts_at).strftime(DATETIME_FORMAT),
        "ends_at": timezone.localtime(activity.ends_at).strftime(DATETIME_FORMAT),
        "venue": activity.venue_org_id if small else activity.venue_org.code,
        "place": activity.place,
        "speaker": activity.speaker,
        "description": activity.description,
        "audience_kinds": activity.audience_kinds,
        "audience_units": [u.pk for u in units] if small else " ".join(u.code for u in units),
        "capacity": activity.capacity,
        "registration_required": activity.registration_required,
        "requirement": activity.requirement_id,
    }


# Where a service's refusal belongs on the form, by the ValidationError code's prefix.
ACTIVITY_ERROR_FIELDS = {
    "title": "title",
    "kind": "kind",
    "times": "ends_at",
    "held_day": "starts_at",
    "venue": "venue",
    "audience_kind": "audience_kinds",
    "audience_outside": "audience_units",
    "capacity": "capacity",
    "requirement": "requirement",
}


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"),
        max_length=200,
        help_text=_("Registered members are told, with this reason."),
    )


class SheetForm(forms.Form):
    sheet = forms.FileField(
        label=_("Attendance sheet"),
        help_text=_("An .xlsx or .csv file with the columns 姓名 and 身份证号."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv"}),
    )


class EvidenceForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=EvidenceKind.choices)
    file = forms.FileField(
        label=_("file"),
        help_text=_("PDF, Word, PowerPoint or images (jpg, png), up to 20 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(EVIDENCE_TYPES)}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Check-in code"),
        max_length=12,
        help_text=_("The 6 digits shown on the screen or read out at the activity."),
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "pattern": "[0-9 ]*",
                "class": "code-input",
                "autofocus": True,
            }
        ),
    )
