from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from gonghui.api.urls import api
from gonghui.core.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("gonghui.accounts.urls")),
    path("", include("gonghui.orgs.urls")),
    path("", include("gonghui.audit.urls")),
    path("", include("gonghui.stats.urls")),
    path("", include("gonghui.notices.urls")),
    path("", include("gonghui.activities.urls")),
    path("", include("gonghui.learning.urls")),
    path("", include("gonghui.pledges.urls")),
    path("", include("gonghui.cases.urls")),
    path("", include("gonghui.competitions.urls")),
    path("", include("gonghui.news.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
