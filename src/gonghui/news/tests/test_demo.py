"""The demo's news: articles through the chain with 编辑 and 责任编辑, one recommended
from a grassroots union and published above, one waiting for the editor."""

from __future__ import annotations

import io

from django.core.management import call_command

from gonghui.news.models import Article, ArticleStatus
from gonghui.stats import services as stats


def test_the_demo_publishes_through_the_chain(db):
    call_command("demo", "--scale", "tiny", stdout=io.StringIO())
    published = Article.objects.filter(status=ArticleStatus.PUBLISHED)
    assert published.count() == 4
    city = published.get(title="成都市总工会举办职工电工焊工技能竞赛")
    assert (city.editor.username, city.chief_editor.username) == ("bianji", "zebian")
    copy = published.get(origin__isnull=False)
    assert copy.org == copy.origin.org.parent
    assert Article.objects.filter(status=ArticleStatus.SUBMITTED).count() == 1
    stats.fold_pending()
    assert stats.rebuild(check=True) == []
