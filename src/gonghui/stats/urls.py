from django.urls import path

from gonghui.stats import views

urlpatterns = [
    path("orgs/<int:org_id>/dashboard/", views.dashboard, name="dashboard"),
    path(
        "orgs/<int:org_id>/dashboard/export.xlsx",
        views.dashboard_export,
        name="dashboard_export",
    ),
]
