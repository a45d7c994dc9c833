from django.urls import path

from gonghui.cases import views

app_name = "cases"

urlpatterns = [
    # The worker, on the phone.
    path("me/cases/", views.mine, name="mine"),
    path("me/cases/new/", views.file_request, name="file"),
    path("me/cases/<int:case_id>/", views.mine_detail, name="mine_detail"),
    path("me/cases/<int:case_id>/message/", views.mine_message, name="mine_message"),
    path("me/cases/<int:case_id>/rate/", views.mine_rate, name="mine_rate"),
    path("me/cases/<int:case_id>/reopen/", views.mine_reopen, name="mine_reopen"),
    path("me/cases/<int:case_id>/withdraw/", views.mine_withdraw, name="mine_withdraw"),
    # Cadres: a union's queue, figures and ledger; one case and its actions.
    path("orgs/<int:org_id>/cases/", views.queue, name="queue"),
    path("orgs/<int:org_id>/cases/new/", views.file_for_worker, name="file_for"),
    path("orgs/<int:org_id>/cases/figures/", views.figures, name="figures"),
    path("orgs/<int:org_id>/cases/ledger.xlsx", views.ledger, name="ledger"),
    path("cases/<int:case_id>/", views.detail, name="detail"),
    path("cases/<int:case_id>/accept/", views.accept, name="accept"),
    path("cases/<int:case_id>/assign/", views.assign, name="assign"),
    path("cases/<int:case_id>/contact/", views.contact, name="contact"),
    path("cases/<int:case_id>/note/", views.note, name="note"),
    path("cases/<int:case_id>/message/", views.message, name="message"),
    path("cases/<int:case_id>/escalate/", views.escalate, name="escalate"),
    path("cases/<int:case_id>/transfer/", views.transfer, name="transfer"),
    path("cases/<int:case_id>/close/", views.close, name="close"),
    path(
        "cases/attachments/<int:case_attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
    # Hardship aid files.
    path("orgs/<int:org_id>/hardship/", views.hardship_list, name="hardship_list"),
    path("orgs/<int:org_id>/hardship/new/", views.hardship_new, name="hardship_new"),
    path("hardship/<int:file_id>/", views.hardship_detail, name="hardship_detail"),
    path("hardship/<int:file_id>/review/", views.hardship_review, name="hardship_review"),
    path("hardship/<int:file_id>/lift/", views.hardship_lift, name="hardship_lift"),
    path("hardship/<int:file_id>/aid/", views.hardship_aid, name="hardship_aid"),
]
