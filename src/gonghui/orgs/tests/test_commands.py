"""The `gonghui` management commands of the orgs app: tree, import_members, import_orgs."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from conftest import make_id_number
from gonghui.audit.models import AuditAction, AuditEntry
from gonghui.orgs import importing, selectors, services
from gonghui.orgs.models import ImportJob, Member, MemberSource, Org, OrgKind, OrgStatus
from gonghui.orgs.scoping import SYSTEM

MEMBER_HEADERS = [c.header for c in importing.MEMBER_COLUMNS]
ORG_HEADERS = [c.header for c in importing.ORG_COLUMNS]


@pytest.fixture(autouse=True)
def _english_and_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    with translation.override("en"):
        yield


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command(*args, stdout=out, stderr=err)
    return str(info.value), err.getvalue()


def write_csv(path, headers, rows, encoding="utf-8-sig"):
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(headers)
        writer.writerows(rows)
    return str(path)


def member(name, seq, unit_code, **extra):
    row = dict.fromkeys(MEMBER_HEADERS, "")
    row.update(
        {"姓名*": name, "身份证号*": make_id_number("510105", seq=seq), "单位编码*": unit_code}
    )
    row.update(extra)
    return [row[h] for h in MEMBER_HEADERS]


# --- tree ---------------------------------------------------------------------------------


def check_json_node(node):
    """Exactly the four keys at every level, and the subtree member count of that union."""
    assert set(node) == {"name", "kind", "member_count", "children"}
    org = Org.objects.get(name=node["name"])
    assert node["kind"] == org.kind
    assert node["member_count"] == selectors.subtree_member_count(org)
    for child in node["children"]:
        check_json_node(child)


def count_nodes(node):
    return 1 + sum(count_nodes(c) for c in node["children"])


def test_tree_json_of_the_whole_province(tree):
    out, _err = run("tree", "--json", "--depth", "9")
    data = json.loads(out)
    check_json_node(data)
    assert count_nodes(data) == Org.objects.count() == 11
    assert (data["name"], data["kind"], data["member_count"]) == ("四川省总工会", "province", 4)
    assert [(c["name"], c["member_count"]) for c in data["children"]] == [
        ("成都市总工会", 3),
        ("绵阳市总工会", 1),
    ]
    team = data["children"][0]["children"][0]["children"][0]["children"][0]["children"][0]
    assert team["name"] == "华信机加车间"
    assert team["children"] == [
        {"name": "华信机加车间甲班", "kind": "team", "member_count": 1, "children": []}
    ]
    assert "成都" in out  # not escaped to \\u


def test_tree_json_depth_limits_the_levels(tree):
    data = json.loads(run("tree", "5101", "--json", "--depth", "2")[0])
    check_json_node(data)
    assert data["name"] == "成都市总工会" and data["member_count"] == 3
    (county,) = data["children"]
    (township,) = county["children"]
    assert township["name"] == "春熙路街道工会"
    assert township["member_count"] == 3  # counts the whole subtree below the cut
    assert township["children"] == []
    zero = json.loads(run("tree", "5101", "--json", "--depth", "0")[0])
    assert zero == {"name": "成都市总工会", "kind": "city", "member_count": 3, "children": []}


def test_tree_text_output(tree):
    out, _err = run("tree")
    assert out.splitlines() == [
        "四川省总工会 [Provincial federation] 4",
        "  成都市总工会 [City federation] 3",
        "  绵阳市总工会 [City federation] 1",
    ]


def test_tree_text_with_depth(tree):
    out, _err = run("tree", "成都华信机械有限公司工会委员会", "--depth", "5")
    assert out.splitlines() == [
        "成都华信机械有限公司工会委员会 [Grassroots union] 3",
        "  华信机加车间 [Workshop or branch union] 1",
        "    华信机加车间甲班 [Team or group] 1",
    ]
    assert run("tree", "5107", "--depth", "0")[0].splitlines() == [
        "绵阳市总工会 [City federation] 1"
    ]


def test_tree_finds_an_org_by_code_id_or_name(tree):
    by_code = run("tree", "510104", "--json")[0]
    by_id = run("tree", str(tree.jinjiang.pk), "--json")[0]
    by_name = run("tree", "锦江区总工会", "--json")[0]
    assert by_code == by_id == by_name
    assert json.loads(by_code)["name"] == "锦江区总工会"


def test_tree_leaves_out_dissolved_unions(tree):
    closed = services.create_org(
        actor=SYSTEM, parent=tree.chunxilu, name="已撤销工会", code="GONE", kind=OrgKind.GRASSROOTS
    )
    services.dissolve_org(actor=SYSTEM, org=closed, reason="注销")
    assert Org.objects.get(code="GONE").status == OrgStatus.DISSOLVED
    data = json.loads(run("tree", "510104001", "--json", "--depth", "3")[0])
    assert [c["name"] for c in data["children"]] == ["成都华信机械有限公司工会委员会"]


def test_tree_of_a_dissolved_union_is_a_command_error(tree):
    closed = services.create_org(
        actor=SYSTEM, parent=tree.chunxilu, name="已撤销工会", code="GONE", kind=OrgKind.GRASSROOTS
    )
    services.dissolve_org(actor=SYSTEM, org=closed, reason="注销")
    message, _err = run_failing("tree", "GONE")
    assert "已撤销工会" in message and "dissolved" in message


@pytest.mark.parametrize("ref", ["NO-SUCH-UNION", "999999", "不存在的工会"])
def test_tree_of_an_unknown_org(tree, ref):
    message, _err = run_failing("tree", ref)
    assert "No union" in message and ref in message


def test_tree_of_an_empty_database(db):
    message, _err = run_failing("tree")
    assert "No union" in message


# --- import_members -----------------------------------------------------------------------


def test_import_members_command(tree, tmp_path):
    path = write_csv(
        tmp_path / "members.csv",
        MEMBER_HEADERS,
        [member("赵六", 1, tree.cd_union.code), member("钱七", 2, tree.cd_team.code)],
    )
    out, _err = run("import_members", path, "--org", "5101")
    assert out.startswith("Imported 2 of 2 rows in ")
    assert Member.objects.filter(source=MemberSource.IMPORT).count() == 2
    assert Org.objects.get(pk=tree.cd_team.pk).member_count == 2
    job = ImportJob.objects.get()
    assert (job.succeeded, job.org, job.user, job.file_name) == (
        True,
        tree.chengdu,
        None,
        "members.csv",
    )
    entry = AuditEntry.objects.get(action=AuditAction.IMPORT)
    assert entry.actor is None and entry.actor_name == "system"


def test_import_members_command_defaults_to_the_root(tree, tmp_path):
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADERS, [member("孙八", 3, tree.my_union.code)])
    out, _err = run("import_members", path)
    assert "Imported 1 of 1 rows" in out
    assert ImportJob.objects.get().org == tree.province
    assert Org.objects.get(pk=tree.my_union.pk).member_count == 2


def test_import_members_command_from_xlsx(tree, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["姓名", "身份证号码", "工会编码"])
    wb.active.append(["周九", make_id_number("510105", seq=4), tree.cd_union.code])
    wb.save(tmp_path / "m.xlsx")
    out, _err = run("import_members", str(tmp_path / "m.xlsx"), "--org", "510104001001")
    assert "Imported 1 of 1 rows" in out
    assert Member.objects.filter(name="周九", unit=tree.cd_union).exists()


def test_import_members_command_reports_every_bad_row(tree, tmp_path):
    path = write_csv(
        tmp_path / "bad.csv",
        MEMBER_HEADERS,
        [
            member("好人", 1, tree.cd_union.code),
            member("", 2, tree.cd_union.code),
            member("坏人", 3, tree.my_union.code),
            member("三", 4, tree.cd_union.code, **{"手机号": "12"}),
        ],
    )
    message, err = run_failing("import_members", path, "--org", "5101")
    assert message.startswith("Nothing imported: 3 of 4 rows have errors")
    job = ImportJob.objects.get()
    assert f"(all listed in {job.errors_file.path})" in message
    lines = err.splitlines()
    assert lines[0] == "row 3: name missing"
    assert lines[1] == f"row 4: unknown unit code {tree.my_union.code}"
    assert lines[2].startswith("row 5: The mobile phone number must be 11 digits")
    assert len(lines) == 3
    assert not Member.objects.filter(source=MemberSource.IMPORT).exists()
    assert Org.objects.get(pk=tree.cd_union.pk).member_count == 2


def test_import_members_command_says_how_many_more(tree, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "ERRORS_KEPT_INLINE", 2)
    rows = [member(f"人{i}", i, "NOPE") for i in range(1, 6)]
    path = write_csv(tmp_path / "bad.csv", MEMBER_HEADERS, rows)
    message, err = run_failing("import_members", path)
    assert "5 of 5 rows" in message
    assert err.splitlines() == [
        "row 2: unknown unit code NOPE",
        "row 3: unknown unit code NOPE",
        "... 3 more",
    ]


def test_import_members_command_file_errors(tree, tmp_path):
    path = write_csv(tmp_path / "wrong.csv", ["名字", "电话"], [["张三", "13800000000"]])
    message, _err = run_failing("import_members", path)
    assert message.startswith("Required columns are missing")
    assert "身份证号" in message
    assert ImportJob.objects.get().succeeded is False

    message, _err = run_failing("import_members", str(tmp_path / "absent.csv"))
    assert message.startswith("No file")

    path = write_csv(tmp_path / "ok.csv", MEMBER_HEADERS, [member("甲", 1, tree.cd_union.code)])
    message, _err = run_failing("import_members", path, "--org", "NO-SUCH")
    assert message.startswith("No such union")
    assert not Member.objects.filter(source=MemberSource.IMPORT).exists()


def test_import_members_command_reads_gbk(tree, tmp_path):
    path = write_csv(
        tmp_path / "gbk.csv",
        MEMBER_HEADERS,
        [member("欧阳娜", 5, tree.cd_union.code, **{"学历": "大专"})],
        encoding="gbk",
    )
    out, _err = run("import_members", path, "--org", "5101")
    assert "Imported 1 of 1 rows" in out
    assert Member.objects.get(name="欧阳娜").education == "college"


# --- import_orgs --------------------------------------------------------------------------


def test_import_orgs_command(tree, tmp_path):
    path = write_csv(
        tmp_path / "orgs.csv",
        ORG_HEADERS,
        [
            ["新华机加车间", "NH-B1", "车间", "NH", "", "", ""],
            ["新华电子有限公司工会", "NH", "基层工会", "510104001", "制造业", "", ""],
        ],
    )
    out, _err = run("import_orgs", path, "--org", "5101")
    assert out.startswith("Imported 2 of 2 rows")
    branch = Org.objects.get(code="NH-B1")
    assert branch.parent.code == "NH" and branch.parent.parent == tree.chunxilu
    data = json.loads(run("tree", "NH", "--json")[0])
    assert data == {
        "name": "新华电子有限公司工会",
        "kind": "grassroots",
        "member_count": 0,
        "children": [{"name": "新华机加车间", "kind": "branch", "member_count": 0, "children": []}],
    }


def test_import_orgs_command_failure(tree, tmp_path):
    path = write_csv(
        tmp_path / "orgs.csv",
        ORG_HEADERS,
        [
            ["甲", "A1", "基层工会", "510104001", "", "", ""],
            ["乙", "A1", "基层工会", "510104001", "", "", ""],
            ["丙", "A3", "班组", "510104001", "", "", ""],
            ["丁", "A4", "基层工会", tree.chengxiang.code, "", "", ""],
        ],
    )
    message, err = run_failing("import_orgs", path, "--org", "5101")
    assert message.startswith("Nothing imported: 3 of 4 rows have errors")
    assert err.splitlines() == [
        "row 3: duplicate code A1, also in row 2",
        "row 4: a Team or group cannot be placed under a Township or street union",
        f"row 5: unknown parent code {tree.chengxiang.code}",
    ]
    assert not Org.objects.filter(code__in=["A1", "A3", "A4"]).exists()


def test_import_orgs_command_needs_rows(tree, tmp_path):
    path = write_csv(tmp_path / "empty.csv", ORG_HEADERS, [])
    message, _err = run_failing("import_orgs", path)
    assert message == "The file has no data rows."
