"""Accounts: API tokens, cadre accounts and worker accounts linked to member records."""

from __future__ import annotations

import atexit
import datetime
import logging
import math
import threading
import time
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
    return notify_each([(users, title, body, link)])[0]


def notify_each(messages: list[tuple[list[Any], str, str, str]]) -> list[int]:
    """`notify` for many messages (users, title, body, link) at once: one insert, one
    batch of email. Returns each message's inbox count."""
    from django.conf import settings
    from django.core.mail import send_mass_mail

    from gonghui.accounts.models import Notification

    inbox: list[Notification] = []
    mail: list[tuple[str, str, None, list[str]]] = []
    counts = []
    for users, title, body, link in messages:
        users = [u for u in users if u is not None]
        inbox += [
            Notification(user=u, title=title[:200], body=body, link=link[:300]) for u in users
        ]
        mail += [(title, f"{body}\n\n{link}".strip(), None, [u.email]) for u in users if u.email]
        counts.append(len(users))
    Notification.objects.bulk_create(inbox, batch_size=2000)
    if mail and getattr(settings, "GONGHUI_EMAIL_NOTIFICATIONS", False):
        send_mass_mail(mail, fail_silently=True)
    return counts


# --- a token's last use -------------------------------------------------------------------

# A token's last use (in the admin: which tokens are still in use) is kept to the hour:
# writing it on every request would cost each request of a burst a second commit.
TOKEN_USE_PRECISION = datetime.timedelta(hours=1)
# Within a burst, the uses a process sees are written together, at most once this often.
TOKEN_USE_FLUSH_SECONDS = 1.0


class _TokenUses:
    """Tokens whose last use is due to be written, per process. The first due use after a
    quiet second is written at once (so a lone request is exact); those that follow within
    the second wait for the next request after it, or for the process's exit, and are
    written in one UPDATE — in a crowd's check-in burst, most first requests of a token."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[int, datetime.datetime] = {}
        self.flushed_at = -math.inf

    def note(self, token_id: int, now: datetime.datetime) -> None:
        with self.lock:
            self.pending[token_id] = now
        self.flush(force=False)

    def flush(self, *, force: bool = True) -> int:
        with self.lock:
            clock = time.monotonic()
            if not self.pending or (
                not force and clock - self.flushed_at < TOKEN_USE_FLUSH_SECONDS
            ):
                return 0
            taken, self.pending = self.pending, {}
            self.flushed_at = clock
        # Each token gets the latest use seen: the precision is an hour, not a second.
        ApiToken.objects.filter(pk__in=list(taken)).update(last_used_at=max(taken.values()))
        return len(taken)


token_uses = _TokenUses()


def _flush_token_uses_at_exit() -> None:
    if not token_uses.pending:
        return
    try:
        token_uses.flush()
    except Exception:  # the database may be gone at exit: the uses are metadata only
        logging.getLogger(__name__).warning("token uses not written at exit", exc_info=True)


atexit.register(_flush_token_uses_at_exit)


def record_token_use(token: ApiToken, now: datetime.datetime) -> None:
    """`token` authenticated a request at `now`: keep its last use, to the hour."""
    if token.last_used_at is None or now - token.last_used_at > TOKEN_USE_PRECISION:
        token_uses.note(token.pk, now)
    elif token_uses.pending:  # any request after the second writes what waits
        token_uses.flush(force=False)
