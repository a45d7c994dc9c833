from django.urls import path

from gonghui.orgs import views

urlpatterns = [
    path("orgs/", views.org_index, name="org_index"),
    path("orgs/search/", views.org_search, name="org_search"),
    path("orgs/<int:org_id>/", views.org_detail, name="org_detail"),
    path("orgs/<int:org_id>/new/", views.org_create_child, name="org_create_child"),
    path("orgs/<int:org_id>/edit/", views.org_edit, name="org_edit"),
    path("orgs/<int:org_id>/move/", views.org_move, name="org_move"),
    path("orgs/<int:org_id>/dissolve/", views.org_dissolve, name="org_dissolve"),
    path("orgs/<int:org_id>/delete/", views.org_delete, name="org_delete"),
    path("orgs/<int:org_id>/export.xlsx", views.org_export, name="org_export"),
    path("orgs/<int:org_id>/members/", views.member_list, name="member_list"),
    path("orgs/<int:org_id>/members/new/", views.member_create, name="member_create"),
    path("orgs/<int:org_id>/members/export.xlsx", views.member_export, name="member_export"),
    path("orgs/<int:org_id>/roles/", views.role_list, name="role_list"),
    path("orgs/<int:org_id>/roles/<int:role_id>/revoke/", views.role_revoke, name="role_revoke"),
    path("orgs/<int:org_id>/import/<str:kind>/", views.import_upload, name="import_upload"),
    path("imports/<int:job_id>/", views.import_result, name="import_result"),
    path("imports/<int:job_id>/errors.xlsx", views.import_errors, name="import_errors"),
    path("imports/template/<str:kind>.xlsx", views.import_template, name="import_template"),
    path("members/<int:member_id>/", views.member_detail, name="member_detail"),
    path("members/<int:member_id>/edit/", views.member_edit, name="member_edit"),
    path("members/<int:member_id>/leave/", views.member_leave, name="member_leave"),
    path("members/<int:member_id>/transfer/", views.member_transfer, name="member_transfer"),
    path("members/<int:member_id>/account/", views.member_account, name="member_account"),
    path("transfers/", views.transfer_inbox, name="transfer_inbox"),
    path(
        "transfers/<int:transfer_id>/<str:decision>/",
        views.transfer_decide,
        name="transfer_decide",
    ),
]
