from django.urls import path

from gonghui.competitions import views

app_name = "competitions"

urlpatterns = [
    # Cadres: a union's competitions, setting one up, running it.
    path("orgs/<int:org_id>/competitions/", views.org_competitions, name="org_competitions"),
    path("orgs/<int:org_id>/competitions/new/", views.create, name="create"),
    path("competitions/<int:competition_id>/", views.detail, name="detail"),
    path("competitions/<int:competition_id>/edit/", views.edit, name="edit"),
    path("competitions/<int:competition_id>/open/", views.open_registration, name="open"),
    path(
        "competitions/<int:competition_id>/start-judging/",
        views.start_judging,
        name="start_judging",
    ),
    path("competitions/<int:competition_id>/publish/", views.publish, name="publish"),
    path("competitions/<int:competition_id>/cancel/", views.cancel, name="cancel"),
    path(
        "competitions/<int:competition_id>/register/",
        views.register_member,
        name="register_member",
    ),
    path("competitions/entries/<int:entry_id>/decide/", views.decide, name="decide"),
    path("competitions/entries/<int:entry_id>/nominate/", views.nominate, name="nominate"),
    path(
        "competitions/entries/<int:entry_id>/certificate.pdf",
        views.entry_certificate,
        name="entry_certificate",
    ),
    path(
        "competitions/disciplines/<int:discipline_id>/judges/",
        views.seat_judge,
        name="seat_judge",
    ),
    path("competitions/disciplines/<int:discipline_id>/awards/", views.awards, name="awards"),
    # Members, on the phone.
    path("me/competitions/", views.mine, name="mine"),
    path("me/competitions/<int:competition_id>/", views.enter, name="enter"),
    path("me/entries/<int:entry_id>/withdraw/", views.withdraw, name="withdraw"),
    # Judges: entries by number only.
    path("judging/", views.judging, name="judging"),
    path("judging/<int:discipline_id>/", views.judge_sheet, name="judge_sheet"),
    path(
        "judging/<int:discipline_id>/entries/<int:entry_id>/",
        views.judge_marks,
        name="judge_marks",
    ),
    path("judging/<int:discipline_id>/confirm/", views.confirm, name="confirm"),
    path("judging/<int:discipline_id>/theory/", views.import_theory, name="import_theory"),
    path(
        "judging/<int:discipline_id>/marks/<int:mark_id>/correct/",
        views.correct,
        name="correct",
    ),
    # Published results, for everybody.
    path("results/competitions/", views.public_index, name="public_index"),
    path(
        "results/competitions/<int:competition_id>/",
        views.public_results,
        name="public_results",
    ),
]
