from django.urls import path

from gonghui.audit import views

urlpatterns = [path("audit/", views.audit_list, name="audit_list")]
