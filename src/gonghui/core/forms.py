"""Showing a service's refusal on the form the user filled in, keeping what they typed."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _


def add_service_error(
    form: forms.Form,
    exc: ValidationError | PermissionDenied,
    *,
    field_codes: dict[str, str] | None = None,
) -> None:
    """Attach the error to the field its code names (e.g. codes starting "id_" belong to
    the ID number), or to the form as a whole."""
    if isinstance(exc, PermissionDenied):
        form.add_error(None, str(exc) or _("You do not have permission to do this."))
        return
    errors = (
        exc.error_list
        if not hasattr(exc, "error_dict")
        else [e for errs in exc.error_dict.values() for e in errs]
    )
    for error in errors:
        field = None
        for prefix, name in (field_codes or {}).items():
            if (error.code or "").startswith(prefix) and name in form.fields:
                field = name
                break
        form.add_error(field, " ".join(error.messages))
