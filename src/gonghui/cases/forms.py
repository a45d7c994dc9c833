"""Forms of the case pages. They check the shape of the input; the services decide."""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext_lazy as _

from gonghui.cases import selectors
from gonghui.cases.models import (
    AidKind,
    Case,
    CaseCategory,
    Channel,
    ContactPreference,
    HardshipCause,
    HardshipFile,
    HardshipLevel,
    HardshipStatus,
    Outcome,
)
from gonghui.cases.services import MAX_ATTACHMENTS, CaseInput, Closing, HardshipInput
from gonghui.core.forms import add_service_error
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Member, Org
from gonghui.orgs.scoping import Perm

# Up to this many unions a case may be transferred to are offered in a list; above it
# (a province's cadre) the target is named by its code.
CHOICES_LIMIT = 300
ACCEPT = ".jpg,.jpeg,.png,.pdf,.doc,.docx"
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
NUMBER = forms.NumberInput(attrs={"inputmode": "numeric", "min": "0"})


def _lazy_percent(message: Any, **values: Any) -> Promise:
    """`message % values`, translated when shown (a field's text is made at import)."""
    return lazy(lambda: str(message) % values, str)()


def new_submission_key() -> str:
    """A token the form carries: a second submission of the same form files nothing."""
    return secrets.token_urlsafe(24)


def add_case_error(
    form: forms.Form,
    exc: ValidationError | PermissionDenied,
    *,
    field_codes: dict[str, str] | None = None,
) -> None:
    """Like add_service_error, but an error the service keyed by field (its input's field
    names are the form's) goes to that field first: two amounts share one code."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            if name in form.fields:
                form.add_error(name, [" ".join(e.messages) for e in errors])
            else:
                add_service_error(form, ValidationError(errors), field_codes=field_codes)
        return
    add_service_error(form, exc, field_codes=field_codes)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.FileField):
    """Several files at once; their type, size and content are checked by the service."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("attachments"))
        kwargs.setdefault(
            "help_text",
            _lazy_percent(
                _("Photos (jpg, png), PDF or Word files: up to %(n)d files, 10 MB each."),
                n=MAX_ATTACHMENTS,
            ),
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


# --- filing -----------------------------------------------------------------------------

# Where a service's refusal belongs, by the ValidationError code's prefix.
CASE_ERROR_FIELDS = {
    "category": "category",
    "title": "title",
    "description": "description",
    "contact_preference": "contact_preference",
    "contact_phone": "contact_phone",
    "file_": "attachments",
    "channel": "channel",
    "target": "handle_here",
    "concealed": "conceal_from_employer_union",
}


class CaseForm(forms.Form):
    """A worker's request, on the phone. Only the shape is checked here: what is missing
    or too short is refused by the service, in its words."""

    submission_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)
    category = forms.ChoiceField(
        label=_("What is it about?"),
        choices=[("", "—"), *CaseCategory.choices],
        required=False,
    )
    title = forms.CharField(
        label=_("subject"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Wages for March not paid")}),
    )
    description = forms.CharField(
        label=_("what happened"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("When, where, who, and what you would like the union to do."),
    )
    contact_preference = forms.ChoiceField(
        label=_("how to contact me"),
        choices=ContactPreference.choices,
        widget=forms.RadioSelect,
        initial=ContactPreference.MESSAGE,
    )
    contact_phone = forms.CharField(
        label=_("contact phone"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
        help_text=_("Needed when you want a phone call."),
    )
    conceal_from_employer_union = forms.BooleanField(
        label=_("Do not let my own union see this (send it to the union above)"),
        required=False,
        help_text=_(
            "Tick this if your request is about your employer or your own union. It then "
            "goes straight to the union above your employer's union, and your employer's "
            "union cannot see it or count it."
        ),
    )
    attachments = AttachmentsField()

    def as_input(self) -> CaseInput:
        data = self.cleaned_data
        return CaseInput(
            category=data["category"],
            title=data["title"],
            description=data["description"],
            contact_preference=data["contact_preference"],
            contact_phone=data["contact_phone"],
            conceal_from_employer_union=data["conceal_from_employer_union"],
        )


class MemberField(forms.ModelChoiceField):
    """A member picked from a search (the page lists the matches as radio buttons): only
    members of the union's subtree that the user may see are accepted."""

    widget = forms.HiddenInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("worker"))
        kwargs.setdefault(
            "error_messages",
            {
                "required": _("Search for the worker and pick them from the list."),
                "invalid_choice": _("Pick a worker of this union or of a union below it."),
            },
        )
        super().__init__(*args, queryset=Member.objects.none(), **kwargs)


class CadreCaseForm(CaseForm):
    """A cadre files a request a worker made by phone, in person or by letter."""

    member = MemberField()
    channel = forms.ChoiceField(
        label=_("how the worker asked"),
        choices=[c for c in Channel.choices if c[0] != Channel.APP],
        widget=forms.RadioSelect,
        initial=Channel.PHONE,
    )
    handle_here = forms.BooleanField(label="", required=False)  # labelled in __init__

    def __init__(self, *args: Any, user: Any, org: Org, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.org = org
        self.fields["member"].queryset = org_selectors.members_in_scope(user, org=org)
        self.fields["handle_here"].label = _("Handle it at %(org)s") % {"org": org.name}
        self.fields["handle_here"].help_text = _(
            "Otherwise it goes where a worker's own request would go."
        )
        self.fields["conceal_from_employer_union"].label = _(
            "The worker's own union must not see this (it goes to the union above)"
        )
        self.fields["conceal_from_employer_union"].help_text = ""
        self.fields["attachments"].help_text = _(
            "A letter, photos or documents the worker handed in."
        )
        self.order_fields(
            [
                "submission_key",
                "member",
                "channel",
                "category",
                "title",
                "description",
                "contact_preference",
                "contact_phone",
                "conceal_from_employer_union",
                "handle_here",
                "attachments",
            ]
        )


# --- the worker's actions ---------------------------------------------------------------


class MessageForm(forms.Form):
    text = forms.CharField(
        label=_("message"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    attachments = AttachmentsField()


class RateForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you with the answer?"),
        choices=[(n, str(n)) for n in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose 1 to 5 stars.")},
    )
    comment = forms.CharField(
        label=_("comment (optional)"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label=_("What is still unresolved?"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("reason (optional)"),
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. The wages have been paid")}),
    )


# --- the handler's actions --------------------------------------------------------------


class VersionForm(forms.Form):
    """The case's version when the page was shown: a change in between is refused."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class AssignForm(VersionForm):
    handler = forms.TypedChoiceField(label=_("case handler"), coerce=int)

    def __init__(self, *args: Any, handlers: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handlers = {u.pk: u for u in handlers}
        self.fields["handler"].choices = [
            (u.pk, u.get_full_name() or u.get_username()) for u in handlers
        ]

    def clean_handler(self) -> Any:
        return self.handlers[self.cleaned_data["handler"]]


class TextForm(forms.Form):
    text = forms.CharField(
        label=_("what was said"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class NoteForm(TextForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["text"].label = _("note")


class ReasonForm(VersionForm):
    reason = forms.CharField(
        label=_("reason"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class TransferForm(ReasonForm):
    to_org = forms.CharField(label=_("to the union"))  # replaced in __init__

    def __init__(self, *args: Any, user: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        targets = selectors.transfer_targets(user, case)
        count = targets[: CHOICES_LIMIT + 1].count()
        self.has_targets = count > 0
        self.small = count <= CHOICES_LIMIT
        if self.small:
            self.fields["to_org"] = forms.ModelChoiceField(
                label=_("to the union"),
                queryset=targets,
                empty_label="—",
                error_messages={"required": _("Choose the union to hand the case to.")},
            )
        else:
            self.fields["to_org"] = forms.CharField(
                label=_("to the union (code)"),
                max_length=32,
                help_text=_("The code of a union you supervise."),
                error_messages={"required": _("Choose the union to hand the case to.")},
            )
        self.order_fields(["version", "to_org", "reason"])

    def clean_to_org(self) -> Org:
        value = self.cleaned_data["to_org"]
        if isinstance(value, Org):
            return value
        return org_selectors.org_by_code_in_scope(self.user, value, Perm.CASE_SUPERVISE)


class CloseForm(VersionForm):
    outcome = forms.ChoiceField(
        label=_("outcome"),
        choices=[("", "—"), *[c for c in Outcome.choices if c[0] != Outcome.WITHDRAWN]],
        required=False,
    )
    note = forms.CharField(
        label=_("outcome and reasons"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("The worker reads this as the answer to the request."),
    )
    money_recovered = forms.IntegerField(
        label=_("money recovered (yuan)"), required=False, initial=0, widget=NUMBER
    )
    aid_paid = forms.IntegerField(
        label=_("aid paid (yuan)"), required=False, initial=0, widget=NUMBER
    )

    def as_closing(self) -> Closing:
        data = self.cleaned_data
        return Closing(
            outcome=data["outcome"],
            note=data["note"],
            # Left empty: nothing recovered or paid.
            money_recovered=data["money_recovered"] or 0,
            aid_paid=data["aid_paid"] or 0,
        )


# --- filters ----------------------------------------------------------------------------


class QueueFilterForm(forms.Form):
    show = forms.ChoiceField(choices=[(s, s) for s in selectors.QUEUE_FILTERS], required=False)
    category = forms.ChoiceField(
        label=_("category"), choices=[("", _("Every category")), *CaseCategory.choices]
    )
    mine = forms.BooleanField(label=_("Only mine"), required=False)
    subtree = forms.BooleanField(label=_("Include the unions below"), required=False)
    q = forms.CharField(required=False, max_length=100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].required = False

    def filters(self) -> dict[str, Any]:
        """The selector's arguments; anything invalid falls back to the default."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "show": data.get("show") or "open",
            "category": data.get("category") or "",
            "mine": bool(data.get("mine")),
            "subtree": bool(data.get("subtree")),
            "q": (data.get("q") or "").strip(),
        }


class HardshipFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[*HardshipStatus.choices, ("all", _("All"))], required=False)
    due = forms.BooleanField(label=_("Due for review"), required=False)
    q = forms.CharField(required=False, max_length=50)

    def filters(self) -> dict[str, Any]:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        status = data.get("status") or HardshipStatus.ACTIVE
        return {
            "status": "" if status == "all" else status,
            "due": bool(data.get("due")),
            "q": (data.get("q") or "").strip(),
        }


# --- hardship aid files -----------------------------------------------------------------


class HardshipForm(VersionForm):
    """The family's situation; the service refuses what is missing, in its words."""

    level = forms.ChoiceField(
        label=_("level"), choices=[("", "—"), *HardshipLevel.choices], required=False
    )
    causes = forms.MultipleChoiceField(
        label=_("causes"),
        choices=HardshipCause.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    family_size = forms.IntegerField(
        label=_("family members"),
        required=False,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": "1", "max": "30"}),
    )
    monthly_income_per_capita = forms.IntegerField(
        label=_("monthly income per family member (yuan)"), required=False, widget=NUMBER
    )
    situation = forms.CharField(
        label=_("family situation"), required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    review_due = forms.DateField(
        label=_("next review"),
        required=False,
        widget=DATE,
        help_text=_("Files are reviewed at least once a year."),
    )

    def as_input(self) -> HardshipInput:
        data = self.cleaned_data
        return HardshipInput(
            level=data["level"],
            causes=list(data["causes"]),
            family_size=data["family_size"],
            monthly_income_per_capita=data["monthly_income_per_capita"],
            situation=data["situation"],
            review_due=data["review_due"],
        )


def hardship_initial(file: HardshipFile) -> dict[str, Any]:
    """The review form's values: the file as it stands, the next review a year on."""
    return {
        "version": file.version,
        "level": file.level,
        "causes": file.causes,
        "family_size": file.family_size,
        "monthly_income_per_capita": file.monthly_income_per_capita,
        "situation": file.situation,
        "review_due": timezone.localdate() + datetime.timedelta(days=365),
    }


class HardshipNewForm(HardshipForm):
    member = MemberField()
    case_number = forms.CharField(
        label=_("linked case (number)"),
        max_length=20,
        required=False,
        help_text=_("Optional: the worker case this file came from."),
    )

    def __init__(self, *args: Any, user: Any, org: Org, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["member"].queryset = org_selectors.members_in_scope(user, org=org)
        self.order_fields(["member", "case_number"])

    def clean_case_number(self) -> Case | None:
        number = self.cleaned_data["case_number"].strip()
        if not number:
            return None
        case = selectors.case_by_number(self.user, number)
        if case is None:
            raise ValidationError(
                _("No case with the number %(n)s is visible to you.") % {"n": number},
                code="case",
            )
        return case


HARDSHIP_ERROR_FIELDS = {"member": "member", "duplicate": "member", "case": "case_number"}


class LiftForm(VersionForm):
    reason = forms.CharField(
        label=_("Why is the family out of hardship?"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AidForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=[("", "—"), *AidKind.choices], required=False)
    amount = forms.IntegerField(label=_("amount (yuan)"), required=False, initial=0, widget=NUMBER)
    given_on = forms.DateField(label=_("given on"), widget=DATE)
    note = forms.CharField(label=_("note"), max_length=200, required=False)
    org = forms.TypedChoiceField(label=_("given by"), coerce=int)

    def __init__(self, *args: Any, givers: list[Org], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.givers = {o.pk: o for o in givers}
        self.fields["org"].choices = [(o.pk, o.name) for o in reversed(givers)]

    def clean_org(self) -> Org:
        return self.givers[self.cleaned_data["org"]]

    def as_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "amount": data["amount"] or 0,  # goods or a job placement: no cash
            "given_on": data["given_on"],
            "note": data["note"],
            "org": data["org"],
        }


AID_ERROR_FIELDS = {"kind": "kind", "amount": "amount", "given_on": "given_on", "org": "org"}
