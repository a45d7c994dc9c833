"""One place that turns service errors into API responses."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import ValidationError as SchemaValidationError

from gonghui.core.errors import ConcurrentEditError


def validation_payload(exc: ValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        detail = [
            {"field": field, "code": e.code, "message": " ".join(e.messages)}
            for field, errors in exc.error_dict.items()
            for e in errors
        ]
    else:
        detail = [
            {"field": None, "code": e.code, "message": " ".join(e.messages)} for e in exc.error_list
        ]
    return {"detail": detail, "code": detail[0]["code"] if detail else "invalid"}


def schema_payload(exc: SchemaValidationError) -> dict:
    """A request that does not fit the schema (missing field, wrong type), in the same shape
    as a refusal by a service."""
    detail = []
    for error in exc.errors:
        names = [part for part in error.get("loc", ()) if isinstance(part, str)]
        detail.append(
            {
                "field": names[-1] if len(names) > 1 else None,
                "code": error.get("type", "invalid"),
                "message": error.get("msg", ""),
            }
        )
    return {"detail": detail, "code": detail[0]["code"] if detail else "invalid"}


def install_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(SchemaValidationError)
    def _bad_request(request: HttpRequest, exc: SchemaValidationError):
        return api.create_response(request, schema_payload(exc), status=422)

    @api.exception_handler(ConcurrentEditError)
    def _conflict(request: HttpRequest, exc: ConcurrentEditError):
        return api.create_response(request, validation_payload(exc), status=409)

    @api.exception_handler(ValidationError)
    def _invalid(request: HttpRequest, exc: ValidationError):
        return api.create_response(request, validation_payload(exc), status=422)

    @api.exception_handler(PermissionDenied)
    def _forbidden(request: HttpRequest, exc: PermissionDenied):
        message = str(exc) or "You do not have permission to do this."
        return api.create_response(
            request, {"detail": message, "code": "permission_denied"}, status=403
        )
