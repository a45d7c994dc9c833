"""The API's fast lane (gonghui.api.lane) for a worker's check-in: it answers alone, as the
full stack would (status, JSON, headers, audit entry, token use, language), and hands
everything else to Django with the body intact. Runs on SQLite and PostgreSQL; the
worker's check-in tests of test_api.py also run through it (`as_phone`)."""

import json
import logging
import threading
import time
from typing import Any

import pytest
from django.core import signals
from django.test import RequestFactory

from gonghui.accounts.models import ApiToken
from gonghui.accounts.services import issue_api_token
from gonghui.activities import api, services
from gonghui.activities.models import CheckIn
from gonghui.activities.tests.test_api import lecture, url, wrong_code
from gonghui.api import lane
from gonghui.api.testing import DjangoNotCalled, call_wsgi, not_django
from gonghui.audit.models import AuditEntry
from gonghui.orgs.scoping import SYSTEM
from gonghui.wsgi import django_application

pytestmark = pytest.mark.django_db


class Recorder:
    """Stands in for Django: records what it was handed, answers 299."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.bodies.append(environ["wsgi.input"].read(length))
        start_response("299 Handed On", [("Content-Type", "text/plain")])
        return [b"django"]


def post(app: Any, path: str, body: Any, key: str | None, **extra: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    headers.update(extra.pop("headers", {}))
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return call_wsgi(app, extra.pop("method", "POST"), path, body=raw, headers=headers, **extra)


@pytest.fixture
def key(tree) -> str:
    return issue_api_token(user=tree.users["worker"])


def test_the_lane_answers_a_check_in_as_the_full_stack_does(tree, key, settings):
    """Each answer of the lane (Django never called) equals the full stack's answer to the
    same request: a first check-in, a retry, a QR token, a refusal, an unknown activity."""
    alone = lane.LaneApplication(not_django)
    full = lane.LaneApplication(django_application)
    by_code, by_token = lecture(tree, title="按码"), lecture(tree, title="扫码")
    token = services.qr_token(by_token)

    first = post(alone, url(by_code, "/check-in"), {"code": by_code.check_in_code}, key)
    assert first.status_code == 200, first.content
    assert first.json()["created"] is True and first.json()["title"] == "按码"
    checkin = CheckIn.objects.get(activity=by_code)
    assert checkin.member == tree.cd_member and checkin.by == tree.users["worker"]

    settings.GONGHUI_API_LANE = False
    with pytest.raises(DjangoNotCalled):  # proves the switch: off, the lane serves nothing
        post(alone, url(by_code, "/check-in"), {"code": by_code.check_in_code}, key)
    stack_retry = post(full, url(by_code, "/check-in"), {"code": by_code.check_in_code}, key)
    stack_token = post(full, url(by_token, "/check-in"), {"token": token}, key)
    stack_wrong = post(full, url(by_code, "/check-in"), {"code": wrong_code(by_code)}, key)
    stack_404 = post(full, "/api/activities/999999/check-in", {"code": "123456"}, key)
    settings.GONGHUI_API_LANE = True
    lane_retry = post(alone, url(by_code, "/check-in"), {"code": by_code.check_in_code}, key)
    lane_token = post(alone, url(by_token, "/check-in"), {"token": token}, key)
    lane_wrong = post(alone, url(by_code, "/check-in"), {"code": wrong_code(by_code)}, key)
    lane_404 = post(alone, "/api/activities/999999/check-in", {"code": "123456"}, key)

    assert lane_retry.json() == stack_retry.json() == {**first.json(), "created": False}
    assert stack_token.json()["created"] is True  # the full stack's first, the lane's retry
    assert lane_token.json() == {**stack_token.json(), "created": False}
    assert lane_wrong.status_code == stack_wrong.status_code == 422
    assert lane_wrong.json() == stack_wrong.json()
    assert lane_wrong.json()["message"] == "签到码错误。"
    assert lane_404.status_code == stack_404.status_code == 404
    assert lane_404.json() == stack_404.json()
    for ours, theirs in ((lane_retry, stack_retry), (lane_wrong, stack_wrong)):
        assert ours.headers == theirs.headers
        assert ours.content == theirs.content  # byte for byte, as ninja renders
    assert CheckIn.objects.count() == 2


def test_a_check_in_in_the_lane_is_two_statements(tree, key):
    """The bearer token is read with the activity and the member record: one read, and
    one write (on PostgreSQL; SQLite writes through the ORM). A retry finds its check-in
    in that read: one statement on both databases, and the first check-in's answer."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alone = lane.LaneApplication(not_django)
    # The token's first use of the hour is written (an UPDATE of its own); later ones not.
    warm = lecture(tree, title="先到")
    assert post(alone, url(warm, "/check-in"), {"code": warm.check_in_code}, key).status_code == 200
    activity = lecture(tree)
    services.mark_held(SYSTEM, activity)  # a planned one's first check-in makes it held
    body = {"code": activity.check_in_code}
    with CaptureQueriesContext(connection) as first:
        answer = post(alone, url(activity, "/check-in"), body, key).json()
    assert answer["created"]
    with CaptureQueriesContext(connection) as retry:
        again = post(alone, url(activity, "/check-in"), body, key).json()
    assert again == {**answer, "created": False}
    assert len(retry.captured_queries) == 1, [q["sql"][:80] for q in retry.captured_queries]
    reads = [q["sql"] for q in first.captured_queries if "key_hash" in q["sql"]]
    assert len(reads) == 1  # the token, read with the activity and the member record
    assert "orgs_member" in reads[0] and "activities_activity" in reads[0]
    if connection.vendor == "postgresql":
        assert len(first.captured_queries) == 2, [q["sql"][:80] for q in first.captured_queries]


def test_the_lane_keeps_the_audit_entry_the_token_use_and_the_language(tree, key):
    alone = lane.LaneApplication(not_django)
    activity = lecture(tree)
    ApiToken.objects.update(last_used_at=None)
    answer = post(
        alone,
        url(activity, "/check-in"),
        {"code": activity.check_in_code},
        key,
        REMOTE_ADDR="10.1.2.3",
    )
    assert answer.status_code == 200
    entry = AuditEntry.objects.get(target_type="activities.checkin")
    assert entry.actor == tree.users["worker"]
    assert entry.ip_address == "10.1.2.3"
    assert entry.org_id == activity.venue_org_id
    assert ApiToken.objects.get().last_used_at is not None
    # The language cookie chosen in the switcher: the refusal in English.
    english = post(
        alone,
        url(activity, "/check-in"),
        {"code": wrong_code(activity)},
        key,
        headers={"Cookie": "django_language=en"},
    )
    assert english.status_code == 422
    assert english.json()["message"] == "The check-in code is wrong."
    assert english.headers["content-language"] == "en"


@pytest.mark.parametrize(
    ("path", "body", "with_key", "extra"),
    [
        ("roster", {"member_ids": [1]}, True, {}),  # a cadre's roster
        ("check-in", {}, True, {}),  # nothing sent: the view's "missing" answer
        ("check-in", {"code": ""}, True, {}),
        ("check-in", {"code": None}, True, {}),
        ("check-in", {"code": 123456}, True, {}),  # not a string: ninja's 422
        ("check-in", ["123456"], True, {}),
        ("check-in", b"{not json", True, {}),
        ("check-in", {"code": "123456"}, False, {}),  # no bearer token (a browser session)
        ("check-in", {"code": "123456"}, True, {"content_type": "text/plain"}),
        ("check-in", {"code": "123456"}, True, {"method": "PUT"}),
        ("registration", {"code": "123456"}, True, {}),  # another path
    ],
)
def test_the_lane_hands_everything_else_to_django(tree, key, path, body, with_key, extra):
    django = Recorder()
    activity = lecture(tree)
    tail = "/check-in" if path in ("check-in", "roster") else f"/{path}"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = post(lane.LaneApplication(django), url(activity, tail), raw, with_key and key, **extra)
    assert answer.status_code == 299 and answer.content == b"django"
    assert django.bodies == [raw]  # the same body, unread
    assert not CheckIn.objects.exists()


def test_an_unknown_token_is_handed_on_to_django(tree):
    activity = lecture(tree)
    full = lane.LaneApplication(django_application)
    answer = post(full, url(activity, "/check-in"), {"code": activity.check_in_code}, "nope")
    # Not the token's: ninja tries the browser session next, which has no CSRF cookie.
    assert answer.status_code == 403
    assert answer.json() == {"detail": "CSRF check Failed"}
    assert not CheckIn.objects.exists()


def test_a_crash_in_the_lane_answers_500_and_is_reported(tree, key, monkeypatch, caplog):
    activity = lecture(tree)
    reported: list[Any] = []

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database went away")

    def on_exception(sender: Any, **kwargs: Any) -> None:
        reported.append(sender)

    monkeypatch.setattr(services, "check_in_self", crash)
    signals.got_request_exception.connect(on_exception)
    try:
        with caplog.at_level(logging.ERROR, logger="django.request"):
            answer = post(
                lane.LaneApplication(not_django),
                url(activity, "/check-in"),
                {"code": activity.check_in_code},
                key,
            )
    finally:
        signals.got_request_exception.disconnect(on_exception)
    assert answer.status_code == 500
    assert answer.json() == {"detail": "Internal server error"}
    assert reported == [lane.LaneApplication]
    assert "database went away" in caplog.text


def test_a_check_in_sent_again_while_the_first_is_answered_waits_for_its_answer(
    tree, key, monkeypatch
):
    """A phone's second request (a retry, a double tap) arriving while its first is still
    being answered in the same process waits for that answer and gives it as a retry:
    no second read or write. A different request of the same phone does not wait."""
    alone = lane.LaneApplication(not_django)
    activity = lecture(tree)
    path, body = url(activity, "/check-in"), {"code": activity.check_in_code}
    again = RequestFactory().post(
        path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    reads: list[int] = []
    read = services.read_for_api_check_in
    second: list[Any] = []

    def read_while_the_phone_sends_again(*args: Any, **kwargs: Any) -> Any:
        reads.append(args[1])
        found = read(*args, **kwargs)
        if len(reads) == 1:
            # Sent again (its own thread, as a server serves it) while this one reads.
            thread = threading.Thread(target=lambda: second.append(call(alone, again.environ)))
            thread.start()
            second.append(thread)
            deadline = time.monotonic() + 10
            while api._same_check_ins.waiting() == 0:
                assert time.monotonic() < deadline, "the second request did not wait"
                time.sleep(0.005)
        return found

    monkeypatch.setattr(services, "read_for_api_check_in", read_while_the_phone_sends_again)
    first = post(alone, path, body, key)
    second[0].join(10)
    status, answer = second[1]
    assert first.status_code == 200 and first.json()["created"] is True
    assert status == 200 and answer == {**first.json(), "created": False}
    assert reads == [activity.pk]  # one read: the second request waited
    assert CheckIn.objects.filter(activity=activity).count() == 1
    assert AuditEntry.objects.filter(target_type="activities.checkin").count() == 1
    # Not waiting when nothing identical is in flight: read again, answered from the read.
    assert post(alone, path, body, key).json() == {**first.json(), "created": False}
    assert reads == [activity.pk, activity.pk]


def call(application: Any, environ: dict[str, Any]) -> tuple[int, Any]:
    started: list[str] = []
    content = b"".join(application(environ, lambda status, headers: started.append(status)))
    return int(started[0].split()[0]), json.loads(content)
