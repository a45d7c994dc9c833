from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CompetitionsConfig(AppConfig):
    name = "gonghui.competitions"
    verbose_name = _("Competitions")

    def ready(self) -> None:
        from gonghui.competitions import figures
        from gonghui.competitions.demo import build_demo_competitions
        from gonghui.core.demo_steps import register_demo_step

        figures.register()
        # A city round with results, qualifying for the province's final (open now).
        register_demo_step("competitions", build_demo_competitions, order=90)
