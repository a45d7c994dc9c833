"""Pledges: every transition and every refusal (exact message and code), the optimistic
lock, the comment rules, photo checks, and who sees which pledge."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from gonghui.audit.models import AuditEntry
from gonghui.core.errors import ConcurrentEditError
from gonghui.orgs import services as org_services
from gonghui.orgs.scoping import SYSTEM
from gonghui.pledges import selectors, services
from gonghui.pledges.models import (
    Pledge,
    PledgeCategory,
    PledgeComment,
    PledgePhoto,
    PledgeStatus,
    PledgeUpdate,
)

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _english_and_media(settings, tmp_path):
    """Exact messages are asserted in English (the msgids); files go to a temp dir."""
    settings.MEDIA_ROOT = tmp_path / "media"
    with translation.override("en"):
        yield


def days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def data(**extra: Any) -> services.PledgeInput:
    values: dict[str, Any] = {
        "title": "一线职工免费体检",
        "category": PledgeCategory.SERVICES,
        "target": "为100名一线职工免费体检",
        "target_value": 100,
        "target_unit": "人",
        "deadline": days(30),
        "description": "<p>联合定点医院开展体检。</p>",
    }
    values.update(extra)
    return services.PledgeInput(**values)


def draft(tree: Any, *, org: Any = None, user: str = "chengdu_admin", **extra: Any) -> Pledge:
    return services.create_pledge(
        actor=tree.users[user], org=org or tree.chengdu, data=data(**extra)
    )


def published(tree: Any, *, org: Any = None, user: str = "chengdu_admin", **extra: Any) -> Pledge:
    pledge = draft(tree, org=org, user=user, **extra)
    return services.publish_pledge(actor=tree.users[user], pledge=pledge)


def png(name: str = "现场.png", content: bytes = PNG) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/png")


def refused(exc: Any) -> tuple[str, str]:
    return exc.value.code, " ".join(exc.value.messages)


# --- drafting -----------------------------------------------------------------------------


def test_a_cadre_drafts_a_pledge_of_their_union(tree):
    pledge = draft(
        tree, description='<p>体检<script>alert(1)</script><a href="javascript:x">链接</a></p>'
    )
    assert pledge.status == PledgeStatus.DRAFT
    assert pledge.org == tree.chengdu
    assert (pledge.target, pledge.target_value, pledge.target_unit) == (
        "为100名一线职工免费体检",
        100,
        "人",
    )
    assert pledge.progress == 0
    assert pledge.version == 1
    assert pledge.created_by == tree.users["chengdu_admin"]
    # Rich text is sanitised as notices do it: no script, no javascript: link.
    assert pledge.description == '<p>体检<a rel="noopener noreferrer">链接</a></p>'
    entry = AuditEntry.objects.get(target_type="pledges.pledge", target_id=str(pledge.pk))
    assert entry.summary == "Drafted pledge “一线职工免费体检”"
    assert entry.org_id == tree.chengdu.pk
    # Staff may too; so may a grassroots cadre for its own union.
    assert draft(tree, user="chengdu_staff").org == tree.chengdu
    assert draft(tree, org=tree.cd_union, user="cd_union_admin").org == tree.cd_union


def test_drafting_is_refused_outside_the_cadres_scope_and_without_the_right(tree):
    with pytest.raises(PermissionDenied) as exc:
        draft(tree, org=tree.mianyang)
    assert str(exc.value) == "You may not manage the pledges of 绵阳市总工会."
    with pytest.raises(PermissionDenied) as exc:
        draft(tree, user="chengdu_viewer")
    assert str(exc.value) == "You may not manage the pledges of 成都市总工会."
    with pytest.raises(PermissionDenied):
        draft(tree, user="worker", org=tree.cd_union)
    assert not Pledge.objects.exists()


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"title": "  "}, "title", "Give the pledge a title."),
        ({"category": "fun"}, "category", "Choose a category."),
        ({"target": ""}, "target", "Say what will be done and for whom."),
        ({"target_value": 0}, "target_value", "The numeric target must be at least 1."),
        (
            {"target_value": None, "target_unit": "人"},
            "target_unit",
            "A unit goes with a numeric target: give the number too.",
        ),
        ({"deadline": None}, "deadline", "Give the deadline."),
    ],
)
def test_drafts_are_refused_with_reasons(tree, fields, code, message):
    with pytest.raises(ValidationError) as exc:
        draft(tree, **fields)
    assert refused(exc) == (code, message)
    assert not Pledge.objects.exists()


def test_a_deadline_in_the_past_is_refused(tree):
    yesterday = days(-1)
    with pytest.raises(ValidationError) as exc:
        draft(tree, deadline=yesterday)
    assert refused(exc) == (
        "deadline_past",
        f"The deadline {yesterday} has passed; choose a later day.",
    )
    assert draft(tree, deadline=days(0)).deadline == timezone.localdate()


def test_a_dissolved_union_makes_no_pledge(tree):
    org_services.dissolve_org(
        actor=SYSTEM, org=tree.cd_team, reason="班组撤并", transfer_members_to=tree.cd_branch
    )
    tree.cd_team.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        draft(tree, org=tree.cd_team)
    assert refused(exc) == ("org_dissolved", "华信机加车间甲班 is dissolved.")


def test_a_draft_is_edited_with_the_version_read(tree):
    pledge = draft(tree)
    saved = services.update_pledge(
        actor=tree.users["chengdu_staff"],
        pledge=pledge,
        data=data(title="一线职工免费体检（扩大）", target_value=150),
        version=1,
    )
    assert (saved.title, saved.target_value, saved.version) == ("一线职工免费体检（扩大）", 150, 2)
    # Someone who read version 1 saves after that: refused, nothing overwritten.
    with pytest.raises(ConcurrentEditError) as exc:
        services.update_pledge(
            actor=tree.users["chengdu_admin"], pledge=pledge, data=data(title="旧稿"), version=1
        )
    assert refused(exc) == (
        "stale",
        "Someone else changed this pledge meanwhile. Reload it and edit again.",
    )
    pledge.refresh_from_db()
    assert pledge.title == "一线职工免费体检（扩大）"
    entry = AuditEntry.objects.filter(target_id=str(pledge.pk)).order_by("-id").first()
    assert entry.summary == "Changed pledge “一线职工免费体检（扩大）”"
    assert entry.before["target_value"] == 100 and entry.after["target_value"] == 150
    with pytest.raises(PermissionDenied):
        services.update_pledge(
            actor=tree.users["mianyang_admin"], pledge=pledge, data=data(), version=2
        )


def test_a_published_pledge_cannot_be_edited(tree):
    pledge = published(tree)
    with pytest.raises(ValidationError) as exc:
        services.update_pledge(
            actor=tree.users["chengdu_admin"], pledge=pledge, data=data(title="改"), version=2
        )
    assert refused(exc) == (
        "not_draft",
        "Only a draft can be edited: a published pledge is a public promise.",
    )


# --- publishing, completing, cancelling ---------------------------------------------------


def test_publishing_makes_it_public_once(tree):
    pledge = draft(tree)
    with pytest.raises(PermissionDenied):
        services.publish_pledge(actor=tree.users["chengdu_viewer"], pledge=pledge)
    done = services.publish_pledge(actor=tree.users["chengdu_staff"], pledge=pledge)
    assert done.status == PledgeStatus.PUBLISHED
    assert done.published_on == timezone.localdate()
    assert done.published_by == tree.users["chengdu_staff"]
    assert done.version == 2
    again = services.publish_pledge(actor=tree.users["chengdu_staff"], pledge=pledge)
    assert (again.status, again.version) == (PledgeStatus.PUBLISHED, 2)
    assert AuditEntry.objects.filter(summary="Published pledge “一线职工免费体检”").count() == 1


def test_a_draft_past_its_deadline_is_not_published(tree):
    pledge = draft(tree)
    Pledge.objects.filter(pk=pledge.pk).update(deadline=days(-2))
    with pytest.raises(ValidationError) as exc:
        services.publish_pledge(actor=tree.users["chengdu_admin"], pledge=pledge)
    assert refused(exc) == (
        "deadline_past",
        f"The deadline {days(-2)} has passed; choose a later day.",
    )


def test_only_a_draft_is_published(tree):
    pledge = draft(tree)
    services.cancel_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, reason="重复立项")
    with pytest.raises(ValidationError) as exc:
        services.publish_pledge(actor=tree.users["chengdu_admin"], pledge=pledge)
    assert refused(exc) == ("status", "Only a draft can be published.")


def test_completing_on_time_and_late(tree):
    on_time = published(tree)
    done = services.complete_pledge(
        actor=tree.users["chengdu_admin"], pledge=on_time, note="  已为100名职工完成体检。 "
    )
    assert done.status == PledgeStatus.COMPLETED
    assert done.closing_note == "已为100名职工完成体检。"
    assert done.completed_on == timezone.localdate()
    assert done.completed_by == tree.users["chengdu_admin"]
    assert done.on_time is True
    late = published(tree, title="送清凉")
    Pledge.objects.filter(pk=late.pk).update(deadline=days(-1))
    late = services.complete_pledge(actor=tree.users["chengdu_admin"], pledge=late, note="完成")
    assert late.on_time is False
    entry = AuditEntry.objects.filter(target_id=str(late.pk)).order_by("-id").first()
    assert entry.summary == "Completed pledge “送清凉”"
    assert entry.after == {"status": "completed", "on_time": False, "progress": 0}


def test_completion_refusals(tree):
    pledge = draft(tree)
    with pytest.raises(ValidationError) as exc:
        services.complete_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, note="完成")
    assert refused(exc) == ("status", "Only a pledge under way can be completed.")
    services.publish_pledge(actor=tree.users["chengdu_admin"], pledge=pledge)
    with pytest.raises(ValidationError) as exc:
        services.complete_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, note=" \n ")
    assert refused(exc) == ("note", "Write a closing note: what was done in the end.")
    with pytest.raises(ValidationError) as exc:
        services.complete_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, note="字" * 2001)
    assert refused(exc) == ("note_long", "The text is longer than 2000 characters.")
    with pytest.raises(PermissionDenied):
        services.complete_pledge(actor=tree.users["mianyang_admin"], pledge=pledge, note="完成")
    services.complete_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, note="完成")
    with pytest.raises(ValidationError) as exc:
        services.complete_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, note="再次")
    assert refused(exc) == ("status", "Only a pledge under way can be completed.")


def test_cancelling_with_a_reason(tree):
    pledge = published(tree)
    with pytest.raises(ValidationError) as exc:
        services.cancel_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, reason="  ")
    assert refused(exc) == ("reason", "Say why the pledge is cancelled.")
    with pytest.raises(PermissionDenied):
        services.cancel_pledge(actor=tree.users["chengdu_viewer"], pledge=pledge, reason="x")
    done = services.cancel_pledge(
        actor=tree.users["chengdu_admin"], pledge=pledge, reason="上级统一组织，本级不再重复实施"
    )
    assert done.status == PledgeStatus.CANCELLED
    assert done.cancelled_reason == "上级统一组织，本级不再重复实施"
    assert done.cancelled_by == tree.users["chengdu_admin"]
    again = services.cancel_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, reason="再")
    assert (again.cancelled_reason, again.version) == (done.cancelled_reason, done.version)
    assert (
        AuditEntry.objects.filter(target_id=str(pledge.pk), summary__startswith="Cancelled").count()
        == 1
    )
    completed = published(tree, title="已办结")
    services.complete_pledge(actor=tree.users["chengdu_admin"], pledge=completed, note="完成")
    with pytest.raises(ValidationError) as exc:
        services.cancel_pledge(actor=tree.users["chengdu_admin"], pledge=completed, reason="x")
    assert refused(exc) == ("status", "A completed pledge cannot be cancelled.")


# --- progress -----------------------------------------------------------------------------


def progress(tree: Any, pledge: Pledge, value: int, **extra: Any) -> PledgeUpdate:
    return services.add_progress(
        actor=tree.users[extra.pop("user", "chengdu_admin")],
        pledge=pledge,
        text=extra.pop("text", "已完成一批体检。"),
        progress=value,
        **extra,
    )


def test_progress_is_reported_with_photos(tree):
    pledge = published(tree)
    update = progress(tree, pledge, 40, photos=[png("体检现场.png"), png("b.jpg", JPEG)])
    pledge.refresh_from_db()
    assert pledge.progress == 40 and pledge.percent == 40
    assert (update.previous, update.correction, update.day) == (0, False, timezone.localdate())
    photos = list(PledgePhoto.objects.filter(update=update).order_by("id"))
    assert [(p.name, p.content_type) for p in photos] == [
        ("体检现场.png", "image/png"),
        ("b.jpg", "image/jpeg"),
    ]
    # Stored under a random name, never the uploaded one.
    stored = photos[0].file.name
    assert stored.startswith("pledges/") and stored.endswith(".png")
    assert "体检现场" not in stored and len(stored.rsplit("/", 1)[1]) == 36
    assert photos[0].file.read() == PNG
    second = progress(tree, pledge, 100, day=days(0))
    assert second.previous == 40
    pledge.refresh_from_db()
    assert (pledge.progress, pledge.percent) == (100, 100)
    # Beyond the target (超额完成): counted, the bar stops at 100 %.
    progress(tree, pledge, 120)
    pledge.refresh_from_db()
    assert (pledge.progress, pledge.percent) == (120, 100)
    summary = AuditEntry.objects.filter(target_id=str(pledge.pk)).order_by("-id").first().summary
    assert summary == "Progress of “一线职工免费体检”: 100 → 120"


def test_progress_does_not_go_backwards_unless_corrected(tree):
    pledge = published(tree)
    progress(tree, pledge, 60)
    with pytest.raises(ValidationError) as exc:
        progress(tree, pledge, 50)
    assert refused(exc) == (
        "progress_backwards",
        "The progress was 60; 50 would go backwards. If the earlier figure was wrong, mark "
        "this update as a correction and say why.",
    )
    corrected = progress(tree, pledge, 50, correction=True, text="更正：此前误计10人。")
    assert (corrected.previous, corrected.progress, corrected.correction) == (60, 50, True)
    pledge.refresh_from_db()
    assert pledge.progress == 50
    # The same value again is no step back (and no correction).
    same = progress(tree, pledge, 50, correction=True)
    assert same.correction is False


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        ({"text": " "}, "text", "Say what was done."),
        ({"text": "字" * 2001}, "text_long", "The text is longer than 2000 characters."),
        ({"value": -1}, "progress", "The progress cannot be negative."),
        ({"day": 1}, "day_future", "The date cannot be in the future."),
    ],
)
def test_progress_refusals(tree, extra, code, message):
    pledge = published(tree)
    value = extra.pop("value", 10)
    if "day" in extra:
        extra["day"] = days(extra["day"])
    with pytest.raises(ValidationError) as exc:
        progress(tree, pledge, value, **extra)
    assert refused(exc) == (code, message)
    assert not PledgeUpdate.objects.exists()


def test_progress_is_dated_after_publication_and_only_while_under_way(tree):
    pledge = draft(tree)
    with pytest.raises(ValidationError) as exc:
        progress(tree, pledge, 10)
    assert refused(exc) == (
        "status",
        "Progress can be reported only while the pledge is under way.",
    )
    services.publish_pledge(actor=tree.users["chengdu_admin"], pledge=pledge)
    with pytest.raises(ValidationError) as exc:
        progress(tree, pledge, 10, day=days(-1))
    assert refused(exc) == (
        "day_early",
        f"The date cannot be before the pledge was published ({timezone.localdate()}).",
    )
    with pytest.raises(PermissionDenied):
        progress(tree, pledge, 10, user="mianyang_admin")
    services.complete_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, note="完成")
    with pytest.raises(ValidationError) as exc:
        progress(tree, pledge, 10)
    assert exc.value.code == "status"


@pytest.mark.parametrize(
    ("upload", "code", "message"),
    [
        (
            SimpleUploadedFile("动图.gif", b"GIF89a" + b"\x00" * 20, content_type="image/gif"),
            "file_type",
            "动图.gif: only these file types are accepted: jpeg, jpg, png.",
        ),
        (
            SimpleUploadedFile("假照片.png", b"MZ\x90\x00 not an image", content_type="image/png"),
            "file_content",
            "假照片.png is not really a png file.",
        ),
        (
            SimpleUploadedFile("空.jpg", b"", content_type="image/jpeg"),
            "file_size",
            "空.jpg is empty.",
        ),
    ],
)
def test_photos_are_checked_before_anything_is_stored(tree, upload, code, message):
    pledge = published(tree)
    with pytest.raises(ValidationError) as exc:
        progress(tree, pledge, 10, photos=[png(), upload])
    assert refused(exc) == (code, message)
    assert not PledgeUpdate.objects.exists() and not PledgePhoto.objects.exists()
    pledge.refresh_from_db()
    assert pledge.progress == 0


def test_photos_larger_than_10_mb_and_more_than_nine_are_refused(tree, settings):
    pledge = published(tree)
    big = png("大图.png", PNG + b"\x00" * (10 * 1024 * 1024))
    with pytest.raises(ValidationError) as exc:
        progress(tree, pledge, 10, photos=[big])
    assert refused(exc) == ("file_size", "大图.png is larger than 10 MB.")
    with pytest.raises(ValidationError) as exc:
        progress(tree, pledge, 10, photos=[png(f"{n}.png") for n in range(10)])
    assert refused(exc) == ("photo_count", "At most 9 photos per progress update.")
    update = progress(tree, pledge, 10, photos=[png(f"{n}.png") for n in range(8)])
    added = services.add_photos(actor=tree.users["chengdu_admin"], update=update, uploads=[png()])
    assert len(added) == 1 and update.photos.count() == 9
    with pytest.raises(ValidationError) as exc:
        services.add_photos(actor=tree.users["chengdu_admin"], update=update, uploads=[png()])
    assert exc.value.code == "photo_count"
    with pytest.raises(ValidationError) as exc:
        services.add_photos(actor=tree.users["chengdu_admin"], update=update, uploads=[])
    assert refused(exc) == ("file_missing", "Choose a photo.")
    with pytest.raises(PermissionDenied):
        services.add_photos(actor=tree.users["mianyang_admin"], update=update, uploads=[png()])


# --- comments -----------------------------------------------------------------------------


def comment(tree: Any, pledge: Pledge, text: str = "为工会点赞！", user: str = "worker") -> Any:
    return services.add_comment(actor=tree.users[user], pledge=pledge, text=text)


def test_a_worker_below_the_union_comments_on_a_public_pledge(tree):
    pledge = published(tree)
    made = comment(tree, pledge, "  什么时候轮到我们车间？ ")
    assert (made.member, made.text, made.hidden) == (
        tree.cd_member,
        "什么时候轮到我们车间？",
        False,
    )
    assert AuditEntry.objects.filter(summary="Commented on “一线职工免费体检”").count() == 1
    # Completed pledges stay open for comments (how did it go?).
    services.complete_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, note="完成")
    assert comment(tree, pledge, "体检很细致。").pk > made.pk
    # A province pledge: the worker's unit is below the province too.
    province = published(tree, org=tree.province, user="province_admin")
    assert comment(tree, province).pledge == province


def test_comment_refusals(tree):
    pledge = draft(tree)
    with pytest.raises(ValidationError) as exc:
        comment(tree, pledge)
    assert refused(exc) == ("status", "Comments are open only on published pledges.")
    services.publish_pledge(actor=tree.users["chengdu_admin"], pledge=pledge)
    with pytest.raises(ValidationError) as exc:
        comment(tree, pledge, " \n ")
    assert refused(exc) == ("text", "Write a comment.")
    with pytest.raises(ValidationError) as exc:
        comment(tree, pledge, "好" * 501)
    assert refused(exc) == ("text_long", "A comment has at most 500 characters.")
    assert comment(tree, pledge, "好" * 500).text == "好" * 500
    # A cadre without a member record is not a worker.
    with pytest.raises(PermissionDenied) as exc:
        comment(tree, pledge, user="chengdu_admin")
    assert str(exc.value) == "Your account is not linked to a union member record."
    # 成都's worker is not below 绵阳.
    other = published(tree, org=tree.mianyang, user="mianyang_admin")
    with pytest.raises(PermissionDenied) as exc:
        comment(tree, other)
    assert str(exc.value) == "Only members of 绵阳市总工会 and the unions below it may comment."
    # Nor is a worker of 华信's union below a pledge of its workshop.
    branch = published(tree, org=tree.cd_branch, user="cd_union_admin")
    with pytest.raises(PermissionDenied):
        comment(tree, branch)
    services.cancel_pledge(actor=tree.users["chengdu_admin"], pledge=pledge, reason="撤销")
    with pytest.raises(ValidationError) as exc:
        comment(tree, pledge)
    assert exc.value.code == "status"
    # A member who left the union comments no more.
    org_services.mark_member_left(actor=SYSTEM, member=tree.cd_member, reason="调离")
    active = published(tree, title="新承诺")
    with pytest.raises(PermissionDenied):
        comment(tree, active)
    assert PledgeComment.objects.count() == 1


def test_a_cadre_hides_a_comment_which_is_kept(tree):
    pledge = published(tree)
    made = comment(tree, pledge, "广告：低价出售……")
    other = comment(tree, pledge, "谢谢工会。")
    with pytest.raises(ValidationError) as exc:
        services.hide_comment(actor=tree.users["chengdu_admin"], comment=made, reason=" ")
    assert refused(exc) == ("reason", "Say why the comment is hidden.")
    with pytest.raises(PermissionDenied):
        services.hide_comment(actor=tree.users["mianyang_admin"], comment=made, reason="广告")
    with pytest.raises(PermissionDenied):
        services.hide_comment(actor=tree.users["chengdu_viewer"], comment=made, reason="广告")
    hidden = services.hide_comment(actor=tree.users["chengdu_staff"], comment=made, reason="广告")
    assert (hidden.hidden, hidden.hidden_reason, hidden.hidden_by) == (
        True,
        "广告",
        tree.users["chengdu_staff"],
    )
    again = services.hide_comment(actor=tree.users["chengdu_admin"], comment=made, reason="再")
    assert again.hidden_reason == "广告"
    assert PledgeComment.objects.filter(pk=made.pk).exists()  # kept, not deleted
    entry = AuditEntry.objects.get(summary="Hid a comment on “一线职工免费体检”: 广告")
    assert entry.before == {"text": "广告：低价出售……"}
    # Workers no longer see it; its author does, with the reason; cadres see all.
    assert list(selectors.comments_of(pledge)) == [other]
    assert list(selectors.comments_of(pledge, member=tree.cd_member)) == [made, other]
    assert list(selectors.comments_of(pledge, member=tree.cd_member2)) == [other]
    assert list(selectors.comments_of(pledge, include_hidden=True)) == [made, other]
    assert selectors.comment_counts(pledge) == (1, 1)


# --- who sees what ------------------------------------------------------------------------


def test_a_worker_sees_public_pledges_from_the_province_down_to_their_unit(tree):
    province = published(tree, org=tree.province, user="province_admin", title="省")
    city = published(tree, title="成都")
    union = published(tree, org=tree.cd_union, user="cd_union_admin", title="华信")
    branch = published(tree, org=tree.cd_branch, user="cd_union_admin", title="车间")
    done = published(tree, org=tree.jinjiang, title="锦江")
    services.complete_pledge(actor=tree.users["chengdu_admin"], pledge=done, note="完成")
    draft(tree, title="草稿")
    cancelled = published(tree, title="取消")
    services.cancel_pledge(actor=tree.users["chengdu_admin"], pledge=cancelled, reason="撤销")
    published(tree, org=tree.mianyang, user="mianyang_admin", title="绵阳")
    # 张伟 is at 华信's union: not the workshop's pledge (below), not 绵阳's, no draft or
    # cancelled one; under way first, nearest deadline first, then completed.
    Pledge.objects.filter(pk=city.pk).update(deadline=days(5))
    assert list(selectors.pledges_for(tree.cd_member)) == [city, union, province, done]
    # 王强 in the workshop's team sees the workshop's pledge too.
    assert branch in list(selectors.pledges_for(tree.team_member))
    assert selectors.public_pledge(tree.cd_member, branch.pk) is None
    assert selectors.public_pledge(tree.cd_member, union.pk) == union
    # Same deadline: the newer first.
    assert [p.title for p in selectors.pledges_for(tree.my_member)] == ["绵阳", "省"]


def test_cadres_list_the_pledges_of_their_scope(tree):
    city = published(tree, title="成都")
    union = draft(tree, org=tree.cd_union, user="cd_union_admin", title="华信")
    other = published(tree, org=tree.mianyang, user="mianyang_admin", title="绵阳")
    admin = tree.users["chengdu_admin"]
    assert list(selectors.pledges_of_org(admin, tree.chengdu)) == [city, union]
    assert list(selectors.pledges_of_org(admin, tree.chengdu, scope=selectors.OWN)) == [city]
    assert list(selectors.pledges_of_org(admin, tree.chengdu, status="draft")) == [union]
    assert other not in selectors.visible_pledges(admin)
    # The grassroots cadre sees their union, not the city above it.
    assert list(selectors.visible_pledges(tree.users["cd_union_admin"])) == [union]
    assert selectors.status_counts(admin, tree.chengdu) == {
        "draft": 1,
        "published": 1,
        "completed": 0,
        "cancelled": 0,
    }
