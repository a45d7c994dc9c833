from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LearningConfig(AppConfig):
    name = "gonghui.learning"
    verbose_name = _("Learning")

    def ready(self) -> None:
        from gonghui.core.jobs import register_periodic
        from gonghui.learning import figures, services

        figures.register()
        # Attempts whose time ran out are scored with what they saved.
        register_periodic("quiz_attempt_expiry", services.expire_attempts, every_seconds=30)
        register_periodic("checkin_points", services.award_checkin_points, every_seconds=30)
        from gonghui.core.demo_steps import register_demo_step
        from gonghui.learning.demo import build_demo_learning

        # The demo's study content, after the notice whose study requirement it meets.
        register_demo_step("learning", build_demo_learning, order=70)
