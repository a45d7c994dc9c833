"""Excel exports of unions and members; every export is written to the audit log, and one
with personal data (full ID and phone numbers) needs its own permission."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.utils.translation import gettext as _

from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.core.xlsx import Sheet
from gonghui.orgs import scoping, selectors
from gonghui.orgs.identity import decrypt_id_number
from gonghui.orgs.models import (
    Education,
    Gender,
    Industry,
    Member,
    MemberStatus,
    Org,
    OrgKind,
    OrgStatus,
    ancestor_field,
)
from gonghui.orgs.scoping import Perm


def org_sheet(user: Any, org: Org) -> Sheet:
    """Every union the user may see in `org`'s subtree, with subtree member counts."""
    orgs = (
        selectors.subtree(org)
        .filter(scoping.scope_q(user, Perm.ORG_VIEW))
        .select_related("parent")
        .order_by("path")
    )
    record(
        actor=user,
        action=AuditAction.EXPORT,
        target=org,
        org=org,
        summary=_("Exported the unions of the subtree"),
    )
    direct, totals = _member_counts(org)

    def rows() -> Iterator[list[Any]]:
        for o in orgs.iterator(chunk_size=2000):
            yield [
                o.name,
                o.code,
                OrgKind(o.kind).label,
                o.parent.name if o.parent else "",
                o.parent.code if o.parent else "",
                Industry(o.industry).label if o.industry else "",
                o.address,
                direct.get(o.pk, 0),
                totals.get(o.pk, 0),
                OrgStatus(o.status).label,
            ]

    return Sheet(
        title=_("Unions"),
        headers=[
            _("Name"),
            _("Code"),
            _("Kind"),
            _("Parent union"),
            _("Parent code"),
            _("Industry"),
            _("Address"),
            _("Members registered here"),
            _("Members in subtree"),
            _("Status"),
        ],
        rows=rows(),
    )


def _member_counts(org: Org) -> tuple[dict[int, int], dict[int, int]]:
    """(members registered directly, members in the subtree) of every org below `org`:
    one grouped count of the members, then sums bottom-up in memory."""
    direct = dict(
        Member.objects.filter(
            **{f"unit__{ancestor_field(org.depth)}": org.pk}, status=MemberStatus.ACTIVE
        )
        .values_list("unit_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    nodes = list(selectors.subtree(org).values_list("id", "parent_id", "depth"))
    totals = {pk: direct.get(pk, 0) for pk, _parent, _depth in nodes}
    for pk, parent_id, _depth in sorted(nodes, key=lambda n: -n[2]):
        if pk != org.pk and parent_id in totals:
            totals[parent_id] += totals[pk]
    return direct, totals


def member_sheet(user: Any, org: Org, *, personal: bool) -> Sheet:
    """Active members in `org`'s subtree that the user may see. With `personal`, full ID
    and phone numbers (permission checked here as well as in the view)."""
    if personal and not scoping.can(user, Perm.MEMBER_EXPORT_PERSONAL, org):
        raise PermissionDenied
    members = selectors.members_in_scope(user, org=org, status=MemberStatus.ACTIVE)
    if personal:
        # Only members the personal-data grant itself covers: an org-only grant at `org`
        # does not reach its workshops, even when another role lets the user see them.
        members = members.filter(scoping.scope_q(user, Perm.MEMBER_EXPORT_PERSONAL, "unit"))
    members = members.select_related("unit").order_by("unit__path", "name", "id")
    record(
        actor=user,
        action=AuditAction.EXPORT,
        target=org,
        org=org,
        summary=(
            _("Exported members WITH personal data (ID and phone numbers)")
            if personal
            else _("Exported members (masked)")
        ),
    )

    def rows() -> Iterator[list[Any]]:
        for m in members.iterator(chunk_size=2000):
            yield [
                m.name,
                Gender(m.gender).label,
                m.birth_date,
                decrypt_id_number(m.id_number_cipher) if personal else m.id_number_masked,
                m.unit.name,
                m.unit.code,
                m.phone if personal else m.phone_masked,
                m.ethnicity,
                Education(m.education).label if m.education else "",
                m.job,
                _("yes") if m.is_migrant_worker else _("no"),
                m.joined_on,
            ]

    return Sheet(
        title=_("Members"),
        headers=[
            _("Name"),
            _("Gender"),
            _("Date of birth"),
            _("ID number"),
            _("Unit"),
            _("Unit code"),
            _("Mobile phone"),
            _("Ethnic group"),
            _("Education"),
            _("Post or trade"),
            _("Migrant worker"),
            _("Joined the union on"),
        ],
        rows=rows(),
    )
