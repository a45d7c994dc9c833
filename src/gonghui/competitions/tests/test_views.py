"""The competition pages as cadres, members, judges and the public use them: setting up
a competition with its scoring sheets, approving entries, entering on the phone, judging
by number only, confirming and correcting, publishing, certificates, and every refusal."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import make_id_number
from gonghui.competitions import services
from gonghui.competitions.models import (
    Competition,
    CompetitionStatus,
    Entry,
    EntryStatus,
    Judge,
    Mark,
    MarkCorrection,
)
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM

pytestmark = pytest.mark.django_db

D = Decimal


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def sheet() -> list[services.DisciplineInput]:
    return [
        services.DisciplineInput(
            "电工",
            [
                services.CriterionInput("theory", "理论知识", D(100), D(30), tie_break=2),
                services.CriterionInput("practical", "配电柜接线", D(50), D(70), tie_break=1),
            ],
        )
    ]


def competition_data(**extra: Any) -> services.CompetitionInput:
    now = timezone.now()
    values = {
        "title": "成都市职工电工技能竞赛",
        "registration_opens_at": now - datetime.timedelta(days=1),
        "registration_closes_at": now + datetime.timedelta(days=7),
        "disciplines": sheet(),
        **extra,
    }
    return services.CompetitionInput(**values)


def judge(name: str, org: Any) -> Any:
    user = get_user_model().objects.create_user(username=name)
    org_services.grant_role(actor=SYSTEM, user=user, org=org, kind=RoleKind.JUDGE)
    return user


def opened(tree: Any, **extra: Any) -> Competition:
    admin = tree.users["chengdu_admin"]
    competition = services.create_competition(
        admin, org=tree.chengdu, data=competition_data(**extra)
    )
    return services.open_competition(admin, competition)


@pytest.fixture
def c(tree) -> Any:
    """成都's competition, open, 张伟 and 李娜 approved, a chief judge and a judge seated."""
    admin = tree.users["chengdu_admin"]
    competition = opened(tree)
    discipline = competition.disciplines.get()
    tree.entries = [
        services.decide_entry(
            tree.users["cd_union_admin"],
            services.register(admin, competition=competition, discipline=discipline, member=m),
            approve=True,
        )
        for m in (tree.cd_member, tree.cd_member2)
    ]
    tree.competition, tree.discipline = competition, discipline
    tree.chief = judge("chief_judge", tree.chengdu)
    tree.judge2 = judge("judge_two", tree.chengdu)
    services.seat_judge(admin, discipline, user=tree.chief, chief=True)
    services.seat_judge(admin, discipline, user=tree.judge2)
    return tree


def criteria(t: Any) -> tuple[Any, Any]:
    theory, practical = t.discipline.criteria.order_by("position")
    return theory, practical


def mark_all(t: Any) -> None:
    theory, practical = criteria(t)
    zhang, li = t.entries
    for user in (t.chief, t.judge2):
        services.enter_marks(user, zhang, marks={theory.pk: 90, practical.pk: 45})
        services.enter_marks(user, li, marks={theory.pk: 80, practical.pk: 40})


def published(t: Any) -> Competition:
    admin = t.users["chengdu_admin"]
    services.start_judging(admin, t.competition)
    mark_all(t)
    services.confirm_scores(t.chief, t.discipline)
    services.set_awards(
        admin,
        t.discipline,
        awards=[
            services.AwardInput("一等奖", 1, 1, "技术能手"),
            services.AwardInput("二等奖", 2, 3),
        ],
    )
    return services.publish_results(admin, t.competition)


def setup_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "title": "锦江区焊工技能竞赛",
        "kind": "skill",
        "description": "",
        "entry_kind": "individual",
        "team_size": "1",
        "registration_opens_at": "2026-05-01T09:00",
        "registration_closes_at": "2026-05-20T18:00",
        "held_on": "2026-06-01",
        "min_age": "",
        "max_age": "",
        "unit_approval": "on",
        "quota_per_unit": "2",
        "combine_rule": "mean",
        "advance_count": "0",
        "parent": "",
        "trades-TOTAL_FORMS": "2",
        "trades-INITIAL_FORMS": "0",
        "trades-MIN_NUM_FORMS": "0",
        "trades-MAX_NUM_FORMS": "30",
        "trades-0-name": "焊工",
        "trades-0-min_certificate": "none",
        "trades-0-theory_quiz": "",
        "trades-0-criteria": "理论知识 | 理论考试 | 100 | 30 | 2\n实操 | 板对接焊 | 100 | 70 | 1",
        "trades-1-name": "",
        "trades-1-min_certificate": "none",
        "trades-1-theory_quiz": "",
        "trades-1-criteria": "",
    }
    data.update(overrides)
    return data


# --- cadres: setting up -----------------------------------------------------------------


def test_a_union_lists_its_competitions_with_a_status_filter(c):
    client = client_for(c.users["chengdu_admin"])
    url = reverse("competitions:org_competitions", kwargs={"org_id": c.chengdu.pk})
    body = text(client.get(url))
    assert "成都市职工电工技能竞赛" in body
    assert "新建竞赛" in body and reverse("competitions:create", args=[c.chengdu.pk]) in body
    assert 'id="nav-competitions"' in body
    assert "成都市职工电工技能竞赛" not in text(client.get(url, {"status": "published"}))
    # A viewer sees the list but may not set one up; 绵阳's cadre does not see 成都's.
    viewer = text(client_for(c.users["chengdu_viewer"]).get(url))
    assert "成都市职工电工技能竞赛" in viewer and 'id="new-competition"' not in viewer
    assert client_for(c.users["mianyang_admin"]).get(url).status_code == 404
    # The org page links to it.
    org_page = text(client.get(reverse("org_detail", args=[c.chengdu.pk])))
    assert 'id="org-competitions"' in org_page


def test_a_grassroots_cadre_follows_a_competition_from_above(c):
    client = client_for(c.users["cd_union_admin"])
    body = text(
        client.get(reverse("competitions:org_competitions", kwargs={"org_id": c.cd_union.pk}))
    )
    assert 'id="from-above"' in body and "成都市职工电工技能竞赛" in body
    detail = text(client.get(reverse("competitions:detail", args=[c.competition.pk])))
    assert "张伟" in detail and "李娜" in detail
    assert 'id="open-registration"' not in detail and 'id="cancel"' not in detail


def test_creating_a_competition_with_its_scoring_sheet(tree):
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("competitions:create", kwargs={"org_id": tree.jinjiang.pk})
    assert client.get(url).status_code == 200
    response = client.post(url, setup_form())
    competition = Competition.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("competitions:detail", args=[competition.pk])
    assert (competition.org, competition.status, competition.quota_per_unit) == (
        tree.jinjiang,
        CompetitionStatus.DRAFT,
        2,
    )
    discipline = competition.disciplines.get()
    assert [
        (c.part, c.name, c.max_marks, c.weight, c.tie_break) for c in discipline.criteria.all()
    ] == [
        ("theory", "理论考试", D(100), D(30), 2),
        ("practical", "板对接焊", D(100), D(70), 1),
    ]
    detail = client.get(response["Location"])
    assert "竞赛已保存为草稿" in messages_of(detail)[0]
    assert "板对接焊" in text(detail)


def test_weights_not_adding_up_are_refused_and_the_input_kept(tree):
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("competitions:create", kwargs={"org_id": tree.chengdu.pk})
    criteria = "理论 | 理论考试 | 100 | 20\n实操 | 板对接焊 | 100 | 70"
    response = client.post(url, setup_form(**{"trades-0-criteria": criteria}))
    body = text(response)
    assert response.status_code == 200
    assert "焊工：各项权重合计为90，而不是100。" in body
    assert 'id="sheet-errors"' in body
    assert "板对接焊 | 100 | 70" in body and "锦江区焊工技能竞赛" in body
    assert not Competition.objects.exists()
    # A line the form cannot read is said on the trade.
    response = client.post(url, setup_form(**{"trades-0-criteria": "理论 | 理论考试 | 一百 | 30"}))
    assert "第1行：满分、权重和并列排序号须为数字。" in text(response)


def test_a_window_closing_before_it_opens_is_refused_on_the_field(tree):
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("competitions:create", kwargs={"org_id": tree.chengdu.pk})
    response = client.post(url, setup_form(registration_closes_at="2026-04-01T09:00"))
    assert response.context["form"].errors["registration_closes_at"] == [
        "报名截止时间须晚于开始时间。"
    ]


def test_only_organisers_set_up_and_edit(tree):
    url = reverse("competitions:create", kwargs={"org_id": tree.chengdu.pk})
    assert client_for(tree.users["chengdu_viewer"]).get(url).status_code == 403
    assert client_for(tree.users["mianyang_admin"]).get(url).status_code == 404
    assert client_for(tree.users["worker"]).get(url).status_code == 404


def test_editing_a_draft_with_its_version(tree):
    admin = tree.users["chengdu_admin"]
    competition = services.create_competition(admin, org=tree.chengdu, data=competition_data())
    client = client_for(admin)
    url = reverse("competitions:edit", kwargs={"competition_id": competition.pk})
    page = client.get(url)
    assert "配电柜接线 | 50 | 70 | 1" in text(page)
    form = setup_form(title="成都市职工电工技能大赛", version=str(competition.version))
    assert client.post(url, form).status_code == 302
    competition.refresh_from_db()
    assert (competition.title, competition.version) == ("成都市职工电工技能大赛", 2)
    # A stale version is refused and nothing is overwritten.
    stale = client.post(url, {**form, "title": "旧标题", "version": "1"})
    assert messages_of(stale)[-1] == "其他人已修改了该竞赛，请刷新后重试。"
    assert 'value="旧标题"' in text(stale)
    competition.refresh_from_db()
    assert competition.title == "成都市职工电工技能大赛"
    # Once open it can no longer be changed.
    services.open_competition(admin, competition)
    response = client.get(url)
    assert response.status_code == 302
    assert messages_of(client.get(response["Location"])) == ["只有草稿可以修改。"]


# --- cadres: running it -----------------------------------------------------------------


def test_the_detail_page_shows_facts_entries_judges_and_actions(c):
    client = client_for(c.users["chengdu_admin"])
    body = text(client.get(reverse("competitions:detail", args=[c.competition.pk])))
    assert "成都市职工电工技能竞赛" in body and "报名中" in body
    assert "配电柜接线" in body and "01-001" in body and "张伟" in body
    assert "chief_judge" in body and "裁判长" in body
    assert 'id="start-judging"' in body and 'id="cancel"' in body
    assert f'id="seat-{c.discipline.pk}"' in body
    # GET on an action answers with the page.
    response = client.get(reverse("competitions:start_judging", args=[c.competition.pk]))
    assert response.status_code == 200
    assert Competition.objects.get(pk=c.competition.pk).status == CompetitionStatus.OPEN


def test_approving_and_rejecting_entries(tree):
    competition = opened(tree)
    discipline = competition.disciplines.get()
    entry = services.register(
        tree.users["worker"], competition=competition, discipline=discipline, member=tree.cd_member
    )
    detail = reverse("competitions:detail", args=[competition.pk])
    # The organiser's cadre sees it but only the member's union decides.
    organiser = text(client_for(tree.users["chengdu_viewer"]).get(detail))
    assert "张伟" in organiser and f'id="approve-{entry.pk}"' not in organiser
    client = client_for(tree.users["cd_union_admin"])
    assert f'id="approve-{entry.pk}"' in text(client.get(detail))
    url = reverse("competitions:decide", kwargs={"entry_id": entry.pk})
    refused = client.post(url, {"decision": "reject", "note": " "})
    assert refused.status_code == 200
    assert "请说明不予通过的原因。" in text(refused)
    assert Entry.objects.get(pk=entry.pk).status == EntryStatus.PENDING
    done = client.post(url, {"decision": "approve", "note": ""}, follow=True)
    assert messages_of(done) == ["张伟的报名已通过，参赛号为01-001。"]
    assert Entry.objects.get(pk=entry.pk).number == "01-001"
    # 绵阳 never learns of it; a viewer is refused.
    assert (
        client_for(tree.users["mianyang_admin"]).post(url, {"decision": "approve"}).status_code
        == 404
    )


def test_seating_a_judge_needs_a_judge_role(c):
    client = client_for(c.users["chengdu_admin"])
    url = reverse("competitions:seat_judge", kwargs={"discipline_id": c.discipline.pk})
    refused = client.post(url, {"username": "chengdu_staff"})
    body = text(refused)
    assert "chengdu_staff在成都市总工会没有裁判角色。" in body
    assert 'value="chengdu_staff"' in body
    unknown = client.post(url, {"username": "no_such_user"})
    assert "没有用户no_such_user。" in text(unknown)
    third = judge("judge_three", c.chengdu)
    client.post(url, {"username": "judge_three", "chief": "on"})
    seat = Judge.objects.get(user=third)
    assert seat.chief and not Judge.objects.get(user=c.chief).chief
    assert (
        client_for(c.users["chengdu_viewer"]).post(url, {"username": "judge_three"}).status_code
        == 403
    )


def test_awards_are_set_per_trade(c):
    client = client_for(c.users["chengdu_admin"])
    url = reverse("competitions:awards", kwargs={"discipline_id": c.discipline.pk})
    overlap = {
        "name_0": "一等奖",
        "from_0": "1",
        "to_0": "2",
        "name_1": "二等奖",
        "from_1": "2",
        "to_1": "3",
    }
    refused = client.post(url, overlap)
    assert "两个奖项覆盖了同一名次。" in text(refused)
    assert 'value="二等奖"' in text(refused)
    client.post(url, {"name_0": "一等奖", "from_0": "1", "to_0": "1", "title_0": "技术能手"})
    assert [(a.name, a.title) for a in c.discipline.awards.all()] == [("一等奖", "技术能手")]


def test_publishing_needs_confirmed_scores_then_shows_the_ranking(c):
    admin = c.users["chengdu_admin"]
    client = client_for(admin)
    services.start_judging(admin, c.competition)
    response = client.post(reverse("competitions:publish", args=[c.competition.pk]), follow=True)
    assert messages_of(response) == ["裁判长尚未确认成绩：电工。"]
    mark_all(c)
    services.confirm_scores(c.chief, c.discipline)
    response = client.post(reverse("competitions:publish", args=[c.competition.pk]), follow=True)
    assert messages_of(response) == ["成绩已公布。"]
    body = text(response)
    assert 'id="results"' in body and "90.000" in body


def test_cancelling_needs_a_reason(c):
    client = client_for(c.users["chengdu_admin"])
    url = reverse("competitions:cancel", args=[c.competition.pk])
    refused = client.post(url, {"reason": ""})
    assert "请说明取消竞赛的原因。" in text(refused)
    client.post(url, {"reason": "场地无法使用"})
    assert Competition.objects.get(pk=c.competition.pk).status == CompetitionStatus.CANCELLED


def test_nominating_the_top_entries_to_the_next_stage(c):
    province = c.users["province_admin"]
    final = services.open_competition(
        province,
        services.create_competition(
            province, org=c.province, data=competition_data(title="省决赛")
        ),
    )
    Competition.objects.filter(pk=c.competition.pk).update(parent=final, advance_count=1)
    c.competition.refresh_from_db()
    published(c)
    client = client_for(c.users["chengdu_admin"])
    zhang, li = c.entries
    body = text(client.get(reverse("competitions:detail", args=[c.competition.pk])))
    assert f'id="nominate-{zhang.pk}"' in body and f'id="nominate-{li.pk}"' not in body
    refused = client.post(reverse("competitions:nominate", args=[li.pk]), follow=True)
    assert messages_of(refused) == ["每个工种只有前1名可以晋级下一阶段。"]
    done = client.post(reverse("competitions:nominate", args=[zhang.pk]), follow=True)
    assert messages_of(done) == ["张伟已推荐参加省决赛。"]
    assert Entry.objects.filter(competition=final, member=c.cd_member).exists()


# --- members ----------------------------------------------------------------------------


def test_my_competitions_lists_what_is_open_and_my_entries(c):
    client = client_for(c.users["worker"])
    body = text(client.get(reverse("competitions:mine")))
    assert "成都市职工电工技能竞赛" in body and "01-001" in body and "已通过" in body
    assert 'id="nav-my-competitions"' in body and "我的竞赛" in body
    published(c)
    body = text(client.get(reverse("competitions:mine")))
    zhang = c.entries[0]
    assert "第1名" in body and "一等奖 · 技术能手" in body
    assert reverse("competitions:entry_certificate", args=[zhang.pk]) in body


def test_entering_on_the_phone(tree):
    competition = opened(tree, quota_per_unit=1)
    client = client_for(tree.users["worker"])
    url = reverse("competitions:enter", kwargs={"competition_id": competition.pk})
    page = text(client.get(url))
    assert "电工" in page and 'id="send-entry"' in page
    discipline = competition.disciplines.get()
    response = client.post(url, {"discipline": discipline.pk, "certificate": "none"}, follow=True)
    assert messages_of(response) == ["报名已提交成都华信机械有限公司工会委员会审核。"]
    assert 'id="my-entry"' in text(response) and "待工会审核" in text(response)
    entry = Entry.objects.get()
    # Withdrawing.
    client.post(reverse("competitions:withdraw", kwargs={"entry_id": entry.pk}), {"reason": ""})
    assert Entry.objects.get().status == EntryStatus.WITHDRAWN


def test_a_refused_entry_keeps_the_choice(tree):
    competition = opened(tree, quota_per_unit=1)
    discipline = competition.disciplines.get()
    services.register(
        tree.users["chengdu_admin"],
        competition=competition,
        discipline=discipline,
        member=tree.cd_member2,
    )
    client = client_for(tree.users["worker"])
    url = reverse("competitions:enter", kwargs={"competition_id": competition.pk})
    response = client.post(url, {"discipline": discipline.pk, "certificate": "4"})
    body = text(response)
    assert "成都华信机械有限公司工会委员会的1个名额已用完。" in body
    assert response.context["form"]["certificate"].value() == "4"
    assert Entry.objects.filter(member=tree.cd_member).count() == 0


def test_a_team_picks_colleagues_of_the_union(tree):
    competition = opened(tree, entry_kind="team", team_size=2)
    discipline = competition.disciplines.get()
    client = client_for(tree.users["worker"])
    url = reverse("competitions:enter", kwargs={"competition_id": competition.pk})
    page = text(client.get(url))
    assert "李娜" in page and "王强" in page and "刘芳" not in page
    refused = client.post(
        url,
        {
            "discipline": discipline.pk,
            "certificate": "none",
            "team_name": "",
            "team_members": [tree.cd_member2.pk],
        },
    )
    assert "请为团队起个名称。" in text(refused)
    client.post(
        url,
        {
            "discipline": discipline.pk,
            "certificate": "none",
            "team_name": "华信电工队",
            "team_members": [tree.cd_member2.pk],
        },
    )
    entry = Entry.objects.get()
    assert (entry.team_name, entry.people, list(entry.team_members.all())) == (
        "华信电工队",
        2,
        [tree.cd_member2],
    )


def test_members_elsewhere_and_drafts_are_not_found(tree):
    admin = tree.users["chengdu_admin"]
    draft = services.create_competition(admin, org=tree.chengdu, data=competition_data())
    client = client_for(tree.users["worker"])
    assert client.get(reverse("competitions:enter", args=[draft.pk])).status_code == 404
    open_one = services.open_competition(admin, draft)
    tree.my_member.user = tree.users["nobody"]
    tree.my_member.save()
    assert (
        client_for(tree.users["nobody"])
        .get(reverse("competitions:enter", args=[open_one.pk]))
        .status_code
        == 404
    )


# --- judges -----------------------------------------------------------------------------


def without_csrf_tokens(page: str) -> str:
    """The page without its CSRF tokens: random text that may contain any number."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page)


def test_a_judge_sees_numbers_only_and_others_marks_after_confirmation(c):
    services.start_judging(c.users["chengdu_admin"], c.competition)
    theory, practical = criteria(c)
    zhang, li = c.entries
    services.enter_marks(c.chief, zhang, marks={theory.pk: 77, practical.pk: 33})
    client = client_for(c.judge2)
    judging = text(client.get(reverse("competitions:judging")))
    assert 'id="nav-judging"' in judging and "电工" in judging
    url = reverse("competitions:judge_sheet", kwargs={"discipline_id": c.discipline.pk})
    body = text(client.get(url))
    assert "01-001" in body and "01-002" in body
    assert "张伟" not in body and "李娜" not in body and "华信" not in body
    assert "77" not in without_csrf_tokens(body)  # the chief's mark, not yet confirmed
    # Entering marks: out of range keeps what was typed.
    marks_url = reverse(
        "competitions:judge_marks", kwargs={"discipline_id": c.discipline.pk, "entry_id": zhang.pk}
    )
    prefix = f"e{zhang.pk}"
    refused = client.post(
        marks_url, {f"{prefix}-c{theory.pk}": "88", f"{prefix}-c{practical.pk}": "51"}
    )
    assert "配电柜接线：分数须在0到50之间。" in text(refused)
    assert 'value="51"' in text(refused) and 'value="88"' in text(refused)
    assert "张伟" not in text(refused)
    assert not Mark.objects.filter(judge=c.judge2).exists()
    done = client.post(
        marks_url, {f"{prefix}-c{theory.pk}": "88", f"{prefix}-c{practical.pk}": "44"}, follow=True
    )
    assert messages_of(done) == ["01-001的评分已保存。"]
    services.enter_marks(c.judge2, li, marks={theory.pk: 80, practical.pk: 40})
    services.enter_marks(c.chief, li, marks={theory.pk: 80, practical.pk: 40})
    # The chief confirms from their sheet; then the judge sees the others' marks.
    chief = client_for(c.chief)
    chief_sheet = text(chief.get(url))
    assert 'id="confirm-scores"' in chief_sheet and "张伟" not in chief_sheet
    response = chief.post(reverse("competitions:confirm", args=[c.discipline.pk]), follow=True)
    assert messages_of(response) == ["成绩已确认并锁定，总分和名次已生成。"]
    body = without_csrf_tokens(text(client.get(url)))
    assert "77" in body and "张伟" not in body
    # The other judges may not see the sheet of a trade they do not judge.
    assert client_for(c.users["chengdu_admin"]).get(url).status_code == 404


def test_only_the_chief_confirms_and_missing_marks_are_named(c):
    services.start_judging(c.users["chengdu_admin"], c.competition)
    url = reverse("competitions:confirm", args=[c.discipline.pk])
    assert client_for(c.judge2).post(url).status_code == 403
    response = client_for(c.chief).post(url, follow=True)
    assert "条评分未录入" in messages_of(response)[0]


def test_the_chief_corrects_a_confirmed_mark_with_a_reason(c):
    services.start_judging(c.users["chengdu_admin"], c.competition)
    mark_all(c)
    services.confirm_scores(c.chief, c.discipline)
    _theory, practical = criteria(c)
    mark = Mark.objects.get(entry=c.entries[1], criterion=practical, judge=c.judge2)
    client = client_for(c.chief)
    body = text(client.get(reverse("competitions:judge_sheet", args=[c.discipline.pk])))
    assert f'id="mark-{mark.pk}"' in body and "张伟" not in body
    url = reverse(
        "competitions:correct", kwargs={"discipline_id": c.discipline.pk, "mark_id": mark.pk}
    )
    refused = client.post(url, {f"m{mark.pk}-value": "50", f"m{mark.pk}-reason": ""})
    assert "请说明更正分数的原因。" in text(refused)
    assert 'value="50"' in text(refused)
    client.post(url, {f"m{mark.pk}-value": "50", f"m{mark.pk}-reason": "复核漏计一项"})
    assert MarkCorrection.objects.get().after == D(50)
    assert client_for(c.judge2).post(url, {f"m{mark.pk}-value": "49"}).status_code == 404


def test_a_seated_judge_does_not_see_names_on_the_cadre_page(c):
    body = text(client_for(c.judge2).get(reverse("competitions:detail", args=[c.competition.pk])))
    assert "张伟" not in body


# --- public results and certificates ---------------------------------------------------


def test_public_results_need_no_login_and_hide_unpublished(c):
    anonymous = Client()
    url = reverse("competitions:public_results", kwargs={"competition_id": c.competition.pk})
    assert anonymous.get(url).status_code == 404
    published(c)
    body = text(anonymous.get(url))
    assert "张伟" in body and "成都华信机械有限公司工会委员会" in body
    assert "一等奖" in body and "技术能手" in body and "90.000" in body
    assert make_id_number(seq=11) not in body and make_id_number(seq=11)[-4:] not in body
    index = text(anonymous.get(reverse("competitions:public_index")))
    assert "成都市职工电工技能竞赛" in index


def test_the_certificate_is_a_pdf_for_the_right_people(c):
    zhang = c.entries[0]
    url = reverse("competitions:entry_certificate", kwargs={"entry_id": zhang.pk})
    assert client_for(c.users["worker"]).get(url).status_code == 404  # not published yet
    published(c)
    for name in ("worker", "chengdu_admin", "cd_union_admin"):
        response = client_for(c.users[name]).get(url)
        assert response.status_code == 200, name
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
    assert client_for(c.users["mianyang_admin"]).get(url).status_code == 404
    assert Client().get(url).status_code == 302
    from gonghui.competitions import pdf

    zhang.refresh_from_db()
    award = services.award_of(zhang, c.discipline.awards.all())
    assert "张伟" in pdf.certificate_text(zhang, award) and "技术能手" in pdf.certificate_text(
        zhang, award
    )


# --- registering members, by their union -------------------------------------------------


def register_url(competition: Competition) -> str:
    return reverse("competitions:register_member", kwargs={"competition_id": competition.pk})


def search(client: Client, competition: Competition, q: str) -> str:
    return text(
        client.get(
            register_url(competition),
            {"q": q},
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="member-matches",
        )
    )


def test_a_grassroots_cadre_registers_a_member(tree):
    competition = opened(tree)
    discipline = competition.disciplines.get()
    cadre = tree.users["cd_union_admin"]
    client = client_for(cadre)
    detail = text(client.get(reverse("competitions:detail", args=[competition.pk])))
    assert register_url(competition) in detail
    page = client.get(register_url(competition))
    assert page.status_code == 200 and 'id="send-registration"' in text(page)
    found = search(client, competition, "李娜")
    assert f'value="{tree.cd_member2.pk}"' in found and "张伟" not in found
    response = client.post(
        register_url(competition),
        {"member": tree.cd_member2.pk, "discipline": discipline.pk, "certificate": "3"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("competitions:detail", args=[competition.pk]))
    entry = Entry.objects.get()
    assert (entry.member, entry.registered_by, entry.unit, entry.certificate) == (
        tree.cd_member2,
        cadre,
        tree.cd_union,
        "3",
    )
    # The competition needs the union's approval: the entry waits for decide_entry.
    assert entry.status == EntryStatus.PENDING
    followed = client.get(response["Location"])
    assert any("李娜" in m for m in messages_of(followed))
    client.post(reverse("competitions:decide", args=[entry.pk]), {"decision": "approve"})
    entry.refresh_from_db()
    assert entry.status == EntryStatus.APPROVED and entry.number


def test_a_registration_without_unit_approval_gets_its_number(tree):
    competition = opened(tree, unit_approval=False)
    discipline = competition.disciplines.get()
    client = client_for(tree.users["cd_union_admin"])
    client.post(
        register_url(competition),
        {"member": tree.team_member.pk, "discipline": discipline.pk, "certificate": "none"},
    )
    entry = Entry.objects.get()
    assert (entry.member, entry.status, entry.unit) == (
        tree.team_member,
        EntryStatus.APPROVED,
        tree.cd_union,
    )


def test_a_quota_refusal_keeps_the_chosen_member(tree):
    competition = opened(tree, quota_per_unit=1)
    discipline = competition.disciplines.get()
    services.register(
        tree.users["chengdu_admin"],
        competition=competition,
        discipline=discipline,
        member=tree.cd_member,
    )
    client = client_for(tree.users["cd_union_admin"])
    response = client.post(
        register_url(competition),
        {"member": tree.cd_member2.pk, "discipline": discipline.pk, "certificate": "4"},
    )
    assert response.status_code == 200
    body = text(response)
    assert "成都华信机械有限公司工会委员会的1个名额已用完。" in body
    form = response.context["form"]
    assert form.non_field_errors()
    assert str(form["member"].value()) == str(tree.cd_member2.pk)
    assert form["certificate"].value() == "4"
    assert f'value="{tree.cd_member2.pk}" checked' in body and "李娜" in body
    assert not Entry.objects.filter(member=tree.cd_member2).exists()


def test_a_duplicate_and_missing_input_are_refused_on_the_form(tree):
    competition = opened(tree)
    discipline = competition.disciplines.get()
    client = client_for(tree.users["cd_union_admin"])
    data = {"member": tree.cd_member2.pk, "discipline": discipline.pk, "certificate": "none"}
    client.post(register_url(competition), data)
    again = client.post(register_url(competition), data)
    assert again.status_code == 200 and again.context["form"].non_field_errors()
    empty = client.post(register_url(competition), {"certificate": "none"})
    assert set(empty.context["form"].errors) >= {"member", "discipline"}
    assert Entry.objects.count() == 1


def test_a_cadre_registers_a_team_of_the_leaders_union(tree):
    competition = opened(tree, entry_kind="team", team_size=2)
    discipline = competition.disciplines.get()
    client = client_for(tree.users["cd_union_admin"])
    page = text(client.get(register_url(competition)))
    assert 'id="no-leader"' in page
    team = text(
        client.get(
            register_url(competition),
            {"member": tree.cd_member.pk},
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="team-fields",
        )
    )
    assert "李娜" in team and "王强" in team and "刘芳" not in team and "张伟" not in team
    client.post(
        register_url(competition),
        {
            "member": tree.cd_member.pk,
            "discipline": discipline.pk,
            "certificate": "none",
            "team_name": "华信电工队",
            "team_members": [tree.team_member.pk],
        },
    )
    entry = Entry.objects.get()
    assert (entry.member, entry.team_name, entry.people, list(entry.team_members.all())) == (
        tree.cd_member,
        "华信电工队",
        2,
        [tree.team_member],
    )
    # A member of another union is no team mate.
    refused = client.post(
        register_url(competition),
        {
            "member": tree.cd_member2.pk,
            "discipline": discipline.pk,
            "certificate": "none",
            "team_name": "绵阳队",
            "team_members": [tree.my_member.pk],
        },
    )
    assert "team_members" in refused.context["form"].errors
    assert Entry.objects.count() == 1


def test_other_cities_and_people_without_the_role_are_kept_out(tree):
    competition = opened(tree)
    discipline = competition.disciplines.get()
    url = register_url(competition)
    data = {"member": tree.cd_member2.pk, "discipline": discipline.pk, "certificate": "none"}
    mianyang = client_for(tree.users["mianyang_admin"])
    assert mianyang.get(url).status_code == 404
    assert mianyang.post(url, data).status_code == 404
    assert client_for(tree.users["worker"]).get(url).status_code == 404
    viewer = client_for(tree.users["chengdu_viewer"])
    assert viewer.get(url).status_code == 403
    assert url not in text(viewer.get(reverse("competitions:detail", args=[competition.pk])))
    assert not Entry.objects.exists()


def test_the_search_never_lists_members_outside_the_cadres_scope(tree):
    competition = opened(tree)
    discipline = competition.disciplines.get()
    liu = tree.my_member
    for username in ("cd_union_admin", "chengdu_admin"):
        client = client_for(tree.users[username])
        for q in ("刘芳", "liufang", liu.id_number_tail, liu.phone[-4:]):
            found = search(client, competition, q)
            assert "刘芳" not in found and f'value="{liu.pk}"' not in found, (username, q)
        # Nor is a member outside the scope accepted when posted by hand.
        refused = client.post(
            register_url(competition),
            {"member": liu.pk, "discipline": discipline.pk, "certificate": "none"},
        )
        assert "member" in refused.context["form"].errors
        assert "刘芳" not in text(refused)
    assert "王强" in search(client_for(tree.users["cd_union_admin"]), competition, "王强")
    assert f'value="{tree.cd_member.pk}"' in search(
        client_for(tree.users["cd_union_admin"]), competition, tree.cd_member.id_number_tail
    )
    assert not Entry.objects.exists()


def test_registering_waits_for_the_window(tree):
    admin = tree.users["chengdu_admin"]
    draft = services.create_competition(admin, org=tree.chengdu, data=competition_data())
    client = client_for(admin)
    response = client.get(register_url(draft))
    assert response.status_code == 302
    assert response["Location"] == reverse("competitions:detail", args=[draft.pk])
    assert register_url(draft) not in text(client.get(response["Location"]))
    later = opened(
        tree,
        registration_opens_at=timezone.now() + datetime.timedelta(days=1),
        registration_closes_at=timezone.now() + datetime.timedelta(days=3),
    )
    cadre = client_for(tree.users["cd_union_admin"])
    assert cadre.get(register_url(later)).status_code == 302
    assert register_url(later) not in text(
        cadre.get(reverse("competitions:detail", args=[later.pk]))
    )


def test_a_qualifying_round_is_linked_to_a_notice_requirement(tree):
    from gonghui.notices import services as notices

    province = tree.users["province_admin"]
    notice = notices.create_notice(
        actor=province,
        issuer=tree.province,
        title="关于开展职工劳动和技能竞赛的通知",
        requires_ack=False,
        requirements=[notices.RequirementInput("competition", "各市举办选拔赛")],
    )
    notices.issue_notice(actor=province, notice=notice)
    requirement = notice.requirements.get()
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("competitions:create", kwargs={"org_id": tree.chengdu.pk})
    page = client.get(url)
    assert "各市举办选拔赛" in text(page)
    response = client.post(url, {**setup_form(), "requirement": str(requirement.pk)})
    assert response.status_code == 302
    assert Competition.objects.get().requirement == requirement
    # A requirement of a notice 成都 never received is not offered, and refused.
    other = notices.create_notice(
        actor=tree.users["mianyang_admin"],
        issuer=tree.mianyang,
        title="绵阳市总工会通知",
        requires_ack=False,
        requirements=[notices.RequirementInput("competition", "绵阳选拔赛")],
    )
    notices.issue_notice(actor=tree.users["mianyang_admin"], notice=other)
    bad = client.post(url, {**setup_form(), "requirement": str(other.requirements.get().pk)})
    assert bad.status_code == 200
    assert Competition.objects.count() == 1
