"""The pages of the tree, members, transfers, roles and imports, as a cadre uses them."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from conftest import make_id_number
from gonghui.audit.models import AuditEntry
from gonghui.orgs.models import (
    ImportJob,
    Member,
    MemberStatus,
    MemberTransfer,
    Org,
    OrgStatus,
    Role,
    TransferStatus,
)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_org_page_shows_children_with_subtree_counts(tree):
    client = client_for(tree.users["province_admin"])
    response = client.get(reverse("org_detail", args=[tree.province.pk]))
    assert response.status_code == 200
    children = {c.name: c.subtree_members for c in response.context["children"]}
    assert children == {"成都市总工会": 3, "绵阳市总工会": 1}
    assert response.context["subtree_members"] == 4
    assert response.context["subtree_orgs"] == 11


def test_org_page_query_count_does_not_grow_with_children(tree, django_assert_max_num_queries):
    client = client_for(tree.users["province_admin"])
    url = reverse("org_detail", args=[tree.chunxilu.pk])
    with django_assert_max_num_queries(14):
        client.get(url)
    for n in range(10):
        client.post(
            reverse("org_create_child", args=[tree.chunxilu.pk]),
            {"name": f"新建工会{n}", "code": f"NEW{n}", "kind": "grassroots"},
        )
    assert Org.objects.filter(parent=tree.chunxilu).count() == 11
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert len(response.context["children"]) == 11


def test_member_list_query_count_does_not_grow_with_members(tree, django_assert_max_num_queries):
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("member_list", args=[tree.chengdu.pk])
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert response.context["page"].paginator.count == 3
    for seq in range(100, 130):
        client.post(
            reverse("member_create", args=[tree.cd_team.pk]),
            {"name": f"成员{seq}", "id_number": make_id_number(seq=seq)},
        )
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert response.context["page"].paginator.count == 33


def test_search_by_pinyin_page_and_htmx_partial(tree):
    client = client_for(tree.users["chengdu_admin"])
    page = client.get(reverse("org_search"), {"q": "cdhx"})
    assert [o.code for o in page.context["page"].object_list] == ["510104001001"]
    assert "<html" in page.content.decode()
    partial = client.get(reverse("org_search"), {"q": "cdhx"}, HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode()
    assert "成都华信机械有限公司工会委员会" in partial.content.decode()


def test_create_child_keeps_input_on_error(tree):
    client = client_for(tree.users["chengdu_admin"])
    response = client.post(
        reverse("org_create_child", args=[tree.chunxilu.pk]),
        {"name": "春熙路新工会", "code": "5107", "kind": "grassroots"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.data["name"] == "春熙路新工会"
    assert form.non_field_errors()
    assert not Org.objects.filter(name="春熙路新工会").exists()


def test_only_allowed_kinds_are_offered(tree):
    client = client_for(tree.users["chengdu_admin"])
    response = client.get(reverse("org_create_child", args=[tree.cd_union.pk]))
    kinds = [value for value, _label in response.context["form"].fields["kind"].choices]
    assert kinds == ["branch", "team"]


def test_stale_edit_shows_a_conflict_and_keeps_the_input(tree):
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("org_edit", args=[tree.cd_union.pk])
    stale_version = tree.cd_union.version
    client.post(url, {"version": stale_version, "name": "新名称甲", "code": tree.cd_union.code})
    response = client.post(
        url, {"version": stale_version, "name": "新名称乙", "code": tree.cd_union.code}
    )
    assert response.status_code == 200
    assert response.context["form"].data["name"] == "新名称乙"
    assert response.context["form"].non_field_errors()
    tree.cd_union.refresh_from_db()
    assert tree.cd_union.name == "新名称甲"


def test_move_by_code_of_the_new_parent(tree):
    client = client_for(tree.users["province_admin"])
    response = client.post(
        reverse("org_move", args=[tree.cd_union.pk]), {"new_parent_code": "510703001"}
    )
    assert response.status_code == 302
    tree.cd_union.refresh_from_db()
    assert tree.cd_union.parent_id == tree.chengxiang.pk


def test_move_to_a_parent_outside_scope_is_an_error_not_a_move(tree):
    client = client_for(tree.users["chengdu_admin"])
    response = client.post(
        reverse("org_move", args=[tree.cd_union.pk]), {"new_parent_code": "510703001"}
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    tree.cd_union.refresh_from_db()
    assert tree.cd_union.parent_id == tree.chunxilu.pk


def test_dissolve_page_moves_members(tree):
    client = client_for(tree.users["chengdu_admin"])
    response = client.post(
        reverse("org_dissolve", args=[tree.cd_team.pk]),
        {"reason": "班组合并", "members": "transfer", "transfer_to_code": tree.cd_branch.code},
    )
    assert response.status_code == 302
    tree.refresh()
    assert tree.cd_team.status == OrgStatus.DISSOLVED
    assert tree.team_member.unit_id == tree.cd_branch.pk


def test_member_create_with_a_bad_id_shows_the_reason_on_the_field(tree):
    client = client_for(tree.users["cd_union_admin"])
    good = make_id_number(seq=77)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    response = client.post(
        reverse("member_create", args=[tree.cd_union.pk]),
        {"name": "孙丽", "id_number": bad, "phone": "13700001111"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["id_number"]
    assert response.context["form"].data["phone"] == "13700001111"
    response = client.post(
        reverse("member_create", args=[tree.cd_union.pk]),
        {"name": "孙丽", "id_number": good, "phone": "13700001111"},
    )
    assert response.status_code == 302
    member = Member.objects.get(name="孙丽")
    assert member.id_number_masked == good[:4] + "*" * 10 + good[-4:]
    tree.cd_union.refresh_from_db()
    assert tree.cd_union.member_count == 3


def test_member_create_refused_on_a_county(tree):
    client = client_for(tree.users["chengdu_admin"])
    response = client.post(
        reverse("member_create", args=[tree.jinjiang.pk]),
        {"name": "钱进", "id_number": make_id_number(seq=78)},
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


def test_member_pages_mask_personal_numbers(tree):
    client = client_for(tree.users["chengdu_admin"])
    body = client.get(reverse("member_detail", args=[tree.cd_member.pk])).content.decode()
    assert "138****1234" in body
    assert "13800001234" not in body
    assert make_id_number(seq=11) not in body


def test_member_search_by_phone_tail_and_pinyin(tree):
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("member_list", args=[tree.chengdu.pk])
    by_phone = client.get(url, {"q": "1234"})
    assert [m.name for m in by_phone.context["page"].object_list] == ["张伟"]
    by_pinyin = client.get(url, {"q": "ln"})
    assert [m.name for m in by_pinyin.context["page"].object_list] == ["李娜"]
    by_id_tail = client.get(url, {"q": make_id_number(seq=33)[-4:]})
    assert [m.name for m in by_id_tail.context["page"].object_list] == ["王强"]


def test_edit_leave_and_transfer_pages(tree):
    client = client_for(tree.users["chengdu_admin"])
    member = tree.cd_member2
    response = client.post(
        reverse("member_edit", args=[member.pk]),
        {"version": member.version, "name": "李娜娜", "phone": "13600002222"},
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.name, member.phone) == ("李娜娜", "13600002222")

    # Within the cadre's own city the transfer is accepted at once.
    response = client.post(
        reverse("member_transfer", args=[member.pk]), {"to_unit_code": tree.cd_team.code}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.unit_id == tree.cd_team.pk

    # Into another city it waits for the receiving union.
    response = client.post(
        reverse("member_transfer", args=[member.pk]),
        {"to_unit_code": tree.my_union.code, "reason": "工作调动"},
    )
    assert response.status_code == 302
    transfer = MemberTransfer.objects.get(member=member, status=TransferStatus.PENDING)
    member.refresh_from_db()
    assert member.unit_id == tree.cd_team.pk

    mianyang = client_for(tree.users["mianyang_admin"])
    inbox = mianyang.get(reverse("transfer_inbox"))
    assert [t.pk for t in inbox.context["incoming"]] == [transfer.pk]
    response = mianyang.post(reverse("transfer_decide", args=[transfer.pk, "accept"]))
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.unit_id == tree.my_union.pk
    tree.refresh()
    assert (tree.cd_team.member_count, tree.my_union.member_count) == (1, 2)

    response = mianyang.post(
        reverse("member_leave", args=[member.pk]), {"reason": "退休", "left_on": "2026-11-01"}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == MemberStatus.LEFT


def test_reject_needs_a_reason(tree):
    transfer = MemberTransfer.objects.create(
        member=tree.cd_member2,
        from_unit=tree.cd_union,
        to_unit=tree.my_union,
        requested_by=tree.users["chengdu_admin"],
    )
    client = client_for(tree.users["mianyang_admin"])
    client.post(reverse("transfer_decide", args=[transfer.pk, "reject"]), {"note": ""})
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PENDING
    client.post(reverse("transfer_decide", args=[transfer.pk, "reject"]), {"note": "查无此人"})
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.REJECTED


def test_grant_a_role_to_a_new_account_and_revoke_it(tree):
    client = client_for(tree.users["cd_union_admin"])
    url = reverse("role_list", args=[tree.cd_union.pk])
    response = client.post(
        url,
        {
            "username": "new_staff",
            "full_name": "新干事",
            "password": "Strong-pass-2026",
            "kind": "staff",
        },
    )
    assert response.status_code == 302
    role = Role.objects.get(user__username="new_staff")
    assert (role.org_id, role.kind, role.org_only) == (tree.cd_union.pk, "staff", False)
    # Nobody hands out the export of personal data they do not hold.
    response = client.post(
        url, {"username": "new_staff", "kind": "viewer", "may_export_personal_data": "on"}
    )
    assert response.status_code == 200
    assert not Role.objects.filter(user__username="new_staff", kind="viewer").exists()
    response = client.post(reverse("role_revoke", args=[tree.cd_union.pk, role.pk]))
    assert response.status_code == 302
    assert not Role.objects.filter(pk=role.pk).exists()
    assert AuditEntry.objects.filter(action="revoke").count() == 1


def test_member_import_page_success_and_failure(tree):
    client = client_for(tree.users["cd_union_admin"])
    url = reverse("import_upload", args=[tree.cd_union.pk, "members"])
    header = "姓名*,身份证号*,单位编码*,手机号\n"
    good = f"周杰,{make_id_number(seq=201)},{tree.cd_team.code},13500000001\n"
    bad = f"吴敏,{make_id_number(seq=202)[:-1]}0,{tree.cd_team.code},\n"
    upload = io.BytesIO((header + good + bad).encode("utf-8-sig"))
    upload.name = "members.csv"
    response = client.post(url, {"file": upload})
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("import_result", args=[job.pk])
    assert not job.succeeded and job.error_count == 1 and job.errors[0]["row"] == 3
    assert not Member.objects.filter(name="周杰").exists()
    result = client.get(response["Location"])
    assert result.status_code == 200
    download = client.get(reverse("import_errors", args=[job.pk]))
    book = load_workbook(io.BytesIO(b"".join(download.streaming_content)))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[1][0] == 3 and rows[1][1] == "吴敏"

    upload = io.BytesIO((header + good).encode("utf-8"))
    upload.name = "members.csv"
    client.post(url, {"file": upload})
    assert Member.objects.get(name="周杰").unit_id == tree.cd_team.pk


def test_import_template_download(tree):
    client = client_for(tree.users["cd_union_admin"])
    response = client.get(reverse("import_template", args=["members"]))
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert next(book.active.iter_rows(values_only=True))[:3] == ("姓名*", "身份证号*", "单位编码*")


@pytest.mark.parametrize("personal", [False, True])
def test_member_export_is_masked_unless_permitted(tree, personal):
    client = client_for(tree.users["province_admin"])
    url = reverse("member_export", args=[tree.chengdu.pk])
    response = client.get(url, {"personal": "1"} if personal else {})
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    ids = sorted(row[3] for row in list(book.active.iter_rows(values_only=True))[1:])
    expected = sorted(make_id_number(seq=s) for s in (11, 22, 33))
    if personal:
        assert ids == expected
    else:
        assert ids == sorted(e[:4] + "*" * 10 + e[-4:] for e in expected)
    assert AuditEntry.objects.filter(action="export").count() == 1


def test_personal_export_refused_without_the_grant(tree):
    client = client_for(tree.users["chengdu_admin"])
    response = client.get(reverse("member_export", args=[tree.chengdu.pk]), {"personal": "1"})
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="export").exists()


def test_audit_log_page_is_scoped(tree):
    client = client_for(tree.users["chengdu_admin"])
    response = client.get(reverse("audit_list"))
    orgs = {e.org.ancestor_1 for e in response.context["page"].object_list if e.org}
    assert orgs == {tree.chengdu.pk}
