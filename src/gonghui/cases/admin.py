"""The back office sets the case policies and the working-day calendar of each year;
every change is written to the audit log like a service's."""

from typing import Any

from django.contrib import admin

from gonghui.audit.models import AuditAction
from gonghui.audit.services import record, snapshot
from gonghui.cases.models import CategoryPolicy, WorkCalendarDay


class AuditedAdmin(admin.ModelAdmin):
    audited_fields: list[str] = []

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        record(
            actor=request.user,
            action=AuditAction.UPDATE if change else AuditAction.CREATE,
            target=obj,
            after=snapshot(obj, self.audited_fields),
        )

    def delete_model(self, request: Any, obj: Any) -> None:
        before = snapshot(obj, self.audited_fields)
        record(actor=request.user, action=AuditAction.DELETE, target=obj, before=before)
        super().delete_model(request, obj)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(CategoryPolicy)
class CategoryPolicyAdmin(AuditedAdmin):
    list_display = ("category", "ack_days", "resolve_days", "route")
    audited_fields = ["category", "ack_days", "resolve_days", "route"]


@admin.register(WorkCalendarDay)
class WorkCalendarDayAdmin(AuditedAdmin):
    list_display = ("day", "is_workday", "note")
    list_filter = ("is_workday",)
    date_hierarchy = "day"
    audited_fields = ["day", "is_workday", "note"]
