"""API of the union tree, members and transfers: thin callers of services and selectors."""

import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from gonghui.orgs import selectors, services
from gonghui.orgs.models import Member, MemberTransfer, Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404

orgs_router = Router(tags=["orgs"])
members_router = Router(tags=["members"])
transfers_router = Router(tags=["transfers"])


# --- schemas ----------------------------------------------------------------------------


class OrgOut(Schema):
    id: int
    name: str
    code: str
    kind: str
    status: str
    parent_id: int | None
    depth: int
    industry: str
    address: str
    version: int


class OrgWithCountsOut(OrgOut):
    subtree_members: int = Field(description="Active members in the whole subtree")
    subtree_orgs: int = Field(description="Active orgs in the subtree, itself included")


class OrgDetailOut(OrgOut):
    member_count: int = Field(description="Active members registered directly to this org")
    subtree_members: int
    path: list[OrgOut] = Field(description="From the root down to this org")


class OrgCreateIn(Schema):
    name: str
    code: str
    kind: str
    industry: str = ""
    address: str = ""


class OrgUpdateIn(Schema):
    version: int
    name: str
    code: str | None = None
    industry: str | None = None
    address: str | None = None


class OrgMoveIn(Schema):
    new_parent_id: int


class OrgDissolveIn(Schema):
    reason: str
    transfer_members_to_id: int | None = None
    members_leave: bool = False


class TreeNodeOut(Schema):
    id: int
    name: str
    kind: str
    member_count: int = Field(description="Active members in this node's subtree")
    children: list["TreeNodeOut"]


TreeNodeOut.model_rebuild()


class MemberOut(Schema):
    id: int
    name: str
    unit_id: int
    unit_name: str
    gender: str
    birth_date: datetime.date
    id_number: str = Field(description="Masked, e.g. 5101**********123X")
    phone: str = Field(description="Masked, e.g. 138****5678")
    ethnicity: str
    education: str
    job: str
    is_migrant_worker: bool
    joined_on: datetime.date | None
    status: str
    left_on: datetime.date | None
    version: int


class MemberIn(Schema):
    name: str
    id_number: str
    phone: str = ""
    ethnicity: str = ""
    education: str = ""
    job: str = ""
    is_migrant_worker: bool = False
    joined_on: datetime.date | None = None


class MemberUpdateIn(Schema):
    version: int
    name: str
    phone: str = ""
    ethnicity: str = ""
    education: str = ""
    job: str = ""
    is_migrant_worker: bool = False
    joined_on: datetime.date | None = None
    id_number: str | None = None


class MemberLeaveIn(Schema):
    reason: str
    left_on: datetime.date | None = None


class TransferIn(Schema):
    to_unit_code: str
    reason: str = ""


class DecisionIn(Schema):
    note: str = ""


class TransferOut(Schema):
    id: int
    member_id: int
    member_name: str
    from_unit_id: int
    from_unit_name: str
    to_unit_id: int
    to_unit_name: str
    status: str
    reason: str
    requested_at: datetime.datetime
    decided_at: datetime.datetime | None
    decision_note: str


class TransferListOut(Schema):
    incoming: list[TransferOut]
    outgoing: list[TransferOut]


class MemberFilter(Schema):
    org_id: int | None = None
    q: str = ""
    status: str | None = "active"


def member_out(m: Member) -> dict[str, Any]:
    return {
        "id": m.pk,
        "name": m.name,
        "unit_id": m.unit_id,
        "unit_name": m.unit.name,
        "gender": m.gender,
        "birth_date": m.birth_date,
        "id_number": m.id_number_masked,
        "phone": m.phone_masked,
        "ethnicity": m.ethnicity,
        "education": m.education,
        "job": m.job,
        "is_migrant_worker": m.is_migrant_worker,
        "joined_on": m.joined_on,
        "status": m.status,
        "left_on": m.left_on,
        "version": m.version,
    }


def transfer_out(t: MemberTransfer) -> dict[str, Any]:
    return {
        "id": t.pk,
        "member_id": t.member_id,
        "member_name": t.member.name,
        "from_unit_id": t.from_unit_id,
        "from_unit_name": t.from_unit.name,
        "to_unit_id": t.to_unit_id,
        "to_unit_name": t.to_unit.name,
        "status": t.status,
        "reason": t.reason,
        "requested_at": t.requested_at,
        "decided_at": t.decided_at,
        "decision_note": t.decision_note,
    }


class _PageOf:
    """A queryset for the paginator that converts only the rows of the page it slices."""

    def __init__(self, queryset: Any, convert: Any) -> None:
        self.queryset = queryset
        self.convert = convert

    def __len__(self) -> int:
        return self.queryset.count()

    def __getitem__(self, index: slice) -> list[Any]:
        return [self.convert(row) for row in self.queryset[index]]


def _org(request: HttpRequest, org_id: int, perm: str = Perm.ORG_VIEW) -> Org:
    return get_in_scope_or_404(Org.objects.all(), request.user, perm, pk=org_id)


def _member(request: HttpRequest, member_id: int) -> Member:
    return get_in_scope_or_404(
        Member.objects.select_related("unit"), request.user, Perm.MEMBER_VIEW, pk=member_id
    )


# --- orgs -------------------------------------------------------------------------------


@orgs_router.get("/roots", response=list[OrgOut], summary="The top orgs of the user's scope")
def org_roots(request: HttpRequest):
    return selectors.scope_roots(request.user)


@orgs_router.get("/search", response=list[OrgOut], summary="Search orgs by name, code or pinyin")
@paginate(LimitOffsetPagination)
def org_search(request: HttpRequest, q: str = "", within_id: int | None = None):
    within = _org(request, within_id) if within_id else None
    return selectors.search_orgs(request.user, q, within=within)


@orgs_router.get("/{org_id}", response=OrgDetailOut)
def org_detail(request: HttpRequest, org_id: int):
    org = _org(request, org_id)
    org.subtree_members = selectors.subtree_member_count(org)
    org.path = selectors.breadcrumb(org)
    return org


@orgs_router.get(
    "/{org_id}/children",
    response=list[OrgWithCountsOut],
    summary="Children with the member and org counts of their subtrees",
)
def org_children(request: HttpRequest, org_id: int, include_dissolved: bool = False):
    org = _org(request, org_id)
    return selectors.children_of(org, request.user, include_dissolved=include_dissolved)


@orgs_router.get("/{org_id}/tree", response=TreeNodeOut, summary="A nested subtree")
def org_tree(request: HttpRequest, org_id: int, depth: int = 2):
    org = _org(request, org_id)
    return selectors.subtree_as_tree(org, request.user, depth=min(max(depth, 0), 4))


@orgs_router.post("/{org_id}/children", response={201: OrgOut})
def org_create_child(request: HttpRequest, org_id: int, payload: OrgCreateIn):
    parent = _org(request, org_id)
    return Status(201, services.create_org(actor=request.user, parent=parent, **payload.dict()))


@orgs_router.patch("/{org_id}", response=OrgOut)
def org_update(request: HttpRequest, org_id: int, payload: OrgUpdateIn):
    org = _org(request, org_id)
    return services.update_org(actor=request.user, org=org, **payload.dict())


@orgs_router.post("/{org_id}/move", response=OrgOut)
def org_move(request: HttpRequest, org_id: int, payload: OrgMoveIn):
    org = _org(request, org_id)
    new_parent = _org(request, payload.new_parent_id)
    return services.move_org(actor=request.user, org=org, new_parent=new_parent)


@orgs_router.post("/{org_id}/dissolve", response=OrgOut)
def org_dissolve(request: HttpRequest, org_id: int, payload: OrgDissolveIn):
    org = _org(request, org_id)
    target = (
        _org(request, payload.transfer_members_to_id) if payload.transfer_members_to_id else None
    )
    return services.dissolve_org(
        actor=request.user,
        org=org,
        reason=payload.reason,
        transfer_members_to=target,
        members_leave=payload.members_leave,
    )


@orgs_router.post("/{org_id}/members", response={201: MemberOut}, tags=["members"])
def org_register_member(request: HttpRequest, org_id: int, payload: MemberIn):
    unit = _org(request, org_id)
    member = services.register_member(actor=request.user, unit=unit, **payload.dict())
    return Status(201, member_out(member))


# --- members ----------------------------------------------------------------------------


@members_router.get("", response=list[MemberOut], summary="Members in scope, searchable")
@paginate(LimitOffsetPagination)
def member_list(request: HttpRequest, filters: Query[MemberFilter]):
    org = _org(request, filters.org_id) if filters.org_id else None
    qs = selectors.members_in_scope(
        request.user, org=org, query=filters.q, status=filters.status or None
    ).order_by("id")
    # Only the requested page is read and converted, not every member in scope.
    return _PageOf(qs, member_out)


@members_router.get("/{member_id}", response=MemberOut)
def member_detail(request: HttpRequest, member_id: int):
    return member_out(_member(request, member_id))


@members_router.patch("/{member_id}", response=MemberOut)
def member_update(request: HttpRequest, member_id: int, payload: MemberUpdateIn):
    member = _member(request, member_id)
    # PATCH: a field left out keeps its value (the service would otherwise clear it).
    changes = payload.dict(exclude_unset=True)
    for field in ("phone", "ethnicity", "education", "job", "is_migrant_worker"):
        changes.setdefault(field, getattr(member, field))
    changes.setdefault("joined_on", member.joined_on)
    return member_out(services.update_member(actor=request.user, member=member, **changes))


@members_router.post("/{member_id}/leave", response=MemberOut)
def member_leave(request: HttpRequest, member_id: int, payload: MemberLeaveIn):
    member = _member(request, member_id)
    return member_out(
        services.mark_member_left(
            actor=request.user, member=member, reason=payload.reason, left_on=payload.left_on
        )
    )


@members_router.post("/{member_id}/transfers", response={201: TransferOut}, tags=["transfers"])
def member_transfer(request: HttpRequest, member_id: int, payload: TransferIn):
    member = _member(request, member_id)
    to_unit = selectors.unit_by_code(payload.to_unit_code)
    transfer = services.request_transfer(
        actor=request.user, member=member, to_unit=to_unit, reason=payload.reason
    )
    return Status(201, transfer_out(transfer))


# --- transfers --------------------------------------------------------------------------


@transfers_router.get("", response=TransferListOut, summary="Pending transfers to act on")
def transfer_list(request: HttpRequest):
    found = selectors.transfers_for(request.user)
    return {
        "incoming": [transfer_out(t) for t in found["incoming"][:500]],
        "outgoing": [transfer_out(t) for t in found["outgoing"][:500]],
    }


def _transfer(request: HttpRequest, transfer_id: int) -> MemberTransfer:
    return get_in_scope_or_404(
        MemberTransfer.objects.select_related("member", "from_unit", "to_unit"),
        request.user,
        # Found if visible; the service then answers 403 to a viewer, 404 to the wrong side.
        Perm.MEMBER_VIEW,
        pk=transfer_id,
    )


@transfers_router.post("/{transfer_id}/accept", response=TransferOut)
def transfer_accept(request: HttpRequest, transfer_id: int, payload: DecisionIn):
    transfer = _transfer(request, transfer_id)
    return transfer_out(
        services.accept_transfer(actor=request.user, transfer=transfer, note=payload.note)
    )


@transfers_router.post("/{transfer_id}/reject", response=TransferOut)
def transfer_reject(request: HttpRequest, transfer_id: int, payload: DecisionIn):
    transfer = _transfer(request, transfer_id)
    return transfer_out(
        services.reject_transfer(actor=request.user, transfer=transfer, note=payload.note)
    )


@transfers_router.post("/{transfer_id}/cancel", response=TransferOut)
def transfer_cancel(request: HttpRequest, transfer_id: int):
    transfer = _transfer(request, transfer_id)
    return transfer_out(services.cancel_transfer(actor=request.user, transfer=transfer))
