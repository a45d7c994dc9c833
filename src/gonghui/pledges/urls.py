from django.urls import path

from gonghui.pledges import views

app_name = "pledges"

urlpatterns = [
    path("pledges/", views.index, name="index"),
    path("pledges/for-me/", views.for_me, name="for_me"),
    path("pledges/for-me/<int:pledge_id>/", views.for_me_detail, name="for_me_detail"),
    path("pledges/for-me/<int:pledge_id>/comment/", views.for_me_comment, name="for_me_comment"),
    path("orgs/<int:org_id>/pledges/", views.org_pledges, name="org_pledges"),
    path("orgs/<int:org_id>/pledges/new/", views.pledge_create, name="pledge_create"),
    path("pledges/<int:pledge_id>/", views.pledge_detail, name="pledge_detail"),
    path("pledges/<int:pledge_id>/edit/", views.pledge_edit, name="pledge_edit"),
    path("pledges/<int:pledge_id>/publish/", views.pledge_publish, name="pledge_publish"),
    path("pledges/<int:pledge_id>/progress/", views.pledge_progress, name="pledge_progress"),
    path("pledges/<int:pledge_id>/complete/", views.pledge_complete, name="pledge_complete"),
    path("pledges/<int:pledge_id>/cancel/", views.pledge_cancel, name="pledge_cancel"),
    path("pledges/comments/<int:comment_id>/hide/", views.comment_hide, name="comment_hide"),
    path("pledges/photos/<int:photo_id>/", views.pledge_photo, name="pledge_photo"),
]
