"""Forms of the notice pages. They check the shape of the input; the services decide."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from gonghui.notices import services
from gonghui.notices.models import ATTACHMENT_TYPES, Measure, RequirementKind
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Org, OrgKind
from gonghui.orgs.scoping import Perm

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
ACCEPT = ",".join(ATTACHMENT_TYPES)
CODES_SPLIT = re.compile(r"[\s,，;；、]+")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class UploadsField(forms.FileField):
    """Several files in one input; each must pass the services' type, size and content
    check, so a wrong file is named before anything is saved."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        uploads = data if isinstance(data, (list, tuple)) else ([data] if data else [])
        errors = []
        for upload in uploads:
            try:
                services.check_upload(upload)
            except ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationError(errors)
        return list(uploads)


def new_key() -> str:
    """The one-time key of a form that must not act twice (double click, retry)."""
    return uuid.uuid4().hex


# --- requirements ---------------------------------------------------------------------------


class RequirementForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=RequirementKind.choices)
    title = forms.CharField(label=_("requirement"), max_length=200, required=False)
    measure = forms.ChoiceField(label=_("target"), choices=Measure.choices, initial=Measure.NONE)
    threshold = forms.DecimalField(
        label=_("N or P"), max_digits=10, decimal_places=2, required=False, min_value=0
    )
    unit_kind = forms.ChoiceField(label=_("in every"), required=False)
    due = forms.DateField(label=_("deadline"), required=False, widget=DATE)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit_kind"].choices = [("", "—"), *OrgKind.choices]
        self.fields["threshold"].widget.attrs["inputmode"] = "decimal"

    def as_input(self) -> services.RequirementInput | None:
        data = getattr(self, "cleaned_data", None) or {}
        if not data or data.get("DELETE") or not (data.get("title") or "").strip():
            return None
        return services.RequirementInput(
            kind=data["kind"],
            title=data["title"],
            measure=data["measure"],
            threshold=data.get("threshold"),
            unit_kind=data.get("unit_kind") or "",
            due=data.get("due"),
        )


RequirementFormSet = forms.formset_factory(RequirementForm, extra=1, can_delete=True, max_num=50)


def requirement_formset(data: Any = None, *, initial: list[dict[str, Any]] | None = None) -> Any:
    return RequirementFormSet(data, initial=initial, prefix="req")


def requirement_inputs(formset: Any) -> list[services.RequirementInput]:
    return [item for item in (f.as_input() for f in formset.forms) if item is not None]


def requirement_initial(requirements: Any) -> list[dict[str, Any]]:
    return [
        {
            "kind": r.kind,
            "title": r.title,
            "measure": r.measure,
            "threshold": r.threshold,
            "unit_kind": r.unit_kind,
            "due": r.due,
        }
        for r in requirements
    ]


# --- composing a notice -----------------------------------------------------------------------


class NoticeForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    title = forms.CharField(label=_("title"), max_length=200)
    doc_number = forms.CharField(
        label=_("document number"),
        max_length=60,
        required=False,
        help_text=_("e.g. 川工发〔2026〕12号"),
    )
    body = forms.CharField(label=_("text"), required=False, widget=forms.HiddenInput)
    audience_kinds = forms.MultipleChoiceField(
        label=_("Only these kinds of union"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every kind."),
    )
    audience_codes = forms.CharField(
        label=_("Only these unions and those below them (codes)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Codes separated by spaces or commas; empty: the whole subtree."),
    )
    requires_ack = forms.BooleanField(
        label=_("acknowledgement required"), required=False, initial=True
    )
    ack_due = forms.DateField(label=_("acknowledge by"), required=False, widget=DATE)
    report_due = forms.DateField(label=_("report by"), required=False, widget=DATE)
    attachments = UploadsField(
        label=_("Add attachments"),
        help_text=_("PDF, Word or images (jpg, png), up to 20 MB each."),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["audience_kinds"].choices = [
            c for c in OrgKind.choices if c[0] != OrgKind.PROVINCE
        ]

    def clean_audience_codes(self) -> list[Org]:
        codes = [c for c in CODES_SPLIT.split(self.cleaned_data.get("audience_codes") or "") if c]
        orgs = []
        for code in dict.fromkeys(codes):
            orgs.append(org_selectors.org_by_code_in_scope(self.user, code, Perm.ORG_VIEW))
        return orgs

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "doc_number": data["doc_number"],
            "body": data["body"],
            "audience_kinds": data["audience_kinds"],
            "audience_orgs": data["audience_codes"],
            "requires_ack": data["requires_ack"],
            "ack_due": data["ack_due"],
            "report_due": data["report_due"],
        }


NOTICE_ERROR_FIELDS = {
    "title": "title",
    "doc_number": "doc_number",
    "audience": "audience_codes",
    "unknown_code": "audience_codes",
    "kind": "audience_kinds",
    "file": "attachments",
}


# --- handling a dispatch ------------------------------------------------------------------------


class RelayForm(forms.Form):
    doc_number = forms.CharField(
        label=_("document number"),
        max_length=60,
        required=False,
        help_text=_("Your own number for the relayed notice, if any."),
    )
    note = forms.CharField(
        label=_("note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What you add for the unions below."),
    )
    ack_due = forms.DateField(label=_("acknowledge by"), required=False, widget=DATE)
    report_due = forms.DateField(label=_("report by"), required=False, widget=DATE)


class PlanForm(forms.Form):
    plan = forms.CharField(
        label=_("implementation plan"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("How your union will meet the requirements: what, when, who."),
    )


class ReportForm(forms.Form):
    """报送: the figures recorded so far (editable), what was done, evidence files."""

    submission_key = forms.CharField(widget=forms.HiddenInput, max_length=40)
    narrative = forms.CharField(
        label=_("what was done"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Activities held, people reached, results; the figures above are counted."),
    )
    evidence = UploadsField(
        label=_("Evidence"),
        help_text=_("Photos, sign-in sheets, documents: PDF, Word or images, up to 20 MB each."),
    )

    def __init__(self, *args: Any, prefill: list[Any], recorded: dict[str, int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.figure_names = []
        for figure in prefill:
            name = f"fig_{figure.code}"
            self.fields[name] = forms.IntegerField(
                label=figure.label,
                min_value=0,
                initial=figure.value,
                help_text=_("Recorded: %(n)s") % {"n": recorded.get(figure.code, figure.value)},
                widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            )
            self.figure_names.append((name, figure.code))
        # Put the figures first, as the reader expects them.
        order = [n for n, _c in self.figure_names] + ["narrative", "evidence", "submission_key"]
        self.order_fields(order)

    def figures_fields(self) -> list[Any]:
        return [self[name] for name, _code in self.figure_names]

    def figures_values(self) -> dict[str, int]:
        return {code: self.cleaned_data[name] for name, code in self.figure_names}


REPORT_ERROR_FIELDS = {"narrative": "narrative", "file": "evidence"}


class ReviewForm(forms.Form):
    ACCEPT = "accept"
    RETURN = "return"
    decision = forms.ChoiceField(
        choices=[(ACCEPT, _("Accept the report")), (RETURN, _("Return with comment"))],
        widget=forms.HiddenInput,
    )
    comment = forms.CharField(
        label=_("comment"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Needed when returning: say what must change."),
    )


class RemindForm(forms.Form):
    KINDS = (("ack", _("Acknowledge")), ("report", _("Report")), ("all", _("All")))
    batch_key = forms.CharField(widget=forms.HiddenInput, max_length=40)
    kind = forms.ChoiceField(choices=KINDS, widget=forms.HiddenInput)
