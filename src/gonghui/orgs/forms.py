from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from gonghui.orgs.models import Education, Industry, OrgKind, RoleKind


class OrgForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    code = forms.CharField(label=_("Code"), max_length=32)
    kind = forms.ChoiceField(label=_("Kind"), choices=OrgKind.choices)
    industry = forms.ChoiceField(label=_("Industry"), choices=Industry.choices, required=False)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)

    def __init__(self, *args, allowed_kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        if allowed_kinds is not None:
            self.fields["kind"].choices = [c for c in OrgKind.choices if c[0] in allowed_kinds]
        self.fields["industry"].choices = [("", "—"), *Industry.choices]


class OrgEditForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name"), max_length=120)
    code = forms.CharField(label=_("Code"), max_length=32)
    industry = forms.ChoiceField(label=_("Industry"), choices=Industry.choices, required=False)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["industry"].choices = [("", "—"), *Industry.choices]


class OrgMoveForm(forms.Form):
    new_parent_code = forms.CharField(
        label=_("Code of the new parent union"),
        max_length=32,
        help_text=_("The union it will belong to from now on; it must be in your scope."),
    )


class OrgDissolveForm(forms.Form):
    MEMBERS_TRANSFER = "transfer"
    MEMBERS_LEAVE = "leave"
    reason = forms.CharField(label=_("Reason"), max_length=200)
    members = forms.ChoiceField(
        label=_("Its members"),
        choices=[
            (MEMBERS_TRANSFER, _("transfer them to another unit")),
            (MEMBERS_LEAVE, _("mark them as having left")),
        ],
        widget=forms.RadioSelect,
        initial=MEMBERS_TRANSFER,
    )
    transfer_to_code = forms.CharField(
        label=_("Code of the unit that takes the members"), max_length=32, required=False
    )


class MemberForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=50)
    id_number = forms.CharField(label=_("ID number"), max_length=18, min_length=1)
    phone = forms.CharField(label=_("Mobile phone"), max_length=20, required=False)
    ethnicity = forms.CharField(label=_("Ethnic group"), max_length=20, required=False)
    education = forms.ChoiceField(label=_("Education"), choices=Education.choices, required=False)
    job = forms.CharField(label=_("Post or trade"), max_length=60, required=False)
    is_migrant_worker = forms.BooleanField(label=_("Migrant worker"), required=False)
    joined_on = forms.DateField(
        label=_("Joined the union on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class MemberEditForm(MemberForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    id_number = forms.CharField(
        label=_("Correct the ID number"),
        max_length=18,
        required=False,
        help_text=_("Leave empty to keep the registered number."),
    )


class MemberLeaveForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)
    left_on = forms.DateField(
        label=_("Left on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class TransferForm(forms.Form):
    to_unit_code = forms.CharField(label=_("Code of the receiving unit"), max_length=32)
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class DecisionForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class RoleGrantForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    full_name = forms.CharField(
        label=_("Full name"),
        max_length=150,
        required=False,
        help_text=_("Only for a new account."),
    )
    password = forms.CharField(
        label=_("Initial password"),
        required=False,
        widget=forms.PasswordInput,
        help_text=_("Only for a new account."),
    )
    kind = forms.ChoiceField(label=_("Role"), choices=RoleKind.choices)
    org_only = forms.BooleanField(label=_("This union only"), required=False)
    may_export_personal_data = forms.BooleanField(
        label=_("May export personal data"), required=False
    )


class WorkerAccountForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    password = forms.CharField(label=_("Initial password"), widget=forms.PasswordInput)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("File (.xlsx or .csv)"))
