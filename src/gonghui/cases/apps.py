from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "gonghui.cases"
    verbose_name = _("Worker cases")

    def ready(self) -> None:
        from gonghui.cases import figures, services
        from gonghui.cases.demo import build_demo_cases
        from gonghui.core.demo_steps import register_demo_step
        from gonghui.core.jobs import register_periodic

        figures.register()
        # Escalation of late cases and reminders before deadlines.
        register_periodic("case_deadline_sweep", services.sweep_cases, every_seconds=600)
        register_periodic(
            "hardship_review_reminders", services.hardship_reviews_due, every_seconds=86_400
        )
        register_demo_step("cases", build_demo_cases, order=80)
