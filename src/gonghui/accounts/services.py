"""Accounts: API tokens, cadre accounts and worker accounts linked to member records."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from gonghui.accounts.models import ApiToken, hash_token
from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, Org
from gonghui.orgs.scoping import Perm

User = get_user_model()


@transaction.atomic
def issue_api_token(*, user: Any, label: str = "") -> str:
    """A new bearer token for `user`; returns the raw token, which is not stored."""
    raw = ApiToken.new_raw_token()
    ApiToken.objects.create(user=user, key_hash=hash_token(raw), prefix=raw[:8], label=label[:60])
    return raw


def revoke_api_token(*, raw_token: str) -> bool:
    return ApiToken.objects.filter(key_hash=hash_token(raw_token)).delete()[0] > 0


def _check_username_free(username: str) -> str:
    username = username.strip()
    if not username:
        raise ValidationError(_("The user name is missing."), code="username_missing")
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(
            _("The user name %(name)s is taken.") % {"name": username}, code="username_taken"
        )
    return username


@transaction.atomic
def create_cadre_account(
    *, actor: Any, username: str, full_name: str, password: str, org: Org | None = None
) -> Any:
    """A new account for a cadre who will hold a role at `org` (granted separately by
    orgs.services.grant_role); the audit entry belongs to that org's subtree."""
    if org is not None:
        scoping.require(actor, Perm.ROLE_MANAGE, org)
    elif not scoping.is_unrestricted(actor):
        raise PermissionDenied
    username = _check_username_free(username)
    user = User(username=username, first_name=full_name.strip()[:150])
    validate_password(password, user)
    user.set_password(password)
    user.save()
    record(
        actor=actor, action=AuditAction.CREATE, target=user, org=org, after={"username": username}
    )
    return user


@transaction.atomic
def create_worker_account(*, actor: Any, member: Member, username: str, password: str) -> Any:
    """An account for a worker, linked to their member record: they see only their own data."""
    scoping.require(actor, Perm.MEMBER_CHANGE, member.unit)
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.user_id is not None:
        raise ValidationError(_("This member already has an account."), code="account_exists")
    username = _check_username_free(username)
    user = User(username=username, first_name=member.name)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    member.user = user
    member.save(update_fields=["user"])
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=user,
        org=member.unit,
        summary=_("Worker account for %(name)s") % {"name": member.name},
        after={"username": username},
    )
    return user


def notify(*, users: list[Any], title: str, body: str = "", link: str = "") -> int:
    """Put a message in each user's inbox, and send it by email when email is configured
    (GONGHUI_EMAIL_NOTIFICATIONS) and the user has an address. Returns the inbox count."""
    from django.conf import settings
    from django.core.mail import send_mass_mail

    from gonghui.accounts.models import Notification

    users = [u for u in users if u is not None]
    Notification.objects.bulk_create(
        [Notification(user=u, title=title[:200], body=body, link=link[:300]) for u in users]
    )
    if getattr(settings, "GONGHUI_EMAIL_NOTIFICATIONS", False):
        messages = [(title, f"{body}\n\n{link}".strip(), None, [u.email]) for u in users if u.email]
        if messages:
            send_mass_mail(messages, fail_silently=True)
    return len(users)
