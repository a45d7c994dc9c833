from __future__ import annotations

import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth as NinjaSessionAuth

from gonghui.accounts.models import ApiToken, hash_token

# A token's last use (in the admin: which tokens are still in use) is kept to the hour:
# writing it on every request, or every minute, would cost most requests of a burst a
# second commit (an UPDATE autocommitted on its own). A token never used gets it at once.
LAST_USED_PRECISION = datetime.timedelta(hours=1)
# The user's columns an API request reads (not the password hash, nor the sign-in dates:
# a column left out is read by a query of its own if ever touched).
_USER_FIELDS = (
    "user__username",
    "user__first_name",
    "user__last_name",
    "user__email",
    "user__is_active",
    "user__is_staff",
    "user__is_superuser",
)


class BearerToken(HttpBearer):
    openapi_description = "Token from POST /api/auth/token"

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        # The token and its user in one statement (key_hash is unique: no ORDER BY).
        found = list(
            ApiToken.objects.filter(key_hash=hash_token(token), user__is_active=True)
            .select_related("user")
            .only("last_used_at", "user", *_USER_FIELDS)[:1]
        )
        if not found:
            return None
        api_token = found[0]
        now = timezone.now()
        if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        request.user = api_token.user
        return api_token.user


class SessionAuth(NinjaSessionAuth):
    """The signed-in browser session, with Django's CSRF check on unsafe methods."""
