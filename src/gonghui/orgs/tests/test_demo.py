"""The demo: the real Sichuan tree with generated unions and members, deterministic by seed,
with valid (synthetic) ID numbers, exact member counts and the published demo accounts."""

import io
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from gonghui.orgs import scoping, selectors
from gonghui.orgs.demo import DEMO_PASSWORD, DemoBuilder, synthetic_id_number
from gonghui.orgs.identity import decrypt_id_number, id_number_hash, parse_id_number
from gonghui.orgs.models import (
    ALLOWED_CHILD_KINDS,
    Member,
    MemberSource,
    Org,
    OrgKind,
    Role,
    RoleKind,
)
from gonghui.orgs.scoping import Perm


def run(*args, **kwargs):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **kwargs)
    return out.getvalue()


def canonical_dump():
    """Everything the seed decides, without ids or ciphertexts."""
    orgs = sorted(
        Org.objects.values_list(
            "code",
            "name",
            "kind",
            "parent__code",
            "depth",
            "industry",
            "division_code",
            "address",
        )
    )
    members = sorted(
        Member.objects.values_list(
            "unit__code",
            "name",
            "id_number_masked",
            "id_number_hash",
            "gender",
            "birth_date",
            "phone",
            "ethnicity",
            "education",
            "job",
            "is_migrant_worker",
            "joined_on",
            "user__username",
        )
    )
    roles = sorted(
        Role.objects.values_list("user__username", "org__code", "kind", "may_export_personal_data")
    )
    return orgs, members, roles


def wipe():
    from conftest import wipe_union_data

    wipe_union_data(users=True)
    assert not Org.objects.exists()


@pytest.fixture
def tiny(db):
    return run("demo", "--scale", "tiny")


def test_tiny_demo_builds_province_cities_and_below(tiny):
    assert "Demo (tiny, seed 2026)" in tiny
    root = Org.objects.get(parent__isnull=True)
    assert (root.code, root.name, root.kind, root.depth) == (
        "51",
        "四川省总工会",
        OrgKind.PROVINCE,
        0,
    )
    cities = Org.objects.filter(parent=root).order_by("code")
    assert [(c.code, c.name, c.kind) for c in cities] == [
        ("5101", "成都市总工会", OrgKind.CITY),
        ("5107", "绵阳市总工会", OrgKind.CITY),
    ]
    counties = Org.objects.filter(parent__in=cities).order_by("code")
    assert [(c.code, c.name) for c in counties] == [
        ("510104", "锦江区总工会"),
        ("510105", "青羊区总工会"),
        ("510703", "涪城区总工会"),
        ("510704", "游仙区总工会"),
    ]
    kinds = Counter(Org.objects.values_list("kind", flat=True))
    assert kinds == {
        OrgKind.PROVINCE: 1,
        OrgKind.CITY: 2,
        OrgKind.COUNTY: 4,
        OrgKind.TOWNSHIP: 8,
        OrgKind.GRASSROOTS: 8,
        OrgKind.BRANCH: 8,
        OrgKind.TEAM: 8,
    }
    assert f"39 unions, {Member.objects.count()} members" in tiny


def test_tiny_demo_tree_columns_are_consistent(tiny):
    by_id = {o.pk: o for o in Org.objects.all()}
    for org in by_id.values():
        chain = []
        node = org
        while node is not None:
            chain.append(node.pk)
            node = by_id.get(node.parent_id)
        assert org.ancestor_ids == chain[::-1], org
        assert org.depth == len(chain) - 1
        assert org.path == "".join(f"{i:010d}." for i in org.ancestor_ids)
        if org.parent_id:
            parent = by_id[org.parent_id]
            assert org.kind in ALLOWED_CHILD_KINDS[parent.kind], org
            assert org.code.startswith(parent.code) or parent.kind == OrgKind.PROVINCE
        assert org.name_pinyin and org.name_initials


def test_tiny_demo_members_have_valid_synthetic_id_numbers(tiny):
    members = list(Member.objects.select_related("unit"))
    assert members
    counties = {o.pk: o.code for o in Org.objects.filter(kind=OrgKind.COUNTY)}
    for m in members:
        value = decrypt_id_number(m.id_number_cipher)
        ident = parse_id_number(value)
        assert ident.value == value
        assert (ident.birth_date, ident.gender) == (m.birth_date, m.gender)
        assert m.id_number_masked == value[:4] + "*" * 10 + value[-4:]
        assert m.id_number_tail == value[-4:]
        assert m.id_number_hash == id_number_hash(value)
        assert 900 <= int(value[14:17]) <= 999  # clearly synthetic
        assert value[:6] == counties[m.unit.ancestor_2]  # born in the unit's county
        assert m.unit.is_member_unit
        assert m.source == MemberSource.DEMO
        assert len(m.phone) == 11 and m.phone.startswith("1")
    assert len({m.id_number_hash for m in members}) == len(members)


def test_tiny_demo_member_counts_are_exact(tiny):
    actual = Counter(Member.objects.filter(status="active").values_list("unit_id", flat=True))
    for org in Org.objects.all():
        assert org.member_count == actual.get(org.pk, 0), org
        if org.is_member_unit:
            assert 3 <= org.member_count <= 4
    root = Org.objects.get(parent__isnull=True)
    assert selectors.subtree_member_count(root) == Member.objects.count()
    for city in Org.objects.filter(kind=OrgKind.CITY):
        assert (
            selectors.subtree_member_count(city)
            == Member.objects.filter(unit__ancestor_1=city.pk).count()
        )


def test_same_seed_same_data_other_seed_other_data(db):
    run("demo", "--scale", "tiny", "--seed", "7")
    first = canonical_dump()
    wipe()
    run("demo", "--scale", "tiny", "--seed", "7")
    second = canonical_dump()
    assert first == second
    assert len(first[1]) > 60
    wipe()
    run("demo", "--scale", "tiny", "--seed", "8")
    other = canonical_dump()
    # The real tree above the enterprises is the same; the generated part differs.
    real = [o for o in first[0] if o[2] in ("province", "city", "county", "township")]
    assert real == [o for o in other[0] if o[2] in ("province", "city", "county", "township")]
    assert first[1] != other[1]


def test_the_builder_alone_is_deterministic(db):
    DemoBuilder(scale="tiny", seed=11).build()
    first = canonical_dump()
    wipe()
    summary = DemoBuilder(scale="tiny", seed=11).build()
    assert canonical_dump() == first
    assert (summary.orgs, summary.members) == (Org.objects.count(), Member.objects.count())


def test_synthetic_id_numbers_are_unique_per_county():
    numbers = [synthetic_id_number("510104", s) for s in range(0, 1_461_000, 997)]
    assert len(set(numbers)) == len(numbers)
    for n in numbers[:200]:
        assert parse_id_number(n).value == n


def test_demo_accounts_hold_the_right_roles(tiny):
    User = get_user_model()
    users = {u.username: u for u in User.objects.all()}
    assert set(users) == {
        "admin",
        "sheng",
        "chengdu",
        "mianyang",
        "jiceng",
        "weiquan",
        "caipan1",
        "caipan2",
        "bianji",
        "zebian",
        "zhigong",
    }
    for user in users.values():
        assert user.check_password(DEMO_PASSWORD)
    assert users["admin"].is_superuser and users["admin"].is_staff
    assert not any(u.is_superuser for name, u in users.items() if name != "admin")

    def roles(name):
        return [
            (r.org.code, r.org.kind, r.kind, r.org_only, r.may_export_personal_data)
            for r in Role.objects.filter(user=users[name]).select_related("org")
        ]

    assert roles("sheng") == [("51", OrgKind.PROVINCE, RoleKind.ADMIN, False, True)]
    assert roles("chengdu") == [("5101", OrgKind.CITY, RoleKind.ADMIN, False, False)]
    assert roles("mianyang") == [("5107", OrgKind.CITY, RoleKind.ADMIN, False, False)]
    ((code, kind, role, org_only, personal),) = roles("jiceng")
    assert (kind, role, org_only, personal) == (OrgKind.GRASSROOTS, RoleKind.ADMIN, False, False)
    grassroots = Org.objects.get(code=code)
    assert grassroots.ancestor_1 == Org.objects.get(code="5101").pk
    assert roles("zhigong") == [] and roles("admin") == []
    ((code, kind, role, _only, _personal),) = roles("weiquan")
    assert (kind, role) == (OrgKind.COUNTY, RoleKind.CASE_HANDLER)
    assert grassroots.is_descendant_of(Org.objects.get(code=code))
    assert roles("caipan1") == [("5101", OrgKind.CITY, RoleKind.JUDGE, False, False)]
    worker = Member.objects.get(user=users["zhigong"])
    assert worker.unit == grassroots
    assert users["zhigong"].first_name == worker.name

    chengdu, mianyang = Org.objects.get(code="5101"), Org.objects.get(code="5107")
    assert scoping.can(users["chengdu"], Perm.MEMBER_CHANGE, chengdu)
    assert not scoping.can(users["chengdu"], Perm.ORG_VIEW, mianyang)
    assert not scoping.can(users["chengdu"], Perm.MEMBER_EXPORT_PERSONAL, chengdu)
    assert scoping.can(users["sheng"], Perm.MEMBER_EXPORT_PERSONAL, mianyang)


def test_demo_accounts_command(tiny):
    assert "Accounts:" in tiny and "sheng" in tiny
    out = run("demo_accounts")
    for name in (
        "admin",
        "sheng",
        "chengdu",
        "mianyang",
        "jiceng",
        "weiquan",
        "caipan1",
        "zhigong",
    ):
        assert f"  {name} " in out
    assert DEMO_PASSWORD in out
    assert "成都市总工会" in out


def test_demo_accounts_command_without_a_demo(db):
    assert "No demo accounts" in run("demo_accounts")


def test_if_empty_does_nothing_the_second_time(tiny):
    before = canonical_dump()
    out = run("demo", "--scale", "tiny", "--if-empty")
    assert "already present" in out
    assert canonical_dump() == before


def test_a_second_demo_into_a_full_database_is_refused(tiny):
    count = Org.objects.count()
    with pytest.raises(CommandError, match="already holds unions"):
        run("demo", "--scale", "tiny")
    assert Org.objects.count() == count


def test_verbose_demo_reports_progress(db):
    out = run("demo", "--scale", "tiny", verbosity=2)
    assert "成都市总工会:" in out and "绵阳市总工会:" in out


def test_unknown_scale_is_refused(db):
    with pytest.raises(CommandError):
        run("demo", "--scale", "huge")
    assert not Org.objects.exists()
