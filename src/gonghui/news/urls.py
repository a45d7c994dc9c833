from django.urls import path

from gonghui.news import views

app_name = "news"

urlpatterns = [
    # The editorial desk: a union's articles, writing, the editorial chain.
    path("orgs/<int:org_id>/news/", views.desk, name="desk"),
    path("orgs/<int:org_id>/news/channels/", views.channels, name="channels"),
    path("orgs/<int:org_id>/news/new/", views.write, name="write"),
    path("news/articles/<int:article_id>/", views.article, name="article"),
    path("news/articles/<int:article_id>/edit/", views.edit, name="edit"),
    path("news/articles/<int:article_id>/submit/", views.submit, name="submit"),
    path("news/articles/<int:article_id>/return/", views.return_article, name="return_article"),
    path("news/articles/<int:article_id>/approve/", views.approve, name="approve"),
    path("news/articles/<int:article_id>/withdraw/", views.withdraw, name="withdraw"),
    path("news/articles/<int:article_id>/recommend/", views.recommend, name="recommend"),
    path("news/articles/<int:article_id>/images/", views.upload_image, name="upload_image"),
    path(
        "news/articles/<int:article_id>/revisions/<int:revision_id>/",
        views.revision_diff,
        name="revision_diff",
    ),
    # Files of articles: served while the article may be read.
    path("news/images/<int:image_id>/", views.image, name="image"),
    path("news/articles/<int:article_id>/cover/", views.cover, name="cover"),
    path("news/articles/<int:article_id>/video/", views.video, name="video"),
    # The public sites, without login. Fixed words before the channel codes.
    path("news/", views.index, name="index"),
    path("news/<int:org_id>/", views.site, name="site"),
    path("news/<int:org_id>/search/", views.search, name="search"),
    path("news/<int:org_id>/sitemap.xml", views.sitemap, name="sitemap"),
    path(
        "news/<int:org_id>/articles/<int:article_id>/",
        views.public_article,
        name="public_article",
    ),
    path("news/<int:org_id>/<str:channel_code>/", views.channel, name="channel"),
    path("news/<int:org_id>/<str:channel_code>/feed.xml", views.feed, name="feed"),
]
