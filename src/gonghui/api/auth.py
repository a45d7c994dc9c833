from __future__ import annotations

import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth as NinjaSessionAuth

from gonghui.accounts.models import ApiToken
from gonghui.accounts.selectors import api_token_of

# A token's last use (in the admin: which tokens are still in use) is kept to the hour:
# writing it on every request, or every minute, would cost most requests of a burst a
# second commit (an UPDATE autocommitted on its own). A token never used gets it at once.
LAST_USED_PRECISION = datetime.timedelta(hours=1)


class BearerToken(HttpBearer):
    openapi_description = "Token from POST /api/auth/token"

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = api_token_of(token)
        if api_token is None:
            return None
        now = timezone.now()
        if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        request.user = api_token.user
        return api_token.user


class SessionAuth(NinjaSessionAuth):
    """The signed-in browser session, with Django's CSRF check on unsafe methods."""
