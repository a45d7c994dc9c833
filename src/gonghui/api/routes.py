"""Every domain's router, mounted on the one API."""

from ninja import NinjaAPI


def register(api: NinjaAPI) -> None:
    from gonghui.accounts.api import router as accounts_router
    from gonghui.activities.api import router as activities_router
    from gonghui.cases.api import router as cases_router
    from gonghui.competitions.api import router as competitions_router
    from gonghui.learning.api import courses_router, points_router, quizzes_router
    from gonghui.news.api import router as articles_router
    from gonghui.notices.api import router as notices_router
    from gonghui.orgs.api import members_router, orgs_router, transfers_router
    from gonghui.pledges.api import router as pledges_router
    from gonghui.stats.api import router as stats_router

    api.add_router("/", accounts_router)
    api.add_router("/orgs", orgs_router)
    api.add_router("/members", members_router)
    api.add_router("/transfers", transfers_router)
    api.add_router("/stats", stats_router)
    api.add_router("/notices", notices_router)
    api.add_router("/activities", activities_router)
    api.add_router("/courses", courses_router)
    api.add_router("/quizzes", quizzes_router)
    api.add_router("/points", points_router)
    api.add_router("/pledges", pledges_router)
    api.add_router("/cases", cases_router)
    api.add_router("/competitions", competitions_router)
    api.add_router("/articles", articles_router)
