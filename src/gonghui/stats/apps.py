from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StatsConfig(AppConfig):
    name = "gonghui.stats"
    verbose_name = _("Figures and dashboards")

    def ready(self) -> None:
        from gonghui.core.jobs import register_periodic
        from gonghui.stats.services import fold_and_tidy

        # Exact within a few seconds: the dashboard says how fresh its figures are. A lane
        # of its own, so that no slow job (a province-wide sweep) holds the figures back.
        register_periodic("fold_rollups", fold_and_tidy, every_seconds=1, lane="rollups")
