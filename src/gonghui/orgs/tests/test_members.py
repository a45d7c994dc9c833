"""Member, transfer and role services, with their audit entries and exact member counts,
and the scoping filter they all rest on."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from conftest import make_id_number
from gonghui.audit.models import AuditEntry
from gonghui.core.errors import ConcurrentEditError
from gonghui.orgs import scoping, selectors, services
from gonghui.orgs.identity import mask_id_number
from gonghui.orgs.models import (
    Member,
    MemberStatus,
    MemberTransfer,
    Org,
    OrgKind,
    OrgStatus,
    Role,
    RoleKind,
    TransferStatus,
)
from gonghui.orgs.scoping import SYSTEM, Perm
from gonghui.stats import services as stats
from gonghui.stats.selectors import live_subtree_totals

User = get_user_model()


def assert_counts_exact() -> None:
    """The members figure of every subtree equals its active members, counted from the
    rows, both live (pending changes included) and once folded."""
    orgs = list(Org.objects.all())
    live = live_subtree_totals(orgs, "members")
    actual = {
        org.pk: Member.objects.filter(
            status=MemberStatus.ACTIVE, **{f"unit__ancestor_{org.depth}": org.pk}
        ).count()
        for org in orgs
    }
    assert live == actual
    stats.fold_pending()
    assert stats.rebuild(check=True) == []


def counts(tree) -> dict[str, int]:
    tree.refresh()
    return {
        name: getattr(tree, name).member_count
        for name in ("cd_union", "cd_branch", "cd_team", "my_union")
    }


def entries(action: str, target: Member | None = None) -> list[AuditEntry]:
    qs = AuditEntry.objects.filter(action=action).order_by("id")
    if target is not None:
        qs = qs.filter(target_type="orgs.member", target_id=str(target.pk))
    return list(qs)


def member_snapshot(member: Member, **changes) -> dict:
    data = {
        "name": member.name,
        "unit": member.unit.name,
        "id_number_masked": member.id_number_masked,
        "phone": member.phone,
        "ethnicity": member.ethnicity,
        "education": member.education,
        "job": member.job,
        "is_migrant_worker": member.is_migrant_worker,
        "joined_on": str(member.joined_on) if member.joined_on else None,
        "status": member.status,
        "left_on": str(member.left_on) if member.left_on else None,
        "left_reason": member.left_reason,
    }
    data.update(changes)
    return data


@pytest.fixture
def my_union2(tree):
    return services.create_org(
        actor=SYSTEM,
        parent=tree.chengxiang,
        name="绵阳九洲电器工会委员会",
        code="510703001002",
        kind=OrgKind.GRASSROOTS,
    )


def test_fixture_counts_are_exact(tree):
    assert_counts_exact()
    assert counts(tree) == {"cd_union": 2, "cd_branch": 0, "cd_team": 1, "my_union": 1}


# --- register_member ----------------------------------------------------------------------


def test_register_member(tree, today):
    admin = tree.users["cd_union_admin"]
    id_number = make_id_number(birth="19851120", seq=51)
    member = services.register_member(
        actor=admin,
        unit=tree.cd_branch,
        name=" 赵 敏 ",
        id_number=id_number.lower(),
        phone="+86 139-0000-1111",
        ethnicity="汉族",
        education="bachelor",
        job="钳工",
        is_migrant_worker=True,
    )
    member.refresh_from_db()
    assert member.name == "赵敏"
    assert member.name_initials == "zm"
    assert member.unit_id == tree.cd_branch.pk
    assert member.gender == "M"  # the 17th digit (last of seq 051) is odd
    assert member.birth_date == datetime.date(1985, 11, 20)
    assert member.id_number_masked == mask_id_number(id_number)
    assert member.id_number_tail == id_number[-4:]
    assert id_number not in member.id_number_cipher
    assert member.phone == "13900001111"
    assert member.joined_on == today
    assert member.status == MemberStatus.ACTIVE
    assert member.version == 1
    assert counts(tree) == {"cd_union": 2, "cd_branch": 1, "cd_team": 1, "my_union": 1}
    assert_counts_exact()
    (entry,) = entries("create", member)
    assert entry.actor == admin
    assert entry.actor_name == "cd_union_admin"
    assert entry.org_id == tree.cd_branch.pk
    assert entry.before is None
    assert entry.after == {
        "name": "赵敏",
        "unit": "华信机加车间",
        "id_number_masked": mask_id_number(id_number),
        "phone": "13900001111",
        "ethnicity": "汉族",
        "education": "bachelor",
        "job": "钳工",
        "is_migrant_worker": True,
        "joined_on": str(today),
        "status": "active",
        "left_on": None,
        "left_reason": "",
    }


def test_register_member_reads_gender_from_the_17th_digit(tree):
    odd = services.register_member(
        actor=SYSTEM, unit=tree.cd_union, name="男工", id_number=make_id_number(seq=71)
    )
    even = services.register_member(
        actor=SYSTEM, unit=tree.cd_union, name="女工", id_number=make_id_number(seq=72)
    )
    assert (odd.gender, even.gender) == ("M", "F")


def test_duplicate_id_names_the_member_when_visible(tree):
    before = counts(tree)
    with pytest.raises(ValidationError) as info:
        services.register_member(
            actor=tree.users["chengdu_admin"],
            unit=tree.cd_team,
            name="张伟",
            id_number=make_id_number(seq=11),
        )
    assert info.value.code == "duplicate_id"
    assert "张伟" in info.value.messages[0]
    assert tree.cd_union.name in info.value.messages[0]
    assert counts(tree) == before
    assert Member.objects.count() == 4
    assert_counts_exact()


def test_duplicate_id_outside_scope_does_not_name_the_member(tree):
    before_entries = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as info:
        services.register_member(
            actor=tree.users["chengdu_admin"],
            unit=tree.cd_union,
            name="冒名",
            id_number=make_id_number(region="510703", seq=44),
        )
    assert info.value.code == "duplicate_id"
    message = info.value.messages[0]
    for secret in ("刘芳", "绵阳", "长虹", tree.my_member.id_number_masked):
        assert secret not in message
    assert Member.objects.get(pk=tree.my_member.pk).unit_id == tree.my_union.pk
    assert AuditEntry.objects.count() == before_entries
    assert_counts_exact()


def test_duplicate_id_by_the_system_actor(tree):
    # Imports and the demo register as SYSTEM: the refusal must name the member, not crash.
    with pytest.raises(ValidationError) as info:
        services.register_member(
            actor=SYSTEM, unit=tree.cd_union, name="张伟", id_number=make_id_number(seq=11)
        )
    assert info.value.code == "duplicate_id"
    assert "张伟" in info.value.messages[0]


@pytest.mark.parametrize(
    ("unit_name", "code"),
    [("chunxilu", "not_member_unit"), ("chengdu", "not_member_unit")],
)
def test_register_only_to_member_units(tree, unit_name, code):
    with pytest.raises(ValidationError) as info:
        services.register_member(
            actor=tree.users["chengdu_admin"],
            unit=getattr(tree, unit_name),
            name="某人",
            id_number=make_id_number(seq=81),
        )
    assert info.value.code == code
    assert Member.objects.count() == 4


def test_register_to_a_dissolved_unit_is_refused(tree):
    services.dissolve_org(
        actor=SYSTEM, org=tree.cd_team, reason="合并", transfer_members_to=tree.cd_branch
    )
    tree.refresh()
    with pytest.raises(ValidationError) as info:
        services.register_member(
            actor=tree.users["chengdu_admin"],
            unit=tree.cd_team,
            name="某人",
            id_number=make_id_number(seq=82),
        )
    assert info.value.code == "dissolved"
    assert_counts_exact()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "id_missing"),
        ("51010419900307", "id_length"),
        ("5101041990030701AX", "id_characters"),
        ("99" + make_id_number()[2:], "id_region"),
        (make_id_number()[:17] + ("0" if make_id_number()[17] != "0" else "1"), "id_check_digit"),
    ],
)
def test_register_refuses_bad_id_numbers(tree, raw, code):
    with pytest.raises(ValidationError) as info:
        services.register_member(actor=SYSTEM, unit=tree.cd_union, name="某人", id_number=raw)
    assert info.value.code == code
    assert Member.objects.count() == 4
    assert_counts_exact()


def test_register_refuses_bad_phone_and_missing_name(tree):
    with pytest.raises(ValidationError) as info:
        services.register_member(
            actor=SYSTEM,
            unit=tree.cd_union,
            name="某人",
            id_number=make_id_number(seq=83),
            phone="12345",
        )
    assert info.value.code == "phone"
    with pytest.raises(ValidationError) as info:
        services.register_member(
            actor=SYSTEM, unit=tree.cd_union, name="  ", id_number=make_id_number(seq=83)
        )
    assert info.value.code == "name_missing"
    assert Member.objects.count() == 4


def test_register_out_of_scope_is_404_and_viewer_is_403(tree):
    with pytest.raises(Http404):
        services.register_member(
            actor=tree.users["chengdu_admin"],
            unit=tree.my_union,
            name="越权",
            id_number=make_id_number(seq=84),
        )
    with pytest.raises(PermissionDenied):
        services.register_member(
            actor=tree.users["chengdu_viewer"],
            unit=tree.cd_union,
            name="只读",
            id_number=make_id_number(seq=85),
        )
    with pytest.raises(Http404):
        services.register_member(
            actor=tree.users["worker"],
            unit=tree.cd_union,
            name="职工自己",
            id_number=make_id_number(seq=86),
        )
    assert Member.objects.count() == 4
    assert counts(tree) == {"cd_union": 2, "cd_branch": 0, "cd_team": 1, "my_union": 1}


def test_org_only_admin_registers_only_at_its_own_org(tree):
    admin = tree.users["cd_union_only"]
    services.register_member(
        actor=admin, unit=tree.cd_union, name="本级", id_number=make_id_number(seq=87)
    )
    with pytest.raises(Http404):
        services.register_member(
            actor=admin, unit=tree.cd_team, name="下级", id_number=make_id_number(seq=88)
        )
    assert counts(tree) == {"cd_union": 3, "cd_branch": 0, "cd_team": 1, "my_union": 1}
    assert_counts_exact()


def test_a_member_who_left_rejoins_in_a_new_unit(tree, today):
    member = tree.cd_member2
    services.mark_member_left(
        actor=tree.users["chengdu_admin"],
        member=member,
        reason="离职",
        left_on=datetime.date(2025, 6, 30),
    )
    assert counts(tree) == {"cd_union": 1, "cd_branch": 0, "cd_team": 1, "my_union": 1}
    member.refresh_from_db()
    left_snapshot = member_snapshot(member)
    rejoined = services.register_member(
        actor=tree.users["chengdu_admin"],
        unit=tree.cd_team,
        name="李娜",
        id_number=make_id_number(seq=22),
        phone="13700007777",
        job="质检",
    )
    assert rejoined.pk == member.pk
    assert Member.objects.count() == 4
    assert rejoined.unit_id == tree.cd_team.pk
    assert rejoined.status == MemberStatus.ACTIVE
    assert rejoined.left_on is None
    assert rejoined.left_reason == ""
    assert rejoined.joined_on == today
    assert rejoined.phone == "13700007777"
    assert rejoined.version == 3
    assert counts(tree) == {"cd_union": 1, "cd_branch": 0, "cd_team": 2, "my_union": 1}
    assert_counts_exact()
    entry = entries("update", member)[-1]
    assert entry.org_id == tree.cd_team.pk
    assert entry.before == left_snapshot
    assert entry.before["status"] == "left"
    assert entry.before["unit"] == "成都华信机械有限公司工会委员会"
    assert entry.after == member_snapshot(
        rejoined,
        unit="华信机加车间甲班",
        status="active",
        left_on=None,
        left_reason="",
        phone="13700007777",
        job="质检",
        joined_on=str(today),
    )
    assert "成都华信机械有限公司工会委员会" in entry.summary


def test_a_member_who_left_elsewhere_rejoins_across_cities(tree):
    services.mark_member_left(actor=tree.users["mianyang_admin"], member=tree.my_member, reason="x")
    rejoined = services.register_member(
        actor=tree.users["chengdu_admin"],
        unit=tree.cd_union,
        name="刘芳",
        id_number=make_id_number(region="510703", seq=44),
    )
    assert rejoined.pk == tree.my_member.pk
    assert rejoined.phone == "13900005678"  # kept: no new phone given
    assert counts(tree) == {"cd_union": 3, "cd_branch": 0, "cd_team": 1, "my_union": 0}
    assert_counts_exact()


# --- update_member ------------------------------------------------------------------------


def test_update_member_with_version(tree):
    member = tree.cd_member
    before = member_snapshot(member)
    updated = services.update_member(
        actor=tree.users["chengdu_staff"],
        member=member,
        version=1,
        name="张伟",
        phone="13800004321",
        ethnicity="回族",
        education="college",
        job="电工",
        joined_on=datetime.date(2020, 1, 2),
    )
    assert updated.version == 2
    assert updated.phone == "13800004321"
    assert updated.unit_id == tree.cd_union.pk
    (entry,) = entries("update", member)
    assert entry.actor == tree.users["chengdu_staff"]
    assert entry.org_id == tree.cd_union.pk
    assert entry.before == before
    assert entry.after == member_snapshot(
        member,
        phone="13800004321",
        ethnicity="回族",
        education="college",
        job="电工",
        joined_on="2020-01-02",
    )
    assert counts(tree) == {"cd_union": 2, "cd_branch": 0, "cd_team": 1, "my_union": 1}


def test_concurrent_member_edit_is_refused(tree):
    first = tree.users["chengdu_admin"]
    second = tree.users["cd_union_admin"]
    seen = Member.objects.get(pk=tree.cd_member.pk)  # both editors opened version 1
    services.update_member(actor=first, member=seen, version=seen.version, name="张伟一")
    with pytest.raises(ConcurrentEditError) as info:
        services.update_member(actor=second, member=seen, version=seen.version, name="张伟二")
    assert info.value.code == "stale"
    fresh = Member.objects.get(pk=tree.cd_member.pk)
    assert (fresh.name, fresh.version) == ("张伟一", 2)
    assert len(entries("update", fresh)) == 1


def test_update_member_changes_the_id_number(tree):
    member = tree.cd_member2
    new_id = make_id_number(birth="19920101", seq=91)
    updated = services.update_member(
        actor=tree.users["chengdu_admin"],
        member=member,
        version=1,
        name="李娜",
        id_number=new_id,
    )
    assert updated.id_number_masked == mask_id_number(new_id)
    assert updated.birth_date == datetime.date(1992, 1, 1)
    assert updated.gender == "M"
    entry = entries("update", member)[-1]
    assert entry.before["id_number_masked"] == mask_id_number(make_id_number(seq=22))
    assert entry.after["id_number_masked"] == mask_id_number(new_id)
    # The old number is free again; the new one is taken.
    with pytest.raises(ValidationError) as info:
        services.register_member(actor=SYSTEM, unit=tree.cd_union, name="某人", id_number=new_id)
    assert info.value.code == "duplicate_id"


def test_update_member_to_a_taken_id_number_is_refused(tree):
    with pytest.raises(ValidationError) as info:
        services.update_member(
            actor=tree.users["chengdu_admin"],
            member=tree.cd_member2,
            version=1,
            name="李娜",
            id_number=make_id_number(region="510703", seq=44),
        )
    assert info.value.code == "duplicate_id"
    assert "刘芳" not in info.value.messages[0]
    tree.refresh()
    assert tree.cd_member2.id_number_masked == mask_id_number(make_id_number(seq=22))
    assert tree.cd_member2.version == 1


def test_update_member_permissions(tree):
    with pytest.raises(Http404):
        services.update_member(
            actor=tree.users["chengdu_admin"], member=tree.my_member, version=1, name="改"
        )
    with pytest.raises(PermissionDenied):
        services.update_member(
            actor=tree.users["chengdu_viewer"], member=tree.cd_member, version=1, name="改"
        )
    with pytest.raises(Http404):
        services.update_member(
            actor=tree.users["worker"], member=tree.cd_member, version=1, name="改"
        )
    tree.refresh()
    assert (tree.my_member.name, tree.cd_member.name) == ("刘芳", "张伟")
    assert entries("update") == []


# --- mark_member_left ---------------------------------------------------------------------


def test_mark_member_left(tree, today):
    member = tree.team_member
    before = member_snapshot(member)
    left = services.mark_member_left(
        actor=tree.users["cd_union_admin"], member=member, reason="  退休  "
    )
    assert left.status == MemberStatus.LEFT
    assert left.left_on == today
    assert left.left_reason == "退休"
    assert left.version == 2
    assert counts(tree) == {"cd_union": 2, "cd_branch": 0, "cd_team": 0, "my_union": 1}
    assert selectors.subtree_member_count(tree.chengdu) == 2
    assert_counts_exact()
    (entry,) = entries("leave", member)
    assert entry.summary == "退休"
    assert entry.org_id == tree.cd_team.pk
    assert entry.before == before
    assert entry.after == member_snapshot(
        member, status="left", left_on=str(today), left_reason="退休"
    )
    with pytest.raises(ValidationError) as info:
        services.mark_member_left(actor=tree.users["cd_union_admin"], member=left, reason="again")
    assert info.value.code == "already_left"
    assert counts(tree)["cd_team"] == 0
    assert_counts_exact()


def test_leaving_cancels_a_pending_transfer(tree, my_union2):
    transfer = services.request_transfer(
        actor=tree.users["chengdu_admin"], member=tree.cd_member, to_unit=tree.my_union
    )
    assert transfer.status == TransferStatus.PENDING
    services.mark_member_left(actor=tree.users["chengdu_admin"], member=tree.cd_member, reason="x")
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.CANCELLED
    assert transfer.decided_by == tree.users["chengdu_admin"]
    with pytest.raises(ValidationError) as info:
        services.accept_transfer(actor=tree.users["mianyang_admin"], transfer=transfer)
    assert info.value.code == "not_pending"
    assert counts(tree) == {"cd_union": 1, "cd_branch": 0, "cd_team": 1, "my_union": 1}
    assert_counts_exact()


def test_mark_member_left_permissions(tree):
    with pytest.raises(Http404):
        services.mark_member_left(
            actor=tree.users["chengdu_admin"], member=tree.my_member, reason="x"
        )
    with pytest.raises(PermissionDenied):
        services.mark_member_left(
            actor=tree.users["chengdu_viewer"], member=tree.cd_member, reason="x"
        )
    with pytest.raises(Http404):
        services.mark_member_left(
            actor=tree.users["cd_union_only"], member=tree.team_member, reason="x"
        )
    assert Member.objects.filter(status=MemberStatus.LEFT).count() == 0
    assert_counts_exact()


# --- transfers ----------------------------------------------------------------------------


def test_transfer_to_another_city_waits_for_the_receiver(tree):
    sender, receiver = tree.users["chengdu_admin"], tree.users["mianyang_admin"]
    member = tree.cd_member2
    transfer = services.request_transfer(
        actor=sender, member=member, to_unit=tree.my_union, reason=" 调动 "
    )
    assert transfer.status == TransferStatus.PENDING
    assert (transfer.from_unit_id, transfer.to_unit_id) == (tree.cd_union.pk, tree.my_union.pk)
    assert transfer.reason == "调动"
    assert transfer.requested_by == sender
    assert counts(tree) == {"cd_union": 2, "cd_branch": 0, "cd_team": 1, "my_union": 1}
    (requested,) = entries("transfer", member)
    assert requested.actor == sender
    assert requested.org_id == tree.cd_union.pk
    assert "成都华信机械有限公司工会委员会" in requested.summary
    assert "绵阳长虹电子有限公司工会委员会" in requested.summary
    assert (requested.before, requested.after) == (None, None)

    found = selectors.transfers_for(receiver)
    assert [t.pk for t in found["incoming"]] == [transfer.pk]
    assert list(found["outgoing"]) == []
    found = selectors.transfers_for(sender)
    assert [t.pk for t in found["outgoing"]] == [transfer.pk]
    assert list(found["incoming"]) == []

    # The sender cannot accept for the receiving side.
    with pytest.raises(Http404):
        services.accept_transfer(actor=sender, transfer=transfer)
    accepted = services.accept_transfer(actor=receiver, transfer=transfer, note=" 欢迎 ")
    assert accepted.status == TransferStatus.ACCEPTED
    assert accepted.decided_by == receiver
    assert accepted.decision_note == "欢迎"
    assert accepted.decided_at is not None
    member.refresh_from_db()
    assert member.unit_id == tree.my_union.pk
    assert member.version == 2
    assert counts(tree) == {"cd_union": 1, "cd_branch": 0, "cd_team": 1, "my_union": 2}
    assert selectors.subtree_member_count(tree.chengdu) == 2
    assert selectors.subtree_member_count(tree.mianyang) == 2
    assert_counts_exact()
    accepted_entry = entries("transfer", member)[-1]
    assert accepted_entry.actor == receiver
    assert accepted_entry.org_id == tree.my_union.pk
    assert accepted_entry.before == {"unit": "成都华信机械有限公司工会委员会"}
    assert accepted_entry.after == {"unit": "绵阳长虹电子有限公司工会委员会"}
    # Now the member is 绵阳's: 成都 no longer sees them.
    assert not Member.objects.restrict(sender, Perm.MEMBER_VIEW).filter(pk=member.pk).exists()
    with pytest.raises(ValidationError) as info:
        services.reject_transfer(actor=receiver, transfer=transfer, note="晚了")
    assert info.value.code == "not_pending"


def test_transfer_within_ones_own_subtree_is_accepted_at_once(tree):
    admin = tree.users["cd_union_admin"]
    transfer = services.request_transfer(actor=admin, member=tree.cd_member, to_unit=tree.cd_team)
    assert transfer.status == TransferStatus.ACCEPTED
    assert transfer.decided_by == admin
    tree.refresh()
    assert tree.cd_member.unit_id == tree.cd_team.pk
    assert counts(tree) == {"cd_union": 1, "cd_branch": 0, "cd_team": 2, "my_union": 1}
    assert_counts_exact()
    requested, accepted = entries("transfer", tree.cd_member)
    assert (requested.before, requested.after) == (None, None)
    assert requested.org_id == tree.cd_union.pk
    assert accepted.org_id == tree.cd_team.pk
    assert accepted.before == {"unit": "成都华信机械有限公司工会委员会"}
    assert accepted.after == {"unit": "华信机加车间甲班"}


def test_org_only_admin_cannot_auto_accept_into_the_team_below(tree):
    transfer = services.request_transfer(
        actor=tree.users["cd_union_only"], member=tree.cd_member, to_unit=tree.cd_team
    )
    assert transfer.status == TransferStatus.PENDING
    assert counts(tree)["cd_team"] == 1
    accepted = services.accept_transfer(actor=tree.users["cd_union_admin"], transfer=transfer)
    assert accepted.status == TransferStatus.ACCEPTED
    assert counts(tree) == {"cd_union": 1, "cd_branch": 0, "cd_team": 2, "my_union": 1}
    assert_counts_exact()


def test_reject_transfer_needs_a_reason(tree):
    transfer = services.request_transfer(
        actor=tree.users["chengdu_admin"], member=tree.cd_member, to_unit=tree.my_union
    )
    receiver = tree.users["mianyang_admin"]
    with pytest.raises(ValidationError) as info:
        services.reject_transfer(actor=receiver, transfer=transfer, note="  ")
    assert info.value.code == "reason_missing"
    rejected = services.reject_transfer(actor=receiver, transfer=transfer, note="查无此人")
    assert rejected.status == TransferStatus.REJECTED
    assert rejected.decision_note == "查无此人"
    assert rejected.decided_by == receiver
    tree.refresh()
    assert tree.cd_member.unit_id == tree.cd_union.pk
    assert counts(tree) == {"cd_union": 2, "cd_branch": 0, "cd_team": 1, "my_union": 1}
    entry = entries("transfer", tree.cd_member)[-1]
    assert entry.actor == receiver
    assert entry.org_id == tree.my_union.pk
    assert "查无此人" in entry.summary
    # Once rejected, a new transfer may be requested.
    again = services.request_transfer(
        actor=tree.users["chengdu_admin"], member=tree.cd_member, to_unit=tree.my_union
    )
    assert again.status == TransferStatus.PENDING


def test_cancel_transfer_by_the_sender_only(tree):
    transfer = services.request_transfer(
        actor=tree.users["chengdu_admin"], member=tree.cd_member, to_unit=tree.my_union
    )
    with pytest.raises(Http404):
        services.cancel_transfer(actor=tree.users["mianyang_admin"], transfer=transfer)
    with pytest.raises(PermissionDenied):
        services.cancel_transfer(actor=tree.users["chengdu_viewer"], transfer=transfer)
    with pytest.raises(Http404):  # the receiving side is not the viewer's to see
        services.accept_transfer(actor=tree.users["chengdu_viewer"], transfer=transfer)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PENDING
    cancelled = services.cancel_transfer(actor=tree.users["cd_union_admin"], transfer=transfer)
    assert cancelled.status == TransferStatus.CANCELLED
    assert cancelled.decided_by == tree.users["cd_union_admin"]
    entry = entries("transfer", tree.cd_member)[-1]
    assert (entry.actor, entry.org_id) == (tree.users["cd_union_admin"], tree.cd_union.pk)
    with pytest.raises(ValidationError) as info:
        services.accept_transfer(actor=tree.users["mianyang_admin"], transfer=transfer)
    assert info.value.code == "not_pending"
    assert counts(tree) == {"cd_union": 2, "cd_branch": 0, "cd_team": 1, "my_union": 1}
    assert_counts_exact()


def test_transfer_refusals(tree):
    admin = tree.users["chengdu_admin"]
    with pytest.raises(ValidationError) as info:
        services.request_transfer(actor=admin, member=tree.cd_member, to_unit=tree.cd_union)
    assert info.value.code == "same_unit"
    with pytest.raises(ValidationError) as info:
        services.request_transfer(actor=admin, member=tree.cd_member, to_unit=tree.chengxiang)
    assert info.value.code == "not_member_unit"
    services.request_transfer(actor=admin, member=tree.cd_member, to_unit=tree.my_union)
    with pytest.raises(ValidationError) as info:
        services.request_transfer(actor=admin, member=tree.cd_member, to_unit=tree.my_union)
    assert info.value.code == "transfer_pending"
    services.mark_member_left(actor=admin, member=tree.cd_member2, reason="x")
    with pytest.raises(ValidationError) as info:
        services.request_transfer(actor=admin, member=tree.cd_member2, to_unit=tree.my_union)
    assert info.value.code == "not_active"
    with pytest.raises(Http404):
        services.request_transfer(actor=admin, member=tree.my_member, to_unit=tree.cd_union)
    with pytest.raises(PermissionDenied):
        services.request_transfer(
            actor=tree.users["chengdu_viewer"], member=tree.team_member, to_unit=tree.cd_union
        )
    assert MemberTransfer.objects.count() == 1
    assert_counts_exact()


def test_a_transfer_inside_mianyang_is_invisible_to_chengdu(tree, my_union2):
    transfer = MemberTransfer.objects.create(
        member=tree.my_member, from_unit=tree.my_union, to_unit=my_union2
    )
    cadre = tree.users["chengdu_admin"]
    for action in (services.accept_transfer, services.cancel_transfer):
        with pytest.raises(Http404):
            action(actor=cadre, transfer=transfer)
    with pytest.raises(Http404):
        services.reject_transfer(actor=cadre, transfer=transfer, note="x")
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PENDING
    found = selectors.transfers_for(cadre)
    assert list(found["incoming"]) == list(found["outgoing"]) == []
    assert not MemberTransfer.objects.restrict(cadre, Perm.MEMBER_VIEW).exists()


def test_dissolving_a_unit_moves_its_members_and_cancels_their_transfers(tree):
    transfer = services.request_transfer(
        actor=tree.users["chengdu_admin"], member=tree.team_member, to_unit=tree.my_union
    )
    services.dissolve_org(
        actor=tree.users["chengdu_admin"],
        org=tree.cd_team,
        reason="合并",
        transfer_members_to=tree.cd_union,
    )
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.CANCELLED
    assert counts(tree) == {"cd_union": 3, "cd_branch": 0, "cd_team": 0, "my_union": 1}
    assert_counts_exact()


# --- roles --------------------------------------------------------------------------------


def test_grant_role(tree):
    admin, user = tree.users["chengdu_admin"], tree.users["nobody"]
    assert not scoping.can(user, Perm.MEMBER_VIEW, tree.cd_union)
    role = services.grant_role(actor=admin, user=user, org=tree.jinjiang, kind=RoleKind.STAFF)
    assert (role.user, role.org, role.kind) == (user, tree.jinjiang, "staff")
    assert (role.org_only, role.may_export_personal_data, role.granted_by) == (False, False, admin)
    # The user's cached grants were dropped: the new role counts at once.
    assert scoping.can(user, Perm.MEMBER_CHANGE, tree.cd_team)
    assert not scoping.can(user, Perm.ROLE_MANAGE, tree.cd_team)
    entry = AuditEntry.objects.filter(action="grant").latest("id")
    assert entry.actor == admin
    assert entry.org_id == tree.jinjiang.pk
    assert entry.target_type == "orgs.role"
    assert entry.target_id == str(role.pk)
    assert entry.after == {
        "user": "nobody",
        "kind": "staff",
        "org_only": False,
        "may_export_personal_data": False,
    }
    # Granting the same kind again changes the flags of the one role.
    again = services.grant_role(
        actor=admin, user=user, org=tree.jinjiang, kind=RoleKind.STAFF, org_only=True
    )
    assert again.pk == role.pk
    assert Role.objects.filter(user=user).count() == 1
    assert Role.objects.get(pk=role.pk).org_only is True


def test_personal_data_export_is_granted_only_by_who_holds_it(tree):
    user = tree.users["nobody"]
    with pytest.raises(PermissionDenied):
        services.grant_role(
            actor=tree.users["chengdu_admin"],
            user=user,
            org=tree.cd_union,
            kind=RoleKind.ADMIN,
            may_export_personal_data=True,
        )
    assert not Role.objects.filter(user=user).exists()
    assert not AuditEntry.objects.filter(action="grant", after__user="nobody").exists()
    role = services.grant_role(
        actor=tree.users["province_admin"],
        user=user,
        org=tree.cd_union,
        kind=RoleKind.ADMIN,
        may_export_personal_data=True,
    )
    assert role.may_export_personal_data is True
    assert scoping.can(user, Perm.MEMBER_EXPORT_PERSONAL, tree.cd_team)
    assert not scoping.can(user, Perm.MEMBER_EXPORT_PERSONAL, tree.my_union)


def test_org_only_admin_cannot_widen_a_role_to_the_subtree(tree):
    admin = tree.users["cd_union_only"]
    for user in (admin, tree.users["nobody"]):
        with pytest.raises(PermissionDenied):
            services.grant_role(actor=admin, user=user, org=tree.cd_union, kind=RoleKind.ADMIN)
    assert Role.objects.get(user=admin).org_only is True
    assert not Role.objects.filter(user=tree.users["nobody"]).exists()
    fresh = User.objects.get(pk=admin.pk)
    assert not scoping.can(fresh, Perm.MEMBER_VIEW, tree.cd_team)
    # An org-only role at its own org is within what it holds.
    role = services.grant_role(
        actor=admin, user=tree.users["nobody"], org=tree.cd_union, kind="viewer", org_only=True
    )
    assert role.org_only is True


def test_grant_role_refusals(tree):
    admin, user = tree.users["chengdu_admin"], tree.users["nobody"]
    with pytest.raises(Http404):
        services.grant_role(actor=admin, user=user, org=tree.my_union, kind=RoleKind.ADMIN)
    with pytest.raises(Http404):
        services.grant_role(actor=admin, user=user, org=tree.province, kind=RoleKind.ADMIN)
    with pytest.raises(PermissionDenied):
        services.grant_role(
            actor=tree.users["chengdu_staff"], user=user, org=tree.cd_union, kind=RoleKind.VIEWER
        )
    with pytest.raises(ValidationError) as info:
        services.grant_role(actor=admin, user=user, org=tree.cd_union, kind="king")
    assert info.value.code == "role_kind"
    services.dissolve_org(actor=admin, org=tree.cd_team, reason="x", members_leave=True)
    tree.refresh()
    with pytest.raises(ValidationError) as info:
        services.grant_role(actor=admin, user=user, org=tree.cd_team, kind=RoleKind.VIEWER)
    assert info.value.code == "dissolved"
    assert not Role.objects.filter(user=user).exists()


def test_revoke_role(tree):
    role = Role.objects.get(user=tree.users["chengdu_staff"])
    role_id, user = role.pk, role.user
    assert scoping.can(user, Perm.MEMBER_CHANGE, tree.cd_union)
    services.revoke_role(actor=tree.users["chengdu_admin"], role=role)
    assert not Role.objects.filter(pk=role_id).exists()
    assert not scoping.can(user, Perm.MEMBER_VIEW, tree.cd_union)
    entry = AuditEntry.objects.get(action="revoke")
    assert entry.actor == tree.users["chengdu_admin"]
    assert entry.org_id == tree.chengdu.pk
    assert entry.target_id == str(role_id)
    assert entry.before == {"user": "chengdu_staff", "kind": "staff", "org_only": False}


def test_nobody_revokes_their_own_admin_role(tree):
    admin = tree.users["chengdu_admin"]
    role = Role.objects.get(user=admin)
    with pytest.raises(ValidationError) as info:
        services.revoke_role(actor=admin, role=role)
    assert info.value.code == "own_role"
    assert Role.objects.filter(pk=role.pk).exists()
    assert not AuditEntry.objects.filter(action="revoke").exists()
    # Another administrator above may.
    services.revoke_role(actor=tree.users["province_admin"], role=role)
    assert not Role.objects.filter(user=admin).exists()


def test_revoke_role_out_of_scope(tree):
    for role_owner in ("province_admin", "mianyang_admin"):
        role = Role.objects.get(user=tree.users[role_owner])
        with pytest.raises(Http404):
            services.revoke_role(actor=tree.users["chengdu_admin"], role=role)
        assert Role.objects.filter(pk=role.pk).exists()
    with pytest.raises(PermissionDenied):
        services.revoke_role(
            actor=tree.users["chengdu_viewer"],
            role=Role.objects.get(user=tree.users["cd_union_admin"]),
        )
    assert Role.objects.count() == 7


# --- scoping ------------------------------------------------------------------------------


def member_names(user, perm=Perm.MEMBER_VIEW) -> set[str]:
    return set(Member.objects.restrict(user, perm).values_list("name", flat=True))


ALL = {"张伟", "李娜", "王强", "刘芳"}
CHENGDU = {"张伟", "李娜", "王强"}


@pytest.mark.parametrize(
    ("username", "view", "change"),
    [
        ("superuser", ALL, ALL),
        ("province_admin", ALL, ALL),
        ("chengdu_admin", CHENGDU, CHENGDU),
        ("chengdu_staff", CHENGDU, CHENGDU),
        ("chengdu_viewer", CHENGDU, set()),
        ("mianyang_admin", {"刘芳"}, {"刘芳"}),
        ("cd_union_admin", CHENGDU, CHENGDU),
        ("cd_union_only", {"张伟", "李娜"}, {"张伟", "李娜"}),
        ("worker", {"张伟"}, set()),
        ("nobody", set(), set()),
    ],
)
def test_member_restrict_for_each_user(tree, username, view, change):
    user = tree.users[username]
    assert member_names(user) == view
    assert member_names(user, Perm.MEMBER_CHANGE) == change


def test_member_restrict_for_system_and_anonymous(tree):
    from django.contrib.auth.models import AnonymousUser

    assert member_names(SYSTEM) == ALL
    assert member_names(AnonymousUser()) == set()
    assert member_names(None) == set()


def test_an_inactive_user_sees_nothing(tree):
    worker = tree.users["worker"]
    admin = tree.users["chengdu_admin"]
    User.objects.filter(pk__in=[worker.pk, admin.pk]).update(is_active=False)
    assert member_names(User.objects.get(pk=worker.pk)) == set()
    assert member_names(User.objects.get(pk=admin.pk)) == set()


def test_org_only_role_covers_only_its_org(tree):
    user = tree.users["cd_union_only"]
    assert set(Org.objects.restrict(user, Perm.ORG_VIEW)) == {tree.cd_union}
    assert set(Org.objects.restrict(user, Perm.ORG_CHANGE)) == {tree.cd_union}
    assert scoping.can(user, Perm.MEMBER_CHANGE, tree.cd_union)
    assert not scoping.can(user, Perm.ORG_VIEW, tree.cd_branch)
    assert not scoping.can(user, Perm.ORG_VIEW, tree.chunxilu)
    assert not scoping.can_in_subtree(user, Perm.ROLE_MANAGE, tree.cd_union)
    assert selectors.scope_roots(user) == [tree.cd_union]


def test_subtree_roles_cover_exact_org_sets(tree):
    def codes(username, perm=Perm.ORG_VIEW):
        return set(Org.objects.restrict(tree.users[username], perm).values_list("code", flat=True))

    chengdu = {
        "5101",
        "510104",
        "510104001",
        "510104001001",
        "510104001001B1",
        "510104001001B1T1",
    }
    assert codes("chengdu_viewer") == chengdu
    assert codes("chengdu_viewer", Perm.ORG_CHANGE) == set()
    assert codes("chengdu_staff", Perm.ORG_CHANGE) == set()
    assert codes("chengdu_admin", Perm.ORG_CHANGE) == chengdu
    assert codes("mianyang_admin") == {"5107", "510703", "510703001", "510703001001"}
    assert codes("province_admin") == chengdu | {
        "51",
        "5107",
        "510703",
        "510703001",
        "510703001001",
    }
    assert codes("worker") == codes("nobody") == set()


def test_a_role_at_a_dissolved_org_grants_nothing(tree):
    user = tree.users["nobody"]
    org = services.create_org(
        actor=SYSTEM, parent=tree.chunxilu, name="临时工会", code="T1", kind=OrgKind.GRASSROOTS
    )
    services.register_member(
        actor=SYSTEM, unit=org, name="临时工", id_number=make_id_number(seq=99)
    )
    services.grant_role(actor=SYSTEM, user=user, org=org, kind=RoleKind.ADMIN)
    assert member_names(User.objects.get(pk=user.pk)) == {"临时工"}
    services.dissolve_org(actor=SYSTEM, org=org, reason="撤销", transfer_members_to=tree.cd_union)
    fresh = User.objects.get(pk=user.pk)
    assert scoping.grants_for(fresh) == []
    assert member_names(fresh) == set()
    assert list(Org.objects.restrict(fresh, Perm.ORG_VIEW)) == []
    org.refresh_from_db()
    assert org.status == OrgStatus.DISSOLVED
    assert not scoping.can(fresh, Perm.ORG_VIEW, org)
    assert selectors.scope_roots(fresh) == []
    assert_counts_exact()


def test_require_answers_404_outside_and_403_inside(tree):
    viewer = tree.users["chengdu_viewer"]
    with pytest.raises(PermissionDenied):
        scoping.require(viewer, Perm.MEMBER_CHANGE, tree.cd_union)
    with pytest.raises(Http404):
        scoping.require(viewer, Perm.MEMBER_CHANGE, tree.my_union)
    assert scoping.require(viewer, Perm.MEMBER_VIEW, tree.cd_team) is None


def test_grants_are_read_once_per_user_object(tree, django_assert_num_queries):
    user = User.objects.get(pk=tree.users["chengdu_admin"].pk)
    with django_assert_num_queries(1):
        scoping.grants_for(user)
        scoping.grants_for(user)
        assert scoping.can(user, Perm.ORG_VIEW, tree.cd_union)
