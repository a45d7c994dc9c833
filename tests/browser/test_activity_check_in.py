"""A lecture from the form to the dashboard: the grassroots union's cadre schedules it, opens
the QR screen for the projector, a worker scans the code on a phone and is checked in, the
screen's count goes up by itself, and the dashboard's "members reached" shows the worker."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from conftest import PASSWORD, build_tree
from gonghui.activities.models import Activity, CheckIn, CheckInMethod
from gonghui.activities.services import QR_ROTATE_SECONDS

SHOTS = "var/test/screenshots"


@pytest.fixture
def live_tree(transactional_db):
    return build_tree()


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")


def members_reached(page, live_server, org) -> int:
    page.goto(f"{live_server.url}/orgs/{org.pk}/dashboard/")
    cell = page.locator(".figure .n[data-metric='activities.reached']")
    return int(cell.inner_text().replace(",", ""))


def test_a_lecture_is_scheduled_shown_scanned_and_counted(page, phone, live_server, live_tree):
    tree = live_tree
    sign_in(page, live_server, "cd_union_admin")
    assert members_reached(page, live_server, tree.cd_union) == 0

    # The cadre schedules a lecture from the union's page, starting now.
    page.goto(f"{live_server.url}/orgs/{tree.cd_union.pk}/")
    page.click("#org-activities")
    page.click("#new-activity")
    start = timezone.localtime() - datetime.timedelta(minutes=5)
    page.select_option("#id_kind", "lecture")
    page.fill("#id_title", "学习贯彻工会十八大精神宣讲")
    page.fill("#id_starts_at", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_ends_at", (start + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_place", "职工之家")
    page.fill("#id_speaker", "市委宣讲团 李老师")
    page.click("#save-activity")
    page.wait_for_selector("#activity[data-activity]")
    activity = Activity.objects.get()
    assert activity.title == "学习贯彻工会十八大精神宣讲"
    assert page.locator("#check-in-code").inner_text() == activity.check_in_code
    page.screenshot(path=f"{SHOTS}/activity-detail.png", full_page=True)

    # The QR screen (opened in its own tab for the projector): read the scan URL off it.
    screen_href = page.locator("#open-screen").get_attribute("href")
    page.goto(f"{live_server.url}{screen_href}")
    qr = page.locator("#qr")
    assert qr.locator("svg").count() == 1
    scan_url = qr.get_attribute("data-scan-url")
    assert scan_url.startswith(f"{live_server.url}/activities/scan/")
    assert page.locator("#scan-link").get_attribute("href") == scan_url
    assert page.locator("#code").inner_text() == activity.check_in_code
    assert page.locator("#checked-in-count").inner_text() == "0"
    page.screenshot(path=f"{SHOTS}/activity-qr-screen.png", full_page=True)

    # The worker, signed in on a phone, opens the scanned URL and confirms.
    sign_in(phone, live_server, "worker")
    phone.goto(scan_url)
    phone.click("#confirm-check-in")
    phone.wait_for_selector("#check-in-result[data-outcome='created']")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    phone.screenshot(path=f"{SHOTS}/activity-checked-in-phone.png", full_page=True)
    checkin = CheckIn.objects.get()
    assert checkin.member == tree.cd_member and checkin.method == CheckInMethod.QR

    # The screen fetches a new code by itself and shows the count.
    page.wait_for_function(
        "document.getElementById('checked-in-count').textContent.trim() === '1'",
        timeout=(QR_ROTATE_SECONDS + 15) * 1000,
    )
    assert qr.get_attribute("data-scan-url") != scan_url  # the code rotated

    # A second scan of the same (still valid) code counts nothing more.
    phone.goto(scan_url)
    phone.wait_for_selector("#check-in-result[data-outcome='already']")

    # The dashboard counts the worker as reached, at once (live figures, nothing folded).
    assert members_reached(page, live_server, tree.cd_union) == 1
    # And the worker's own page lists it as attended.
    phone.goto(f"{live_server.url}/activities/mine/")
    assert "学习贯彻工会十八大精神宣讲" in phone.locator("#attended").inner_text()
