import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from gonghui.audit.models import AuditEntry
from gonghui.core.errors import ConcurrentEditError
from gonghui.orgs import selectors, services
from gonghui.orgs.models import Member, MemberStatus, Org, OrgKind, OrgStatus


def test_tree_columns_place_every_org(tree):
    team = tree.cd_team
    assert team.depth == 6
    assert team.ancestor_ids == [
        tree.province.pk,
        tree.chengdu.pk,
        tree.jinjiang.pk,
        tree.chunxilu.pk,
        tree.cd_union.pk,
        tree.cd_branch.pk,
        team.pk,
    ]
    assert team.path == "".join(f"{i:010d}." for i in team.ancestor_ids)
    assert set(selectors.subtree(tree.chengdu).values_list("code", flat=True)) == {
        "5101",
        "510104",
        "510104001",
        "510104001001",
        "510104001001B1",
        "510104001001B1T1",
    }


def test_subtree_member_counts(tree):
    assert selectors.subtree_member_count(tree.province) == 4
    assert selectors.subtree_member_count(tree.chengdu) == 3
    assert selectors.subtree_member_count(tree.cd_branch) == 1
    children = selectors.children_of(tree.province, tree.users["province_admin"])
    assert {c.pk: c.subtree_members for c in children} == {
        tree.chengdu.pk: 3,
        tree.mianyang.pk: 1,
    }
    assert {c.pk: c.subtree_orgs for c in children} == {tree.chengdu.pk: 6, tree.mianyang.pk: 4}
    assert selectors.subtree_org_count(tree.province) == 11


def test_kind_rules(tree):
    with pytest.raises(ValidationError) as info:
        services.create_org(
            actor=tree.users["superuser"],
            parent=tree.cd_team,
            name="班组下的车间",
            code="X1",
            kind=OrgKind.BRANCH,
        )
    assert info.value.code == "kind_not_allowed"


def test_codes_are_unique(tree):
    with pytest.raises(ValidationError) as info:
        services.create_org(
            actor=tree.users["chengdu_admin"],
            parent=tree.chunxilu,
            name="重复编码",
            code="5107",
            kind=OrgKind.GRASSROOTS,
        )
    assert info.value.code == "code_taken"


def test_a_city_cadre_cannot_create_under_another_city(tree):
    with pytest.raises(Http404):
        services.create_org(
            actor=tree.users["chengdu_admin"],
            parent=tree.chengxiang,
            name="越权工会",
            code="X2",
            kind=OrgKind.GRASSROOTS,
        )
    with pytest.raises(PermissionDenied):
        services.create_org(
            actor=tree.users["chengdu_viewer"],
            parent=tree.chunxilu,
            name="只读用户建的工会",
            code="X3",
            kind=OrgKind.GRASSROOTS,
        )


def test_move_rewrites_the_whole_subtree_and_counts_follow(tree):
    admin = tree.users["province_admin"]
    services.move_org(actor=admin, org=tree.cd_union, new_parent=tree.chengxiang)
    tree.refresh()
    assert tree.cd_union.parent_id == tree.chengxiang.pk
    assert tree.cd_team.ancestor_ids[:4] == [
        tree.province.pk,
        tree.mianyang.pk,
        tree.fucheng.pk,
        tree.chengxiang.pk,
    ]
    assert tree.cd_team.depth == 6
    assert selectors.subtree_member_count(tree.chengdu) == 0
    assert selectors.subtree_member_count(tree.mianyang) == 4
    entry = AuditEntry.objects.get(action="move")
    assert entry.before == {"parent": "春熙路街道工会"}
    assert entry.after == {"parent": "城厢街道工会"}


def test_move_to_a_different_depth(tree):
    # An enterprise union directly under the city federation: every level shifts up.
    services.move_org(actor=tree.users["chengdu_admin"], org=tree.cd_union, new_parent=tree.chengdu)
    tree.refresh()
    assert tree.cd_union.depth == 2
    assert tree.cd_team.depth == 4
    assert tree.cd_team.ancestor_ids == [
        tree.province.pk,
        tree.chengdu.pk,
        tree.cd_union.pk,
        tree.cd_branch.pk,
        tree.cd_team.pk,
    ]
    assert tree.cd_team.ancestor_4 == tree.cd_team.pk
    assert tree.cd_team.ancestor_5 is None
    assert selectors.subtree_member_count(tree.jinjiang) == 0
    assert selectors.subtree_member_count(tree.chengdu) == 3


def test_move_under_own_descendant_is_refused(tree):
    with pytest.raises(ValidationError) as info:
        services.move_org(
            actor=tree.users["chengdu_admin"], org=tree.jinjiang, new_parent=tree.chunxilu
        )
    assert info.value.code == "move_into_own_subtree"


def test_move_out_of_scope_is_refused(tree):
    with pytest.raises(Http404):
        services.move_org(
            actor=tree.users["chengdu_admin"], org=tree.cd_union, new_parent=tree.chengxiang
        )
    tree.refresh()
    assert tree.cd_union.parent_id == tree.chunxilu.pk


def test_dissolve_needs_members_handled_explicitly(tree):
    admin = tree.users["chengdu_admin"]
    with pytest.raises(ValidationError) as info:
        services.dissolve_org(actor=admin, org=tree.cd_team, reason="班组合并")
    assert info.value.code == "has_members"
    services.dissolve_org(
        actor=admin, org=tree.cd_team, reason="班组合并", transfer_members_to=tree.cd_branch
    )
    tree.refresh()
    assert tree.cd_team.status == OrgStatus.DISSOLVED
    assert tree.team_member.unit_id == tree.cd_branch.pk
    assert tree.cd_branch.member_count == 1
    assert tree.cd_team.member_count == 0


def test_dissolve_with_members_leaving(tree):
    services.dissolve_org(
        actor=tree.users["chengdu_admin"], org=tree.cd_team, reason="撤销", members_leave=True
    )
    tree.refresh()
    assert tree.team_member.status == MemberStatus.LEFT
    assert selectors.subtree_member_count(tree.chengdu) == 2


def test_dissolve_refused_while_children_are_active(tree):
    with pytest.raises(ValidationError) as info:
        services.dissolve_org(actor=tree.users["chengdu_admin"], org=tree.cd_union, reason="x")
    assert info.value.code == "has_children"


def test_delete_refused_for_an_org_with_members(tree):
    with pytest.raises(ValidationError) as info:
        services.delete_org(actor=tree.users["chengdu_admin"], org=tree.cd_team)
    assert info.value.code == "has_children" or info.value.code == "has_members"
    assert Org.objects.filter(pk=tree.cd_team.pk).exists()


def test_delete_an_org_created_by_mistake(tree):
    org = services.create_org(
        actor=tree.users["chengdu_admin"],
        parent=tree.chunxilu,
        name="错建",
        code="X9",
        kind="grassroots",
    )
    services.delete_org(actor=tree.users["chengdu_admin"], org=org)
    assert not Org.objects.filter(code="X9").exists()
    assert AuditEntry.objects.filter(action="delete", target_repr="错建").exists()


def test_stale_edit_is_refused(tree):
    org = tree.cd_union
    first = services.update_org(
        actor=tree.users["chengdu_admin"], org=org, version=org.version, name="改名一"
    )
    with pytest.raises(ConcurrentEditError):
        services.update_org(
            actor=tree.users["cd_union_admin"], org=org, version=org.version, name="改名二"
        )
    org.refresh_from_db()
    assert org.name == "改名一" == first.name
    assert org.name_initials == "gmy"


def test_search_by_pinyin_initials_within_scope(tree):
    found = list(selectors.search_orgs(tree.users["chengdu_admin"], "cd"))
    assert [o.code for o in found] == ["5101", "510104001001"]
    # 绵阳 exists, but a 成都 cadre never finds it.
    assert list(selectors.search_orgs(tree.users["chengdu_admin"], "my")) == []
    assert [o.code for o in selectors.search_orgs(tree.users["province_admin"], "my")] == [
        "5107",
        "510703001001",
    ]


def test_members_stay_with_units(tree):
    assert Member.objects.filter(unit=tree.cd_union).count() == 2


def _grants_through_the_orm(user):
    """What `scoping.grants_for` read through the ORM before it was written by hand."""
    from gonghui.orgs.models import Role
    from gonghui.orgs.scoping import PERMISSIONS_BY_ROLE, Grant, Perm

    grants = []
    for role in Role.objects.filter(user=user, org__status=OrgStatus.ACTIVE).select_related("org"):
        perms = PERMISSIONS_BY_ROLE.get(role.kind, frozenset())
        if role.may_export_personal_data:
            perms = perms | {Perm.MEMBER_EXPORT_PERSONAL}
        grants.append(Grant(role.org.pk, role.org.depth, role.org_only, perms))
    return grants


def test_grants_read_by_hand_equal_the_orms_in_roles_order(tree):
    from gonghui.orgs.models import RoleKind
    from gonghui.orgs.scoping import SYSTEM, forget_grants, grants_for

    many = tree.users["chengdu_viewer"]
    # Roles at several orgs, one org-only, one at an org dissolved later.
    for org, kind, org_only in (
        (tree.mianyang, RoleKind.ADMIN, True),
        (tree.province, RoleKind.VIEWER, False),
        (tree.cd_team, RoleKind.STAFF, False),
    ):
        services.grant_role(actor=SYSTEM, user=many, org=org, kind=kind, org_only=org_only)
    Org.objects.filter(pk=tree.cd_team.pk).update(status=OrgStatus.DISSOLVED)
    for user in [*tree.users.values(), many]:
        forget_grants(user)
        assert grants_for(user) == _grants_through_the_orm(user), user.username
    forget_grants(many)
    assert [g.org_id for g in grants_for(many)] == [
        tree.province.pk,
        tree.chengdu.pk,
        tree.mianyang.pk,
    ]
    assert [g.org_only for g in grants_for(many)] == [False, False, True]


def test_org_in_scope_or_404_equals_the_scoping_filter(tree):
    from gonghui.orgs.scoping import SYSTEM, Perm, get_in_scope_or_404

    Org.objects.filter(pk=tree.fucheng.pk).update(status=OrgStatus.DISSOLVED)
    orgs = list(Org.objects.all())
    users = [*tree.users.values(), SYSTEM, None]
    seen = refused = 0
    for user in users:
        for perm in (Perm.ORG_VIEW, Perm.ORG_CHANGE, Perm.MEMBER_VIEW):
            for org in orgs:
                try:
                    expected = get_in_scope_or_404(Org.objects.all(), user, perm, pk=org.pk)
                except Http404:
                    with pytest.raises(Http404):
                        selectors.org_in_scope_or_404(user, perm, org.pk)
                    refused += 1
                    continue
                found = selectors.org_in_scope_or_404(user, perm, org.pk)
                assert found == expected
                assert {
                    f.attname: getattr(found, f.attname) for f in Org._meta.concrete_fields
                } == {f.attname: getattr(expected, f.attname) for f in Org._meta.concrete_fields}
                seen += 1
    assert seen and refused  # both sides of the rule were tried
    with pytest.raises(Http404):
        selectors.org_in_scope_or_404(SYSTEM, Perm.ORG_VIEW, 10**9)
