"""State changes of the union tree, its members and roles.

Each function is one transaction, checks the actor's permission on the orgs it touches,
and writes the audit log. Views, the API, imports and commands call these; nothing else
writes Org, Member, MemberTransfer or Role rows.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from gonghui.audit.models import AuditAction
from gonghui.audit.services import record, snapshot
from gonghui.core.errors import ConcurrentEditError
from gonghui.orgs import figures, scoping
from gonghui.orgs.identity import normalise_phone, parse_id_number, protect_id_number
from gonghui.orgs.models import (
    ALLOWED_CHILD_KINDS,
    ANCESTOR_FIELDS,
    MAX_DEPTH,
    MEMBER_UNIT_KINDS,
    PATH_SEGMENT_WIDTH,
    Member,
    MemberEvent,
    MemberEventKind,
    MemberSource,
    MemberStatus,
    MemberTransfer,
    Org,
    OrgKind,
    OrgStatus,
    Role,
    RoleKind,
    TransferStatus,
    ancestor_field,
)
from gonghui.orgs.scoping import Perm
from gonghui.orgs.search import pinyin_keys
from gonghui.stats import services as stats

ORG_AUDIT_FIELDS = ["name", "code", "kind", "parent", "status", "industry", "address"]
MEMBER_AUDIT_FIELDS = [
    "name",
    "unit",
    "id_number_masked",
    "phone",
    "ethnicity",
    "education",
    "job",
    "is_migrant_worker",
    "joined_on",
    "status",
    "left_on",
    "left_reason",
]


# --- the tree ---------------------------------------------------------------------------


def tree_fields(ancestor_ids: Sequence[int]) -> dict[str, Any]:
    """path, depth and ancestor columns of an org whose root-to-self ids are given."""
    depth = len(ancestor_ids) - 1
    if depth >= MAX_DEPTH:
        raise ValidationError(
            _("The union tree may be at most %(n)d levels deep.") % {"n": MAX_DEPTH},
            code="too_deep",
        )
    fields: dict[str, Any] = {
        "depth": depth,
        "path": "".join(f"{i:0{PATH_SEGMENT_WIDTH}d}." for i in ancestor_ids),
    }
    for d, name in enumerate(ANCESTOR_FIELDS):
        fields[name] = ancestor_ids[d] if d <= depth else None
    return fields


def check_child_kind(parent: Org | None, kind: str) -> None:
    if kind not in OrgKind.values:
        raise ValidationError(_("Unknown kind of union: %(kind)s.") % {"kind": kind}, code="kind")
    if parent is None:
        return
    if kind not in ALLOWED_CHILD_KINDS[parent.kind]:
        raise ValidationError(
            _("A %(kind)s cannot be placed under a %(parent_kind)s.")
            % {
                "kind": OrgKind(kind).label,
                "parent_kind": OrgKind(parent.kind).label,
            },
            code="kind_not_allowed",
        )


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError(_("The name is missing."), code="name_missing")
    if len(name) > 120:
        raise ValidationError(_("The name is longer than 120 characters."), code="name_length")
    return name


def _check_code_free(code: str, *, exclude_pk: int | None = None) -> str:
    code = (code or "").strip()
    if not code:
        raise ValidationError(_("The code is missing."), code="code_missing")
    if len(code) > 32:
        raise ValidationError(_("The code is longer than 32 characters."), code="code_length")
    clashes = Org.objects.filter(code=code)
    if exclude_pk is not None:
        clashes = clashes.exclude(pk=exclude_pk)
    if clashes.exists():
        raise ValidationError(
            _("The code %(code)s is already used by another union.") % {"code": code},
            code="code_taken",
        )
    return code


def _lock(org: Org) -> Org:
    return Org.objects.select_for_update().get(pk=org.pk)


@transaction.atomic
def create_org(
    *,
    actor: Any,
    parent: Org | None,
    name: str,
    code: str,
    kind: str,
    industry: str = "",
    division_code: str = "",
    address: str = "",
) -> Org:
    if parent is None:
        if not scoping.is_unrestricted(actor):
            raise PermissionDenied
    else:
        scoping.require(actor, Perm.ORG_CHANGE, parent)
        parent = _lock(parent)
        if not parent.is_active:
            raise ValidationError(
                _("%(org)s has been dissolved.") % {"org": parent.name}, code="dissolved"
            )
    name = _clean_name(name)
    code = _check_code_free(code)
    check_child_kind(parent, kind)
    full, initials = pinyin_keys(name)
    org = Org(
        parent=parent,
        name=name,
        code=code,
        kind=kind,
        industry=industry,
        division_code=division_code,
        address=address.strip(),
        name_pinyin=full,
        name_initials=initials,
        depth=0 if parent is None else parent.depth + 1,
        path="",
    )
    if parent is not None and org.depth >= MAX_DEPTH:
        tree_fields([*parent.ancestor_ids, 0])  # raises the depth error
    org.full_clean(exclude=["path", "parent"])
    org.save()
    fields = tree_fields([*(parent.ancestor_ids if parent else []), org.pk])
    Org.objects.filter(pk=org.pk).update(**fields)
    for key, value in fields.items():
        setattr(org, key, value)
    figures.record_org_created(org)
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=org,
        org=org,
        after=snapshot(org, ORG_AUDIT_FIELDS),
    )
    return org


@transaction.atomic
def update_org(
    *,
    actor: Any,
    org: Org,
    version: int,
    name: str,
    code: str | None = None,
    industry: str | None = None,
    address: str | None = None,
) -> Org:
    """Rename or edit an org. `version` is what the editor started from: a stale edit is
    refused instead of silently overwriting somebody else's change."""
    scoping.require(actor, Perm.ORG_CHANGE, org)
    org = _lock(org)
    if org.version != version:
        raise ConcurrentEditError(
            _("Somebody else changed this union meanwhile. Reload it and edit again."),
            code="stale",
        )
    before = snapshot(org, ORG_AUDIT_FIELDS)
    org.name = _clean_name(name)
    org.name_pinyin, org.name_initials = pinyin_keys(org.name)
    if code is not None and code != org.code:
        org.code = _check_code_free(code, exclude_pk=org.pk)
    if industry is not None:
        org.industry = industry
    if address is not None:
        org.address = address.strip()
    org.full_clean(exclude=["path", "parent"])
    org.version = F("version") + 1
    org.save()
    org.refresh_from_db()
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=org,
        org=org,
        before=before,
        after=snapshot(org, ORG_AUDIT_FIELDS),
    )
    return org


@transaction.atomic
def move_org(*, actor: Any, org: Org, new_parent: Org) -> Org:
    """Restructure: put `org` and its whole subtree under `new_parent`.

    Rewrites path, depth and ancestor columns of every org in the subtree in this one
    transaction; members stay with their units, so every subtree count follows.
    """
    scoping.require(actor, Perm.ORG_CHANGE, org)
    scoping.require(actor, Perm.ORG_CHANGE, new_parent)
    org = _lock(org)
    new_parent = _lock(new_parent)
    if org.parent_id is None:
        raise ValidationError(_("The root of the tree cannot be moved."), code="move_root")
    if new_parent.is_descendant_of(org):
        raise ValidationError(
            _("A union cannot be moved under itself or under a union below it."),
            code="move_into_own_subtree",
        )
    if not new_parent.is_active:
        raise ValidationError(
            _("%(org)s has been dissolved.") % {"org": new_parent.name}, code="dissolved"
        )
    if new_parent.pk == org.parent_id:
        return org
    check_child_kind(new_parent, org.kind)
    old_parent_name = org.parent.name if org.parent else ""
    subtree = list(
        Org.objects.select_for_update()
        .filter(**{ancestor_field(org.depth): org.pk})
        .only("id", "depth", "path", *ANCESTOR_FIELDS)
    )
    deepest = max(o.depth for o in subtree)
    if new_parent.depth + 1 + (deepest - org.depth) >= MAX_DEPTH:
        raise ValidationError(
            _("The union tree may be at most %(n)d levels deep.") % {"n": MAX_DEPTH},
            code="too_deep",
        )
    old_chain = org.ancestor_ids[:-1]
    stats.prepare_move()
    head = new_parent.ancestor_ids
    for node in subtree:
        fields = tree_fields([*head, *node.ancestor_ids[org.depth :]])
        for key, value in fields.items():
            setattr(node, key, value)
    Org.objects.bulk_update(subtree, ["depth", "path", *ANCESTOR_FIELDS], batch_size=1000)
    Org.objects.filter(pk=org.pk).update(parent=new_parent, version=F("version") + 1)
    org.refresh_from_db()
    stats.shift_subtree(org=org, old_chain=old_chain, new_chain=head)
    record(
        actor=actor,
        action=AuditAction.MOVE,
        target=org,
        org=org,
        summary=_("Moved with %(n)d unions below it.") % {"n": len(subtree) - 1},
        before={"parent": old_parent_name},
        after={"parent": new_parent.name},
    )
    return org


@transaction.atomic
def dissolve_org(
    *,
    actor: Any,
    org: Org,
    reason: str,
    transfer_members_to: Org | None = None,
    members_leave: bool = False,
) -> Org:
    """Dissolve (撤销) a union. Its members are moved to another unit or marked as left,
    explicitly; a union with active unions below it must have them moved or dissolved first."""
    scoping.require(actor, Perm.ORG_CHANGE, org)
    org = _lock(org)
    if not org.is_active:
        raise ValidationError(_("This union is already dissolved."), code="dissolved")
    if org.parent_id is None:
        raise ValidationError(_("The root of the tree cannot be dissolved."), code="root")
    if not reason.strip():
        raise ValidationError(_("Give a reason for dissolving."), code="reason_missing")
    if org.children.filter(status=OrgStatus.ACTIVE).exists():
        raise ValidationError(
            _("Move or dissolve the unions below %(org)s first.") % {"org": org.name},
            code="has_children",
        )
    members = list(Member.objects.select_for_update().filter(unit=org, status="active"))
    if members:
        if transfer_members_to is not None:
            scoping.require(actor, Perm.MEMBER_CHANGE, transfer_members_to)
            _check_member_unit(transfer_members_to)
            if transfer_members_to.pk == org.pk:
                raise ValidationError(
                    _("Choose another unit to take the members."), code="same_unit"
                )
            _move_members(members, org, transfer_members_to)
        elif members_leave:
            today = timezone.localdate()
            Member.objects.filter(pk__in=[m.pk for m in members]).update(
                status=MemberStatus.LEFT,
                left_on=today,
                left_reason=_("Union dissolved: %(reason)s") % {"reason": reason.strip()},
                version=F("version") + 1,
            )
            figures.record_member_events(
                [
                    MemberEvent(member=m, unit=org, kind=MemberEventKind.LEFT, day=today)
                    for m in members
                ]
            )
        else:
            raise ValidationError(
                _(
                    "%(org)s still has %(n)d members. Transfer them to another unit "
                    "or mark them as left."
                )
                % {"org": org.name, "n": len(members)},
                code="has_members",
            )
        MemberTransfer.objects.filter(member__in=members, status=TransferStatus.PENDING).update(
            status=TransferStatus.CANCELLED, decided_at=timezone.now()
        )
    # Transfers waiting to come into a dissolved union can never be accepted.
    MemberTransfer.objects.filter(to_unit=org, status=TransferStatus.PENDING).update(
        status=TransferStatus.CANCELLED,
        decided_at=timezone.now(),
        decided_by=scoping.as_user(actor),
        decision_note=_("The receiving union was dissolved."),
    )
    Org.objects.filter(pk=org.pk).update(
        status=OrgStatus.DISSOLVED, dissolved_at=timezone.now(), version=F("version") + 1
    )
    org.refresh_from_db()
    figures.record_org_dissolved(org)
    record(
        actor=actor,
        action=AuditAction.DISSOLVE,
        target=org,
        org=org,
        summary=reason.strip(),
        before={"status": OrgStatus.ACTIVE, "members": len(members)},
        after={
            "status": OrgStatus.DISSOLVED,
            "members_to": transfer_members_to.name if transfer_members_to else None,
        },
    )
    return org


@transaction.atomic
def delete_org(*, actor: Any, org: Org) -> None:
    """Delete a union created by mistake: only one that never had members or children."""
    scoping.require(actor, Perm.ORG_CHANGE, org)
    org = _lock(org)
    if org.parent_id is None:
        raise ValidationError(_("The root of the tree cannot be deleted."), code="root")
    if Org.objects.filter(parent=org).exists():
        raise ValidationError(
            _("A union with unions below it cannot be deleted."), code="has_children"
        )
    if (
        Member.objects.filter(unit=org).exists()
        or MemberTransfer.objects.filter(to_unit=org).exists()
    ):
        raise ValidationError(
            _("A union that has or had members cannot be deleted; dissolve it instead."),
            code="has_members",
        )
    parent = org.parent
    record(
        actor=actor,
        action=AuditAction.DELETE,
        target=org,
        org=parent,
        before=snapshot(org, ORG_AUDIT_FIELDS),
    )
    stats.forget_org(org=org)
    org.delete()


# --- members ----------------------------------------------------------------------------


def _check_member_unit(unit: Org) -> None:
    if unit.kind not in MEMBER_UNIT_KINDS:
        raise ValidationError(
            _("Members are registered to a grassroots union, workshop or team, not to a %(kind)s.")
            % {"kind": OrgKind(unit.kind).label},
            code="not_member_unit",
        )
    if not unit.is_active:
        raise ValidationError(
            _("%(org)s has been dissolved.") % {"org": unit.name}, code="dissolved"
        )


def _move_members(members: Iterable[Member], from_unit: Org, to_unit: Org) -> int:
    """Members change unit; their figures (counts, distinct marks) move with them."""
    members = list(members)
    ids = [m.pk for m in members]
    Member.objects.filter(pk__in=ids).update(unit=to_unit, version=F("version") + 1)
    today = timezone.localdate()
    figures.record_member_events(
        [
            MemberEvent(member_id=pk, unit=unit, kind=kind, day=today)
            for pk in ids
            for unit, kind in (
                (from_unit, MemberEventKind.TRANSFERRED_OUT),
                (to_unit, MemberEventKind.TRANSFERRED_IN),
            )
        ]
    )
    for pk in ids:
        stats.move_distinct_keys(key=pk, to_org_id=to_unit.pk)
    return len(ids)


def duplicate_member_error(existing: Member, actor: Any) -> ValidationError:
    """The refusal for an ID number that is already registered, naming the member when the
    actor may see them and saying only that they belong elsewhere otherwise."""
    if Member.objects.restrict(actor, Perm.MEMBER_VIEW).filter(pk=existing.pk).exists():
        return ValidationError(
            _("This ID number is already registered: %(name)s, %(unit)s.")
            % {"name": existing.name, "unit": existing.unit.name},
            code="duplicate_id",
        )
    return ValidationError(
        _(
            "This ID number is already registered to a member of a union outside your "
            "scope; that union must transfer the member."
        ),
        code="duplicate_id",
    )


def _check_joined_on(joined_on: datetime.date | None, birth_date: datetime.date) -> None:
    if joined_on is None:
        return
    if joined_on > timezone.localdate():
        raise ValidationError(
            _("The date of joining cannot be in the future."), code="joined_in_future"
        )
    if joined_on < birth_date:
        raise ValidationError(
            _("The date of joining is before the date of birth."), code="joined_before_birth"
        )


def _clean_member_name(name: str) -> str:
    name = "".join((name or "").split())
    if not name:
        raise ValidationError(_("The name is missing."), code="name_missing")
    if len(name) > 50:
        raise ValidationError(_("The name is longer than 50 characters."), code="name_length")
    return name


@transaction.atomic
def register_member(
    *,
    actor: Any,
    unit: Org,
    name: str,
    id_number: str,
    phone: str = "",
    ethnicity: str = "",
    education: str = "",
    job: str = "",
    is_migrant_worker: bool = False,
    joined_on: datetime.date | None = None,
    source: str = MemberSource.MANUAL,
) -> Member:
    """Register a worker as a member of `unit`.

    An ID number that belongs to a member who left rejoins that record in `unit`; one that
    belongs to an active member is refused with the member named.
    """
    scoping.require(actor, Perm.MEMBER_CHANGE, unit)
    unit = _lock(unit)
    _check_member_unit(unit)
    name = _clean_member_name(name)
    ident = parse_id_number(id_number)
    phone = normalise_phone(phone)
    _check_joined_on(joined_on, ident.birth_date)
    stored = protect_id_number(ident.value)
    existing = Member.objects.select_for_update().filter(id_number_hash=stored.lookup_hash).first()
    if existing is not None:
        if existing.is_active:
            raise duplicate_member_error(existing, actor)
        before = snapshot(existing, MEMBER_AUDIT_FIELDS)
        old_unit = existing.unit
        existing.unit = unit
        existing.name = name
        existing.name_pinyin, existing.name_initials = pinyin_keys(name)
        existing.phone = phone or existing.phone
        existing.ethnicity = ethnicity or existing.ethnicity
        existing.education = education or existing.education
        existing.job = job or existing.job
        existing.is_migrant_worker = is_migrant_worker
        existing.joined_on = joined_on or timezone.localdate()
        existing.status = MemberStatus.ACTIVE
        existing.left_on = None
        existing.left_reason = ""
        existing.version = F("version") + 1
        existing.save()
        existing.refresh_from_db()
        figures.record_member_event(
            member_id=existing.pk,
            unit_id=unit.pk,
            kind=MemberEventKind.JOINED,
            day=existing.joined_on,
        )
        stats.move_distinct_keys(key=existing.pk, to_org_id=unit.pk)
        record(
            actor=actor,
            action=AuditAction.UPDATE,
            target=existing,
            org=unit,
            summary=_("Rejoined, previously of %(unit)s.") % {"unit": old_unit.name},
            before=before,
            after=snapshot(existing, MEMBER_AUDIT_FIELDS),
        )
        return existing
    full, initials = pinyin_keys(name)
    member = Member(
        unit=unit,
        name=name,
        name_pinyin=full,
        name_initials=initials,
        gender=ident.gender,
        birth_date=ident.birth_date,
        id_number_cipher=stored.cipher,
        id_number_hash=stored.lookup_hash,
        id_number_masked=stored.masked,
        id_number_tail=stored.tail,
        phone=phone,
        ethnicity=ethnicity.strip(),
        education=education,
        job=job.strip(),
        is_migrant_worker=is_migrant_worker,
        joined_on=joined_on or timezone.localdate(),
        source=source,
    )
    member.full_clean(exclude=["unit", "user", "id_number_hash"])
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError:
        # Another request registered the same ID number a moment ago.
        raise duplicate_member_error(
            Member.objects.get(id_number_hash=stored.lookup_hash), actor
        ) from None
    figures.record_member_event(
        member_id=member.pk,
        unit_id=unit.pk,
        kind=MemberEventKind.JOINED,
        day=member.joined_on or timezone.localdate(),
    )
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=member,
        org=unit,
        after=snapshot(member, MEMBER_AUDIT_FIELDS),
    )
    return member


@transaction.atomic
def update_member(
    *,
    actor: Any,
    member: Member,
    version: int,
    name: str,
    phone: str = "",
    ethnicity: str = "",
    education: str = "",
    job: str = "",
    is_migrant_worker: bool = False,
    joined_on: datetime.date | None = None,
    id_number: str | None = None,
) -> Member:
    """Edit a member's details (not the unit: that is a transfer). A stale edit is refused."""
    scoping.require(actor, Perm.MEMBER_CHANGE, member.unit)
    member = Member.objects.select_for_update().select_related("unit").get(pk=member.pk)
    scoping.require(actor, Perm.MEMBER_CHANGE, member.unit)  # it may have moved meanwhile
    if member.version != version:
        raise ConcurrentEditError(
            _("Somebody else changed this member meanwhile. Reload and edit again."),
            code="stale",
        )
    before = snapshot(member, MEMBER_AUDIT_FIELDS)
    member.name = _clean_member_name(name)
    member.name_pinyin, member.name_initials = pinyin_keys(member.name)
    member.phone = normalise_phone(phone)
    member.ethnicity = ethnicity.strip()
    member.education = education
    member.job = job.strip()
    member.is_migrant_worker = is_migrant_worker
    member.joined_on = joined_on
    if id_number:
        ident = parse_id_number(id_number)
        stored = protect_id_number(ident.value)
        if stored.lookup_hash != member.id_number_hash:
            clash = Member.objects.filter(id_number_hash=stored.lookup_hash).first()
            if clash is not None:
                raise duplicate_member_error(clash, actor)
            member.id_number_cipher = stored.cipher
            member.id_number_hash = stored.lookup_hash
            member.id_number_masked = stored.masked
            member.id_number_tail = stored.tail
            member.gender = ident.gender
            member.birth_date = ident.birth_date
    _check_joined_on(joined_on, member.birth_date)
    member.full_clean(exclude=["unit", "user", "id_number_hash"])
    member.version = F("version") + 1
    member.save()
    member.refresh_from_db()
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=member,
        org=member.unit,
        before=before,
        after=snapshot(member, MEMBER_AUDIT_FIELDS),
    )
    return member


@transaction.atomic
def mark_member_left(
    *, actor: Any, member: Member, reason: str, left_on: datetime.date | None = None
) -> Member:
    scoping.require(actor, Perm.MEMBER_CHANGE, member.unit)
    member = Member.objects.select_for_update().select_related("unit").get(pk=member.pk)
    scoping.require(actor, Perm.MEMBER_CHANGE, member.unit)  # it may have moved meanwhile
    if not member.is_active:
        raise ValidationError(_("This member has already left."), code="already_left")
    before = snapshot(member, MEMBER_AUDIT_FIELDS)
    member.status = MemberStatus.LEFT
    member.left_on = left_on or timezone.localdate()
    member.left_reason = reason.strip()[:200]
    member.version = F("version") + 1
    member.save()
    member.refresh_from_db()
    figures.record_member_event(
        member_id=member.pk, unit_id=member.unit_id, kind=MemberEventKind.LEFT, day=member.left_on
    )
    MemberTransfer.objects.filter(member=member, status=TransferStatus.PENDING).update(
        status=TransferStatus.CANCELLED,
        decided_at=timezone.now(),
        decided_by=scoping.as_user(actor),
    )
    record(
        actor=actor,
        action=AuditAction.LEAVE,
        target=member,
        org=member.unit,
        summary=member.left_reason,
        before=before,
        after=snapshot(member, MEMBER_AUDIT_FIELDS),
    )
    return member


# --- transfers (会员接转) -----------------------------------------------------------------


@transaction.atomic
def request_transfer(
    *, actor: Any, member: Member, to_unit: Org, reason: str = ""
) -> MemberTransfer:
    """The sending union starts a transfer. If the actor may also change members of the
    receiving unit (both are in their subtree), the transfer is accepted at once."""
    scoping.require(actor, Perm.MEMBER_CHANGE, member.unit)
    member = Member.objects.select_for_update().select_related("unit").get(pk=member.pk)
    scoping.require(actor, Perm.MEMBER_CHANGE, member.unit)  # it may have moved meanwhile
    if not member.is_active:
        raise ValidationError(_("Only an active member can be transferred."), code="not_active")
    _check_member_unit(to_unit)
    if to_unit.pk == member.unit_id:
        raise ValidationError(
            _("The member already belongs to %(unit)s.") % {"unit": to_unit.name},
            code="same_unit",
        )
    if MemberTransfer.objects.filter(member=member, status=TransferStatus.PENDING).exists():
        raise ValidationError(
            _("A transfer of this member is already waiting to be accepted."),
            code="transfer_pending",
        )
    transfer = MemberTransfer.objects.create(
        member=member,
        from_unit=member.unit,
        to_unit=to_unit,
        reason=reason.strip()[:200],
        requested_by=scoping.as_user(actor),
    )
    record(
        actor=actor,
        action=AuditAction.TRANSFER,
        target=member,
        org=member.unit,
        summary=_("Transfer requested: %(from)s → %(to)s")
        % {"from": member.unit.name, "to": to_unit.name},
    )
    if scoping.can(actor, Perm.MEMBER_CHANGE, to_unit):
        transfer = accept_transfer(actor=actor, transfer=transfer)
    return transfer


def _lock_pending(transfer: MemberTransfer) -> MemberTransfer:
    transfer = (
        MemberTransfer.objects.select_for_update()
        .select_related("member", "from_unit", "to_unit")
        .get(pk=transfer.pk)
    )
    if transfer.status != TransferStatus.PENDING:
        raise ValidationError(
            _("This transfer has already been decided (%(status)s).")
            % {"status": transfer.get_status_display()},
            code="not_pending",
        )
    return transfer


@transaction.atomic
def accept_transfer(*, actor: Any, transfer: MemberTransfer, note: str = "") -> MemberTransfer:
    scoping.require(actor, Perm.MEMBER_CHANGE, transfer.to_unit)
    transfer = _lock_pending(transfer)
    member = Member.objects.select_for_update().get(pk=transfer.member_id)
    if not member.is_active or member.unit_id != transfer.from_unit_id:
        raise ValidationError(
            _("The member is no longer in %(unit)s; this transfer cannot be accepted.")
            % {"unit": transfer.from_unit.name},
            code="member_moved",
        )
    to_unit = _lock(transfer.to_unit)
    _check_member_unit(to_unit)
    _move_members([member], transfer.from_unit, to_unit)
    transfer.status = TransferStatus.ACCEPTED
    transfer.decided_by = scoping.as_user(actor)
    transfer.decided_at = timezone.now()
    transfer.decision_note = note.strip()[:200]
    transfer.save()
    record(
        actor=actor,
        action=AuditAction.TRANSFER,
        target=member,
        org=to_unit,
        summary=_("Transfer accepted: %(from)s → %(to)s")
        % {"from": transfer.from_unit.name, "to": to_unit.name},
        before={"unit": transfer.from_unit.name},
        after={"unit": to_unit.name},
    )
    return transfer


@transaction.atomic
def reject_transfer(*, actor: Any, transfer: MemberTransfer, note: str) -> MemberTransfer:
    scoping.require(actor, Perm.MEMBER_CHANGE, transfer.to_unit)
    transfer = _lock_pending(transfer)
    if not note.strip():
        raise ValidationError(_("Give a reason for rejecting."), code="reason_missing")
    transfer.status = TransferStatus.REJECTED
    transfer.decided_by = scoping.as_user(actor)
    transfer.decided_at = timezone.now()
    transfer.decision_note = note.strip()[:200]
    transfer.save()
    record(
        actor=actor,
        action=AuditAction.TRANSFER,
        target=transfer.member,
        org=transfer.to_unit,
        summary=_("Transfer rejected: %(note)s") % {"note": transfer.decision_note},
    )
    return transfer


@transaction.atomic
def cancel_transfer(*, actor: Any, transfer: MemberTransfer) -> MemberTransfer:
    scoping.require(actor, Perm.MEMBER_CHANGE, transfer.from_unit)
    transfer = _lock_pending(transfer)
    transfer.status = TransferStatus.CANCELLED
    transfer.decided_by = scoping.as_user(actor)
    transfer.decided_at = timezone.now()
    transfer.save()
    record(
        actor=actor,
        action=AuditAction.TRANSFER,
        target=transfer.member,
        org=transfer.from_unit,
        summary=_("Transfer cancelled"),
    )
    return transfer


# --- roles ------------------------------------------------------------------------------


@transaction.atomic
def grant_role(
    *,
    actor: Any,
    user: Any,
    org: Org,
    kind: str,
    org_only: bool = False,
    may_export_personal_data: bool = False,
) -> Role:
    scoping.require(actor, Perm.ROLE_MANAGE, org)
    if kind not in RoleKind.values:
        raise ValidationError(_("Unknown role: %(kind)s.") % {"kind": kind}, code="role_kind")
    # Nobody hands out a permission they do not hold themselves: a role that reaches the
    # unions below `org` needs the granter's own role to reach them too (otherwise an
    # org-only administrator could widen a role, even their own, to the whole subtree).
    holds = scoping.can if org_only else scoping.can_in_subtree
    if not holds(actor, Perm.ROLE_MANAGE, org):
        raise PermissionDenied(
            _("Your role covers only %(org)s, so you may grant only roles limited to it.")
            % {"org": org.name}
        )
    if may_export_personal_data and not holds(actor, Perm.MEMBER_EXPORT_PERSONAL, org):
        raise PermissionDenied(
            _("You may not grant the export of personal data, as you do not hold it.")
        )
    if not org.is_active:
        raise ValidationError(
            _("%(org)s has been dissolved.") % {"org": org.name}, code="dissolved"
        )
    role, created = Role.objects.get_or_create(
        user=user,
        org=org,
        kind=kind,
        defaults={
            "org_only": org_only,
            "may_export_personal_data": may_export_personal_data,
            "granted_by": scoping.as_user(actor),
        },
    )
    if not created:
        role.org_only = org_only
        role.may_export_personal_data = may_export_personal_data
        role.save(update_fields=["org_only", "may_export_personal_data"])
    scoping.forget_grants(user)
    record(
        actor=actor,
        action=AuditAction.GRANT,
        target=role,
        org=org,
        after={
            "user": user.get_username(),
            "kind": kind,
            "org_only": org_only,
            "may_export_personal_data": may_export_personal_data,
        },
    )
    return role


@transaction.atomic
def revoke_role(*, actor: Any, role: Role) -> None:
    scoping.require(actor, Perm.ROLE_MANAGE, role.org)
    if not role.org_only and not scoping.can_in_subtree(actor, Perm.ROLE_MANAGE, role.org):
        # A role reaching the units below is revoked only by someone whose role reaches them.
        raise PermissionDenied
    if role.user_id == getattr(actor, "pk", None) and role.kind == RoleKind.ADMIN:
        # Keeps a federation from locking itself out by accident.
        raise ValidationError(_("You cannot revoke your own administrator role."), code="own_role")
    record(
        actor=actor,
        action=AuditAction.REVOKE,
        target=role,
        org=role.org,
        before={"user": role.user.get_username(), "kind": role.kind, "org_only": role.org_only},
    )
    scoping.forget_grants(role.user)
    role.delete()
