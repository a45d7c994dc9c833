from django.urls import path

from gonghui.notices import views

urlpatterns = [
    path("notices/", views.my_notices, name="my_notices"),
    path("orgs/<int:org_id>/notices/", views.org_notices, name="org_notices"),
    path("orgs/<int:org_id>/notices/new/", views.notice_create, name="notice_create"),
    path("notices/<int:notice_id>/", views.notice_detail, name="notice_detail"),
    path("notices/<int:notice_id>/edit/", views.notice_edit, name="notice_edit"),
    path("notices/<int:notice_id>/issue/", views.notice_issue, name="notice_issue"),
    path("notices/<int:notice_id>/close/", views.notice_close, name="notice_close"),
    path("notices/<int:notice_id>/correct/", views.notice_correct, name="notice_correct"),
    path(
        "notices/<int:notice_id>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment_download",
    ),
    path(
        "notices/<int:notice_id>/attachments/<int:attachment_id>/remove/",
        views.attachment_remove,
        name="attachment_remove",
    ),
    path(
        "notices/<int:notice_id>/supervision/<int:org_id>/",
        views.supervision,
        name="supervision",
    ),
    path(
        "notices/<int:notice_id>/supervision/<int:org_id>/remind/",
        views.supervision_remind,
        name="supervision_remind",
    ),
    path(
        "notices/<int:notice_id>/ledger/<int:org_id>.xlsx",
        views.ledger_export,
        name="ledger_export",
    ),
    path("dispatches/<int:dispatch_id>/", views.dispatch_detail, name="dispatch_detail"),
    path(
        "dispatches/<int:dispatch_id>/acknowledge/",
        views.dispatch_acknowledge,
        name="dispatch_acknowledge",
    ),
    path("dispatches/<int:dispatch_id>/relay/", views.dispatch_relay, name="dispatch_relay"),
    path("dispatches/<int:dispatch_id>/plan/", views.dispatch_plan, name="dispatch_plan"),
    path("dispatches/<int:dispatch_id>/report/", views.dispatch_report, name="dispatch_report"),
    path("reports/<int:report_id>/review/", views.report_review, name="report_review"),
    path("reports/<int:report_id>/evidence/", views.report_evidence, name="report_evidence"),
]
