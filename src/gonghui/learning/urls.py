from django.urls import path

from gonghui.learning import views

app_name = "learning"

urlpatterns = [
    path("learning/", views.index, name="index"),
    path("learning/mine/", views.mine, name="mine"),
    path("learning/points/", views.points, name="points"),
    path("learning/question-template.xlsx", views.question_template, name="question_template"),
    # An org's study content (cadres).
    path("orgs/<int:org_id>/learning/courses/", views.courses, name="courses"),
    path("orgs/<int:org_id>/learning/courses/new/", views.course_create, name="course_create"),
    path("orgs/<int:org_id>/learning/materials/", views.materials, name="materials"),
    path(
        "orgs/<int:org_id>/learning/materials/new/", views.material_create, name="material_create"
    ),
    path("orgs/<int:org_id>/learning/questions/", views.questions, name="questions"),
    path(
        "orgs/<int:org_id>/learning/questions/new/", views.question_create, name="question_create"
    ),
    path(
        "orgs/<int:org_id>/learning/questions/import/",
        views.question_import,
        name="question_import",
    ),
    path("orgs/<int:org_id>/learning/quizzes/", views.quizzes, name="quizzes"),
    path("orgs/<int:org_id>/learning/quizzes/new/", views.quiz_create, name="quiz_create"),
    path("orgs/<int:org_id>/learning/leaderboards/", views.leaderboards, name="leaderboards"),
    # Materials.
    path("learning/materials/<int:material_id>/", views.material_detail, name="material"),
    path("learning/materials/<int:material_id>/file/", views.material_file, name="material_file"),
    path(
        "learning/materials/<int:material_id>/publish/",
        views.material_publish,
        name="material_publish",
    ),
    path(
        "learning/materials/<int:material_id>/withdraw/",
        views.material_withdraw,
        name="material_withdraw",
    ),
    # Courses: the cadre's page, or the worker's; an item to study.
    path("learning/courses/<int:course_id>/", views.course_detail, name="course"),
    path("learning/courses/<int:course_id>/publish/", views.course_publish, name="course_publish"),
    path("learning/courses/<int:course_id>/items/<int:item_id>/", views.item_detail, name="item"),
    path(
        "learning/courses/<int:course_id>/items/<int:item_id>/done/",
        views.item_done,
        name="item_done",
    ),
    # The question bank.
    path("learning/questions/<int:question_id>/edit/", views.question_edit, name="question_edit"),
    path(
        "learning/questions/<int:question_id>/retire/",
        views.question_retire,
        name="question_retire",
    ),
    # Quizzes and attempts.
    path("learning/quizzes/<int:quiz_id>/", views.quiz_detail, name="quiz"),
    path("learning/quizzes/<int:quiz_id>/publish/", views.quiz_publish, name="quiz_publish"),
    path("learning/quizzes/<int:quiz_id>/start/", views.quiz_start, name="quiz_start"),
    path("learning/attempts/<int:attempt_id>/", views.attempt_detail, name="attempt"),
    path("learning/attempts/<int:attempt_id>/save/", views.attempt_save, name="attempt_save"),
    path("learning/attempts/<int:attempt_id>/submit/", views.attempt_submit, name="attempt_submit"),
]
