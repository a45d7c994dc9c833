"""The audit log: who changed what, when, with the state before and after."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.orgs.scoping import ScopedQuerySet


class AuditAction(models.TextChoices):
    CREATE = "create", _("Created")
    UPDATE = "update", _("Changed")
    DELETE = "delete", _("Deleted")
    MOVE = "move", _("Moved")
    DISSOLVE = "dissolve", _("Dissolved")
    TRANSFER = "transfer", _("Transfer")
    LEAVE = "leave", _("Left the union")
    IMPORT = "import", _("Imported")
    EXPORT = "export", _("Exported")
    GRANT = "grant", _("Role granted")
    REVOKE = "revoke", _("Role revoked")
    LOGIN = "login", _("Signed in")


class AuditEntry(models.Model):
    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept as text so the entry still says who it was after the account is gone.
    actor_name = models.CharField(_("by"), max_length=150, blank=True, default="")
    action = models.CharField(_("action"), max_length=16, choices=AuditAction.choices)
    target_type = models.CharField(_("object type"), max_length=50)
    target_id = models.CharField(max_length=40, blank=True, default="")
    target_repr = models.CharField(_("object"), max_length=200, blank=True, default="")
    # The org whose subtree the change belongs to: its admins (and those above) see it.
    org = models.ForeignKey(
        "orgs.Org", null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("union")
    )
    summary = models.CharField(_("summary"), max_length=300, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target_repr}"

    def changes(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for each field that differs."""
        before, after = self.before or {}, self.after or {}
        keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]
