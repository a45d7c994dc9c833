"""The dashboard, its export and the stats API show exact, scoped, fresh figures."""

from __future__ import annotations

import datetime
import io

from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from conftest import make_id_number
from gonghui.accounts.services import issue_api_token
from gonghui.core import jobs
from gonghui.orgs import services as org_services
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import selectors
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta, SubtreeCount


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_dashboard_shows_subtree_and_children_figures(tree):
    stats.fold_pending()
    response = client_for(tree.users["province_admin"]).get(
        reverse("dashboard", args=[tree.province.pk])
    )
    assert response.status_code == 200
    assert response.context["headline"].values["members"] == 4
    rows = {r.org.name: r.values for r in response.context["rows"]}
    assert rows["成都市总工会"]["members"] == 3
    assert rows["绵阳市总工会"]["members"] == 1
    assert rows["成都市总工会"]["orgs.grassroots"] == 1
    assert response.context["freshness"].pending == 0
    chart = response.context["chart"]
    assert chart["ranking"]["names"] == ["绵阳市总工会", "成都市总工会"]
    assert chart["trend"]["totals"][-1] == 4


# The children table's rows as the template's loops wrote them before `children_rows`.
LOOPED_ROWS = """{% load humanize stats_extras %}{% for row in rows %}
<tr><td><a href="{% url 'dashboard' row.org.pk %}?metric={{ focus }}&amp;days={{ days }}">{{ row.org.name }}</a></td>{% for metric in shown %}<td class="num">{{ row.values|figure:metric|intcomma }}</td>{% if metric.coverage_of %}<td class="num">{{ row.ratios|ratio:metric }}</td>{% endif %}{% endfor %}</tr>{% endfor %}"""  # noqa: E501


def test_the_children_rows_are_what_the_template_loops_wrote(tree):
    from django.template import Context, Template
    from django.utils import translation

    from gonghui.orgs.models import Org

    stats.fold_pending()
    shown = selectors.metrics(headline_only=True)
    rows = selectors.children_rows(tree.province, tree.users["province_admin"], shown)
    zeros = dict.fromkeys(rows[0].values, 0)
    big = selectors.Row(Org(pk=tree.chengdu.pk, name="<成都> & 市"), zeros)
    big.values["members"] = 12_345_678
    big.ratios = {m.code: 0.25 for m in shown if m.coverage_of}
    rows.append(big)
    tag = Template("{% load stats_extras %}{% children_rows rows shown focus days %}")
    for language in ("zh-hans", "en"):  # no digit grouping in Chinese, commas in English
        with translation.override(language):
            context = Context({"rows": rows, "shown": shown, "focus": "members", "days": 90})
            looped = Template(LOOPED_ROWS).render(context).strip()
            assert tag.render(context) == looped
            assert ("12,345,678" if language == "en" else ">12345678<") in looped
    assert "&lt;成都&gt; &amp; 市" in looped


def test_dashboard_sorts_children(tree):
    stats.fold_pending()
    client = client_for(tree.users["province_admin"])
    url = reverse("dashboard", args=[tree.province.pk])
    desc = client.get(url, {"sort": "members", "dir": "desc"})
    asc = client.get(url, {"sort": "members", "dir": "asc"})
    assert [r.org.name for r in desc.context["rows"]] == ["成都市总工会", "绵阳市总工会"]
    assert [r.org.name for r in asc.context["rows"]] == ["绵阳市总工会", "成都市总工会"]


def test_dashboard_says_when_figures_are_still_being_added(tree):
    response = client_for(tree.users["province_admin"]).get(
        reverse("dashboard", args=[tree.province.pk])
    )
    assert response.context["freshness"].pending == FactDelta.objects.count() > 0
    assert not response.context["freshness"].exact


def test_a_long_queue_shows_the_folded_totals_and_says_so(tree, monkeypatch):
    """While the worker folds a burst (more pending changes than LIVE_PENDING_LIMIT), the
    dashboard reads the folded totals, exact as of the last fold, without scanning the
    queue, and says so; once folded — or while the queue is short — it is exact now."""
    stats.fold_pending()
    client = client_for(tree.users["province_admin"])
    url = reverse("dashboard", args=[tree.province.pk])
    api = Client(HTTP_AUTHORIZATION=f"Bearer {issue_api_token(user=tree.users['province_admin'])}")
    for n in range(3):  # three members join 成都's union: three pending changes or more
        org_services.register_member(
            actor=SYSTEM,
            unit=tree.cd_union,
            name=f"新会员{n}",
            id_number=make_id_number(seq=200 + n),
        )
    pending = FactDelta.objects.count()
    assert pending >= 3
    monkeypatch.setattr(selectors, "LIVE_PENDING_LIMIT", pending - 1)
    folded = client.get(url)
    assert folded.context["freshness"].live is False
    assert folded.context["headline"].values["members"] == 4  # as of the last fold
    rows = {r.org.name: r.values["members"] for r in folded.context["rows"]}
    assert rows["成都市总工会"] == 3
    assert "大量变化正在汇入，每秒汇总一次" in folded.content.decode()
    body = api.get(f"/api/stats/orgs/{tree.chengdu.pk}").json()
    assert body["values"]["members"] == 3 and body["freshness"]["live"] is False

    monkeypatch.setattr(selectors, "LIVE_PENDING_LIMIT", pending)
    live = client.get(url)
    assert live.context["freshness"].live is True
    assert live.context["headline"].values["members"] == 7  # the pending ones added
    assert "数据为实时准确数据" in live.content.decode()
    assert api.get(f"/api/stats/orgs/{tree.chengdu.pk}").json()["values"]["members"] == 6

    monkeypatch.setattr(selectors, "LIVE_PENDING_LIMIT", 0)
    stats.fold_pending()
    after = client.get(url)
    assert after.context["freshness"].live is True
    assert after.context["headline"].values["members"] == 7


def test_a_dashboards_figures_are_three_statements_and_one_snapshot(tree, monkeypatch):
    """Freshness, the visible children, and the figures of the org and its children in
    one statement: the same figures as the headline and the children table read apart."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    shown = selectors.metrics(headline_only=True)
    admin = tree.users["province_admin"]

    def read() -> selectors.Dashboard:
        with CaptureQueriesContext(connection) as captured:
            board = selectors.dashboard(tree.province, admin, shown, sort="members")
        # Freshness, the visible children, the figures (the roles were read already).
        assert len(captured.captured_queries) == 3, [
            q["sql"][:60] for q in captured.captured_queries
        ]
        assert board.headline.values["members"] == 4
        assert board.headline.values == selectors.headline(tree.province, shown).values
        apart = selectors.children_rows(tree.province, admin, shown, sort="members")
        assert [(r.org.pk, r.values, r.ratios) for r in board.rows] == [
            (r.org.pk, r.values, r.ratios) for r in apart
        ]
        return board

    selectors.children_rows(tree.province, admin, shown)  # reads the cadre's roles, once
    live = read()  # the tree's changes are all pending: added to nothing folded yet
    assert live.freshness.live and live.freshness.pending == FactDelta.objects.count() > 0
    stats.fold_pending()
    monkeypatch.setattr(selectors, "LIVE_PENDING_LIMIT", -1)  # the folded totals alone
    folded = read()
    assert not folded.freshness.live and folded.freshness.folded_at is not None


def test_dashboard_reads_a_fixed_number_of_queries(tree, django_assert_max_num_queries):
    stats.fold_pending()
    client = client_for(tree.users["province_admin"])
    with django_assert_max_num_queries(16):
        client.get(reverse("dashboard", args=[tree.province.pk]))
    with django_assert_max_num_queries(16):
        client.get(reverse("dashboard", args=[tree.cd_team.pk]))


def test_a_city_cadre_sees_only_its_own_children(tree):
    stats.fold_pending()
    client = client_for(tree.users["chengdu_admin"])
    assert client.get(reverse("dashboard", args=[tree.province.pk])).status_code == 404
    response = client.get(reverse("dashboard", args=[tree.chengdu.pk]))
    assert [r.org.name for r in response.context["rows"]] == ["锦江区总工会"]


def test_export_the_children_table(tree):
    stats.fold_pending()
    response = client_for(tree.users["province_admin"]).get(
        reverse("dashboard_export", args=[tree.province.pk])
    )
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.active.iter_rows(values_only=True))
    members_col = rows[0].index(str(selectors.metrics()[0].label))
    assert [(r[0], r[1], r[members_col]) for r in rows[1:3]] == [
        ("成都市总工会", "5101", 3),
        ("绵阳市总工会", "5107", 1),
    ]
    # The last line is the whole subtree of the dashboard's own union.
    assert (rows[3][1], rows[3][members_col]) == ("51", 4)
    assert len(rows) == 4


def test_trend_of_a_deep_org_sums_its_own_counters(tree):
    stats.fold_pending()
    members = next(m for m in selectors.metrics() if m.code == "members")
    today = datetime.date.today()
    team = selectors.trend(tree.cd_branch, members, days=3, today=today)
    city = selectors.trend(tree.chengdu, members, days=3, today=today)
    assert team[-1][2] == 1
    assert city[-1][2] == 3


def test_stats_api(tree):
    stats.fold_pending()
    token = issue_api_token(user=tree.users["chengdu_admin"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    metrics = client.get("/api/stats/metrics").json()
    assert {"members", "orgs.grassroots", "members.joined"} <= {m["code"] for m in metrics}
    figures = client.get(f"/api/stats/orgs/{tree.chengdu.pk}").json()
    assert figures["values"]["members"] == 3
    assert figures["freshness"]["pending"] == 0
    children = client.get(
        f"/api/stats/orgs/{tree.chengdu.pk}/children", {"metrics": "members,orgs.team"}
    ).json()
    assert [(c["org_name"], c["values"]) for c in children] == [
        ("锦江区总工会", {"members": 3, "orgs.team": 1})
    ]
    trend = client.get(
        f"/api/stats/orgs/{tree.chengdu.pk}/trend", {"metric": "members", "days": 2}
    ).json()
    assert len(trend) == 2 and trend[-1]["total"] == 3
    assert client.get(f"/api/stats/orgs/{tree.mianyang.pk}").status_code == 404
    bad = client.get(f"/api/stats/orgs/{tree.chengdu.pk}/trend", {"metric": "nope"})
    assert bad.status_code == 422


def test_worker_folds_and_rebuild_command_checks(tree, capsys):
    assert FactDelta.objects.exists()
    call_command("worker", "--once")
    assert not FactDelta.objects.exists()
    assert "fold_rollups" in jobs.JOBS
    call_command("rebuild_rollups", "--check")
    assert "agree" in capsys.readouterr().out
    SubtreeCount.objects.filter(org=tree.mianyang, metric="members").update(value=5)
    from django.core.management.base import CommandError

    try:
        call_command("rebuild_rollups", "--check")
    except CommandError as exc:
        assert "1 figures differ" in str(exc)
    else:
        raise AssertionError("the check must fail on a difference")
    assert "绵阳市总工会" in capsys.readouterr().err
    call_command("rebuild_rollups")
    call_command("rebuild_rollups", "--check")
