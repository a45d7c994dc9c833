from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivitiesConfig(AppConfig):
    name = "gonghui.activities"
    verbose_name = _("Activities")

    def ready(self) -> None:
        from gonghui.activities import figures
        from gonghui.stats.registry import register_member_keyed

        figures.register()
        register_member_keyed(figures.member_keyed)
