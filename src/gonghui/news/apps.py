from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NewsConfig(AppConfig):
    name = "gonghui.news"
    verbose_name = _("News")

    def ready(self) -> None:
        from gonghui.core.demo_steps import register_demo_step
        from gonghui.core.jobs import register_periodic
        from gonghui.news import figures, services
        from gonghui.news.demo import build_demo_news

        figures.register()
        register_demo_step("news", build_demo_news, order=95)
        # Scheduled publishing: each approved article once its time has come.
        register_periodic("news_scheduled_publishing", services.publish_due, every_seconds=30)
