"""The check-in's hand-written read builds what the ORM builds, on both databases."""

from __future__ import annotations

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gonghui.accounts.models import ApiToken, hash_token
from gonghui.accounts.selectors import API_USER_FIELDS, api_token_of
from gonghui.accounts.services import issue_api_token
from gonghui.activities import checkin_sql
from gonghui.activities.models import Activity, CheckInMethod, CheckInRefusal
from gonghui.activities.tests.test_api import lecture
from gonghui.orgs.models import Member, MemberStatus


def _values(instance, fields) -> dict:
    return {name: getattr(instance, instance._meta.get_field(name).attname) for name in fields}


def test_read_check_in_equals_the_orm(tree):
    activity = lecture(tree, venue=tree.cd_team)
    user = tree.users["worker"]
    since = timezone.now() - datetime.timedelta(minutes=10)
    for reason in ("wrong_code", "wrong_code", "bad_token"):
        CheckInRefusal.objects.create(user=user, method=CheckInMethod.CODE, reason=reason)
    CheckInRefusal.objects.create(
        user=user,
        method=CheckInMethod.CODE,
        reason="wrong_code",
        at=since - datetime.timedelta(seconds=1),  # before the window
    )

    with CaptureQueriesContext(connection) as captured:
        read = checkin_sql.read_check_in(
            activity_id=activity.pk,
            user_id=user.pk,
            member_status=MemberStatus.ACTIVE,
            wrong_codes=(CheckInMethod.CODE, "wrong_code", since),
        )
        # The related rows come with it: touching them reads nothing more.
        assert read.activity.venue_org.name == tree.cd_team.name
        assert read.member.unit.name
    assert len(captured.captured_queries) == 1
    assert read.wrong_codes == 2

    orm_activity = (
        Activity.objects.select_related("venue_org")
        .only(*checkin_sql.CHECK_IN_ACTIVITY_FIELDS)
        .get(pk=activity.pk)
    )
    plain = [f for f in checkin_sql.CHECK_IN_ACTIVITY_FIELDS if "__" not in f]
    assert _values(read.activity, plain) == _values(orm_activity, plain)
    assert isinstance(read.activity.starts_at, datetime.datetime)  # converted on SQLite too
    assert read.activity.starts_at == activity.starts_at
    assert read.activity.get_deferred_fields() == orm_activity.get_deferred_fields()
    units = [*checkin_sql.UNIT_COLUMNS]
    assert _values(read.activity.venue_org, units) == _values(orm_activity.venue_org, units)

    orm_member = (
        Member.objects.select_related("unit")
        .only(*checkin_sql.CHECK_IN_MEMBER_FIELDS)
        .get(user=user)
    )
    assert read.member.pk == orm_member.pk
    plain = [f for f in checkin_sql.CHECK_IN_MEMBER_FIELDS if "__" not in f]
    assert _values(read.member, plain) == _values(orm_member, plain)
    assert _values(read.member.unit, units) == _values(orm_member.unit, units)
    assert read.member._state.adding is False  # a saved row, as from the ORM

    # Absent rows read as None; the count is 0 when not asked for.
    nothing = checkin_sql.read_check_in(
        activity_id=None, user_id=tree.users["nobody"].pk, member_status=MemberStatus.ACTIVE
    )
    assert (nothing.activity, nothing.member, nothing.wrong_codes) == (None, None, 0)
    left = checkin_sql.read_check_in(
        activity_id=activity.pk, user_id=user.pk, member_status=MemberStatus.LEFT
    )
    assert left.member is None and left.activity.pk == activity.pk


def test_api_token_of_reads_token_and_user_at_once(tree):
    user = tree.users["worker"]
    raw = issue_api_token(user=user, label="phone")
    with CaptureQueriesContext(connection) as captured:
        token = api_token_of(raw)
        assert token.user.username == user.username
    assert len(captured.captured_queries) == 1
    assert token.pk == ApiToken.objects.get(user=user, label="phone").pk
    assert _values(token.user, API_USER_FIELDS) == _values(user, API_USER_FIELDS)
    assert api_token_of(raw + "x") is None
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert api_token_of(raw) is None


def test_the_lanes_read_by_api_token_equals_the_two_reads_it_replaces(tree):
    """The API's fast lane reads the bearer token, its user and `read_check_in`'s rows in
    one statement: the same instances as `api_token_of` and `read_check_in` read apart."""
    activity = lecture(tree)
    user = tree.users["worker"]
    raw = issue_api_token(user=user, label="phone")
    since = timezone.now() - datetime.timedelta(minutes=10)
    CheckInRefusal.objects.create(user=user, method=CheckInMethod.CODE, reason="wrong_code")
    CheckInRefusal.objects.create(  # another user's refusal does not count
        user=tree.users["nobody"], method=CheckInMethod.CODE, reason="wrong_code"
    )
    wrong = (CheckInMethod.CODE, "wrong_code", since)
    with CaptureQueriesContext(connection) as captured:
        token, read = checkin_sql.read_check_in_by_api_token(
            key_hash=hash_token(raw),
            activity_id=activity.pk,
            member_status=MemberStatus.ACTIVE,
            wrong_codes=wrong,
        )
        assert token.user.username == user.username
        assert read.activity.venue_org.name and read.member.unit.name
    assert len(captured.captured_queries) == 1
    apart = checkin_sql.read_check_in(
        activity_id=activity.pk,
        user_id=user.pk,
        member_status=MemberStatus.ACTIVE,
        wrong_codes=wrong,
    )
    alone = api_token_of(raw)
    assert token.pk == alone.pk and token.last_used_at == alone.last_used_at
    assert _values(token.user, API_USER_FIELDS) == _values(alone.user, API_USER_FIELDS)
    assert read.wrong_codes == apart.wrong_codes == 1
    fields = [f for f in checkin_sql.CHECK_IN_ACTIVITY_FIELDS if "__" not in f]
    assert _values(read.activity, fields) == _values(apart.activity, fields)
    fields = [f for f in checkin_sql.CHECK_IN_MEMBER_FIELDS if "__" not in f]
    assert _values(read.member, fields) == _values(apart.member, fields)
    units = [*checkin_sql.UNIT_COLUMNS]
    assert _values(read.member.unit, units) == _values(apart.member.unit, units)
    # Without counting wrong codes; an unknown activity; no member record.
    _token, plain = checkin_sql.read_check_in_by_api_token(
        key_hash=hash_token(raw), activity_id=0, member_status=MemberStatus.ACTIVE
    )
    assert (plain.activity, plain.wrong_codes, plain.member.pk) == (None, 0, read.member.pk)
    other = issue_api_token(user=tree.users["nobody"])
    _token, nobody = checkin_sql.read_check_in_by_api_token(
        key_hash=hash_token(other), activity_id=activity.pk, member_status=MemberStatus.ACTIVE
    )
    assert nobody.member is None and nobody.activity.pk == activity.pk
    # No row at all for an unknown token or an inactive user's.
    for key in (raw + "x", other):
        if key == other:
            tree.users["nobody"].is_active = False
            tree.users["nobody"].save(update_fields=["is_active"])
        assert (
            checkin_sql.read_check_in_by_api_token(
                key_hash=hash_token(key), activity_id=activity.pk, member_status="active"
            )
            is None
        )


def test_active_member_with_unit_equals_the_orm(tree):
    from gonghui.learning.services import MEMBER_FIELDS, UNIT_FIELDS, member_of
    from gonghui.orgs.selectors import active_member_with_unit

    user = tree.users["worker"]
    with CaptureQueriesContext(connection) as captured:
        member = member_of(user)
        assert member.unit.name
    assert len(captured.captured_queries) == 1
    orm = (
        Member.objects.select_related("unit")
        .only(*MEMBER_FIELDS, *(f"unit__{f}" for f in UNIT_FIELDS))
        .get(user=user)
    )
    assert {f: getattr(member, f) for f in MEMBER_FIELDS} == {
        f: getattr(orm, f) for f in MEMBER_FIELDS
    }
    assert {f: getattr(member.unit, f) for f in UNIT_FIELDS} == {
        f: getattr(orm.unit, f) for f in UNIT_FIELDS
    }
    assert member.get_deferred_fields() == orm.get_deferred_fields()
    nobody = tree.users["nobody"].pk
    assert (
        active_member_with_unit(nobody, member_fields=MEMBER_FIELDS, unit_fields=UNIT_FIELDS)
        is None
    )


def test_the_bank_is_kept_while_its_stamp_is_unchanged(tree):
    # The cached bank is kept while the stamp read by hand equals the one it was read
    # under (both databases).
    from gonghui.learning import services as learning
    from gonghui.learning.tests.test_api import bank as fill_bank

    fill_bank(tree, n=3, org=tree.chengdu)
    bank = learning.question_bank(tree.chengdu.pk)
    assert len(bank.questions) == 3
    assert isinstance(bank.stamp, int) and bank.stamp != 0
    assert learning._bank_stamp(tree.chengdu.pk) == bank.stamp
    with CaptureQueriesContext(connection) as captured:
        assert learning.question_bank(tree.chengdu.pk) is bank
    assert len(captured.captured_queries) == 1


def test_rows_build_what_from_db_builds_and_respect_construction_listeners(tree):
    from django.db.models.signals import post_init

    from gonghui.core import rows

    member = Member.objects.filter(user=tree.users["worker"]).get()
    shape = rows.Shape(Member, ("name", "unit"))
    select = f'SELECT {shape.select("m")} FROM "{Member._meta.db_table}" m WHERE m.id = %s'  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(select, [member.pk])
        row = cursor.fetchone()
    built = shape.build(row)
    orm = Member.objects.only("name", "unit").get(pk=member.pk)
    assert type(built) is Member
    assert (built.pk, built.name, built.unit_id) == (orm.pk, orm.name, orm.unit_id)
    assert built.get_deferred_fields() == orm.get_deferred_fields()
    assert (built._state.adding, built._state.db) == (False, orm._state.db)
    with CaptureQueriesContext(connection) as captured:
        assert built.id_number_masked == member.id_number_masked  # deferred: read when touched
    assert len(captured.captured_queries) == 1
    assert built == orm and built.unit == member.unit

    # A model whose construction someone listens to is built by `from_db`, so they hear it.
    heard = []

    def listener(sender, instance, **kwargs):
        heard.append(instance)

    post_init.connect(listener, sender=Member)
    try:
        heard_shape = rows.Shape(Member, ("name", "unit"))
        again = heard_shape.build(row)
    finally:
        post_init.disconnect(listener, sender=Member)
    assert heard == [again] and again.name == orm.name


def test_the_read_finds_the_check_in_and_a_retry_still_meets_the_rules(tree):
    """A retry is answered from the read — its check-in comes with the activity and the
    member — but only after the same rules as a first check-in: a retry to an activity
    cancelled meanwhile is refused."""
    import pytest

    from gonghui.activities import services
    from gonghui.activities.models import CheckIn
    from gonghui.orgs.scoping import SYSTEM

    activity = lecture(tree)
    user = tree.users["worker"]
    first = services.check_in_self(user, activity.pk, code=activity.check_in_code)
    assert first.created
    with CaptureQueriesContext(connection) as captured:
        read = checkin_sql.read_check_in(
            activity_id=activity.pk, user_id=user.pk, member_status=MemberStatus.ACTIVE
        )
        assert read.existing.activity is read.activity  # linked: nothing more is read
        assert read.existing.member is read.member
    assert len(captured.captured_queries) == 1
    stored = CheckIn.objects.get(activity=activity)
    fields = ["activity", "member", "unit", "method", "at", "day", "by"]
    assert read.existing.pk == stored.pk
    assert _values(read.existing, fields) == _values(stored, fields)
    other = lecture(tree, title="另一场")
    assert (
        checkin_sql.read_check_in(
            activity_id=other.pk, user_id=user.pk, member_status=MemberStatus.ACTIVE
        ).existing
        is None
    )

    with CaptureQueriesContext(connection) as captured:
        retry = services.check_in_self(user, activity.pk, code=activity.check_in_code)
    assert len(captured.captured_queries) == 1  # the read; no write
    assert (retry.created, retry.checkin.pk, retry.checkin.at) == (False, stored.pk, stored.at)

    services.cancel_activity(SYSTEM, activity, reason="场地临时变更")
    with pytest.raises(services.CheckInRefused) as refused:
        services.check_in_self(user, activity.pk, code=activity.check_in_code)
    assert refused.value.code == "cancelled"
