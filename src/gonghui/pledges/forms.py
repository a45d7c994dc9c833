"""Forms of the pledge pages. They check the shape of the input; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from gonghui.core.uploads import IMAGE_TYPES
from gonghui.pledges.models import (
    COMMENT_MAX_CHARS,
    PHOTOS_PER_UPDATE,
    TEXT_MAX_CHARS,
    Pledge,
    PledgeCategory,
)
from gonghui.pledges.services import PledgeInput

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PledgeForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    title = forms.CharField(label=_("title"), max_length=200)
    category = forms.ChoiceField(label=_("category"), choices=PledgeCategory.choices)
    target = forms.CharField(
        label=_("target"),
        max_length=200,
        help_text=_("What will be done, for whom, e.g. 为100名一线职工免费体检."),
    )
    target_value = forms.IntegerField(
        label=_("numeric target"),
        required=False,
        min_value=1,
        help_text=_("Optional: the number to reach, e.g. 100. Progress is shown against it."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    target_unit = forms.CharField(
        label=_("unit of the target"),
        max_length=20,
        required=False,
        help_text=_("e.g. 人, 场, 万元"),
    )
    deadline = forms.DateField(label=_("deadline"), widget=DATE)
    # Rich text from the Trix editor; the service sanitises it.
    description = forms.CharField(
        label=pgettext_lazy("pledge", "description"), required=False, widget=forms.HiddenInput
    )

    def as_input(self) -> PledgeInput:
        data = self.cleaned_data
        return PledgeInput(
            title=data["title"],
            category=data["category"],
            target=data["target"],
            target_value=data["target_value"],
            target_unit=data["target_unit"],
            deadline=data["deadline"],
            description=data["description"],
        )


def initial_of(pledge: Pledge) -> dict[str, Any]:
    return {
        "version": pledge.version,
        "title": pledge.title,
        "category": pledge.category,
        "target": pledge.target,
        "target_value": pledge.target_value,
        "target_unit": pledge.target_unit,
        "deadline": pledge.deadline,
        "description": pledge.description,
    }


# Where a service's refusal belongs on the form, by the ValidationError code's prefix.
PLEDGE_ERROR_FIELDS = {
    "title": "title",
    "category": "category",
    "target_value": "target_value",
    "target_unit": "target_unit",
    "target": "target",
    "deadline": "deadline",
}
PROGRESS_ERROR_FIELDS = {
    "text": "text",
    "progress": "progress",
    "day": "day",
    "photo": "photos",
    "file": "photos",
}


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several photos in one input; each is checked by the service."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            MultipleImageInput(
                attrs={"accept": ",".join(sorted(set(IMAGE_TYPES))), "multiple": True}
            ),
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        if isinstance(data, list | tuple):
            return [super(MultipleImageField, self).clean(d, initial) for d in data if d]
        return [super().clean(data, initial)] if data else []


class ProgressForm(forms.Form):
    text = forms.CharField(
        label=_("what was done"),
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": TEXT_MAX_CHARS}),
    )
    progress = forms.IntegerField(
        label=_("progress reached"),
        min_value=0,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    day = forms.DateField(label=_("date"), widget=DATE, required=False)
    correction = forms.BooleanField(
        label=_("This corrects an earlier figure"),
        required=False,
        help_text=_("Only then may the progress be lower than before; say why in the text."),
    )
    photos = MultipleImageField(
        label=_("photos"),
        required=False,
        help_text=_("Up to %(n)d photos (jpg, png), each up to 10 MB.") % {"n": PHOTOS_PER_UPDATE},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["day"].initial = timezone.localdate()


class CompleteForm(forms.Form):
    note = forms.CharField(
        label=_("closing note"),
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": TEXT_MAX_CHARS}),
        help_text=_("What was done in the end: workers read it."),
    )


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200, help_text=_("Workers read it."))


class HideForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"),
        max_length=200,
        help_text=_("The author sees it with the hidden comment; other workers do not."),
    )


class CommentForm(forms.Form):
    # No max_length here: the service refuses a long comment with its own message.
    text = forms.CharField(
        label=_("Your comment"),
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": COMMENT_MAX_CHARS}),
    )
