from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgsConfig(AppConfig):
    name = "gonghui.orgs"
    verbose_name = _("Union tree and members")

    def ready(self) -> None:
        from gonghui.orgs import figures

        figures.register()
