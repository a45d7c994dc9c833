"""Imports of members and unions: all rows or none, with every bad row and its reasons.

Reasons are gettext messages; the tests run them in English (explicitly activated) so the
assertions hold whatever translations are compiled.
"""

import datetime
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count
from django.utils import translation
from openpyxl import Workbook, load_workbook

from conftest import make_id_number
from gonghui.audit.models import AuditAction, AuditEntry
from gonghui.orgs import importing, selectors, services
from gonghui.orgs.identity import decrypt_id_number, id_number_hash
from gonghui.orgs.importing import ImportRejected, import_members, import_orgs, run_import
from gonghui.orgs.models import (
    MAX_DEPTH,
    ImportJob,
    Member,
    MemberSource,
    Org,
    OrgKind,
    OrgStatus,
)
from gonghui.orgs.scoping import SYSTEM

MEMBER_HEADERS = [c.header for c in importing.MEMBER_COLUMNS]
ORG_HEADERS = [c.header for c in importing.ORG_COLUMNS]


@pytest.fixture(autouse=True)
def _english_and_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    with translation.override("en"):
        yield


# --- building files ---------------------------------------------------------------------


def member_row(
    name="赵六",
    id_number=None,
    unit_code="510104001001",
    phone="",
    ethnicity="",
    education="",
    job="",
    migrant="",
    joined_on="",
):
    return [
        name,
        id_number or make_id_number(region="510105", seq=501),
        unit_code,
        phone,
        ethnicity,
        education,
        job,
        migrant,
        joined_on,
    ]


def csv_bytes(headers, rows, encoding="utf-8-sig"):
    buffer = io.StringIO(newline="")
    import csv

    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(headers, rows):
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def ids(n, *, start=1, region="510105"):
    """n distinct valid ID numbers, not used by the fixture."""
    return [make_id_number(region=region, seq=start + i) for i in range(n)]


def run_members(actor, org, data, name="members.csv"):
    return run_import(
        actor=actor, org=org, kind=ImportJob.Kind.MEMBERS, upload=io.BytesIO(data), file_name=name
    )


def run_orgs(actor, org, data, name="orgs.csv"):
    return run_import(
        actor=actor, org=org, kind=ImportJob.Kind.ORGS, upload=io.BytesIO(data), file_name=name
    )


def import_as_province(tree, rows):
    """The member sheet of `rows`, imported by the province's admin at the root."""
    return import_members(
        actor=tree.users["province_admin"],
        root=tree.province,
        stream=io.BytesIO(csv_bytes(MEMBER_HEADERS, rows)),
        file_name="m.csv",
    )


def rejected_members(actor, root, rows, headers=MEMBER_HEADERS):
    with pytest.raises(ImportRejected) as info:
        import_members(
            actor=actor, root=root, stream=io.BytesIO(csv_bytes(headers, rows)), file_name="m.csv"
        )
    return info.value


def member_counts():
    """Active members registered directly at each org, by code."""
    counts = dict(
        Member.objects.filter(status="active").values_list("unit__code").annotate(n=Count("id"))
    )
    return {code: counts.get(code, 0) for code in Org.objects.values_list("code", flat=True)}


def error_rows(job):
    wb = load_workbook(job.errors_file.path, read_only=True)
    rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    return rows


# --- members: good files ----------------------------------------------------------------


def test_member_csv_with_template_headers_imports_every_row(tree):
    admin = tree.users["chengdu_admin"]
    a, b, c = ids(3)
    rows = [
        member_row(
            "赵六",
            a,
            tree.cd_union.code,
            "138 0000 1111",
            "汉族",
            "本科",
            "电工",
            "是",
            "2024-03-01",
        ),
        member_row("钱七", b, tree.cd_branch.code, "+8613900002222", "彝族", "高中", "", "否", ""),
        member_row("孙 八", c, tree.cd_team.code, "", "", "", "", "", "2023/5/6"),
    ]
    before = member_counts()
    job = run_members(admin, tree.chengdu, csv_bytes(MEMBER_HEADERS, rows))

    assert job.succeeded, job.errors or job.file_error
    assert (job.total_rows, job.imported_rows, job.error_count) == (3, 3, 0)
    assert job.kind == ImportJob.Kind.MEMBERS and job.user == admin and job.org == tree.chengdu
    zhao = Member.objects.get(id_number_hash=id_number_hash(a))
    assert zhao.name == "赵六" and zhao.unit == tree.cd_union
    assert decrypt_id_number(zhao.id_number_cipher) == a
    assert zhao.id_number_masked == a[:4] + "*" * 10 + a[-4:]
    assert zhao.id_number_tail == a[-4:]
    assert zhao.birth_date == datetime.date(1990, 3, 7)
    assert zhao.gender == ("M" if int(a[16]) % 2 else "F")
    assert zhao.phone == "13800001111"
    assert (zhao.ethnicity, zhao.education, zhao.job) == ("汉族", "bachelor", "电工")
    assert zhao.is_migrant_worker is True
    assert zhao.joined_on == datetime.date(2024, 3, 1)
    assert zhao.source == MemberSource.IMPORT
    assert zhao.name_initials == "zl"
    qian = Member.objects.get(id_number_hash=id_number_hash(b))
    assert (qian.unit, qian.phone, qian.education) == (tree.cd_branch, "13900002222", "senior")
    assert qian.is_migrant_worker is False
    sun = Member.objects.get(id_number_hash=id_number_hash(c))
    assert sun.name == "孙八"  # whitespace inside a Chinese name is dropped
    assert sun.joined_on == datetime.date(2023, 5, 6)

    after = member_counts()
    assert after[tree.cd_union.code] == before[tree.cd_union.code] + 1
    assert after[tree.cd_branch.code] == before[tree.cd_branch.code] + 1
    assert after[tree.cd_team.code] == before[tree.cd_team.code] + 1
    assert {
        k: v
        for k, v in after.items()
        if k not in {"510104001001", "510104001001B1", "510104001001B1T1"}
    } == {
        k: v
        for k, v in before.items()
        if k not in {"510104001001", "510104001001B1", "510104001001B1T1"}
    }
    assert selectors.subtree_member_count(tree.chengdu) == 6

    entries = AuditEntry.objects.filter(action=AuditAction.IMPORT)
    assert entries.count() == 1
    entry = entries.get()
    assert (entry.actor, entry.org, entry.target_type, entry.target_id) == (
        admin,
        tree.chengdu,
        "orgs.importjob",
        str(job.pk),
    )
    assert "members.csv" in entry.summary and "3" in entry.summary


def test_member_count_is_exact_after_import(tree):
    """The stored counters equal the members actually registered to each unit."""
    rows = [member_row(f"甲{i}", n, tree.cd_team.code) for i, n in enumerate(ids(5))]
    job = run_members(tree.users["chengdu_staff"], tree.chengdu, csv_bytes(MEMBER_HEADERS, rows))
    assert job.succeeded
    for org in Org.objects.all():
        assert org.member_count == Member.objects.filter(unit=org, status="active").count(), org


def test_gbk_encoded_csv(tree):
    a, b = ids(2)
    rows = [
        member_row("欧阳娜", a, tree.cd_union.code, education="大专"),
        member_row("诸葛亮", b, tree.cd_union.code, ethnicity="回族"),
    ]
    data = csv_bytes(MEMBER_HEADERS, rows, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    job = run_members(tree.users["chengdu_admin"], tree.chengdu, data)
    assert job.succeeded, job.errors or job.file_error
    assert set(
        Member.objects.filter(unit=tree.cd_union, source=MemberSource.IMPORT).values_list(
            "name", "education", "ethnicity"
        )
    ) == {("欧阳娜", "college", ""), ("诸葛亮", "", "回族")}


def test_utf8_csv_without_bom(tree):
    data = csv_bytes(MEMBER_HEADERS, [member_row(unit_code=tree.cd_union.code)], encoding="utf-8")
    assert not data.startswith(b"\xef\xbb\xbf")
    job = run_members(tree.users["chengdu_admin"], tree.chengdu, data)
    assert job.succeeded and job.imported_rows == 1


def test_utf8_bom_csv_header_is_recognised(tree):
    data = csv_bytes(MEMBER_HEADERS, [member_row(unit_code=tree.cd_union.code)])
    assert data.startswith(b"\xef\xbb\xbf")
    job = run_members(tree.users["chengdu_admin"], tree.chengdu, data)
    assert job.succeeded and job.imported_rows == 1


def test_xlsx_with_aliases_in_another_order_and_typed_cells(tree):
    a, b = ids(2)
    headers = [
        "公民身份号码",
        "所属单位编码",
        "姓名",
        "手机号码",
        "文化程度",
        "入会时间",
        "农民工",
        "工种",
    ]
    rows = [
        [
            a,
            tree.cd_union.code,
            "周九",
            13812345678,
            "硕士",
            datetime.datetime(2022, 1, 2),
            "是",
            "焊工",
        ],
        [b, tree.cd_team.code, "吴十", None, None, datetime.date(2021, 12, 31), None, None],
        [None, None, None, None, None, None, None, None],  # a blank row is skipped
    ]
    job = run_members(
        tree.users["chengdu_admin"], tree.chengdu, xlsx_bytes(headers, rows), "会员.xlsx"
    )
    assert job.succeeded, job.errors or job.file_error
    assert job.total_rows == 2
    zhou = Member.objects.get(id_number_hash=id_number_hash(a))
    assert (zhou.name, zhou.phone, zhou.education, zhou.job) == (
        "周九",
        "13812345678",
        "master",
        "焊工",
    )
    assert zhou.joined_on == datetime.date(2022, 1, 2) and zhou.is_migrant_worker
    wu = Member.objects.get(id_number_hash=id_number_hash(b))
    assert (wu.unit, wu.joined_on, wu.phone) == (tree.cd_team, datetime.date(2021, 12, 31), "")


def test_english_aliases_and_column_keys(tree):
    a = ids(1)[0]
    headers = ["Name", "ID Number", "Unit Code", "phone"]
    data = csv_bytes(headers, [["Li Lei", a, tree.cd_union.code, "13800000000"]])
    job = run_members(tree.users["chengdu_admin"], tree.chengdu, data)
    assert job.succeeded, job.errors or job.file_error
    assert Member.objects.get(id_number_hash=id_number_hash(a)).name == "LiLei"


def test_the_template_filled_in_imports(tree):
    sheet = importing.template_sheet(ImportJob.Kind.MEMBERS)
    a = ids(1)[0]
    sheet.rows = [member_row("郑一", a, tree.cd_union.code, education="中专", migrant="否")]
    buffer = io.BytesIO()
    importing.write_xlsx(sheet, buffer)
    job = run_members(tree.users["chengdu_admin"], tree.chengdu, buffer.getvalue(), "模板.xlsx")
    assert job.succeeded, job.errors or job.file_error
    assert Member.objects.get(id_number_hash=id_number_hash(a)).education == "senior"


def test_template_example_row_is_valid_apart_from_its_unit():
    sheet = importing.template_sheet(ImportJob.Kind.MEMBERS)
    assert list(sheet.headers) == MEMBER_HEADERS
    example = next(iter(sheet.rows))
    from gonghui.orgs.identity import parse_id_number

    assert parse_id_number(example[1]).value == example[1]
    org_sheet = importing.template_sheet(ImportJob.Kind.ORGS)
    assert list(org_sheet.headers) == ORG_HEADERS


# --- members: unusable files ------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "missing"),
    [
        (["名字", "证件号", "单位"], ["姓名", "身份证号", "单位编码"]),
        (["姓名", "手机号", "单位编码"], ["身份证号"]),
        (ORG_HEADERS, ["姓名", "身份证号"]),
        ([], ["姓名", "身份证号", "单位编码"]),
    ],
)
def test_wrong_or_missing_columns_reject_the_file(tree, headers, missing):
    before = Member.objects.count()
    rows = [["赵六", make_id_number(region="510105", seq=1), tree.cd_union.code]] if headers else []
    job = run_members(tree.users["chengdu_admin"], tree.chengdu, csv_bytes(headers, rows))
    assert not job.succeeded
    assert job.file_error.startswith("Required columns are missing")
    for column in missing:
        assert column in job.file_error
    assert job.error_count == 1 and job.errors == [] and not job.errors_file
    assert Member.objects.count() == before
    assert not AuditEntry.objects.filter(action=AuditAction.IMPORT).exists()


def test_header_only_file_has_no_data_rows(tree):
    job = run_members(
        tree.users["chengdu_admin"], tree.chengdu, csv_bytes(MEMBER_HEADERS, [["", "", ""]])
    )
    assert not job.succeeded
    assert job.file_error == "The file has no data rows."


@pytest.mark.parametrize(
    ("name", "data", "start"),
    [
        ("members.xls", b"\xd0\xcf\x11\xe0 old excel", "Only .xlsx and .csv"),
        ("members.xlsx", b"not a zip file at all", "The file is not a readable .xlsx"),
        ("members.csv", b"\xff\xff\xff\xff\xff\xff", "The CSV file"),
    ],
)
def test_unreadable_files(tree, name, data, start):
    before = Member.objects.count()
    job = run_members(tree.users["chengdu_admin"], tree.chengdu, data, name)
    assert not job.succeeded
    assert job.file_error.startswith(start)
    assert Member.objects.count() == before


def test_file_over_the_size_limit_is_refused_before_reading(tree, settings):
    settings.GONGHUI_IMPORT_MAX_BYTES = 1024 * 1024
    data = csv_bytes(MEMBER_HEADERS, [member_row(unit_code=tree.cd_union.code)])
    upload = SimpleUploadedFile("big.csv", data + b" " * (1024 * 1024))
    job = run_import(
        actor=tree.users["chengdu_admin"],
        org=tree.chengdu,
        kind=ImportJob.Kind.MEMBERS,
        upload=upload,
    )
    assert not job.succeeded and "larger than 1 MB" in job.file_error
    assert job.file_name == "big.csv"
    assert not Member.objects.filter(source=MemberSource.IMPORT).exists()


# --- members: every bad-row reason ------------------------------------------------------


def _bad_id(kind):
    good = make_id_number(region="510105", seq=777)
    if kind == "check":
        return good[:17] + ("0" if good[17] != "0" else "1")
    if kind == "length":
        return good[:17]
    if kind == "birth":
        first17 = "51010519900230777"
        from gonghui.orgs.identity import id_check_char

        return first17 + id_check_char(first17)
    raise AssertionError(kind)


BAD_ROWS = {
    "name missing": (dict(name=""), "name missing"),
    "name too long": (dict(name="长" * 51), "name longer than 50 characters"),
    "ID missing": (dict(id_number=" "), "The ID number is missing."),
    "ID check digit": (dict(id_number=_bad_id("check")), "check digit of the ID number is wrong"),
    "ID length": (dict(id_number=_bad_id("length")), "must have 18 characters, this one has 17"),
    "ID birth date": (dict(id_number=_bad_id("birth")), "impossible date of birth 19900230"),
    "unit missing": (dict(unit_code=""), "unit code missing"),
    "unit unknown": (dict(unit_code="NO-SUCH-UNIT"), "unknown unit code NO-SUCH-UNIT"),
    "phone": (dict(phone="12345"), "mobile phone number must be 11 digits"),
    "date": (dict(joined_on="2024-13-45"), "2024-13-45 is not a date"),
    "education": (dict(education="幼儿园"), "unknown education 幼儿园"),
    "migrant": (dict(migrant="也许"), "migrant worker must be"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_each_bad_row_reason(tree, case):
    changes, reason = BAD_ROWS[case]
    good = member_row("好人", ids(1, start=900)[0], tree.cd_union.code)
    bad = member_row(**{"unit_code": tree.cd_union.code, **changes})
    err = rejected_members(tree.users["chengdu_admin"], tree.chengdu, [good, bad])
    assert err.total_rows == 2
    assert [e.row for e in err.row_errors] == [3]
    assert err.row_errors[0].values == [v.strip() for v in bad]
    assert len(err.row_errors[0].reasons) == 1
    assert reason in err.row_errors[0].reasons[0]
    assert not Member.objects.filter(name="好人").exists()


def test_a_row_with_several_faults_lists_them_all(tree):
    bad = member_row("", _bad_id("check"), "NOPE", "123", "", "幼儿园", "", "x", "yesterday")
    err = rejected_members(tree.users["chengdu_admin"], tree.chengdu, [bad])
    (row,) = err.row_errors
    assert row.row == 2
    joined = " | ".join(row.reasons)
    for part in (
        "name missing",
        "check digit",
        "unknown unit code NOPE",
        "11 digits",
        "unknown education",
        "migrant worker",
        "yesterday is not a date",
    ):
        assert part in joined
    assert len(row.reasons) == 7


def test_unit_outside_scope_is_reported_like_an_unknown_code(tree):
    chengdu_admin = tree.users["chengdu_admin"]
    rows = [
        member_row("甲", ids(1, start=1)[0], tree.my_union.code),  # 绵阳: not theirs
        member_row("乙", ids(1, start=2)[0], "9999999999"),  # does not exist at all
        member_row("丙", ids(1, start=3)[0], tree.fucheng.code),  # 绵阳 county
    ]
    err = rejected_members(chengdu_admin, tree.chengdu, rows)
    reasons = {e.row: e.reasons for e in err.row_errors}
    assert reasons[2] == [f"unknown unit code {tree.my_union.code}"]
    assert reasons[3] == ["unknown unit code 9999999999"]
    assert reasons[4] == [f"unknown unit code {tree.fucheng.code}"]
    for r in reasons.values():
        assert "绵阳" not in r[0] and "长虹" not in r[0] and "涪城" not in r[0]


def test_unit_in_scope_but_outside_the_chosen_root_is_unknown(tree):
    # The province cadre may change 绵阳, but imports into 成都's subtree only place there.
    err = rejected_members(
        tree.users["province_admin"], tree.chengdu, [member_row(unit_code=tree.my_union.code)]
    )
    assert err.row_errors[0].reasons == [f"unknown unit code {tree.my_union.code}"]


def test_org_only_role_cannot_place_members_below_its_union(tree):
    err = rejected_members(
        tree.users["cd_union_only"],
        tree.cd_union,
        [
            member_row("甲", ids(1, start=1)[0], tree.cd_union.code),
            member_row("乙", ids(1, start=2)[0], tree.cd_team.code),
        ],
    )
    assert [(e.row, e.reasons) for e in err.row_errors] == [
        (3, [f"unknown unit code {tree.cd_team.code}"])
    ]


def test_unit_that_is_not_a_member_unit(tree):
    err = rejected_members(
        tree.users["chengdu_admin"],
        tree.chengdu,
        [
            member_row(unit_code=tree.jinjiang.code),
            member_row("乙", ids(1, start=9)[0], tree.chunxilu.code),
        ],
    )
    first, second = err.row_errors
    assert first.reasons == [
        "锦江区总工会 is a County federation; "
        "members belong to a grassroots union, workshop or team"
    ]
    assert "Township or street union" in second.reasons[0]


def test_dissolved_unit(tree):
    closed = services.create_org(
        actor=SYSTEM,
        parent=tree.chunxilu,
        name="已撤销公司工会",
        code="CLOSED1",
        kind=OrgKind.GRASSROOTS,
    )
    services.dissolve_org(actor=SYSTEM, org=closed, reason="企业注销")
    assert Org.objects.get(pk=closed.pk).status == OrgStatus.DISSOLVED
    err = rejected_members(
        tree.users["chengdu_admin"], tree.chengdu, [member_row(unit_code="CLOSED1")]
    )
    assert err.row_errors[0].reasons == ["已撤销公司工会 has been dissolved"]


def test_duplicate_id_within_the_file_names_the_other_row(tree):
    a, b = ids(2)
    rows = [
        member_row("甲", a, tree.cd_union.code),
        member_row("乙", b, tree.cd_union.code),
        member_row("丙", a.lower() if a.endswith("X") else " " + a, tree.cd_team.code),
        member_row("丁", a, tree.cd_union.code),
    ]
    err = rejected_members(tree.users["chengdu_admin"], tree.chengdu, rows)
    assert [(e.row, e.reasons) for e in err.row_errors] == [
        (4, ["duplicate ID number, also in row 2"]),
        (5, ["duplicate ID number, also in row 2"]),
    ]


def test_duplicate_id_already_in_the_database(tree):
    taken = make_id_number(seq=11)  # 张伟 of 成都华信
    err = rejected_members(
        tree.users["chengdu_admin"],
        tree.chengdu,
        [
            member_row("张伟", taken, tree.cd_team.code),
            member_row("新人", ids(1)[0], tree.cd_team.code),
        ],
    )
    assert [(e.row, e.reasons) for e in err.row_errors] == [
        (2, ["ID number already registered: 张伟, 成都华信机械有限公司工会委员会"])
    ]


def test_duplicate_id_of_a_member_outside_scope_does_not_name_them(tree):
    taken = make_id_number(region="510703", seq=44)  # 刘芳 of 绵阳
    err = rejected_members(
        tree.users["chengdu_admin"], tree.chengdu, [member_row("某人", taken, tree.cd_union.code)]
    )
    (reason,) = err.row_errors[0].reasons
    assert reason == "ID number already registered in a union outside your scope"
    assert "刘芳" not in reason and "绵阳" not in reason


def test_duplicate_id_of_a_member_who_left(tree):
    services.mark_member_left(actor=SYSTEM, member=tree.cd_member2, reason="退休")
    taken = make_id_number(seq=22)
    err = rejected_members(
        tree.users["chengdu_admin"], tree.chengdu, [member_row("李娜", taken, tree.cd_union.code)]
    )
    assert err.row_errors[0].reasons == [
        "ID number belongs to 李娜, who left 成都华信机械有限公司工会委员会; "
        "register them again by hand"
    ]


def test_one_bad_row_among_good_ones_imports_nothing(tree):
    admin = tree.users["chengdu_admin"]
    good = ids(6)
    rows = [
        member_row(f"好{i}", n, tree.cd_union.code if i % 2 else tree.cd_team.code)
        for i, n in enumerate(good)
    ]
    rows.insert(3, member_row("坏", _bad_id("check"), tree.cd_union.code))
    members_before = Member.objects.count()
    counts_before = member_counts()
    job = run_members(admin, tree.chengdu, csv_bytes(MEMBER_HEADERS, rows), "一行错.csv")

    assert not job.succeeded
    assert Member.objects.count() == members_before
    assert member_counts() == counts_before
    assert selectors.subtree_member_count(tree.province) == 4
    assert (job.total_rows, job.imported_rows, job.error_count) == (7, 0, 1)
    assert job.file_error == ""
    assert [e["row"] for e in job.errors] == [5]
    assert job.errors[0]["values"] == rows[3]
    assert "check digit" in job.errors[0]["reasons"][0]
    assert not AuditEntry.objects.filter(action=AuditAction.IMPORT).exists()
    # The job survives the rolled-back import.
    assert ImportJob.objects.filter(pk=job.pk, succeeded=False).exists()


def test_every_bad_row_is_listed_in_the_job_and_its_error_file(tree):
    a, b, c, d = ids(4)
    rows = [
        member_row("一", a, tree.cd_union.code),
        member_row("", b, tree.cd_union.code),  # row 3
        member_row("三", c, "NOPE"),  # row 4
        member_row("四", d, tree.cd_union.code),
        member_row("五", a, tree.cd_union.code, phone="1"),  # row 6: duplicate + phone
        member_row("=HYPERLINK(1)", make_id_number(seq=11), tree.cd_union.code),  # row 7: in DB
    ]
    headers = MEMBER_HEADERS
    job = run_members(tree.users["chengdu_admin"], tree.chengdu, csv_bytes(headers, rows))
    assert not job.succeeded
    assert job.error_count == 4
    assert [e["row"] for e in job.errors] == [3, 4, 6, 7]
    assert job.errors_file.name.endswith(f"import-{job.pk}-errors.xlsx")

    sheet = error_rows(job)
    assert sheet[0] == ["Row", *headers, "Reasons"]
    body = sheet[1:]
    assert [r[0] for r in body] == [3, 4, 6, 7]
    by_row = {r[0]: r for r in body}
    assert by_row[4][1:4] == ["三", c, "NOPE"]
    assert by_row[4][-1] == "unknown unit code NOPE"
    assert by_row[6][-1].split("；") == [
        "The mobile phone number must be 11 digits starting with 1.",
        "duplicate ID number, also in row 2",
    ]
    assert by_row[7][1] == "'=HYPERLINK(1)"  # written as text, never as a formula
    assert by_row[7][-1].startswith("ID number already registered: 张伟")
    assert all(len(r) == len(sheet[0]) for r in body)


def test_error_file_keeps_every_row_beyond_the_inline_list(tree, monkeypatch):
    monkeypatch.setattr(importing, "ERRORS_KEPT_INLINE", 3)
    rows = [member_row(f"人{i}", n, "NOPE") for i, n in enumerate(ids(8))]
    job = run_members(tree.users["chengdu_admin"], tree.chengdu, csv_bytes(MEMBER_HEADERS, rows))
    assert job.error_count == 8
    assert [e["row"] for e in job.errors] == [2, 3, 4]
    assert [r[0] for r in error_rows(job)[1:]] == list(range(2, 10))


def test_clash_with_database_in_a_later_batch_still_rolls_back_earlier_batches(tree, monkeypatch):
    monkeypatch.setattr(importing, "BATCH", 3)
    fresh = ids(7)
    rows = [member_row(f"人{i}", n, tree.cd_union.code) for i, n in enumerate(fresh)]
    rows.append(member_row("张伟", make_id_number(seq=11), tree.cd_union.code))
    rows.append(member_row("末", ids(1, start=500)[0], tree.cd_union.code))
    before = Member.objects.count()
    job = run_members(tree.users["province_admin"], tree.province, csv_bytes(MEMBER_HEADERS, rows))
    assert not job.succeeded
    assert [e["row"] for e in job.errors] == [9]
    assert Member.objects.count() == before
    assert Org.objects.get(pk=tree.cd_union.pk).member_count == 2


def test_import_needs_member_change_on_the_root(tree):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    data = csv_bytes(MEMBER_HEADERS, [member_row(unit_code=tree.cd_union.code)])
    with pytest.raises(PermissionDenied):
        run_members(tree.users["chengdu_viewer"], tree.chengdu, data)
    with pytest.raises(Http404):
        run_members(tree.users["mianyang_admin"], tree.chengdu, data)
    assert not ImportJob.objects.exists()
    assert not Member.objects.filter(source=MemberSource.IMPORT).exists()


# --- members: a large file ----------------------------------------------------------------

LARGE = 100_000
# Names repeat in real sheets (张伟, 王芳, …): 400 of them.
NAMES = [
    s + g
    for s in "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    for g in "伟芳娜敏静强磊军洋勇艳杰涛明超霞平刚华鹏"
]


def large_id(i):
    birth = (datetime.date(1970, 1, 1) + datetime.timedelta(days=i // 1000)).strftime("%Y%m%d")
    return make_id_number(region="510106", birth=birth, seq=i % 1000)


def _large_csv(units, *, bad_last=False):
    """LARGE rows over the given unit codes, built in memory."""
    lines = [",".join(["姓名*", "身份证号*", "单位编码*", "手机号"])]
    for i in range(LARGE):
        name = NAMES[i % len(NAMES)]
        lines.append(f"{name},{large_id(i)},{units[i % len(units)]},139{i:08d}")
    if bad_last:
        lines[-1] = "," + lines[-1].split(",", 1)[1]  # the last row has no name
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def test_a_100k_row_member_csv_imports_completely(tree):
    units = [tree.cd_union, tree.cd_branch, tree.cd_team, tree.my_union]
    before = {u.pk: u.member_count for u in units}
    job = run_members(SYSTEM, tree.province, _large_csv([u.code for u in units]), "large.csv")
    assert job.succeeded, job.errors[:3] or job.file_error
    assert (job.total_rows, job.imported_rows) == (LARGE, LARGE)
    assert Member.objects.filter(source=MemberSource.IMPORT).count() == LARGE
    for u in units:
        u.refresh_from_db()
        assert u.member_count == before[u.pk] + LARGE // len(units)
        assert u.member_count == Member.objects.filter(unit=u).count()
    assert selectors.subtree_member_count(tree.province) == 4 + LARGE
    assert AuditEntry.objects.filter(action=AuditAction.IMPORT).count() == 1
    last = Member.objects.get(id_number_hash=id_number_hash(large_id(LARGE - 1)))
    assert (last.name, last.phone) == (NAMES[(LARGE - 1) % len(NAMES)], f"139{LARGE - 1:08d}")
    assert last.unit == units[(LARGE - 1) % len(units)]
    assert len(set(NAMES)) == len(NAMES) == 400


def test_a_100k_row_file_with_one_bad_row_at_the_end_imports_nothing(tree):
    units = [tree.cd_union, tree.cd_team]
    job = run_members(SYSTEM, tree.province, _large_csv([u.code for u in units], bad_last=True))
    assert not job.succeeded
    assert job.total_rows == LARGE
    assert [(e["row"], e["reasons"]) for e in job.errors] == [(LARGE + 1, ["name missing"])]
    assert not Member.objects.filter(source=MemberSource.IMPORT).exists()
    assert Member.objects.count() == 4
    assert {u.code: u.member_count for u in Org.objects.filter(pk__in=[u.pk for u in units])} == {
        tree.cd_union.code: 2,
        tree.cd_team.code: 1,
    }


# --- unions -------------------------------------------------------------------------------


def org_row(name, code, kind, parent_code, industry="", address="", division=""):
    return [name, code, kind, parent_code, industry, address, division]


def rejected_orgs(actor, root, rows, headers=ORG_HEADERS):
    with pytest.raises(ImportRejected) as info:
        import_orgs(
            actor=actor, root=root, stream=io.BytesIO(csv_bytes(headers, rows)), file_name="o.csv"
        )
    return info.value


def test_org_import_with_parents_defined_later_in_the_file(tree):
    admin = tree.users["chengdu_admin"]
    rows = [
        org_row("新华机加车间甲班", "NH-B1-T1", "班组", "NH-B1"),
        org_row("新华机加车间", "NH-B1", "车间", "NH"),
        org_row(
            "新华电子有限公司工会",
            "NH",
            "基层工会",
            tree.chunxilu.code,
            "制造业",
            "成都市锦江区1号",
            "510104001",
        ),
        org_row("新华装配车间", "NH-B2", "车间/分会", "NH"),
    ]
    before = Org.objects.count()
    job = run_orgs(admin, tree.chengdu, csv_bytes(ORG_HEADERS, rows))
    assert job.succeeded, job.errors or job.file_error
    assert (job.total_rows, job.imported_rows) == (4, 4)
    assert Org.objects.count() == before + 4
    union = Org.objects.get(code="NH")
    branch = Org.objects.get(code="NH-B1")
    team = Org.objects.get(code="NH-B1-T1")
    assert (union.kind, union.industry, union.address, union.division_code) == (
        OrgKind.GRASSROOTS,
        "manufacturing",
        "成都市锦江区1号",
        "510104001",
    )
    assert union.parent == tree.chunxilu and branch.parent == union and team.parent == branch
    assert team.kind == OrgKind.TEAM and branch.kind == OrgKind.BRANCH
    assert team.ancestor_ids == [*tree.chunxilu.ancestor_ids, union.pk, branch.pk, team.pk]
    assert team.depth == tree.chunxilu.depth + 3
    assert team.path == "".join(f"{i:010d}." for i in team.ancestor_ids)
    assert union.name_initials == "xhdzyxgsgh"
    assert set(selectors.subtree(union).values_list("code", flat=True)) == {
        "NH",
        "NH-B1",
        "NH-B2",
        "NH-B1-T1",
    }
    assert union.member_count == 0 and union.status == OrgStatus.ACTIVE
    entry = AuditEntry.objects.get(action=AuditAction.IMPORT)
    assert entry.target_id == str(job.pk) and entry.org == tree.chengdu
    # Later ordinary creation does not collide with the ids the import allocated.
    extra = services.create_org(
        actor=SYSTEM, parent=union, name="新华质检车间", code="NH-B3", kind=OrgKind.BRANCH
    )
    assert extra.pk not in {union.pk, branch.pk, team.pk}


def test_org_import_from_xlsx_with_aliases(tree):
    headers = ["工会名称", "工会编码", "工会类型", "上级工会编码", "行业"]
    rows = [["绵阳某电子厂工会", "MY-E1", "grassroots", tree.chengxiang.code, "it"]]
    job = run_orgs(
        tree.users["mianyang_admin"], tree.mianyang, xlsx_bytes(headers, rows), "orgs.xlsx"
    )
    assert job.succeeded, job.errors or job.file_error
    org = Org.objects.get(code="MY-E1")
    assert (org.parent, org.industry) == (tree.chengxiang, "it")


def test_org_import_missing_columns(tree):
    job = run_orgs(
        tree.users["chengdu_admin"], tree.chengdu, csv_bytes(["名称", "编码"], [["甲", "A"]])
    )
    assert not job.succeeded
    assert "类型" in job.file_error and "上级编码" in job.file_error
    assert not Org.objects.filter(code="A").exists()


def test_org_parent_loops(tree):
    before = Org.objects.count()
    rows = [
        org_row("好工会", "OK1", "基层工会", tree.chunxilu.code),
        org_row("甲", "LA", "产业工会", "LB"),
        org_row("乙", "LB", "产业工会", "LA"),
        org_row("丙", "SELF", "产业工会", "SELF"),
        org_row("丁", "LC", "产业工会", "LD"),
        org_row("戊", "LD", "产业工会", "LE"),
        org_row("己", "LE", "产业工会", "LC"),
    ]
    err = rejected_orgs(tree.users["chengdu_admin"], tree.chengdu, rows)
    reasons = {e.row: e.reasons for e in err.row_errors}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    for row in (3, 4, 5, 6, 7, 8):
        assert reasons[row] == ["the parent codes form a loop"], (row, reasons[row])
    assert Org.objects.count() == before


def test_org_unknown_and_out_of_scope_parents(tree):
    rows = [
        org_row("甲", "X1", "基层工会", "NO-SUCH"),
        org_row("乙", "X2", "基层工会", tree.chengxiang.code),  # 绵阳's, outside scope
        org_row("丙", "X3", "车间", "X1"),
    ]
    err = rejected_orgs(tree.users["chengdu_admin"], tree.chengdu, rows)
    reasons = {e.row: e.reasons for e in err.row_errors}
    assert reasons[2] == ["unknown parent code NO-SUCH"]
    assert reasons[3] == [f"unknown parent code {tree.chengxiang.code}"]
    assert reasons[4] == ["its parent in row 2 cannot be imported"]


def test_org_kind_not_allowed_under_parent(tree):
    rows = [
        org_row("班组", "K1", "班组", tree.chunxilu.code),
        org_row("县", "K2", "县总工会", tree.cd_union.code),
        org_row("车间", "K3", "车间", "K4"),
        org_row("乡镇", "K4", "乡镇工会", tree.jinjiang.code),
    ]
    err = rejected_orgs(tree.users["chengdu_admin"], tree.chengdu, rows)
    reasons = {e.row: e.reasons for e in err.row_errors}
    assert reasons[2] == ["a Team or group cannot be placed under a Township or street union"]
    assert reasons[3] == ["a County federation cannot be placed under a Grassroots union"]
    assert reasons[4] == [
        "a Workshop or branch union cannot be placed under a Township or street union"
    ]
    assert 5 not in reasons
    assert not Org.objects.filter(code__in=["K1", "K2", "K3", "K4"]).exists()


def test_org_duplicate_codes_in_file_and_in_database(tree):
    rows = [
        org_row("甲", "D1", "基层工会", tree.chunxilu.code),
        org_row("乙", "D1", "基层工会", tree.chunxilu.code),
        org_row("丙", tree.cd_union.code, "基层工会", tree.chunxilu.code),
        org_row("丁", tree.my_union.code, "基层工会", tree.chunxilu.code),  # code taken in 绵阳
    ]
    err = rejected_orgs(tree.users["chengdu_admin"], tree.chengdu, rows)
    reasons = {e.row: e.reasons for e in err.row_errors}
    assert reasons[3] == ["duplicate code D1, also in row 2"]
    assert reasons[4] == [f"code {tree.cd_union.code} is already used"]
    assert reasons[5] == [f"code {tree.my_union.code} is already used"]
    assert 2 not in reasons


def test_org_field_reasons(tree):
    rows = [
        org_row("", "F1", "基层工会", tree.chunxilu.code),
        org_row("甲", "", "基层工会", tree.chunxilu.code),
        org_row("乙", "F3", "", tree.chunxilu.code),
        org_row("丙", "F4", "公司", tree.chunxilu.code),
        org_row("丁", "F5", "基层工会", tree.chunxilu.code, "航天"),
        org_row("戊", "F6", "基层工会", ""),
        org_row("己", "F" * 33, "基层工会", tree.chunxilu.code),
        org_row("庚" * 121, "F8", "基层工会", tree.chunxilu.code),
        org_row("辛", "F9", "车间", "F6"),  # below the row without a parent
    ]
    err = rejected_orgs(tree.users["chengdu_admin"], tree.chengdu, rows)
    assert [(e.row, e.reasons) for e in err.row_errors] == [
        (2, ["name missing"]),
        (3, ["code missing"]),
        (4, ["kind missing"]),
        (5, ["unknown kind 公司"]),
        (6, ["unknown industry 航天"]),
        (7, ["parent code missing"]),
        (8, ["code longer than 32 characters"]),
        (9, ["name longer than 120 characters"]),
        (10, ["its parent in row 7 cannot be imported"]),
    ]


def test_org_under_a_dissolved_parent(tree):
    closed = services.create_org(
        actor=SYSTEM,
        parent=tree.chunxilu,
        name="已撤销公司工会",
        code="CLOSED2",
        kind=OrgKind.GRASSROOTS,
    )
    services.dissolve_org(actor=SYSTEM, org=closed, reason="企业注销")
    err = rejected_orgs(
        tree.users["chengdu_admin"], tree.chengdu, [org_row("车间", "C1", "车间", "CLOSED2")]
    )
    assert err.row_errors[0].reasons == ["已撤销公司工会 has been dissolved"]


def test_org_depth_limit(tree):
    # Industry unions may nest; 成都 is at depth 1, so eight levels fit below it.
    rows = [
        org_row(f"产业{i}", f"IND{i}", "产业工会", f"IND{i - 1}" if i > 1 else tree.chengdu.code)
        for i in range(1, 10)
    ]
    err = rejected_orgs(tree.users["chengdu_admin"], tree.chengdu, rows)
    assert [(e.row, e.reasons) for e in err.row_errors] == [
        (10, [f"the tree would be deeper than {MAX_DEPTH} levels"])
    ]
    job = run_orgs(tree.users["chengdu_admin"], tree.chengdu, csv_bytes(ORG_HEADERS, rows[:8]))
    assert job.succeeded
    assert Org.objects.get(code="IND8").depth == MAX_DEPTH - 1


def test_org_depth_limit_below_an_existing_deep_parent(tree):
    err = rejected_orgs(
        tree.users["chengdu_admin"],
        tree.chengdu,
        [org_row("小组", "T2", "班组", tree.cd_team.code)],
    )
    assert "cannot be placed under" in err.row_errors[0].reasons[0]


def test_a_very_long_chain_of_rows_is_refused_row_by_row(tree):
    """A chain far deeper than the tree allows, children listed before their parents, is
    refused with reasons, not a crash."""
    n = 3000
    rows = [
        org_row(f"产业{i}", f"CH{i}", "产业工会", f"CH{i - 1}" if i else tree.chengdu.code)
        for i in range(n)
    ]
    rows.reverse()
    err = rejected_orgs(tree.users["chengdu_admin"], tree.chengdu, rows)
    assert err.total_rows == n
    bad = {e.values[1] for e in err.row_errors}
    # CH0..CH7 land at depths 2..9; every deeper row is refused.
    assert bad == {f"CH{i}" for i in range(8, n)}
    assert not Org.objects.filter(code__startswith="CH").exists()


def test_a_very_long_loop_is_refused(tree):
    n = 2000
    rows = [org_row(f"环{i}", f"R{i}", "产业工会", f"R{(i + 1) % n}") for i in range(n)]
    err = rejected_orgs(tree.users["chengdu_admin"], tree.chengdu, rows)
    assert len(err.row_errors) == n


def test_org_import_needs_org_change(tree):
    from django.core.exceptions import PermissionDenied

    data = csv_bytes(ORG_HEADERS, [org_row("甲", "P1", "基层工会", tree.chunxilu.code)])
    with pytest.raises(PermissionDenied):
        run_orgs(tree.users["chengdu_staff"], tree.chengdu, data)
    assert not Org.objects.filter(code="P1").exists()


def test_org_import_rejected_job_has_error_file(tree):
    rows = [
        org_row("甲", "E1", "基层工会", "NOPE"),
        org_row("乙", "E2", "基层工会", tree.chunxilu.code),
    ]
    job = run_orgs(tree.users["chengdu_admin"], tree.chengdu, csv_bytes(ORG_HEADERS, rows))
    assert not job.succeeded and job.kind == ImportJob.Kind.ORGS
    assert (job.total_rows, job.error_count) == (2, 1)
    sheet = error_rows(job)
    assert sheet[0] == ["Row", *ORG_HEADERS, "Reasons"]
    assert sheet[1][0] == 2 and sheet[1][-1] == "unknown parent code NOPE"
    assert not Org.objects.filter(code__in=["E1", "E2"]).exists()


# --- members: the writer that overlaps checking and writing ---------------------------------


def _members_and_events():
    from gonghui.orgs.models import MemberEvent

    return Member.objects.count(), MemberEvent.objects.count()


@pytest.mark.parametrize("threaded", [True, False])
def test_an_error_while_a_batch_is_written_rolls_back_every_batch(tree, monkeypatch, threaded):
    """On PostgreSQL batches are written by a thread while the next is checked: its
    error must still end the import, and nothing of the earlier batches stays."""
    monkeypatch.setattr(importing, "BATCH", 3)
    monkeypatch.setattr(importing._MemberWriter, "threaded", threaded)
    calls = []
    real = importing.figures.record_imported_joins

    def failing_on_the_second_batch(rows, **kwargs):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real(rows, **kwargs)

    monkeypatch.setattr(importing.figures, "record_imported_joins", failing_on_the_second_batch)
    rows = [member_row(f"人{i}", n, tree.cd_union.code) for i, n in enumerate(ids(10))]
    before = _members_and_events()
    with pytest.raises(RuntimeError, match="disk full"):
        import_as_province(tree, rows)
    assert calls[:2] == [3, 3]
    assert _members_and_events() == before
    assert Org.objects.get(pk=tree.cd_union.pk).member_count == 2


def test_a_database_error_of_the_writer_is_raised_as_djangos_and_rolls_back(
    tree, monkeypatch, settings
):
    from django.db import DataError, connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce the length of a text column")
    monkeypatch.setattr(importing, "BATCH", 3)
    real = importing.insert_rows

    def too_long_name_in_the_second_batch(model, rows, **kwargs):
        if model is Member and rows[0]["name"] == "人3":
            rows[0]["name"] = "长" * 60  # varchar(50)
        real(model, rows, **kwargs)

    monkeypatch.setattr(importing, "insert_rows", too_long_name_in_the_second_batch)
    rows = [member_row(f"人{i}", n, tree.cd_union.code) for i, n in enumerate(ids(8))]
    before = _members_and_events()
    with pytest.raises(DataError):
        import_as_province(tree, rows)
    assert _members_and_events() == before
    # The connection is usable again: the import's savepoint was rolled back.
    assert Member.objects.filter(name__startswith="人").count() == 0


@pytest.mark.parametrize("threaded", [True, False])
def test_database_clashes_are_listed_among_the_bad_rows_in_the_same_order(
    tree, monkeypatch, threaded
):
    """A clash with the database is found when its batch is written, possibly after
    later rows were checked; it is listed after the bad rows found before its batch was
    full and before the rest, and names the registered member."""
    monkeypatch.setattr(importing, "BATCH", 3)
    monkeypatch.setattr(importing._MemberWriter, "threaded", threaded)
    fresh = ids(6)
    unit = tree.cd_union.code
    rows = [
        member_row("甲", fresh[0], unit),  # row 2
        member_row("张伟", make_id_number(seq=11), unit),  # row 3: in the database
        member_row("乙", fresh[1], unit),  # row 4: the first batch is full
        member_row("", fresh[2], unit),  # row 5: bad
        member_row("丙", fresh[3], unit),  # row 6
        member_row("丁", fresh[4], unit),  # row 7
        member_row("戊", fresh[5], unit),  # row 8: the second batch is full
        member_row("张伟", make_id_number(seq=11), unit),  # row 9: same as row 3
    ]
    before = _members_and_events()
    err = rejected_members(tree.users["province_admin"], tree.province, rows)
    assert [(e.row, e.reasons) for e in err.row_errors] == [
        (3, ["ID number already registered: 张伟, 成都华信机械有限公司工会委员会"]),
        (5, ["name missing"]),
        (9, ["duplicate ID number, also in row 3"]),
    ]
    assert err.total_rows == 8
    assert _members_and_events() == before


def test_member_id_number_columns_have_no_pattern_index(db):
    """LIKE never searches the ID number hash or tail: their indexes are plain b-trees."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("varchar_pattern_ops indexes exist on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'orgs_member'")
        indexes = dict(cursor.fetchall())
    assert not [name for name, sql in indexes.items() if "pattern_ops" in sql]
    assert "UNIQUE" in indexes["member_id_hash_unique"]
    assert "(id_number_hash)" in indexes["member_id_hash_unique"]
    assert "(id_number_tail)" in indexes["member_id_tail_idx"]


def test_keys_are_checked_as_each_batch_is_written_and_deferred_again_after(tree, monkeypatch):
    """On PostgreSQL the import checks foreign keys as it copies (not all at COMMIT), and
    leaves Django's deferred checking in place for what follows in the transaction."""
    from django.db import IntegrityError, connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("SQLite checks foreign keys only at COMMIT, and has no SET CONSTRAINTS")
    monkeypatch.setattr(importing, "BATCH", 3)
    real = importing.insert_rows

    def dangling_unit_in_the_second_batch(model, rows, **kwargs):
        if model is Member and rows[0]["name"] == "人3":
            rows[0]["unit_id"] = 10**12  # no such org
        real(model, rows, **kwargs)

    monkeypatch.setattr(importing, "insert_rows", dangling_unit_in_the_second_batch)
    rows = [member_row(f"人{i}", n, tree.cd_union.code) for i, n in enumerate(ids(8))]
    before = _members_and_events()
    # Deferred, the dangling key would only fail at the test transaction's end (never).
    with pytest.raises(IntegrityError):
        import_as_province(tree, rows)
    assert _members_and_events() == before

    monkeypatch.setattr(importing, "insert_rows", real)
    outcome = import_as_province(tree, rows)
    assert outcome.imported_rows == 8
    # Deferred again: a key that dangles for a moment inside a savepoint is fine as long
    # as it is right by the end.
    member = Member.objects.get(name="人0")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE orgs_member SET unit_id = %s WHERE id = %s", [10**12, member.pk])
        cursor.execute(
            "UPDATE orgs_member SET unit_id = %s WHERE id = %s", [tree.cd_union.pk, member.pk]
        )


@pytest.mark.parametrize("threaded", [True, False])
def test_an_imports_figures_are_written_batch_by_batch(tree, monkeypatch, threaded):
    """A million-row file never holds its figures in memory: each batch writes its own
    figure changes (summed per unit and day) as it goes, and the totals are exact."""
    from django.db import connection

    from gonghui.stats.models import FactDelta

    monkeypatch.setattr(importing, "BATCH", 3)
    monkeypatch.setattr(importing._MemberWriter, "threaded", threaded)
    pending_after_batch = []
    real = importing.figures.record_imported_joins

    def counting(rows, **kwargs):
        real(rows, **kwargs)
        if kwargs.get("shared") is None:  # the thread's rows are not visible here yet
            pending_after_batch.append(FactDelta.objects.count())

    monkeypatch.setattr(importing.figures, "record_imported_joins", counting)
    before = FactDelta.objects.count()
    members_before = Org.objects.get(pk=tree.cd_union.pk).member_count
    rows = [
        member_row(f"人{i}", n, tree.cd_union.code, joined_on="2024-05-0" + str(1 + i % 2))
        for i, n in enumerate(ids(7))
    ]
    outcome = import_as_province(tree, rows)
    assert outcome.imported_rows == 7
    # Two metrics (members, joined) per unit and day of each batch: 3 rows on 2 days,
    # 3 rows on 2 days, 1 row on 1 day.
    assert FactDelta.objects.count() - before == 2 * (2 + 2 + 1)
    if not threaded or connection.vendor != "postgresql":
        assert [n - before for n in pending_after_batch] == [4, 8, 10]
    assert Org.objects.get(pk=tree.cd_union.pk).member_count == members_before + 7
