from __future__ import annotations

from axes.exceptions import AxesBackendPermissionDenied
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest
from ninja import Router, Schema, Status

from gonghui.accounts import services
from gonghui.orgs.scoping import grants_for, is_unrestricted

router = Router(tags=["accounts"])


class TokenIn(Schema):
    username: str
    password: str
    label: str = ""


class TokenOut(Schema):
    token: str
    username: str


class Message(Schema):
    detail: str
    code: str


class RoleOut(Schema):
    org_id: int
    depth: int
    org_only: bool
    permissions: list[str]


class MeOut(Schema):
    id: int
    username: str
    full_name: str
    is_superuser: bool
    roles: list[RoleOut]
    member_id: int | None


@router.post(
    "/auth/token",
    auth=None,
    response={200: TokenOut, 401: Message, 429: Message},
    summary="Obtain a bearer token",
)
def obtain_token(request: HttpRequest, payload: TokenIn):
    try:
        user = authenticate(request, username=payload.username, password=payload.password)
    except AxesBackendPermissionDenied:
        user = False
    if user is False or getattr(request, "axes_locked_out", False):
        # AxesMiddleware would replace this answer with its HTML lockout page; an API
        # client is owed JSON.
        request.axes_locked_out = False
        return Status(
            429,
            {"detail": "Too many failed sign-ins; try again later.", "code": "locked_out"},
        )
    if user is None:
        return Status(401, {"detail": "Wrong user name or password.", "code": "bad_credentials"})
    # A token is a sign-in: like the login page, it records last_login and clears the
    # failed attempts (AXES_RESET_ON_SUCCESS), which only listen to this signal.
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    return Status(
        200,
        {
            "token": services.issue_api_token(user=user, label=payload.label),
            "username": user.get_username(),
        },
    )


@router.get("/me", response=MeOut, summary="The signed-in user, their roles and member record")
def me(request: HttpRequest):
    user = request.user
    member = getattr(user, "member", None) if hasattr(user, "member") else None
    return {
        "id": user.pk,
        "username": user.get_username(),
        "full_name": user.get_full_name() or user.first_name,
        "is_superuser": is_unrestricted(user),
        "roles": [
            {
                "org_id": g.org_id,
                "depth": g.depth,
                "org_only": g.org_only,
                "permissions": sorted(g.perms),
            }
            for g in grants_for(user)
        ],
        "member_id": member.pk if member else None,
    }
