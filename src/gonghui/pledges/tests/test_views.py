"""The pledge pages as unions and workers use them: the list with its filters, drafting and
editing (with the version read), publishing, reporting progress with photos, completing,
cancelling, hiding a comment, the photo behind its visibility check, the worker's list
and page with comments (htmx too), and refusals shown on the page, in Chinese."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from gonghui.audit.models import AuditEntry
from gonghui.pledges import services
from gonghui.pledges.models import Pledge, PledgeCategory, PledgeComment, PledgePhoto, PledgeStatus

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def zh(msgid: str) -> str:
    """What the page shows for a message: its Chinese from the catalogue."""
    with translation.override("zh-hans"):
        return gettext(msgid)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def make(tree: Any, *, org: Any = None, user: str = "chengdu_admin", publish: bool = True,
         **extra: Any) -> Pledge:  # fmt: skip
    values: dict[str, Any] = {
        "title": "一线职工免费体检",
        "category": PledgeCategory.SERVICES,
        "target": "为100名一线职工免费体检",
        "target_value": 100,
        "target_unit": "人",
        "deadline": days(30),
    }
    values.update(extra)
    pledge = services.create_pledge(
        actor=tree.users[user], org=org or tree.chengdu, data=services.PledgeInput(**values)
    )
    if publish:
        pledge = services.publish_pledge(actor=tree.users[user], pledge=pledge)
    return pledge


def form_data(**extra: Any) -> dict[str, Any]:
    values = {
        "title": "职工食堂提质改造",
        "category": "services",
        "target": "改造职工食堂，新增就餐座位120个",
        "target_value": "120",
        "target_unit": "个",
        "deadline": days(20).isoformat(),
        "description": "<p>改造后餐位增加。</p>",
    }
    values.update(extra)
    return values


# --- cadres ---------------------------------------------------------------------------------


def test_the_list_of_a_union_and_below_with_filters(tree):
    make(tree, title="成都体检")
    make(tree, org=tree.cd_union, user="cd_union_admin", publish=False, title="华信食堂")
    make(tree, org=tree.mianyang, user="mianyang_admin", title="绵阳承诺")
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("pledges:org_pledges", kwargs={"org_id": tree.chengdu.pk})
    page = text(client.get(url))
    assert "成都体检" in page and "华信食堂" in page and "绵阳承诺" not in page
    assert 'id="new-pledge"' in page
    assert 'data-progress="0"' in page  # the published one shows its progress bar
    own = text(client.get(url, {"scope": "own"}))
    assert "成都体检" in own and "华信食堂" not in own
    drafts = text(client.get(url, {"status": "draft"}))
    assert "华信食堂" in drafts and "成都体检" not in drafts
    mianyang = reverse("pledges:org_pledges", kwargs={"org_id": tree.mianyang.pk})
    assert client.get(mianyang).status_code == 404
    # A viewer sees the list but may not draft.
    viewer = text(client_for(tree.users["chengdu_viewer"]).get(url))
    assert "成都体检" in viewer and 'id="new-pledge"' not in viewer


def test_the_menu_entry_leads_cadres_to_their_union_and_workers_to_their_page(tree):
    cadre = client_for(tree.users["chengdu_admin"])
    response = cadre.get(reverse("pledges:index"))
    assert response.url == reverse("pledges:org_pledges", kwargs={"org_id": tree.chengdu.pk})
    assert 'id="nav-pledges"' in text(cadre.get(response.url))
    worker = client_for(tree.users["worker"])
    assert worker.get(reverse("pledges:index")).url == reverse("pledges:for_me")
    page = text(worker.get(reverse("pledges:for_me")))
    assert 'id="nav-my-pledges"' in page and 'id="nav-pledges"' not in page


def test_drafting_through_the_form(tree):
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("pledges:pledge_create", kwargs={"org_id": tree.cd_union.pk})
    page = client.get(url)
    assert page.status_code == 200 and 'id="pledge-form"' in text(page)
    response = client.post(url, form_data())
    pledge = Pledge.objects.get()
    assert response.url == reverse("pledges:pledge_detail", kwargs={"pledge_id": pledge.pk})
    assert (pledge.org, pledge.status, pledge.target_value) == (tree.cd_union, "draft", 120)
    assert pledge.description == "<p>改造后餐位增加。</p>"
    # The service's refusal appears at its field, in Chinese; nothing typed is lost.
    past = days(-1)
    response = client.post(url, form_data(deadline=past.isoformat(), title="新承诺"))
    body = text(response)
    assert response.status_code == 200
    assert zh("The deadline %(day)s has passed; choose a later day.") % {"day": past} in body
    assert f"截止日期 {past} 已过，请选择之后的日期。" in body
    assert 'id="field-deadline"' in body and 'value="新承诺"' in body
    response = client.post(url, form_data(target_value="", target_unit="个"))
    assert zh("A unit goes with a numeric target: give the number too.") in text(response)
    assert Pledge.objects.count() == 1


def test_drafting_needs_the_right_there(tree):
    url = reverse("pledges:pledge_create", kwargs={"org_id": tree.chengdu.pk})
    assert client_for(tree.users["chengdu_viewer"]).post(url, form_data()).status_code == 403
    assert client_for(tree.users["mianyang_admin"]).get(url).status_code == 404
    assert not Pledge.objects.exists()


def test_editing_a_draft_with_the_version_read(tree):
    pledge = make(tree, publish=False)
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("pledges:pledge_edit", kwargs={"pledge_id": pledge.pk})
    page = text(client.get(url))
    assert 'name="version" value="1"' in page and 'value="一线职工免费体检"' in page
    assert client.post(url, form_data(version="1", title="改后")).status_code == 302
    stale = client.post(url, form_data(version="1", title="另一人的旧稿"))
    assert zh("Someone else changed this pledge meanwhile. Reload it and edit again.") in text(
        stale
    )
    pledge.refresh_from_db()
    assert (pledge.title, pledge.version) == ("改后", 2)
    services.publish_pledge(actor=tree.users["chengdu_admin"], pledge=pledge)
    refusal = client.get(url)
    assert refusal.status_code == 200
    assert zh("Only a draft can be edited: a published pledge is a public promise.") in text(
        refusal
    )
    assert 'id="pledge-form"' not in text(refusal)


def test_the_detail_publish_progress_with_photos_and_complete(tree):
    pledge = make(tree, publish=False)
    client = client_for(tree.users["chengdu_admin"])
    detail = reverse("pledges:pledge_detail", kwargs={"pledge_id": pledge.pk})
    page = text(client.get(detail))
    assert 'id="publish"' in page and 'id="report-progress"' not in page
    response = client.post(reverse("pledges:pledge_publish", kwargs={"pledge_id": pledge.pk}))
    assert response.url == detail
    pledge.refresh_from_db()
    assert pledge.status == PledgeStatus.PUBLISHED
    progress_url = reverse("pledges:pledge_progress", kwargs={"pledge_id": pledge.pk})
    assert 'id="progress-form"' in text(client.get(progress_url))
    photos = [
        SimpleUploadedFile("现场1.png", PNG, content_type="image/png"),
        SimpleUploadedFile(
            "现场2.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 32, content_type="image/jpeg"
        ),
    ]
    response = client.post(
        progress_url,
        {"text": "首批40名职工完成体检。", "progress": "40", "day": days(0).isoformat(),
         "photos": photos},
    )  # fmt: skip
    assert response.status_code == 302 and response.url == f"{detail}#updates"
    pledge.refresh_from_db()
    assert pledge.progress == 40
    assert PledgePhoto.objects.count() == 2
    page = text(client.get(detail))
    assert "首批40名职工完成体检。" in page
    assert 'aria-valuenow="40"' in page and "40 / 100 人 · 40%" in page
    for photo in PledgePhoto.objects.all():
        assert reverse("pledges:pledge_photo", kwargs={"photo_id": photo.pk}) in page
    # Going backwards is refused on the form, in Chinese, unless marked as a correction.
    back = client.post(progress_url, {"text": "更正", "progress": "30", "day": ""})
    assert zh(
        "The progress was %(old)d; %(new)d would go backwards. If the earlier figure was "
        "wrong, mark this update as a correction and say why."
    ) % {"old": 40, "new": 30} in text(back)
    ok = client.post(progress_url, {"text": "更正：误计10人", "progress": "30", "correction": "on"})
    assert ok.status_code == 302
    complete_url = reverse("pledges:pledge_complete", kwargs={"pledge_id": pledge.pk})
    empty = client.post(complete_url, {"note": "   "})
    assert empty.status_code == 200
    response = client.post(complete_url, {"note": "100名职工全部完成体检。"})
    assert response.url == detail
    pledge.refresh_from_db()
    assert pledge.status == PledgeStatus.COMPLETED and pledge.on_time is True
    page = text(client.get(detail))
    assert 'id="closing-note"' in page and "100名职工全部完成体检。" in page
    assert 'data-light="green"' in page
    # Completed: no more progress.
    refusal = text(client.get(progress_url))
    assert zh("Progress can be reported only while the pledge is under way.") in refusal


def test_photo_refusals_are_shown_in_chinese(tree):
    pledge = make(tree)
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("pledges:pledge_progress", kwargs={"pledge_id": pledge.pk})
    fake = SimpleUploadedFile("假照片.png", b"MZ not an image", content_type="image/png")
    response = client.post(url, {"text": "进展", "progress": "5", "photos": [fake]})
    body = text(response)
    assert response.status_code == 200
    assert 'lang="zh-hans"' in body
    assert "假照片.png 并不是真正的 png 文件。" in body
    big = SimpleUploadedFile(
        "大图.png", PNG + b"\x00" * (10 * 1024 * 1024), content_type="image/png"
    )
    body = text(client.post(url, {"text": "进展", "progress": "5", "photos": [big]}))
    assert "大图.png 超过 10 MB。" in body
    pledge.refresh_from_db()
    assert pledge.progress == 0 and not PledgePhoto.objects.exists()


def test_cancelling_through_the_form(tree):
    pledge = make(tree)
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("pledges:pledge_cancel", kwargs={"pledge_id": pledge.pk})
    assert 'id="confirm"' in text(client.get(url))
    response = client.post(url, {"reason": "并入省总工会统一项目"})
    assert response.status_code == 302
    pledge.refresh_from_db()
    assert (pledge.status, pledge.cancelled_reason) == ("cancelled", "并入省总工会统一项目")
    page = text(client.get(reverse("pledges:pledge_detail", kwargs={"pledge_id": pledge.pk})))
    assert 'id="cancelled-reason"' in page and "并入省总工会统一项目" in page
    assert 'id="refusal"' in text(client.get(url))
    # A viewer of 成都 sees the pledge but may not cancel it.
    other = make(tree, title="另一项")
    viewer = client_for(tree.users["chengdu_viewer"])
    cancel_other = reverse("pledges:pledge_cancel", kwargs={"pledge_id": other.pk})
    assert viewer.post(cancel_other, {"reason": "x"}).status_code == 403
    assert (
        viewer.get(reverse("pledges:pledge_detail", kwargs={"pledge_id": other.pk})).status_code
        == 200
    )


def test_hiding_a_comment(tree):
    pledge = make(tree)
    comment = services.add_comment(actor=tree.users["worker"], pledge=pledge, text="广告：低价出售")
    client = client_for(tree.users["chengdu_admin"])
    detail = reverse("pledges:pledge_detail", kwargs={"pledge_id": pledge.pk})
    url = reverse("pledges:comment_hide", kwargs={"comment_id": comment.pk})
    assert url in text(client.get(detail))
    page = text(client.get(url))
    assert 'id="comment-text"' in page and "广告：低价出售" in page
    response = client.post(url, {"reason": "与本事项无关的广告"})
    assert response.url == f"{detail}#comments"
    comment.refresh_from_db()
    assert (comment.hidden, comment.hidden_reason) == (True, "与本事项无关的广告")
    page = text(client.get(detail))
    assert "与本事项无关的广告" in page and url not in page
    assert client_for(tree.users["mianyang_admin"]).post(url, {"reason": "x"}).status_code == 404
    assert client_for(tree.users["chengdu_viewer"]).post(url, {"reason": "x"}).status_code == 403


def test_a_photo_is_served_only_to_those_who_see_its_pledge(tree):
    pledge = make(tree)
    services.add_progress(
        actor=tree.users["chengdu_admin"],
        pledge=pledge,
        text="进展",
        progress=10,
        photos=[SimpleUploadedFile("现场.png", PNG, content_type="image/png")],
    )
    photo = PledgePhoto.objects.get()
    url = reverse("pledges:pledge_photo", kwargs={"photo_id": photo.pk})
    for username in ("chengdu_admin", "chengdu_viewer", "province_admin", "worker"):
        response = client_for(tree.users[username]).get(url)
        assert response.status_code == 200, username
        assert response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content) == PNG
    for username in ("mianyang_admin", "nobody", "cd_union_admin"):
        assert client_for(tree.users[username]).get(url).status_code == 404, username
    assert Client().get(url).status_code == 302  # to sign in


# --- workers --------------------------------------------------------------------------------


def test_the_workers_list_on_a_phone(tree):
    city = make(tree, title="成都体检")
    make(tree, org=tree.province, user="province_admin", title="全省驿站")
    make(tree, publish=False, title="成都草稿")
    make(tree, org=tree.mianyang, user="mianyang_admin", title="绵阳承诺")
    services.add_progress(actor=tree.users["chengdu_admin"], pledge=city, text="进展", progress=25)
    client = client_for(tree.users["worker"])
    page = text(client.get(reverse("pledges:for_me")))
    assert 'name="viewport"' in page
    assert "成都体检" in page and "全省驿站" in page
    assert "成都草稿" not in page and "绵阳承诺" not in page
    assert "25 / 100 人 · 25%" in page
    assert reverse("pledges:for_me_detail", kwargs={"pledge_id": city.pk}) in page
    # An account without a member record is told so.
    nobody = text(client_for(tree.users["nobody"]).get(reverse("pledges:for_me")))
    assert zh("This account is not linked to a member record.") in nobody


def test_a_worker_reads_and_comments(tree):
    pledge = make(tree)
    client = client_for(tree.users["worker"])
    url = reverse("pledges:for_me_detail", kwargs={"pledge_id": pledge.pk})
    page = text(client.get(url))
    assert 'id="comment-form"' in page and 'hx-post="' in page
    comment_url = reverse("pledges:for_me_comment", kwargs={"pledge_id": pledge.pk})
    response = client.post(comment_url, {"text": "为工会点赞！"})
    assert response.url == f"{url}#comments"
    assert PledgeComment.objects.get().text == "为工会点赞！"
    # With htmx only the comments come back, the new one among them.
    partial = client.post(comment_url, {"text": "什么时候到我们车间？"}, HTTP_HX_REQUEST="true")
    body = text(partial)
    assert "<html" not in body and "什么时候到我们车间？" in body and "为工会点赞！" in body
    too_long = client.post(comment_url, {"text": "好" * 501}, HTTP_HX_REQUEST="true")
    assert "评论最多 500 个字。" in text(too_long)
    assert PledgeComment.objects.count() == 2
    entry = AuditEntry.objects.filter(target_type="pledges.pledgecomment").first()
    assert entry.actor == tree.users["worker"]


def test_workers_see_other_commenters_masked_and_cadres_in_full(tree):
    pledge = make(tree)
    colleague = get_user_model().objects.create_user(username="lina")
    tree.cd_member2.user = colleague
    tree.cd_member2.save(update_fields=["user"])
    services.add_comment(actor=colleague, pledge=pledge, text="同意")
    services.add_comment(actor=tree.users["worker"], pledge=pledge, text="点赞")
    url = reverse("pledges:for_me_detail", kwargs={"pledge_id": pledge.pk})
    page = text(client_for(tree.users["worker"]).get(url))
    assert "李*" in page and "李娜" not in page and "张伟" in page
    cadre = reverse("pledges:pledge_detail", kwargs={"pledge_id": pledge.pk})
    page = text(client_for(tree.users["chengdu_admin"]).get(cadre))
    assert "李娜" in page and "张伟" in page


def test_a_worker_sees_their_own_hidden_comment_with_the_reason(tree):
    pledge = make(tree)
    mine = services.add_comment(actor=tree.users["worker"], pledge=pledge, text="骂人的话")
    services.hide_comment(actor=tree.users["chengdu_admin"], comment=mine, reason="不文明用语")
    url = reverse("pledges:for_me_detail", kwargs={"pledge_id": pledge.pk})
    page = text(client_for(tree.users["worker"]).get(url))
    assert 'id="my-hidden-comment"' in page and "不文明用语" in page


def test_a_worker_does_not_see_pledges_outside_their_path(tree):
    client = client_for(tree.users["worker"])
    for pledge in (
        make(tree, publish=False, title="草稿"),
        make(tree, org=tree.mianyang, user="mianyang_admin", title="绵阳"),
        make(tree, org=tree.cd_branch, user="cd_union_admin", title="车间"),
    ):
        for name in ("for_me_detail", "for_me_comment"):
            url = reverse(f"pledges:{name}", kwargs={"pledge_id": pledge.pk})
            assert client.get(url).status_code == 404
            assert client.post(url, {"text": "x"}).status_code == 404
        detail = reverse("pledges:pledge_detail", kwargs={"pledge_id": pledge.pk})
        assert client.get(detail).status_code == 404
    assert not PledgeComment.objects.exists()


def test_a_cadre_previews_the_workers_page_without_commenting(tree):
    pledge = make(tree)
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("pledges:for_me_detail", kwargs={"pledge_id": pledge.pk})
    page = text(client.get(url))
    assert "一线职工免费体检" in page and 'id="comment-form"' not in page
    comment_url = reverse("pledges:for_me_comment", kwargs={"pledge_id": pledge.pk})
    response = client.post(comment_url, {"text": "干部评论"})
    assert response.status_code == 200
    assert zh("Your account is not linked to a union member record.") in text(response)
    assert not PledgeComment.objects.exists()
