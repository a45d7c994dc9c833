"""The bulk writers give the same rows on SQLite and PostgreSQL; bulk pinyin keys match."""

import datetime

import pytest
from django.db import IntegrityError, transaction

from conftest import make_id_number
from gonghui.orgs.bulk import allocate_ids, insert_objects, insert_rows
from gonghui.orgs.identity import protect_id_number
from gonghui.orgs.importing import name_keys
from gonghui.orgs.models import Member, MemberSource, MemberStatus, Org, OrgKind
from gonghui.orgs.search import pinyin_keys
from gonghui.orgs.services import tree_fields


def _member_row(unit: Org, seq: int, **extra):
    stored = protect_id_number(make_id_number(seq=seq))
    return {
        "unit_id": unit.pk,
        "name": "赵敏",
        "gender": "F",
        "birth_date": datetime.date(1990, 3, 7),
        "id_number_cipher": stored.cipher,
        "id_number_hash": stored.lookup_hash,
        "id_number_masked": stored.masked,
        "id_number_tail": stored.tail,
        "is_migrant_worker": True,
        "joined_on": datetime.date(2024, 3, 1),
        "source": MemberSource.IMPORT,
        **extra,
    }


def test_insert_rows_fills_defaults_like_bulk_create(tree):
    before = Member.objects.count()
    with transaction.atomic():
        insert_rows(Member, [_member_row(tree.cd_team, 101), _member_row(tree.cd_team, 102)])
    assert Member.objects.count() == before + 2
    member = Member.objects.get(id_number_hash=_member_row(tree.cd_team, 101)["id_number_hash"])
    assert member.unit_id == tree.cd_team.pk
    assert member.source == "import"
    assert member.status == MemberStatus.ACTIVE
    assert member.version == 1
    assert member.phone == "" and member.left_on is None and member.user_id is None
    assert member.is_migrant_worker is True
    assert member.birth_date == datetime.date(1990, 3, 7)
    assert member.created_at is not None and member.updated_at is not None
    assert member.pk > tree.my_member.pk  # the sequence hands out the id


def test_insert_rows_is_all_or_nothing_inside_a_transaction(tree):
    before = Member.objects.count()
    clash = _member_row(tree.cd_team, 103, id_number_hash=tree.cd_member.id_number_hash)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Member, [_member_row(tree.cd_team, 104), clash])
    assert Member.objects.count() == before


def test_insert_objects_keeps_given_ids(tree):
    with transaction.atomic():
        pk = allocate_ids(Org, 1)[0]
        org = Org(
            pk=pk,
            parent_id=tree.cd_union.pk,
            name="批量车间",
            code="BULK-1",
            kind=OrgKind.BRANCH,
            **tree_fields([*tree.cd_union.ancestor_ids, pk]),
        )
        insert_objects(Org, [org])
    stored = Org.objects.get(code="BULK-1")
    assert stored.pk == pk
    assert stored.ancestor_ids == [*tree.cd_union.ancestor_ids, pk]
    assert stored.member_count == 0 and stored.status == "active"
    assert stored.created_at is not None


@pytest.mark.parametrize(
    "name",
    [
        "张伟",
        "王国庆",  # 国庆 is a phrase
        "重庆长城机械有限公司工会委员会",  # phrase readings: chóng, cháng
        "曾长生",
        "银行行长",
        "3号车间",
        "ABC公司",
        "Ａ１车间·甲班",
        "成都市总工会",
        "",
    ],
)
def test_name_keys_are_pinyin_keys(name):
    assert name_keys(name) == pinyin_keys(name)
