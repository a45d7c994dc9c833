from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PledgesConfig(AppConfig):
    name = "gonghui.pledges"
    verbose_name = _("Practical things for workers")

    def ready(self) -> None:
        from gonghui.core.demo_steps import register_demo_step
        from gonghui.pledges import figures
        from gonghui.pledges.demo import build_demo_pledges

        figures.register()
        # A handful of pledges at the province, a city and the demo union, after learning.
        register_demo_step("pledges", build_demo_pledges, order=80)
