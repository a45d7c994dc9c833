"""Back office for superusers. Changes of tree shape and members go through the services
(the pages and API); here rows are read, searched and minor fields fixed."""

from django.contrib import admin

from gonghui.orgs.models import ImportJob, Member, MemberTransfer, Org, Role


@admin.register(Org)
class OrgAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "kind", "status", "depth", "member_count")
    list_filter = ("kind", "status", "industry")
    search_fields = ("name", "code", "name_initials")
    readonly_fields = ("parent", "path", "depth", "name_pinyin", "name_initials")
    list_select_related = ("parent",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("name", "id_number_masked", "unit", "status")
    list_filter = ("status", "source")
    search_fields = ("name", "id_number_tail")
    readonly_fields = ("unit", "status", "id_number_masked", "gender", "birth_date", "user")
    exclude = ("id_number_cipher", "id_number_hash")
    list_select_related = ("unit",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MemberTransfer)
class MemberTransferAdmin(admin.ModelAdmin):
    list_display = ("member", "from_unit", "to_unit", "status", "requested_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in MemberTransfer._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("user", "org", "kind", "org_only", "may_export_personal_data")
    list_filter = ("kind",)
    search_fields = ("user__username", "org__name")
    raw_id_fields = ("user", "org", "granted_by")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "file_name",
        "kind",
        "org",
        "succeeded",
        "imported_rows",
        "error_count",
        "created_at",
    )
    readonly_fields = [f.name for f in ImportJob._meta.fields]
