"""Exports of unions and members: exactly the rows in the user's scope, personal data only
with its own permission, every export in the audit log, and no formulas from user text."""

import datetime
import io

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from conftest import login, make_id_number
from gonghui.audit.models import AuditAction, AuditEntry
from gonghui.core.xlsx import Sheet, write_xlsx
from gonghui.orgs import exports, services
from gonghui.orgs.models import OrgKind, RoleKind
from gonghui.orgs.scoping import SYSTEM

CHENGDU_CODES = {
    "5101",
    "510104",
    "510104001",
    "510104001001",
    "510104001001B1",
    "510104001001B1T1",
}
MIANYANG_CODES = {"5107", "510703", "510703001", "510703001001"}

ZHANG_ID = make_id_number(seq=11)
LI_ID = make_id_number(seq=22)
WANG_ID = make_id_number(seq=33)
LIU_ID = make_id_number(region="510703", seq=44)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def read(sheet_or_bytes):
    """(headers, rows) of the first sheet, and every cell's data type."""
    if isinstance(sheet_or_bytes, Sheet):
        buffer = io.BytesIO()
        write_xlsx(sheet_or_bytes, buffer)
        data = buffer.getvalue()
    else:
        data = sheet_or_bytes
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    types = {c.data_type for row in ws.iter_rows() for c in row}
    return rows[0], rows[1:], types


def column(headers, rows, name):
    index = headers.index(name)
    return [r[index] for r in rows]


def in_both_languages(msgid):
    with translation.override("zh-hans"):
        return {msgid, translation.gettext(msgid)}


def exports_logged():
    return list(AuditEntry.objects.filter(action=AuditAction.EXPORT).order_by("id"))


# --- unions -------------------------------------------------------------------------------


def test_org_export_of_a_city_cadre_holds_exactly_their_subtree(tree):
    headers, rows, _types = read(exports.org_sheet(tree.users["chengdu_admin"], tree.chengdu))
    assert headers == [
        "Name",
        "Code",
        "Kind",
        "Parent union",
        "Parent code",
        "Industry",
        "Address",
        "Members registered here",
        "Members in subtree",
        "Status",
    ]
    codes = column(headers, rows, "Code")
    assert set(codes) == CHENGDU_CODES and len(codes) == len(CHENGDU_CODES)
    assert codes[0] == "5101"  # in tree order, the root first
    by_code = {r[1]: r for r in rows}
    assert by_code["5101"][3:5] == ["四川省总工会", "51"]
    assert by_code["510104001001"][2] == "Grassroots union"
    assert by_code["510104001001"][5] == "Manufacturing"
    assert by_code["510104001001"][7:9] == [2, 3]
    assert by_code["5101"][7:9] == [0, 3]
    assert by_code["510104001001B1T1"][7:9] == [1, 1]
    assert by_code["510104001001"][9] == "Active"


def test_org_export_never_leaks_another_city(tree):
    # Even asked for the province, the 成都 cadre gets only what they may see.
    _headers, rows, _types = read(exports.org_sheet(tree.users["chengdu_admin"], tree.province))
    codes = {r[1] for r in rows}
    assert codes == CHENGDU_CODES
    assert not codes & MIANYANG_CODES
    assert all("绵阳" not in (r[0] or "") for r in rows)


def test_org_export_of_the_province(tree):
    _headers, rows, _types = read(exports.org_sheet(tree.users["province_admin"], tree.province))
    assert {r[1] for r in rows} == CHENGDU_CODES | MIANYANG_CODES | {"51"}
    root = next(r for r in rows if r[1] == "51")
    assert root[3:5] == [None, None] and root[8] == 4  # no parent: empty cells


def test_org_export_of_an_org_only_role(tree):
    _headers, rows, _types = read(exports.org_sheet(tree.users["cd_union_only"], tree.cd_union))
    assert [r[1] for r in rows] == ["510104001001"]


def test_org_export_is_audit_logged(tree):
    user = tree.users["chengdu_viewer"]
    exports.org_sheet(user, tree.chengdu)
    (entry,) = exports_logged()
    assert (entry.actor, entry.org, entry.target_type, entry.target_id) == (
        user,
        tree.chengdu,
        "orgs.org",
        str(tree.chengdu.pk),
    )
    assert entry.summary == "Exported the unions of the subtree"


# --- members ------------------------------------------------------------------------------


def test_member_export_is_masked_by_default_and_scoped(tree):
    headers, rows, _types = read(
        exports.member_sheet(tree.users["chengdu_admin"], tree.province, personal=False)
    )
    names = column(headers, rows, "Name")
    assert sorted(names) == sorted(["张伟", "李娜", "王强"])  # never 刘芳 of 绵阳
    ids = column(headers, rows, "ID number")
    assert sorted(ids) == sorted([n[:4] + "*" * 10 + n[-4:] for n in (ZHANG_ID, LI_ID, WANG_ID)])
    phones = dict(zip(names, column(headers, rows, "Mobile phone"), strict=True))
    assert phones["张伟"] == "138****1234"
    assert phones["李娜"] in ("", None)
    cells = {str(v) for r in rows for v in r}
    for full in (ZHANG_ID, LI_ID, WANG_ID, LIU_ID, "13800001234"):
        assert full not in cells
    assert not any("绵阳" in c or "长虹" in c for c in cells)


def test_member_export_columns(tree):
    headers, rows, _types = read(
        exports.member_sheet(tree.users["cd_union_admin"], tree.cd_union, personal=False)
    )
    assert headers == [
        "Name",
        "Gender",
        "Date of birth",
        "ID number",
        "Unit",
        "Unit code",
        "Mobile phone",
        "Ethnic group",
        "Education",
        "Post or trade",
        "Migrant worker",
        "Joined the union on",
    ]
    zhang = next(r for r in rows if r[0] == "张伟")
    assert zhang[1] == "Male"
    assert zhang[2] == datetime.datetime(1990, 3, 7)
    assert zhang[4:6] == ["成都华信机械有限公司工会委员会", "510104001001"]
    assert zhang[10] == "no"
    assert {r[0] for r in rows} == {"张伟", "李娜", "王强"}


def test_member_export_with_personal_data_needs_the_permission(tree):
    for username in ("chengdu_admin", "chengdu_viewer", "cd_union_admin", "mianyang_admin"):
        with pytest.raises(PermissionDenied):
            exports.member_sheet(tree.users[username], tree.chengdu, personal=True)
    assert exports_logged() == []


def test_member_export_with_personal_data(tree):
    user = tree.users["province_admin"]
    headers, rows, _types = read(exports.member_sheet(user, tree.province, personal=True))
    by_name = dict(zip(column(headers, rows, "Name"), rows, strict=True))
    assert set(by_name) == {"张伟", "李娜", "王强", "刘芳"}
    id_col, phone_col = headers.index("ID number"), headers.index("Mobile phone")
    assert by_name["张伟"][id_col] == ZHANG_ID and by_name["张伟"][phone_col] == "13800001234"
    assert by_name["刘芳"][id_col] == LIU_ID and by_name["刘芳"][phone_col] == "13900005678"
    assert by_name["王强"][id_col] == WANG_ID
    (entry,) = exports_logged()
    assert entry.actor == user and entry.org == tree.province
    assert "WITH personal data" in entry.summary


def test_personal_export_holds_only_members_the_personal_grant_covers(tree):
    """A personal-data grant limited to one union does not reach the members of its
    workshops, even when another role lets the user see them."""
    user = tree.users["nobody"]
    services.grant_role(
        actor=SYSTEM,
        user=user,
        org=tree.cd_union,
        kind=RoleKind.VIEWER,
        org_only=True,
        may_export_personal_data=True,
    )
    services.grant_role(actor=SYSTEM, user=user, org=tree.chengdu, kind=RoleKind.VIEWER)
    headers, rows, _types = read(exports.member_sheet(user, tree.cd_union, personal=True))
    ids = set(column(headers, rows, "ID number"))
    assert ids == {ZHANG_ID, LI_ID}
    assert WANG_ID not in {str(v) for r in rows for v in r}
    # Masked, the same user sees the whole subtree.
    headers, rows, _types = read(exports.member_sheet(user, tree.cd_union, personal=False))
    assert {r[0] for r in rows} == {"张伟", "李娜", "王强"}


def test_member_export_leaves_out_members_who_left(tree):
    services.mark_member_left(actor=SYSTEM, member=tree.cd_member2, reason="退休")
    _headers, rows, _types = read(
        exports.member_sheet(tree.users["chengdu_admin"], tree.chengdu, personal=False)
    )
    assert {r[0] for r in rows} == {"张伟", "王强"}


def test_every_member_export_is_audit_logged(tree):
    exports.member_sheet(tree.users["chengdu_admin"], tree.chengdu, personal=False)
    exports.member_sheet(tree.users["province_admin"], tree.mianyang, personal=True)
    masked, personal = exports_logged()
    assert (masked.actor, masked.org, masked.action) == (
        tree.users["chengdu_admin"],
        tree.chengdu,
        AuditAction.EXPORT,
    )
    assert masked.summary == "Exported members (masked)"
    assert (personal.actor, personal.org) == (tree.users["province_admin"], tree.mianyang)
    assert personal.summary == "Exported members WITH personal data (ID and phone numbers)"


# --- the pages ----------------------------------------------------------------------------


def body(response):
    return b"".join(response.streaming_content)


def test_member_export_page_masked(client, tree):
    login(client, tree.users["chengdu_staff"])
    response = client.get(reverse("member_export", args=[tree.chengdu.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "members-5101.xlsx" in response["Content-Disposition"]
    _headers, rows, _types = read(body(response))  # the page speaks Chinese: by position
    assert {r[0] for r in rows} == {"张伟", "李娜", "王强"}
    assert {r[3] for r in rows} == {n[:4] + "*" * 10 + n[-4:] for n in (ZHANG_ID, LI_ID, WANG_ID)}
    assert len(exports_logged()) == 1


def test_member_export_page_refuses_personal_data_without_the_permission(client, tree):
    login(client, tree.users["chengdu_admin"])
    url = reverse("member_export", args=[tree.chengdu.pk]) + "?personal=1"
    assert url == f"/orgs/{tree.chengdu.pk}/members/export.xlsx?personal=1"
    response = client.get(url)
    assert response.status_code == 403
    assert exports_logged() == []


def test_member_export_page_with_personal_data(client, tree):
    login(client, tree.users["province_admin"])
    response = client.get(f"/orgs/{tree.chengdu.pk}/members/export.xlsx?personal=1")
    assert response.status_code == 200
    assert "members-5101-personal.xlsx" in response["Content-Disposition"]
    _headers, rows, _types = read(body(response))
    assert {r[3] for r in rows} == {ZHANG_ID, LI_ID, WANG_ID}
    assert {r[6] for r in rows} == {"13800001234", None}
    (entry,) = exports_logged()
    assert entry.actor == tree.users["province_admin"]
    # Written in the page's language.
    assert entry.summary in in_both_languages(
        "Exported members WITH personal data (ID and phone numbers)"
    )


def test_export_pages_outside_scope_are_404(client, tree):
    login(client, tree.users["chengdu_admin"])
    for url in (
        f"/orgs/{tree.mianyang.pk}/members/export.xlsx",
        f"/orgs/{tree.mianyang.pk}/members/export.xlsx?personal=1",
        f"/orgs/{tree.my_union.pk}/export.xlsx",
    ):
        assert client.get(url).status_code == 404, url
    assert exports_logged() == []


def test_export_pages_need_a_sign_in(client, tree):
    response = client.get(f"/orgs/{tree.chengdu.pk}/members/export.xlsx")
    assert response.status_code == 302
    assert exports_logged() == []


def test_org_export_page(client, tree):
    login(client, tree.users["mianyang_admin"])
    response = client.get(f"/orgs/{tree.mianyang.pk}/export.xlsx")
    assert response.status_code == 200
    assert "unions-5107.xlsx" in response["Content-Disposition"]
    _headers, rows, _types = read(body(response))
    assert {r[1] for r in rows} == MIANYANG_CODES
    (entry,) = exports_logged()
    assert entry.actor == tree.users["mianyang_admin"] and entry.org == tree.mianyang


# --- formulas -----------------------------------------------------------------------------


def test_text_that_looks_like_a_formula_is_written_as_text():
    dangerous = [
        '=HYPERLINK("http://evil","x")',
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\t=1+1",
        "\r=1+1",
    ]
    sheet = Sheet(
        title="t",
        headers=["=cmd|' /C calc'!A0", "plain"],
        rows=[[v, "ok"] for v in dangerous] + [[-5, 3.5], [None, "张三"]],
    )
    headers, rows, types = read(sheet)
    assert "f" not in types
    assert headers == ["'=cmd|' /C calc'!A0", "plain"]
    # (XML turns the carriage return into a line feed on the way back.)
    assert [r[0] for r in rows[: len(dangerous)]] == [
        "'" + v.replace("\r", "\n") for v in dangerous
    ]
    assert rows[-2] == [-5, 3.5]  # numbers stay numbers
    assert rows[-1][1] == "张三" and rows[-1][0] in ("", None)


def test_dates_and_aware_datetimes_are_written():
    aware = datetime.datetime(2024, 3, 1, 8, 30, tzinfo=datetime.UTC)
    _headers, rows, _types = read(
        Sheet(title="t", headers=["a", "b"], rows=[[aware, datetime.date(2024, 3, 2)]])
    )
    assert rows == [[datetime.datetime(2024, 3, 1, 8, 30), datetime.datetime(2024, 3, 2)]]


def test_member_names_that_look_like_formulas_are_exported_as_text(tree):
    services.register_member(
        actor=SYSTEM,
        unit=tree.cd_union,
        name="=1+2",
        id_number=make_id_number(region="510105", seq=1),
    )
    headers, rows, types = read(
        exports.member_sheet(tree.users["chengdu_admin"], tree.cd_union, personal=False)
    )
    assert "f" not in types
    assert "'=1+2" in column(headers, rows, "Name")


def test_org_names_that_look_like_formulas_are_exported_as_text(tree):
    services.create_org(
        actor=SYSTEM,
        parent=tree.chunxilu,
        name="@恶意公司工会",
        code="AT1",
        kind=OrgKind.GRASSROOTS,
    )
    _headers, rows, types = read(exports.org_sheet(tree.users["chengdu_admin"], tree.chengdu))
    assert "f" not in types
    assert "'@恶意公司工会" in {r[0] for r in rows}
