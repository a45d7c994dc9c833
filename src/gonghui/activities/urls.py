from django.urls import path

from gonghui.activities import views

app_name = "activities"

urlpatterns = [
    path("activities/", views.index, name="index"),
    path("activities/mine/", views.mine, name="mine"),
    path("activities/check-in/", views.code_check_in, name="check_in_code"),
    path("activities/scan/<str:token>/", views.scan, name="scan"),
    path("activities/scan-finish/", views.scan_finish, name="scan_finish"),
    path("activities/sheet-template.xlsx", views.sheet_template, name="sheet_template"),
    path("orgs/<int:org_id>/activities/", views.org_activities, name="org_activities"),
    path("orgs/<int:org_id>/activities/calendar/", views.org_calendar, name="org_calendar"),
    path("orgs/<int:org_id>/activities/new/", views.activity_create, name="create"),
    path("activities/<int:activity_id>/", views.activity_detail, name="detail"),
    path("activities/<int:activity_id>/edit/", views.activity_edit, name="edit"),
    path("activities/<int:activity_id>/held/", views.activity_mark_held, name="mark_held"),
    path("activities/<int:activity_id>/cancel/", views.activity_cancel, name="cancel"),
    path("activities/<int:activity_id>/register/", views.register, name="register"),
    path("activities/<int:activity_id>/roster/", views.roster, name="roster"),
    path("activities/<int:activity_id>/sheet/", views.sheet_upload, name="sheet_upload"),
    path("activities/<int:activity_id>/evidence/", views.evidence_add, name="evidence_add"),
    path(
        "activities/<int:activity_id>/evidence/<int:evidence_id>/",
        views.evidence_download,
        name="evidence_download",
    ),
    path(
        "activities/<int:activity_id>/evidence/<int:evidence_id>/remove/",
        views.evidence_remove,
        name="evidence_remove",
    ),
    path("activities/<int:activity_id>/qr/renew/", views.qr_renew, name="qr_renew"),
    path("activities/<int:activity_id>/screen/", views.qr_screen, name="screen"),
    path("activities/<int:activity_id>/screen/token/", views.qr_screen_token, name="screen_token"),
    path(
        "activities/<int:activity_id>/sign-in-sheet.pdf",
        views.sign_in_sheet_pdf,
        name="sign_in_sheet_pdf",
    ),
    path("activities/<int:activity_id>/poster.pdf", views.poster_pdf, name="poster_pdf"),
    path(
        "activities/registrations/<int:registration_id>/cancel/",
        views.cancel_registration,
        name="cancel_registration",
    ),
]
