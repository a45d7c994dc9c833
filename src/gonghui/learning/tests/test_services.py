"""Learning: courses complete by the server's clock, quizzes score on the server only,
points are awarded once and within caps, and the figures reach the roll-ups."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from gonghui.learning import figures, services
from gonghui.learning.models import (
    AttemptStatus,
    CourseCompletion,
    MaterialKind,
    PointsBalance,
    PointsEntry,
    PointsRule,
    Question,
    QuestionKind,
    QuizResult,
)
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import SubtreeCount

pytestmark = pytest.mark.django_db


def total(org, metric: str) -> int:
    stats.fold_pending()
    row = SubtreeCount.objects.filter(org=org, metric=metric).first()
    return row.value if row else 0


def article(tree, title="学习二十届四中全会精神", org=None):
    material = services.create_material(
        tree.users["chengdu_admin"],
        org=org or tree.chengdu,
        data=services.MaterialInput(
            MaterialKind.ARTICLE, title, body="<p>正文<script>x</script></p>"
        ),
    )
    return services.publish_material(tree.users["chengdu_admin"], material)


def course(tree, *items, **extra):
    created = services.create_course(
        tree.users["chengdu_admin"],
        org=tree.chengdu,
        data=services.CourseInput("全会精神学习", items=list(items), **extra),
    )
    return services.publish_course(tree.users["chengdu_admin"], created)


def bank(tree, n=6, org=None):
    for i in range(n):
        services.add_question(
            SYSTEM,
            org=org or tree.chengdu,
            data=services.QuestionInput(
                QuestionKind.SINGLE,
                f"第{i}题：工会会员的权利是什么{i}？",
                options=["正确答案", "错误一", "错误二", "错误三"],
                answer=[0],
                tags=["工会法"],
            ),
        )


def quiz(tree, count=5, **extra):
    now = timezone.now()
    created = services.create_quiz(
        tree.users["chengdu_admin"],
        org=tree.chengdu,
        data=services.QuizInput(
            "工会知识竞答",
            rules=[services.DrawRule(count, tag="工会法")],
            opens_at=now - datetime.timedelta(minutes=1),
            closes_at=now + datetime.timedelta(days=1),
            **extra,
        ),
    )
    return services.publish_quiz(tree.users["chengdu_admin"], created)


def right_answers(attempt) -> dict[str, list[int]]:
    return {str(n): q["answer"] for n, q in enumerate(attempt.snapshot)}


def test_article_body_is_sanitised_and_publishing_is_scoped(tree):
    material = article(tree)
    assert "<script>" not in material.body
    with pytest.raises(PermissionDenied):
        services.create_material(
            tree.users["chengdu_admin"],
            org=tree.mianyang,
            data=services.MaterialInput(MaterialKind.ARTICLE, "x", body="y"),
        )


def test_course_completes_by_the_servers_clock(tree):
    item_material = article(tree)
    c = course(tree, services.CourseItemInput(item_material, min_seconds=60))
    item = c.items.get()
    member = tree.cd_member
    progress = services.open_item(member, item)
    with pytest.raises(services.LearningRefused) as exc:
        services.complete_item(member, item, now=progress.opened_at + datetime.timedelta(seconds=5))
    assert exc.value.code == "too_soon"
    services.complete_item(member, item, now=progress.opened_at + datetime.timedelta(seconds=61))
    services.complete_item(member, item, now=progress.opened_at + datetime.timedelta(seconds=62))
    assert CourseCompletion.objects.filter(course=c, member=member).count() == 1
    assert total(tree.chengdu, figures.COMPLETIONS) == 1
    assert total(tree.chengdu, f"{figures.LEARNERS}@all") == 1
    rules = dict(PointsEntry.objects.filter(member=member).values_list("rule", "points"))
    assert rules == {PointsRule.READING: 1, PointsRule.COURSE: 5}
    assert total(tree.chengdu, figures.POINTS) == 6
    # Not for 绵阳's member.
    with pytest.raises(services.LearningRefused) as exc:
        services.open_item(tree.my_member, item)
    assert exc.value.code == "not_in_audience"
    assert stats.rebuild(check=True) == []


def test_quiz_scores_on_the_server_and_only_once(tree):
    bank(tree)
    q = quiz(tree, count=5, pass_mark=60)
    worker = tree.users["worker"]
    attempt = services.start_attempt(worker, q)
    assert services.start_attempt(worker, q).pk == attempt.pk  # resumes
    shown = services.public_questions(attempt)
    assert len(shown) == 5 and all("answer" not in s for s in shown)
    answers = right_answers(attempt)
    answers["0"] = [(answers["0"][0] + 1) % 4]  # one wrong
    with pytest.raises(services.LearningRefused) as exc:
        services.submit_attempt(worker, attempt, {"7": [0]})  # not in the attempt
    assert exc.value.code == "unknown_question"
    scored = services.submit_attempt(worker, attempt, answers)
    assert (scored.correct, scored.score, scored.passed) == (4, 80, True)
    again = services.submit_attempt(worker, attempt, right_answers(attempt))
    assert again.score == 80  # the first result stands
    assert QuizResult.objects.get(quiz=q).score == 80
    assert total(tree.chengdu, figures.PASSED) == 1
    assert total(tree.chengdu, figures.ATTEMPTS) == 1
    assert PointsEntry.objects.filter(rule=PointsRule.QUIZ).count() == 1
    with pytest.raises(services.LearningRefused) as exc:
        services.start_attempt(worker, q)
    assert exc.value.code == "no_attempts_left"
    with pytest.raises(PermissionDenied):
        services.submit_attempt(tree.users["chengdu_admin"], attempt, {})
    assert stats.rebuild(check=True) == []


def test_a_timed_out_attempt_is_scored_with_what_was_saved(tree):
    bank(tree)
    q = quiz(tree, count=5, time_limit_seconds=60)
    worker = tree.users["worker"]
    attempt = services.start_attempt(worker, q)
    answers = right_answers(attempt)
    services.save_answers(worker, attempt, {"0": answers["0"], "1": answers["1"]})
    late = attempt.deadline + datetime.timedelta(minutes=5)
    scored = services.submit_attempt(worker, attempt, answers, now=late)
    assert scored.status == AttemptStatus.TIMED_OUT
    assert scored.correct == 2  # the late answers were not taken
    assert stats.rebuild(check=True) == []


def test_expiry_job_scores_abandoned_attempts(tree):
    bank(tree)
    q = quiz(tree, count=5, time_limit_seconds=60)
    attempt = services.start_attempt(tree.users["worker"], q)
    assert services.expire_attempts(now=attempt.deadline + datetime.timedelta(minutes=1)) == 1
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.TIMED_OUT and attempt.score == 0


def test_editing_a_question_keeps_past_scores(tree):
    bank(tree)
    q = quiz(tree, count=5)
    worker = tree.users["worker"]
    attempt = services.start_attempt(worker, q)
    scored = services.submit_attempt(worker, attempt, right_answers(attempt))
    question = Question.objects.get(pk=attempt.snapshot[0]["id"])
    services.edit_question(
        SYSTEM,
        question,
        services.QuestionInput(
            QuestionKind.SINGLE, question.text + "（修订）", options=["甲", "乙"], answer=[1]
        ),
        version=question.version,
    )
    scored.refresh_from_db()
    assert scored.score == 100


def test_question_import_is_all_or_nothing(tree):
    def sheet(rows):
        wb = Workbook()
        ws = wb.active
        ws.append(["题型", "题目", "选项A", "选项B", "选项C", "答案", "解析", "标签", "难度"])
        for row in rows:
            ws.append(row)
        buffer = io.BytesIO()
        wb.save(buffer)
        buffer.seek(0)
        return buffer

    bad = sheet(
        [
            ["单选", "工会法是哪年颁布的？", "1992", "2001", "2021", "A", "", "工会法", "中"],
            ["单选", "缺答案的题", "甲", "乙", "", "", "", "", "易"],
            ["多选", "答案不在选项中", "甲", "乙", "", "AD", "", "", "难"],
            ["单选", "工会法是哪年颁布的？", "1992", "2001", "", "A", "", "", "中"],
        ]
    )
    with pytest.raises(services.QuestionImportRejected) as exc:
        services.import_questions(SYSTEM, org=tree.chengdu, stream=bad, file_name="题库.xlsx")
    assert [e.row for e in exc.value.row_errors] == [3, 4, 5]
    assert not Question.objects.exists()
    good = sheet(
        [
            ["单选", "工会法是哪年颁布的？", "1992", "2001", "2021", "A", "1992年", "工会法", "中"],
            ["判断", "会员有权参加工会活动。", "", "", "", "正确", "", "工会法", "易"],
            ["填空", "工会的基本职责是____。", "", "", "", "维护职工合法权益|维权", "", "", "中"],
        ]
    )
    assert (
        services.import_questions(SYSTEM, org=tree.chengdu, stream=good, file_name="题库.xlsx") == 3
    )
    fill = Question.objects.get(kind=QuestionKind.FILL)
    assert fill.answer == ["维护职工合法权益", "维权"]


def test_points_once_per_source_and_within_the_daily_cap(tree):
    member = tree.cd_member
    now = timezone.now()
    first = services.award_points(member, PointsRule.CHECKIN, "checkin:1", now=now)
    assert first is not None and first.points == 2
    assert services.award_points(member, PointsRule.CHECKIN, "checkin:1", now=now) is None
    for n in range(2, 10):
        services.award_points(member, PointsRule.CHECKIN, f"checkin:{n}", now=now)
    earned = sum(PointsEntry.objects.filter(member=member).values_list("points", flat=True))
    assert earned == 10  # the cap
    assert PointsBalance.objects.get(member=member).points == 10
    tomorrow = now + datetime.timedelta(days=1)
    assert services.award_points(member, PointsRule.CHECKIN, "checkin:99", now=tomorrow) is not None


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(services.DEFAULT_POINTS_RULES)),
            st.integers(0, 12),
            st.integers(0, 2),
        ),
        max_size=40,
    )
)
def test_property_points_never_exceed_caps_or_double(tree, awards):
    # Each example starts from an empty ledger (the tree is shared by the examples).
    member = tree.cd_member
    PointsEntry.objects.all().delete()
    PointsBalance.objects.all().delete()
    base = timezone.now()
    for rule, source, day_offset in awards:
        services.award_points(
            member, rule, f"{rule}:{source}", now=base + datetime.timedelta(days=day_offset)
        )
    entries = list(
        PointsEntry.objects.filter(member=member).values_list("rule", "source", "day", "points")
    )
    assert len({e[1] for e in entries}) == len(entries)  # one award per source
    per_day: dict[tuple[str, datetime.date], int] = {}
    for rule, _source, day, points in entries:
        per_day[(rule, day)] = per_day.get((rule, day), 0) + points
    for (rule, _day), points in per_day.items():
        assert points <= services.DEFAULT_POINTS_RULES[rule][1]
    balance = PointsBalance.objects.filter(member=member).first()
    assert (balance.points if balance else 0) == sum(e[3] for e in entries)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_property_scoring_counts_exactly_the_right_answers(data):
    kinds = [QuestionKind.SINGLE, QuestionKind.MULTIPLE, QuestionKind.TRUE_FALSE, QuestionKind.FILL]
    snapshot = []
    answers: dict[str, object] = {}
    expected = 0
    for position in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(kinds))
        if kind == QuestionKind.FILL:
            right = data.draw(st.sampled_from(["维权", "服务"]))
            snapshot.append({"kind": kind, "answer": [right], "options": []})
            given_text = data.draw(st.sampled_from(["维权", "服务", "", " 维权 "]))
            if given_text:
                answers[str(position)] = " ".join(given_text.split())
                expected += " ".join(given_text.split()) == right
            continue
        n = 2 if kind == QuestionKind.TRUE_FALSE else 4
        right_set = sorted(
            data.draw(
                st.sets(
                    st.integers(0, n - 1),
                    min_size=1,
                    max_size=1 if kind != QuestionKind.MULTIPLE else n,
                )
            )
        )
        snapshot.append({"kind": kind, "answer": right_set, "options": ["x"] * n})
        if data.draw(st.booleans()):
            chosen = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n)))
            answers[str(position)] = chosen
            expected += chosen == right_set
    assert services.score_answers(snapshot, answers) == expected


def test_requirement_figures_and_prefill(tree):
    from gonghui.notices import services as notices
    from gonghui.notices.models import RequirementKind
    from gonghui.notices.selectors import report_prefill

    notice = notices.create_notice(
        actor=tree.users["province_admin"],
        issuer=tree.province,
        title="关于开展学习的通知",
        requires_ack=False,
        requirements=[notices.RequirementInput(RequirementKind.STUDY, "全员学习")],
    )
    notices.issue_notice(actor=tree.users["province_admin"], notice=notice)
    requirement = notice.requirements.get()
    material = article(tree)
    c = course(tree, services.CourseItemInput(material), requirement_id=requirement.pk)
    item = c.items.get()
    services.open_item(tree.cd_member, item)
    services.complete_item(tree.cd_member, item)
    assert total(tree.chengdu, figures.requirement_metric(requirement.pk, "completions")) == 1
    dispatch = notice.dispatches.get(org=tree.cd_union)
    prefill = {f.code: f.value for f in report_prefill(dispatch)}
    assert prefill[figures.COMPLETIONS] == 1


def test_checkin_points_follow_within_the_job(tree):
    from gonghui.activities import services as activities
    from gonghui.activities.models import CheckInMethod

    now = timezone.now()
    activity = activities.schedule_activity(
        tree.users["chengdu_admin"],
        org=tree.cd_union,
        data=activities.ActivityInput(
            kind="lecture", title="宣讲", starts_at=now, ends_at=now + datetime.timedelta(hours=1)
        ),
    )
    activities.check_in(
        activity=activity, member=tree.cd_member, method=CheckInMethod.ROSTER, by=SYSTEM
    )
    assert services.award_checkin_points() == 1
    assert services.award_checkin_points() == 0  # the overlap re-read awards nothing
    assert PointsBalance.objects.get(member=tree.cd_member).points == 2


def test_bad_questions_are_refused(tree):
    with pytest.raises(ValidationError) as exc:
        services.clean_question(
            services.QuestionInput(QuestionKind.SINGLE, "题", ["甲", "乙"], [5])
        )
    assert exc.value.code == "answer_not_option"
    with pytest.raises(ValidationError) as exc:
        services.clean_question(services.QuestionInput(QuestionKind.SINGLE, "题", ["甲", "乙"], []))
    assert exc.value.code == "answer_missing"
