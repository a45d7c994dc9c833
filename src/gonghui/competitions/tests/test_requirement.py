"""A qualifying round a notice asked for: its results count under the notice requirement
on the union's dispatch page."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from gonghui.competitions.models import Competition
from gonghui.competitions.tests.test_services import c, publish  # noqa: F401  (c: the fixture)
from gonghui.notices import services as notices
from gonghui.notices.models import Dispatch


def test_the_dispatch_page_shows_the_linked_competitions(c):  # noqa: F811
    province = c.users["province_admin"]
    notice = notices.create_notice(
        actor=province,
        issuer=c.province,
        title="关于开展职工劳动和技能竞赛的通知",
        requires_ack=False,
        requirements=[notices.RequirementInput("competition", "各市举办选拔赛")],
    )
    notices.issue_notice(actor=province, notice=notice)
    requirement = notice.requirements.get()
    Competition.objects.filter(pk=c.competition.pk).update(requirement=requirement)
    c.competition.refresh_from_db()
    publish(c)
    client = Client()
    client.force_login(c.users["chengdu_admin"])
    dispatch = Dispatch.objects.get(notice=notice, org=c.chengdu)
    page = client.get(reverse("dispatch_detail", kwargs={"dispatch_id": dispatch.pk}))
    assert page.status_code == 200
    assert "关联竞赛：已公布成绩1场 · 参赛3人次" in page.content.decode()
