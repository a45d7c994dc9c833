from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "gonghui.notices"
    verbose_name = _("Notices")

    def ready(self) -> None:
        from gonghui.core.demo_steps import register_demo_step
        from gonghui.core.jobs import register_periodic
        from gonghui.notices import figures, sweep
        from gonghui.notices.demo import build_demo_notice

        figures.register()
        # The demo's notice, issued from the province down to the grassroots unions.
        register_demo_step("notices", build_demo_notice, order=50)
        # Overdue marks and deadline reminders: every few minutes is soon enough for
        # deadlines counted in days, and cheap (indexed on the due dates).
        register_periodic("notice_deadline_sweep", sweep.run_sweep, every_seconds=300)
