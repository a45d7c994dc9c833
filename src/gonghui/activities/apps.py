from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivitiesConfig(AppConfig):
    name = "gonghui.activities"
    verbose_name = _("Activities")

    def ready(self) -> None:
        from gonghui.activities import figures
        from gonghui.activities.demo import build_demo_activities
        from gonghui.core.demo_steps import register_demo_step
        from gonghui.stats.registry import register_member_keyed

        figures.register()
        register_member_keyed(figures.member_keyed)
        # Lectures, study sessions and trainings across the demo, some with check-ins.
        register_demo_step("activities", build_demo_activities, order=60)
