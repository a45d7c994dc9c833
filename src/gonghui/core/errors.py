"""Errors that services raise and every caller (page, API, command) maps the same way."""

from django.core.exceptions import ValidationError


class ConcurrentEditError(ValidationError):
    """Somebody else saved the same record since this edit began; nothing was overwritten."""
