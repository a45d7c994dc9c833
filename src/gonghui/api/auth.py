from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth as NinjaSessionAuth

from gonghui.accounts.selectors import api_token_of
from gonghui.accounts.services import record_token_use


class BearerToken(HttpBearer):
    openapi_description = "Token from POST /api/auth/token"

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = api_token_of(token)
        if api_token is None:
            return None
        record_token_use(api_token, timezone.now())
        request.user = api_token.user
        return api_token.user


class SessionAuth(NinjaSessionAuth):
    """The signed-in browser session, with Django's CSRF check on unsafe methods."""
